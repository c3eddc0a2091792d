//! The environment goes into every deployment as its bundle
//! (`stn_core::bundle`, the Go original's format): a file beside the
//! artifacts (compose mount, Kubernetes ConfigMap, systemd install, Fly
//! `[[files]]`) that the instance installs with `stn serve --bundle`.
//! Bundles never carry `variables.yml`, so the values the bundle's MCP
//! configs need go into the deployment's secrets instead
//! (docs/decisions/0013-deploy.md).

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use stn_core::Layout;
use stn_core::config::Settings;
use stn_core::files::variables::Variables;

use crate::context;

/// The bundle's file name beside the artifacts and in a local deployment's directory.
pub const FILE_NAME: &str = "station-bundle.tar.gz";

/// A written bundle and what the instance needs besides it.
pub struct EnvBundle {
    pub path: PathBuf,
    /// `NAME=value` of each variable the MCP configs use, from the
    /// environment's `variables.yml` or the deploying shell: secrets.
    pub variables: Vec<(String, String)>,
    /// Variables the MCP configs use that have no value anywhere.
    pub missing: Vec<String>,
}

/// Writes the bundle of `env` to `path` (durably) from the deploying config dir.
pub async fn create(settings: &Settings, env: &str, path: &Path) -> Result<EnvBundle> {
    let station = context::open_migrated(settings).await?;
    let manifest = station
        .create_bundle_file(env, path)
        .await
        .with_context(|| format!("cannot bundle environment {env}"))?;
    let env_dir = Layout::new(&settings.config_dir).env_dir(env);
    let known = Variables::load(&env_dir)?.with_process_env();
    let mut variables = Vec::new();
    let mut missing = Vec::new();
    for required in &manifest.required_variables {
        match known.get(&required.name) {
            Some(value) => variables.push((required.name.clone(), value.to_owned())),
            None => missing.push(required.name.clone()),
        }
    }
    Ok(EnvBundle {
        path: path.to_path_buf(),
        variables,
        missing,
    })
}

/// Tells the deploying user which variables the instance will lack.
pub fn warn_missing(env: &str, bundle: &EnvBundle) {
    if bundle.missing.is_empty() {
        return;
    }
    eprintln!(
        "warning: the MCP configs of {env} use {} with no value in environments/{env}/variables.yml or this shell; their servers will not start",
        bundle.missing.join(", ")
    );
    eprintln!("hint: add them to variables.yml (or export them) and deploy again");
}
