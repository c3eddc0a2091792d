//! The config dir, `config.yaml`, and where the database URL comes from.
//!
//! Precedence everywhere: flags > environment > `config.yaml` > defaults.
//! - config dir: `--config-dir` > `STATION_CONFIG_DIR` > `$XDG_CONFIG_HOME/station` > `~/.config/station`
//! - database: `--database` > `DATABASE_URL` (aliases `STN_DATABASE_URL`, `STATION_DATABASE`)
//!   > `database_url` in `config.yaml` > `<config dir>/station.db`
//! - token: `?authToken=` in the URL > `DATABASE_AUTH_TOKEN` / `TURSO_AUTH_TOKEN` > `database_auth_token`

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use stn_db::{AuthToken, DatabaseUrl, OpenOptions, RemoteTimeouts};

use crate::error::{CoreError, Result};
use crate::files::write_private;

/// Environment variables for the database URL, in order of precedence.
pub const DATABASE_URL_VARS: &[&str] = &["DATABASE_URL", "STN_DATABASE_URL", "STATION_DATABASE"];
/// Environment variables for the auth token, in order of precedence.
pub const AUTH_TOKEN_VARS: &[&str] = &["DATABASE_AUTH_TOKEN", "TURSO_AUTH_TOKEN"];

/// The keys of `config.yaml` that Station reads (the fields of [`ConfigFile`]).
const OUR_KEYS: &[&str] = &[
    "database_url",
    "database_auth_token",
    "api_addr",
    "durability",
    "allowed_hosts",
    "ai_provider",
    "ai_model",
    "ai_base_url",
    "ai_api_key",
    "ai_auth_type",
    "max_tool_result_bytes",
    "max_stored_tool_result_bytes",
];

/// Keys of the Go original's `config.yaml` that this version reads but does not use yet.
/// Accepted so an existing config dir keeps working; anything else is an error.
const GO_KEYS_NOT_USED: &[&str] = &[
    "api_port",
    "mcp_port",
    "ssh_port",
    "admin_username",
    "debug",
    "local_mode",
    "telemetry_enabled",
    "otel_endpoint",
    "encryption_key",
    "workspace",
    "cloudship",
    "cloudshipai",
    "lattice",
    "coding",
    "sandbox",
    "notify",
    "jaeger",
    "faker",
    "harness",
];

/// The keys of `config.yaml` that Station uses.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConfigFile {
    /// Database URL or path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    /// Token for a remote database. Prefer the environment; this is for files with 0600 permissions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_auth_token: Option<String>,
    /// Address `stn serve` listens on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_addr: Option<String>,
    /// When `stn serve` acknowledges writes to a replicated database: `async` or `sync`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub durability: Option<String>,
    /// Host names `stn serve` answers for besides loopback names and its bind address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_hosts: Option<Vec<String>>,
    /// Model provider: openai (default), anthropic, gemini, ollama.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ai_provider: Option<String>,
    /// Default model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ai_model: Option<String>,
    /// Endpoint of an OpenAI-compatible (or Anthropic) API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ai_base_url: Option<String>,
    /// API key; `${VAR}` takes it from the environment. Prefer `STN_AI_API_KEY`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ai_api_key: Option<String>,
    /// `api_key` (default) or `oauth` (Anthropic bearer token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ai_auth_type: Option<String>,
    /// Most bytes of one tool result sent to the model (default 64 KiB); the rest is cut with a marker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tool_result_bytes: Option<usize>,
    /// Most bytes of one tool result kept in the run's step (default 1 MiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_stored_tool_result_bytes: Option<usize>,
    /// Seconds an MCP server may take to start and answer `initialize`
    /// (`STN_MCP_START_TIMEOUT` wins); a first `npx -y`/`uvx` start downloads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcp_start_timeout: Option<u64>,
}

