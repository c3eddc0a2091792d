//! A deployment's directory, `<config dir>/deployments/NAME/`:
//! - `state.json`: what was deployed and what was created for it (never a secret),
//!   written before each step that creates something, so a failure half-way
//!   can be resumed or cleaned up by `destroy`;
//! - `secrets.env`: `KEY=VALUE` lines (tokens, replica keys), mode 0600;
//! - `deploy.lock`: locked by the deploy or destroy at work (its PID inside);
//! - local target only: `config/` (the instance's config dir), `data/` (its
//!   database), `supervisor.pid`, `serve.pid`, `serve.log`, `supervisor.log`.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use serde::{Deserialize, Serialize};
use stn_core::files::{write_atomic, write_private};

/// Where the deployment's database lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Persistence {
    /// A libSQL server; its token (if any) is in `secrets.env`.
    Database { url: String },
    /// A local file replicated to `url`, restored from it on start.
    Replica { url: String },
    /// Nothing outlives the instance (local: the file in `data/`).
    Ephemeral,
}

impl Persistence {
    pub fn kind(&self) -> &'static str {
        match self {
            Persistence::Database { .. } => "database",
            Persistence::Replica { .. } => "replica",
            Persistence::Ephemeral => "ephemeral",
        }
    }
}

/// How far provisioning got. Recorded before the step it names is tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// The create call was (maybe) sent: the database may exist.
    Creating,
    /// The database exists; tokens are not written yet.
    Created,
    /// Tokens are in `secrets.env`.
    Ready,
}

/// A database created for this deployment (deleted by `destroy`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "provider", rename_all = "snake_case")]
pub enum Provisioned {
    Sqld {
        admin_url: String,
        namespace: String,
        url: String,
        step: Step,
    },
    Turso {
        org: String,
        database: String,
        url: Option<String>,
        step: Step,
    },
}

impl Provisioned {
    pub fn set_step(&mut self, new: Step) {
        match self {
            Provisioned::Sqld { step, .. } | Provisioned::Turso { step, .. } => *step = new,
        }
    }
}

/// What a local deployment runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalRun {
    pub port: u16,
    pub stn_binary: PathBuf,
}

/// `state.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub name: String,
    pub environment: String,
    pub target: String,
    pub persistence: Persistence,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioned: Option<Provisioned>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<LocalRun>,
    /// Where the artifacts of a non-local target were written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_dir: Option<PathBuf>,
    pub updated_at: String,
}

/// One deployment's directory.
#[derive(Debug, Clone)]
pub struct Deployment {
    pub dir: PathBuf,
}

impl Deployment {
    pub fn new(config_dir: &Path, name: &str) -> Self {
        Self {
            dir: deployments_dir(config_dir).join(name),
        }
    }

    pub fn state_path(&self) -> PathBuf {
        self.dir.join("state.json")
    }
    pub fn secrets_path(&self) -> PathBuf {
        self.dir.join("secrets.env")
    }
    /// The instance's config dir (local target).
    pub fn config_dir(&self) -> PathBuf {
        self.dir.join("config")
    }
    /// The instance's database file when it is local (replica, ephemeral).
    pub fn db_path(&self) -> PathBuf {
        self.dir.join("data").join("station.db")
    }
    /// Held by the `stn deploy` or `destroy` working on the deployment.
    pub fn lock_path(&self) -> PathBuf {
        self.dir.join("deploy.lock")
    }
    pub fn supervisor_pid_path(&self) -> PathBuf {
        self.dir.join("supervisor.pid")
    }
    pub fn serve_pid_path(&self) -> PathBuf {
        self.dir.join("serve.pid")
    }
    pub fn serve_log_path(&self) -> PathBuf {
        self.dir.join("serve.log")
    }
    pub fn supervisor_log_path(&self) -> PathBuf {
        self.dir.join("supervisor.log")
    }

    /// The state, or `None` for a deployment never made.
    pub fn load(&self) -> Result<Option<State>> {
        let path = self.state_path();
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let state = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a deployment state file", path.display()))?;
        Ok(Some(state))
    }

    pub fn save(&self, state: &State) -> Result<()> {
        let mut state = state.clone();
        state.updated_at = now();
        let path = self.state_path();
        write_atomic(&path, serde_json::to_string_pretty(&state)?.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))
    }

    /// The `KEY=VALUE` pairs of `secrets.env` (empty when there is none).
    pub fn secrets(&self) -> Result<Vec<(String, String)>> {
        let path = self.secrets_path();
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        Ok(parse_env(&text))
    }

    /// Replaces `secrets.env` (0600 from its first byte).
    pub fn write_secrets(&self, secrets: &[(String, String)]) -> Result<()> {
        write_env_file(&self.secrets_path(), secrets)
    }
}

/// `<config dir>/deployments`.
pub fn deployments_dir(config_dir: &Path) -> PathBuf {
    config_dir.join("deployments")
}

/// Writes `KEY=VALUE` lines readable by docker/compose `env_file`, systemd
/// `EnvironmentFile=`, kustomize `secretGenerator` and `flyctl secrets import`.
pub fn write_env_file(path: &Path, pairs: &[(String, String)]) -> Result<()> {
    let mut text = String::from(
        "# Secrets of a Station deployment (written by `stn deploy`). Keep this file 0600.\n",
    );
    for (key, value) in pairs {
        if value.contains(['\n', '\r']) {
            bail!("the value of {key} spans lines, which env files cannot hold");
        }
        text.push_str(&format!("{key}={value}\n"));
    }
    write_private(path, text.as_bytes()).with_context(|| format!("cannot write {}", path.display()))
}

fn parse_env(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
        .collect()
}

/// Now in RFC 3339 (UTC).
pub fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_round_trip_through_a_0600_file() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let dep = Deployment::new(dir.path(), "a");
        let pairs = vec![("DATABASE_AUTH_TOKEN".to_owned(), "x.y=z".to_owned())];
        dep.write_secrets(&pairs).unwrap();
        assert_eq!(dep.secrets().unwrap(), pairs);
        let mode = std::fs::metadata(dep.secrets_path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_value_with_a_newline_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let pairs = vec![("K".to_owned(), "a\nB=evil".to_owned())];
        assert!(write_env_file(&dir.path().join("e.env"), &pairs).is_err());
    }
}
