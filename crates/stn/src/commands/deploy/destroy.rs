//! `stn deploy destroy NAME`: stops every process of the deployment, deletes
//! what `stn deploy` made for it (its directory, a provisioned database) and
//! says what it kept and where: a replica or a database the user brought is
//! never deleted. A half-made deployment (a directory without `state.json`)
//! is removed too.

use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use stn_core::config::Settings;

use super::state::{Deployment, Persistence, State};
use super::{local, lock, provision};

/// Stops a deployment; unless `keep_data`, deletes its provisioned database
/// and its directory. A failed deletion keeps the directory, so it can be retried.
pub async fn destroy(settings: &Settings, name: &str, keep_data: bool) -> Result<ExitCode> {
    let dep = Deployment::new(&settings.config_dir, name);
    if !dep.dir.is_dir() {
        bail!("there is no deployment {name}\nhint: `stn deploy status` lists them");
    }
    let _lock = lock::acquire(&dep, name)?;
    let state = dep.load()?;
    local::stop(&dep)?;
    let Some(state) = state else {
        let files = file_names(&dep);
        std::fs::remove_dir_all(&dep.dir)
            .with_context(|| format!("cannot remove {}", dep.dir.display()))?;
        println!(
            "removed the half-made deployment {name}: {} ({})",
            dep.dir.display(),
            files.join(", ")
        );
        return Ok(ExitCode::SUCCESS);
    };
    if keep_data {
        println!(
            "stopped {name}; kept its data and {} (deploy again to reuse them)",
            dep.dir.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(provisioned) = &state.provisioned {
        provision::delete(provisioned).await.with_context(|| {
            format!(
                "deployment {name} is stopped but its database was not deleted; run destroy again"
            )
        })?;
    }
    std::fs::remove_dir_all(&dep.dir)
        .with_context(|| format!("cannot remove {}", dep.dir.display()))?;
    println!("{}", removed_message(&dep, &state));
    Ok(ExitCode::SUCCESS)
}

/// What was removed, and what was kept where.
fn removed_message(dep: &Deployment, state: &State) -> String {
    let name = &state.name;
    let mut removed = vec![format!(
        "its directory {} (secrets.env, state, logs{})",
        dep.dir.display(),
        if state.local.is_some() {
            ", the local copy of the database"
        } else {
            ""
        }
    )];
    let mut kept = Vec::new();
    match (&state.persistence, &state.provisioned) {
        (Persistence::Database { url }, Some(_)) => {
            removed.push(format!("the database provisioned for it ({url})"));
        }
        (Persistence::Database { url }, None) => kept.push(format!(
            "the database at {url} with all its data (not made by `stn deploy`, so not deleted)"
        )),
        (Persistence::Replica { url }, _) => kept.push(format!(
            "the replica at {url} with all its data (`stn deploy … --replica {url}` restores from it; delete it there to lose the data)"
        )),
        (Persistence::Ephemeral, _) => {}
    }
    if let Some(out) = &state.output_dir
        && !out.starts_with(&dep.dir)
    {
        kept.push(format!("its artifacts in {}", out.display()));
    }
    let mut text = format!("removed {name}: {}", removed.join("; "));
    if !kept.is_empty() {
        text.push_str(&format!("\nkept {}", kept.join("; ")));
    }
    text
}

/// The files in a deployment directory, for saying what a removal deleted.
fn file_names(dep: &Deployment) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(&dep.dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}
