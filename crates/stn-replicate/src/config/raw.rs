//! The file as written: serde structs that mirror Litestream's YAML keys,
//! the checks Litestream skips (unknown, obsolete and unsupported keys), and
//! the step that fills in defaults. Errors are plain text naming the key;
//! [`super::Config::parse`] adds the file name.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use yaml_serde::Value;

use super::{
    Config, DbConfig, LevelConfig, LoggingConfig, ReplicaConfig, ReplicaKind, SnapshotConfig,
};

/// A duration in Go syntax (`1m30s`), checked while deserializing.
#[derive(Clone, Copy)]
struct GoDuration(Duration);

impl<'de> Deserialize<'de> for GoDuration {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        super::duration::parse(&text)
            .map(GoDuration)
            .ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "invalid duration `{text}`: use Go syntax such as 500ms, 10s, 1m30s or 24h"
                ))
            })
    }
}

/// Keys nobody defined; kept to report them by name.
type Leftovers = BTreeMap<String, Value>;

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawConfig {
    #[serde(default)]
    dbs: Vec<RawDb>,
    addr: Option<String>,
    exec: Option<String>,
    #[serde(default)]
    logging: RawLogging,
    levels: Option<Vec<RawLevel>>,
    #[serde(default)]
    snapshot: RawSnapshot,
    l0_retention: Option<GoDuration>,
    l0_retention_check_interval: Option<GoDuration>,
    /// A block in v0.5, a duration in v0.3: read as a value to tell them apart.
    retention: Option<Value>,
    shutdown_sync_timeout: Option<GoDuration>,
    shutdown_sync_interval: Option<GoDuration>,
    /// Replica keys at the top level are defaults for every replica.
    #[serde(flatten)]
    replica_defaults: RawReplicaSettings,
    #[serde(flatten)]
    leftovers: Leftovers,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLogging {
    level: Option<String>,
    #[serde(rename = "type")]
    format: Option<String>,
    #[serde(default)]
    stderr: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLevel {
    interval: GoDuration,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSnapshot {
    interval: Option<GoDuration>,
    retention: Option<GoDuration>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRetention {
    enabled: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawDb {
    path: Option<String>,
    meta_path: Option<String>,
    monitor_interval: Option<GoDuration>,
    checkpoint_interval: Option<GoDuration>,
    busy_timeout: Option<GoDuration>,
    min_checkpoint_page_count: Option<u32>,
    truncate_page_n: Option<u32>,
    max_sync_wal_bytes: Option<u64>,
    #[serde(default)]
    restore_if_db_not_exists: bool,
    durability: Option<String>,
    #[serde(default)]
    snapshot: RawSnapshot,
    replica: Option<RawReplica>,
    replicas: Option<Vec<RawReplica>>,
    #[serde(flatten)]
    leftovers: Leftovers,
}

#[derive(Deserialize)]
struct RawReplica {
    #[serde(rename = "type")]
    kind: Option<String>,
    url: Option<String>,
    path: Option<String>,
    #[serde(flatten)]
    settings: RawReplicaSettings,
    #[serde(flatten)]
    leftovers: Leftovers,
}

/// Keys allowed on a replica and, as defaults, at the top level.
/// Deliberately no `Debug`: it holds secrets.
#[derive(Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawReplicaSettings {
    sync_interval: Option<GoDuration>,
    access_key_id: Option<String>,
    secret_access_key: Option<String>,
    region: Option<String>,
    bucket: Option<String>,
    endpoint: Option<String>,
    force_path_style: Option<bool>,
    skip_verify: Option<bool>,
    account_name: Option<String>,
    account_key: Option<String>,
    sas_token: Option<String>,
}

/// Parses expanded configuration text into a [`Config`] with defaults.
pub(super) fn parse(text: &str) -> Result<Config, String> {
    // An empty file (or one of comments only) is YAML null, not a mapping.
    let raw: RawConfig = if text.trim_start().is_empty() || is_only_comments(text) {
        yaml_serde::from_str("{}")
    } else {
        yaml_serde::from_str(text)
    }
    .map_err(|err| err.to_string())?;
    reject_leftovers("", &raw.leftovers)?;

    let snapshot = resolve_snapshot(&raw)?;
    let levels = match raw.levels {
        None => super::DEFAULT_LEVEL_INTERVALS
            .iter()
            .map(|&interval| LevelConfig { interval })
            .collect(),
        Some(levels) => resolve_levels(levels)?,
    };
    let dbs = raw
        .dbs
        .into_iter()
        .enumerate()
        .map(|(at, db)| resolve_db(&format!("dbs[{at}]"), db, &raw.replica_defaults))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Config {
        dbs,
        levels,
        snapshot,
        l0_retention: duration_or(raw.l0_retention, super::DEFAULT_L0_RETENTION),
        l0_retention_check_interval: duration_or(
            raw.l0_retention_check_interval,
            super::DEFAULT_L0_RETENTION_CHECK_INTERVAL,
        ),
        retention_enabled: resolve_retention(raw.retention)?,
        shutdown_sync_timeout: duration_or(
            raw.shutdown_sync_timeout,
            super::DEFAULT_SHUTDOWN_SYNC_TIMEOUT,
        ),
        shutdown_sync_interval: duration_or(
            raw.shutdown_sync_interval,
            super::DEFAULT_SHUTDOWN_SYNC_INTERVAL,
        ),
        addr: non_empty(raw.addr),
        exec: non_empty(raw.exec),
        logging: LoggingConfig {
            level: non_empty(raw.logging.level),
            format: non_empty(raw.logging.format),
            stderr: raw.logging.stderr,
        },
    })
}

fn is_only_comments(text: &str) -> bool {
    text.lines()
        .all(|line| line.trim().is_empty() || line.trim_start().starts_with('#'))
}

/// The global snapshot settings; a database's own `snapshot:` is promoted
/// to global as Litestream does, and two databases may not disagree.
fn resolve_snapshot(raw: &RawConfig) -> Result<SnapshotConfig, String> {
    let interval = match raw.snapshot.interval {
        Some(global) => Some(global.0),
        None => promoted(&raw.dbs, "interval", |s| s.interval)?,
    };
    let retention = match raw.snapshot.retention {
        Some(global) => Some(global.0),
        None => promoted(&raw.dbs, "retention", |s| s.retention)?,
    };
    Ok(SnapshotConfig {
        interval: interval.unwrap_or(super::DEFAULT_SNAPSHOT_INTERVAL),
        retention: retention.unwrap_or(super::DEFAULT_SNAPSHOT_INTERVAL),
    })
}

/// The one value of `snapshot.<name>` that databases set, if any.
fn promoted(
    dbs: &[RawDb],
    name: &str,
    setting: impl Fn(&RawSnapshot) -> Option<GoDuration>,
) -> Result<Option<Duration>, String> {
    let mut seen: Option<(usize, Duration)> = None;
    for (at, db) in dbs.iter().enumerate() {
        let Some(GoDuration(value)) = setting(&db.snapshot) else {
            continue;
        };
        match seen {
            Some((other, earlier)) if earlier != value => {
                return Err(format!(
                    "dbs[{at}].snapshot.{name}: {value:?} conflicts with {earlier:?} in dbs[{other}]; snapshots are global, set `snapshot.{name}` once at the top level"
                ));
            }
            Some(_) => {}
            None => seen = Some((at, value)),
        }
    }
    Ok(seen.map(|(_, value)| value))
}

fn resolve_levels(levels: Vec<RawLevel>) -> Result<Vec<LevelConfig>, String> {
    if levels.len() > super::MAX_LEVELS {
        return Err(format!(
            "levels: {} levels given, at most {} are allowed (level 9 holds snapshots)",
            levels.len(),
            super::MAX_LEVELS
        ));
    }
    levels
        .into_iter()
        .enumerate()
        .map(|(at, level)| {
            if level.interval.0.is_zero() {
                Err(format!("levels[{at}].interval: must be greater than 0"))
            } else {
                Ok(LevelConfig {
                    interval: level.interval.0,
                })
            }
        })
        .collect()
}

fn resolve_retention(value: Option<Value>) -> Result<bool, String> {
    match value {
        None | Some(Value::Null) => Ok(true),
        Some(block @ Value::Mapping(_)) => {
            let retention: RawRetention = yaml_serde::from_value(block)
                .map_err(|err| format!("retention: {err}"))?;
            Ok(retention.enabled.unwrap_or(true))
        }
        Some(_) => Err(
            "retention: a duration here is Litestream v0.3 syntax; in v0.5 `retention` is a block (`retention: {enabled: true}`) and how long snapshots are kept is `snapshot.retention`"
                .to_owned(),
        ),
    }
}

fn resolve_db(context: &str, db: RawDb, defaults: &RawReplicaSettings) -> Result<DbConfig, String> {
    reject_leftovers(context, &db.leftovers)?;
    let path = non_empty(db.path).ok_or_else(|| format!("{context}: `path` is required"))?;
    let replicas = match (db.replica, db.replicas) {
        (Some(_), Some(_)) => {
            return Err(format!(
                "{context}: set either `replica` or `replicas`, not both"
            ));
        }
        (Some(replica), None) => vec![resolve_replica(
            &format!("{context}.replica"),
            replica,
            defaults,
        )?],
        (None, Some(replicas)) if !replicas.is_empty() => replicas
            .into_iter()
            .enumerate()
            .map(|(at, replica)| {
                resolve_replica(&format!("{context}.replicas[{at}]"), replica, defaults)
            })
            .collect::<Result<Vec<_>, _>>()?,
        (None, _) => return Err(format!("{context}: a `replica` is required")),
    };
    let durability = match non_empty(db.durability) {
        Some(text) => text
            .parse()
            .map_err(|err| format!("{context}.durability: {err}"))?,
        None => Default::default(),
    };
    let truncate_page_n = match db.truncate_page_n {
        None | Some(0) => super::DEFAULT_TRUNCATE_PAGE_N,
        Some(pages) => pages,
    };
    Ok(DbConfig {
        path: PathBuf::from(path),
        meta_path: non_empty(db.meta_path).map(PathBuf::from),
        monitor_interval: duration_or(db.monitor_interval, super::DEFAULT_MONITOR_INTERVAL),
        checkpoint_interval: duration_or(
            db.checkpoint_interval,
            super::DEFAULT_CHECKPOINT_INTERVAL,
        ),
        busy_timeout: duration_or(db.busy_timeout, super::DEFAULT_BUSY_TIMEOUT),
        min_checkpoint_page_count: db
            .min_checkpoint_page_count
            .unwrap_or(super::DEFAULT_MIN_CHECKPOINT_PAGE_COUNT),
        truncate_page_n,
        max_sync_wal_bytes: db
            .max_sync_wal_bytes
            .unwrap_or(super::DEFAULT_MAX_SYNC_WAL_BYTES),
        restore_if_db_not_exists: db.restore_if_db_not_exists,
        durability,
        replicas,
    })
}

fn resolve_replica(
    context: &str,
    replica: RawReplica,
    defaults: &RawReplicaSettings,
) -> Result<ReplicaConfig, String> {
    reject_leftovers(context, &replica.leftovers)?;
    let url = non_empty(replica.url);
    let path = non_empty(replica.path);
    let from_url = url
        .as_deref()
        .map(ReplicaKind::of_url)
        .transpose()
        .map_err(|err| format!("{context}.url: {err}"))?;
    let kind = match non_empty(replica.kind) {
        None => from_url.unwrap_or(ReplicaKind::File),
        Some(name) => {
            let kind = ReplicaKind::parse(&name).map_err(|err| format!("{context}.type: {err}"))?;
            if from_url.is_some_and(|scheme| scheme != kind) {
                return Err(format!(
                    "{context}: `type: {name}` does not match the scheme of `url`"
                ));
            }
            kind
        }
    };
    let own = replica.settings;
    let own_bucket = non_empty(own.bucket);
    if url.is_some() && (path.is_some() || own_bucket.is_some()) {
        return Err(format!(
            "{context}: set either `url` or `bucket`/`path`, not both"
        ));
    }
    if path.as_deref().is_some_and(|path| path.contains("://")) {
        return Err(format!("{context}.path: looks like a URL; put it in `url`"));
    }
    let bucket = match url {
        Some(_) => None,
        None => own_bucket.or_else(|| non_empty(defaults.bucket.clone())),
    };
    if url.is_none() {
        let missing = match kind {
            ReplicaKind::File if path.is_none() => Some("`path` (or `url`)"),
            ReplicaKind::S3 | ReplicaKind::Gs | ReplicaKind::Abs if bucket.is_none() => {
                Some("`bucket` (or `url`)")
            }
            _ => None,
        };
        if let Some(missing) = missing {
            return Err(format!(
                "{context}: a {} replica needs {missing}",
                kind.as_str()
            ));
        }
    }
    let or_default = |own: Option<String>, default: &Option<String>| {
        non_empty(own).or_else(|| non_empty(default.clone()))
    };
    Ok(ReplicaConfig {
        kind,
        url,
        path,
        bucket,
        endpoint: or_default(own.endpoint, &defaults.endpoint),
        region: or_default(own.region, &defaults.region),
        force_path_style: own.force_path_style.or(defaults.force_path_style),
        skip_verify: own.skip_verify.or(defaults.skip_verify).unwrap_or(false),
        access_key_id: or_default(own.access_key_id, &defaults.access_key_id),
        secret_access_key: or_default(own.secret_access_key, &defaults.secret_access_key),
        account_name: or_default(own.account_name, &defaults.account_name),
        account_key: or_default(own.account_key, &defaults.account_key),
        sas_token: or_default(own.sas_token, &defaults.sas_token),
        sync_interval: duration_or(
            own.sync_interval.or(defaults.sync_interval),
            super::DEFAULT_SYNC_INTERVAL,
        ),
    })
}

/// Fails on the first key no struct took, saying what became of it when it
/// is a Litestream key.
fn reject_leftovers(context: &str, leftovers: &Leftovers) -> Result<(), String> {
    let Some(key) = leftovers.keys().next() else {
        return Ok(());
    };
    let at = if context.is_empty() {
        format!("`{key}`")
    } else {
        format!("{context}: `{key}`")
    };
    Err(if let Some(replacement) = obsolete(key) {
        format!("{at} {replacement}")
    } else if LITESTREAM_ONLY.contains(&key.as_str()) {
        format!("{at} is a Litestream setting that Station does not support; remove it")
    } else {
        format!("{at} is not a known setting here (check the spelling and the indentation)")
    })
}

/// Keys of Litestream v0.3 that v0.5 dropped (and silently ignores), and
/// what replaced them.
fn obsolete(key: &str) -> Option<&'static str> {
    Some(match key {
        "retention" => {
            "was removed in Litestream v0.5: snapshots are kept for the top-level `snapshot.retention`, compacted L0 files for `l0-retention`"
        }
        "retention-check-interval" => {
            "was removed in Litestream v0.5: use the top-level `l0-retention-check-interval`"
        }
        "snapshot-interval" => {
            "was removed in Litestream v0.5: use the top-level `snapshot.interval`"
        }
        "max-checkpoint-page-count" => {
            "was removed in Litestream v0.5 along with RESTART checkpoints: use the database's `truncate-page-n`"
        }
        "name" => "was removed in Litestream v0.5: replicas are told apart by `url` or `path`",
        "age" => {
            "(age encryption) was removed in Litestream v0.5 and is not supported; remove it (age-encrypted v0.3 backups cannot be restored)"
        }
        _ => return None,
    })
}

/// Valid Litestream v0.5 keys that Station does not implement.
const LITESTREAM_ONLY: &[&str] = &[
    // top level
    "socket",
    "validation",
    "verify-compaction",
    "heartbeat-url",
    "heartbeat-interval",
    "mcp-addr",
    // database
    "dir",
    "pattern",
    "recursive",
    "watch",
    "meta-dir",
    // replica
    "validation-interval",
    "max-sync-ltx-files",
    "auto-recover",
    "sign-payload",
    "require-content-md5",
    "storage-class",
    "part-size",
    "concurrency",
    "sse-customer-algorithm",
    "sse-customer-key",
    "sse-customer-key-path",
    "sse-kms-key-id",
    "host",
    "user",
    "password",
    "key-path",
    "concurrent-writes",
    "host-key",
    "webdav-url",
    "webdav-username",
    "webdav-password",
    "jwt",
    "seed",
    "creds",
    "nkey",
    "username",
    "token",
    "tls",
    "root-cas",
    "client-cert",
    "client-key",
    "max-reconnects",
    "reconnect-wait",
    "timeout",
];

fn duration_or(value: Option<GoDuration>, default: Duration) -> Duration {
    value.map_or(default, |d| d.0)
}

/// `None` for a missing or empty value: `${UNSET}` expands to nothing.
fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}
