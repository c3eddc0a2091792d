//! Litestream v0.5's YAML configuration file, read strictly.
//!
//! The same file works with the real `litestream replicate`, with one
//! Station extension: a database may list several replicas under
//! `replicas:`. Unlike Litestream, which silently ignores keys it does not
//! know, every unknown or obsolete key is an error naming the key and the
//! file, so a typo cannot quietly turn off a backup.
//!
//! Before parsing, `$VAR` and `${VAR}` are replaced from the environment
//! (unset: empty; `$$` is a literal `$`) unless [`LoadOptions::no_expand_env`]
//! is set. A key whose value expands to an empty string counts as unset.

mod durability;
mod duration;
mod env;
mod init;
mod raw;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, Result};

pub use durability::Durability;
pub use init::init_config_text;

/// Default `sync-interval` of a replica: how often new LTX files are uploaded.
pub const DEFAULT_SYNC_INTERVAL: Duration = Duration::from_secs(1);
/// Default compaction levels 1, 2 and 3.
pub const DEFAULT_LEVEL_INTERVALS: [Duration; 3] = [
    Duration::from_secs(30),
    Duration::from_secs(5 * 60),
    Duration::from_secs(60 * 60),
];
/// Most compaction levels a config may define (levels 1..=8; 9 is snapshots).
pub const MAX_LEVELS: usize = 8;
/// Default `snapshot.interval` and `snapshot.retention`.
pub const DEFAULT_SNAPSHOT_INTERVAL: Duration = Duration::from_secs(24 * 60 * 60);
/// Default `l0-retention`: how long compacted L0 files are kept.
pub const DEFAULT_L0_RETENTION: Duration = Duration::from_secs(5 * 60);
/// Default `l0-retention-check-interval`.
pub const DEFAULT_L0_RETENTION_CHECK_INTERVAL: Duration = Duration::from_secs(15);
/// Default `shutdown-sync-timeout`: how long a clean shutdown keeps uploading.
pub const DEFAULT_SHUTDOWN_SYNC_TIMEOUT: Duration = Duration::from_secs(30);
/// Default `shutdown-sync-interval`: pause between upload attempts at shutdown.
pub const DEFAULT_SHUTDOWN_SYNC_INTERVAL: Duration = Duration::from_millis(500);
/// Default `monitor-interval`: how often the WAL is checked for new frames.
pub const DEFAULT_MONITOR_INTERVAL: Duration = Duration::from_secs(1);
/// Default `checkpoint-interval`.
pub const DEFAULT_CHECKPOINT_INTERVAL: Duration = Duration::from_secs(60);
/// Default `busy-timeout`.
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(1);
/// Default `min-checkpoint-page-count`: WAL pages that trigger a PASSIVE checkpoint.
pub const DEFAULT_MIN_CHECKPOINT_PAGE_COUNT: u32 = 1000;
/// Default `truncate-page-n`: WAL pages (≈500 MB at 4 KiB) that force a TRUNCATE checkpoint.
pub const DEFAULT_TRUNCATE_PAGE_N: u32 = 121_359;
/// Default `max-sync-wal-bytes`: most WAL bytes turned into one L0 file.
pub const DEFAULT_MAX_SYNC_WAL_BYTES: u64 = 64 * 1024 * 1024;

/// How [`Config::load_with`] treats the file.
#[derive(Clone, Copy, Debug, Default)]
pub struct LoadOptions {
    /// Parse the text as written, without `$VAR` expansion (`-no-expand-env`).
    pub no_expand_env: bool,
}

/// A whole configuration file, defaults filled in.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// The databases to replicate.
    pub dbs: Vec<DbConfig>,
    /// Compaction levels 1.. (`levels:`), default 30s, 5m, 1h.
    pub levels: Vec<LevelConfig>,
    /// Level-9 snapshots (`snapshot:`).
    pub snapshot: SnapshotConfig,
    /// `l0-retention`: compacted L0 files older than this are deleted (0 = never).
    pub l0_retention: Duration,
    /// `l0-retention-check-interval`.
    pub l0_retention_check_interval: Duration,
    /// `retention: {enabled: …}`: false leaves remote deletion to bucket lifecycle rules.
    pub retention_enabled: bool,
    /// `shutdown-sync-timeout`.
    pub shutdown_sync_timeout: Duration,
    /// `shutdown-sync-interval`.
    pub shutdown_sync_interval: Duration,
    /// `addr`: listen address for metrics, if set.
    pub addr: Option<String>,
    /// `exec`: a command to run as a child process, if set.
    pub exec: Option<String>,
    /// `logging:`.
    pub logging: LoggingConfig,
}