impl ConfigFile {
    /// Reads `path`; a missing file is an empty config. Unknown keys are an
    /// error naming the key and the file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(CoreError::io(path, e)),
        };
        let config_error = |detail: String| CoreError::Config {
            path: path.display().to_string(),
            detail,
        };
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        let mapping: yaml_serde::Mapping = yaml_serde::from_str(&text)
            .map_err(|e| config_error(format!("not valid YAML: {e}")))?;
        for key in mapping.keys() {
            let key = key.as_str().unwrap_or("<non-string key>");
            let ours = OUR_KEYS.contains(&key);
            if !ours && !GO_KEYS_NOT_USED.contains(&key) {
                return Err(config_error(format!(
                    "unknown key `{key}`; known keys: {}",
                    OUR_KEYS.join(", ")
                )));
            }
            if !ours {
                tracing::debug!(
                    key,
                    "config key of the Go original is not used by this version"
                );
            }
        }
        let mut known = mapping;
        known.retain(|k, _| k.as_str().is_some_and(|k| OUR_KEYS.contains(&k)));
        yaml_serde::from_value(yaml_serde::Value::Mapping(known))
            .map_err(|e| config_error(format!("{e}")))
    }

    /// Writes the file atomically (temp file, fsync, rename), 0600 when new:
    /// it may hold a database token.
    pub fn save(&self, path: &Path) -> Result<()> {
        let text = format!(
            "# Station configuration. Flags and environment variables override these keys.\n{}",
            yaml_serde::to_string(self).map_err(|e| CoreError::Config {
                path: path.display().to_string(),
                detail: e.to_string(),
            })?
        );
        write_private(path, text.as_bytes()).map_err(|e| CoreError::io(path, e))
    }
}

/// Values given on the command line.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--config-dir`.
    pub config_dir: Option<PathBuf>,
    /// `--database`.
    pub database: Option<String>,
}

/// Where the database URL came from, for `stn db status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UrlSource {
    /// `--database`.
    Flag,
    /// An environment variable (named).
    Env(String),
    /// `database_url` in `config.yaml`.
    ConfigFile,
    /// `<config dir>/station.db`.
    Default,
}

/// Everything resolved: the config dir, its file, and the database to open.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The config dir.
    pub config_dir: PathBuf,
    /// `config.yaml` as read.
    pub file: ConfigFile,
    /// The database, token attached.
    pub database: DatabaseUrl,
    /// Where the URL came from.
    pub database_source: UrlSource,
    /// Deadlines for a remote database (`STN_DB_CONNECT_TIMEOUT`, `STN_DB_TIMEOUT`).
    pub remote_timeouts: RemoteTimeouts,
    /// How long an MCP server may take to start (`STN_MCP_START_TIMEOUT`,
    /// else config.yaml's `mcp_start_timeout`); `None`: the MCP client's default.
    pub mcp_start_timeout: Option<std::time::Duration>,
}

/// The variable that overrides config.yaml's `mcp_start_timeout` (seconds).
pub const MCP_START_TIMEOUT_VAR: &str = "STN_MCP_START_TIMEOUT";

impl Settings {
    /// Resolves settings from flags, the environment (`env`) and `config.yaml`.
    pub fn resolve(overrides: &Overrides, env: &dyn Fn(&str) -> Option<String>) -> Result<Self> {
        let config_dir = config_dir(overrides.config_dir.as_deref(), env)?;
        let file = ConfigFile::load(&config_dir.join("config.yaml"))?;
        let from_env = DATABASE_URL_VARS
            .iter()
            .find_map(|var| env(var).filter(|v| !v.trim().is_empty()).map(|v| (var, v)));
        let (raw, database_source) = if let Some(url) = &overrides.database {
            (url.clone(), UrlSource::Flag)
        } else if let Some((var, url)) = from_env {
            (url, UrlSource::Env((*var).to_owned()))
        } else if let Some(url) = &file.database_url {
            (url.clone(), UrlSource::ConfigFile)
        } else {
            (
                config_dir.join("station.db").display().to_string(),
                UrlSource::Default,
            )
        };
        let token = AUTH_TOKEN_VARS
            .iter()
            .find_map(|var| env(var))
            .or_else(|| file.database_auth_token.clone())
            .and_then(AuthToken::new);
        let mut database = DatabaseUrl::parse(&raw)?.with_fallback_token(token);
        // A relative path in config.yaml is relative to the config dir, not to wherever stn runs.
        if database_source == UrlSource::ConfigFile
            && let Some(path) = database.local_path().filter(|p| p.is_relative())
        {
            database = DatabaseUrl::parse(&config_dir.join(path).display().to_string())?;
        }
        let defaults = RemoteTimeouts::default();
        let remote_timeouts = RemoteTimeouts {
            connect: seconds_var(env, RemoteTimeouts::CONNECT_VAR)?.unwrap_or(defaults.connect),
            request: seconds_var(env, RemoteTimeouts::REQUEST_VAR)?.unwrap_or(defaults.request),
        };
        let mcp_start_timeout = match seconds_var(env, MCP_START_TIMEOUT_VAR)? {
            Some(timeout) => Some(timeout),
            None => file
                .mcp_start_timeout
                .filter(|s| *s > 0)
                .map(std::time::Duration::from_secs),
        };
        Ok(Self {
            config_dir,
            file,
            database,
            database_source,
            remote_timeouts,
            mcp_start_timeout,
        })
    }

