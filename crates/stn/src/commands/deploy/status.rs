//! `stn deploy status` and `stn deploy logs`.

use std::io::{Read as _, Seek as _, Write as _};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Result, bail};
use serde::Serialize;
use stn_core::config::Settings;

use super::local;
use super::process;
use super::state::{Deployment, State, deployments_dir};

/// One row of `stn deploy status --json` (docs/cli-json.md).
#[derive(Debug, Serialize)]
struct Row {
    name: String,
    environment: String,
    target: String,
    persistence: String,
    /// The database URL or replica URL (never a token).
    database: Option<String>,
    provisioned: Option<String>,
    /// local: `running`, `unhealthy` (supervisor up, no answer), `stopped`;
    /// other targets: `written`; a directory without `state.json`:
    /// `half-made` (`stn deploy destroy NAME` removes it).
    status: String,
    url: Option<String>,
    supervisor_pid: Option<u32>,
    server_pid: Option<u32>,
    output_dir: Option<String>,
    updated_at: String,
}

/// Every deployment directory: with its state, or `None` for a half-made
/// one (no `state.json`, e.g. left by an older `stn deploy` that failed).
fn all(settings: &Settings) -> Result<Vec<(Deployment, Option<State>)>> {
    let dir = deployments_dir(&settings.config_dir);
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(found);
    };
    for entry in entries {
        let entry = entry?;
        if !entry.file_type()?.is_dir() {
            continue;
        }
        let dep = Deployment { dir: entry.path() };
        let state = dep.load()?;
        found.push((dep, state));
    }
    found.sort_by(|a, b| a.0.dir.cmp(&b.0.dir));
    Ok(found)
}

/// The row of a directory without `state.json`: only its name and files are known.
fn half_made_row(dep: &Deployment) -> Row {
    let name = dep
        .dir
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    Row {
        name,
        environment: String::new(),
        target: String::new(),
        persistence: String::new(),
        database: None,
        provisioned: None,
        status: "half-made".to_owned(),
        url: None,
        supervisor_pid: None,
        server_pid: None,
        output_dir: Some(dep.dir.display().to_string()),
        updated_at: String::new(),
    }
}

fn row(dep: &Deployment, state: &State) -> Row {
    use super::state::{Persistence, Provisioned};
    let database = match &state.persistence {
        Persistence::Database { url } | Persistence::Replica { url } => Some(url.clone()),
        Persistence::Ephemeral => None,
    };
    let provisioned = state.provisioned.as_ref().map(|p| match p {
        Provisioned::Sqld {
            namespace, step, ..
        } => format!("sqld namespace {namespace} ({step:?})"),
        Provisioned::Turso {
            org,
            database,
            step,
            ..
        } => format!("turso {org}/{database} ({step:?})"),
    });
    let needle = dep.dir.to_string_lossy().into_owned();
    let supervisor_pid =
        process::read_pid(&dep.supervisor_pid_path()).filter(|p| process::alive(*p, &needle));
    let server_pid =
        process::read_pid(&dep.serve_pid_path()).filter(|p| process::alive(*p, "serve"));
    let (status, url) = match &state.local {
        Some(run) => {
            let status = match supervisor_pid {
                Some(_) if local::healthy(run.port) => "running",
                Some(_) => "unhealthy",
                None => "stopped",
            };
            (status, Some(format!("http://127.0.0.1:{}", run.port)))
        }
        None => ("written", None),
    };
    Row {
        name: state.name.clone(),
        environment: state.environment.clone(),
        target: state.target.clone(),
        persistence: state.persistence.kind().to_owned(),
        database,
        provisioned,
        status: status.to_owned(),
        url,
        supervisor_pid,
        server_pid,
        output_dir: state.output_dir.as_ref().map(|d| d.display().to_string()),
        updated_at: state.updated_at.clone(),
    }
}

pub fn status(settings: &Settings, json: bool) -> Result<ExitCode> {
    let rows: Vec<Row> = all(settings)?
        .iter()
        .map(|(d, s)| match s {
            Some(s) => row(d, s),
            None => half_made_row(d),
        })
        .collect();
    if rows.is_empty() && !json {
        println!("no deployments (make one with `stn deploy ENV --target local --replica URL`)");
        return Ok(ExitCode::SUCCESS);
    }
    crate::output::list(
        json,
        &rows,
        &["NAME", "ENV", "TARGET", "PERSISTENCE", "STATUS", "WHERE"],
        |r| {
            vec![
                r.name.clone(),
                r.environment.clone(),
                r.target.clone(),
                r.persistence.clone(),
                r.status.clone(),
                r.url
                    .clone()
                    .or_else(|| r.output_dir.clone())
                    .unwrap_or_default(),
            ]
        },
    )?;
    Ok(ExitCode::SUCCESS)
}

pub async fn logs(
    settings: &Settings,
    name: Option<String>,
    follow: bool,
    lines: usize,
) -> Result<ExitCode> {
    let deployments: Vec<(Deployment, State)> = all(settings)?
        .into_iter()
        .filter_map(|(d, s)| s.filter(|s| s.local.is_some()).map(|s| (d, s)))
        .collect();
    let dep = match name {
        Some(name) => match deployments.into_iter().find(|(_, s)| s.name == name) {
            Some((dep, _)) => dep,
            None => {
                bail!("there is no local deployment {name}\nhint: `stn deploy status` lists them")
            }
        },
        None => {
            let mut deployments = deployments;
            if deployments.len() != 1 {
                bail!(
                    "{} local deployments: name one (`stn deploy logs NAME`)",
                    deployments.len()
                );
            }
            deployments.remove(0).0
        }
    };
    let path = dep.serve_log_path();
    let tail = local::tail(&path, lines);
    if !tail.is_empty() {
        println!("{tail}");
    }
    if !follow {
        return Ok(ExitCode::SUCCESS);
    }
    let mut file = std::fs::File::open(&path)?;
    let mut position = file.seek(std::io::SeekFrom::End(0))?;
    let shutdown = crate::signals::shutdown();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            () = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
        let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        if len < position {
            // Truncated (a new deployment dir): start over.
            file = std::fs::File::open(&path)?;
            position = 0;
        }
        file.seek(std::io::SeekFrom::Start(position))?;
        let mut new = Vec::new();
        position += file.read_to_end(&mut new)? as u64;
        std::io::stdout().write_all(&new)?;
        std::io::stdout().flush()?;
    }
    Ok(ExitCode::SUCCESS)
}