/// One compaction level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LevelConfig {
    /// How often files of the level below are merged into this level.
    pub interval: Duration,
}

/// Full-database snapshots (level 9).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapshotConfig {
    /// How often a snapshot is written.
    pub interval: Duration,
    /// How long snapshots are kept (the newest is always kept).
    pub retention: Duration,
}

/// `logging:` settings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoggingConfig {
    /// `level`: debug, info, warn or error.
    pub level: Option<String>,
    /// `type`: text or json.
    pub format: Option<String>,
    /// `stderr`: log to stderr instead of stdout.
    pub stderr: bool,
}

/// One database and where it replicates to.
#[derive(Clone, Debug, PartialEq)]
pub struct DbConfig {
    /// The SQLite database file.
    pub path: PathBuf,
    /// `meta-path`: where local replication state lives (default `.<db>-litestream` beside it).
    pub meta_path: Option<PathBuf>,
    /// `monitor-interval`.
    pub monitor_interval: Duration,
    /// `checkpoint-interval`.
    pub checkpoint_interval: Duration,
    /// `busy-timeout`.
    pub busy_timeout: Duration,
    /// `min-checkpoint-page-count`.
    pub min_checkpoint_page_count: u32,
    /// `truncate-page-n` (0 in the file means the default).
    pub truncate_page_n: u32,
    /// `max-sync-wal-bytes`.
    pub max_sync_wal_bytes: u64,
    /// `restore-if-db-not-exists`: restore from the replica at startup when the file is missing.
    pub restore_if_db_not_exists: bool,
    /// `durability` (Station's own key): `async` (default) or `sync`.
    pub durability: Durability,
    /// From `replica:` or `replicas:`; Station allows several.
    pub replicas: Vec<ReplicaConfig>,
}

/// The storage backend of a replica (`type:`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplicaKind {
    /// A local directory (`file`).
    File,
    /// Amazon S3 or a compatible service (`s3`).
    S3,
    /// Google Cloud Storage (`gs`).
    Gs,
    /// Azure Blob Storage (`abs`).
    Abs,
}

impl ReplicaKind {
    /// The `type:` value / URL scheme.
    pub fn as_str(self) -> &'static str {
        match self {
            ReplicaKind::File => "file",
            ReplicaKind::S3 => "s3",
            ReplicaKind::Gs => "gs",
            ReplicaKind::Abs => "abs",
        }
    }

    /// Parses a `type:` value or URL scheme; the error says what to use.
    pub fn parse(name: &str) -> Result<ReplicaKind, String> {
        match name {
            "file" => Ok(ReplicaKind::File),
            "s3" => Ok(ReplicaKind::S3),
            "gs" => Ok(ReplicaKind::Gs),
            "abs" => Ok(ReplicaKind::Abs),
            "gcs" => Err("replica type `gcs` does not exist: use `gs`".to_owned()),
            "sftp" | "webdav" | "webdavs" | "nats" | "oss" => Err(format!(
                "replica type `{name}` is a Litestream backend Station does not support: use file, s3, gs or abs"
            )),
            _ => Err(format!(
                "unknown replica type `{name}`: use file, s3, gs or abs"
            )),
        }
    }

    /// The kind a replica URL names: its scheme, or `file` for a bare absolute path.
    pub fn of_url(url: &str) -> Result<ReplicaKind> {
        if url.starts_with('/') {
            return Ok(ReplicaKind::File);
        }
        let invalid = |reason: String| Error::InvalidUrl {
            url: url.to_owned(),
            reason,
        };
        let (scheme, _) = url
            .split_once("://")
            .ok_or_else(|| invalid("expected SCHEME://… or an absolute path".to_owned()))?;
        ReplicaKind::parse(scheme).map_err(invalid)
    }
}