    /// Options to open [`Settings::database`] with.
    pub fn open_options(&self) -> OpenOptions {
        OpenOptions {
            remote_timeouts: self.remote_timeouts,
            ..OpenOptions::default()
        }
    }

    /// `config.yaml` in the config dir.
    pub fn config_file(&self) -> PathBuf {
        self.config_dir.join("config.yaml")
    }
}

/// A positive number of seconds from `var`, if set.
fn seconds_var(
    env: &dyn Fn(&str) -> Option<String>,
    var: &str,
) -> Result<Option<std::time::Duration>> {
    let Some(text) = env(var).filter(|v| !v.trim().is_empty()) else {
        return Ok(None);
    };
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s > 0.0)
        .and_then(|s| std::time::Duration::try_from_secs_f64(s).ok())
        .map(Some)
        .ok_or_else(|| {
            CoreError::Invalid(format!(
                "{var}=`{text}` is not a number of seconds; use e.g. {var}=30"
            ))
        })
}

fn config_dir(flag: Option<&Path>, env: &dyn Fn(&str) -> Option<String>) -> Result<PathBuf> {
    if let Some(dir) = flag {
        return Ok(dir.to_path_buf());
    }
    if let Some(dir) = env("STATION_CONFIG_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    if let Some(xdg) = env("XDG_CONFIG_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(xdg).join("station"));
    }
    match env("HOME").filter(|d| !d.is_empty()) {
        Some(home) => Ok(PathBuf::from(home).join(".config").join("station")),
        None => Err(CoreError::Invalid(
            "cannot find the config dir: set --config-dir, STATION_CONFIG_DIR or HOME".to_owned(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use stn_testkit::env_of;

    use super::*;

    #[test]
    fn precedence_flag_env_file_default() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().to_str().unwrap();
        std::fs::write(
            dir.path().join("config.yaml"),
            "database_url: from-file.db\nai_provider: openai\n",
        )
        .unwrap();
        let env = env_of(&[("STATION_CONFIG_DIR", cfg), ("STATION_DATABASE", "/env.db")]);
        let flag = Overrides {
            database: Some("/flag.db".into()),
            ..Default::default()
        };
        let s = Settings::resolve(&flag, &env).unwrap();
        assert_eq!(s.database.local_path(), Some(Path::new("/flag.db")));
        let s = Settings::resolve(&Overrides::default(), &env).unwrap();
        assert_eq!(s.database.local_path(), Some(Path::new("/env.db")));
        assert_eq!(s.database_source, UrlSource::Env("STATION_DATABASE".into()));
        let s = Settings::resolve(
            &Overrides::default(),
            &env_of(&[("STATION_CONFIG_DIR", cfg)]),
        )
        .unwrap();
        assert_eq!(
            s.database.local_path(),
            Some(dir.path().join("from-file.db").as_path())
        );
        std::fs::remove_file(dir.path().join("config.yaml")).unwrap();
        let s = Settings::resolve(
            &Overrides::default(),
            &env_of(&[("STATION_CONFIG_DIR", cfg)]),
        )
        .unwrap();
        assert_eq!(
            s.database.local_path(),
            Some(dir.path().join("station.db").as_path())
        );
        assert_eq!(s.database_source, UrlSource::Default);
    }

    #[test]
    fn config_dir_falls_back_to_xdg_then_home() {
        let s = Settings::resolve(
            &Overrides::default(),
            &env_of(&[("XDG_CONFIG_HOME", "/x"), ("HOME", "/h")]),
        )
        .unwrap();
        assert_eq!(s.config_dir, Path::new("/x/station"));
        let s = Settings::resolve(&Overrides::default(), &env_of(&[("HOME", "/h")])).unwrap();
        assert_eq!(s.config_dir, Path::new("/h/.config/station"));
    }

    #[test]
    fn token_from_env_unless_in_url() {
        let env = env_of(&[
            ("HOME", "/h"),
            ("DATABASE_URL", "libsql://db.example.io"),
            ("TURSO_AUTH_TOKEN", "t1"),
        ]);
        let s = Settings::resolve(&Overrides::default(), &env).unwrap();
        assert_eq!(s.database.token().map(AuthToken::expose), Some("t1"));
        assert!(!format!("{:?} {}", s, s.database).contains("t1"));
    }

    #[test]
    fn unknown_config_key_is_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.yaml"), "database_ulr: x.db\n").unwrap();
        let env = env_of(&[("STATION_CONFIG_DIR", dir.path().to_str().unwrap())]);
        let err = Settings::resolve(&Overrides::default(), &env)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("database_ulr") && err.contains("config.yaml"),
            "{err}"
        );
    }
}