/// One replica destination. Either `url` or the separate keys (`bucket`,
/// `path`, …) say where; settings given both ways must agree, see
/// [`crate::storage::ReplicaClient::from_config`].
#[derive(Clone, PartialEq, Eq)]
pub struct ReplicaConfig {
    /// `type`, or the URL's scheme, default `file`.
    pub kind: ReplicaKind,
    /// `url`: Litestream's replica URL (`s3://bucket/path?endpoint=…`).
    pub url: Option<String>,
    /// `path`: the directory (file) or key prefix (cloud).
    pub path: Option<String>,
    /// `bucket` (s3, gs) or container (abs).
    pub bucket: Option<String>,
    /// `endpoint`: a custom service URL (S3-compatible stores, emulators).
    pub endpoint: Option<String>,
    /// `region` (s3).
    pub region: Option<String>,
    /// `force-path-style` (s3); default: on with a custom endpoint.
    pub force_path_style: Option<bool>,
    /// `skip-verify`: accept invalid TLS certificates.
    pub skip_verify: bool,
    /// `access-key-id` (s3). Secret-adjacent: never logged with its secret.
    pub access_key_id: Option<String>,
    /// `secret-access-key` (s3). Redacted in `Debug`.
    pub secret_access_key: Option<String>,
    /// `account-name` (abs).
    pub account_name: Option<String>,
    /// `account-key` (abs). Redacted in `Debug`.
    pub account_key: Option<String>,
    /// `sas-token` (abs). Redacted in `Debug`.
    pub sas_token: Option<String>,
    /// `sync-interval`: how often new LTX files are uploaded.
    pub sync_interval: Duration,
}

impl ReplicaConfig {
    /// A replica given only by its URL, every other setting at its default.
    pub fn from_url(url: &str) -> Result<ReplicaConfig> {
        Ok(ReplicaConfig {
            url: Some(url.to_owned()),
            ..ReplicaConfig::new(ReplicaKind::of_url(url)?)
        })
    }

    /// A replica of `kind` with nothing set yet.
    pub fn new(kind: ReplicaKind) -> ReplicaConfig {
        ReplicaConfig {
            kind,
            url: None,
            path: None,
            bucket: None,
            endpoint: None,
            region: None,
            force_path_style: None,
            skip_verify: false,
            access_key_id: None,
            secret_access_key: None,
            account_name: None,
            account_key: None,
            sas_token: None,
            sync_interval: DEFAULT_SYNC_INTERVAL,
        }
    }
}

impl fmt::Debug for ReplicaConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |secret: &Option<String>| secret.as_ref().map(|_| "<redacted>");
        f.debug_struct("ReplicaConfig")
            .field("kind", &self.kind)
            .field("url", &self.url)
            .field("path", &self.path)
            .field("bucket", &self.bucket)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("force_path_style", &self.force_path_style)
            .field("skip_verify", &self.skip_verify)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &redacted(&self.secret_access_key))
            .field("account_name", &self.account_name)
            .field("account_key", &redacted(&self.account_key))
            .field("sas_token", &redacted(&self.sas_token))
            .field("sync_interval", &self.sync_interval)
            .finish()
    }
}

impl Config {
    /// Reads and parses `path`, expanding `$VAR`s.
    pub fn load(path: &Path) -> Result<Config> {
        Config::load_with(path, LoadOptions::default())
    }

    /// Reads and parses `path`.
    pub fn load_with(path: &Path, options: LoadOptions) -> Result<Config> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.display().to_string(),
            source,
        })?;
        Config::parse(&text, &path.display().to_string(), options)
    }

    /// Parses configuration `text`; `file` names it in errors.
    pub fn parse(text: &str, file: &str, options: LoadOptions) -> Result<Config> {
        let text = if options.no_expand_env {
            text.to_owned()
        } else {
            env::expand(text, |name| std::env::var(name).ok())
        };
        raw::parse(&text).map_err(|detail| Error::Config {
            file: file.to_owned(),
            detail,
        })
    }
}

#[cfg(test)]
mod tests;
