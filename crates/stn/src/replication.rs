//! Finding replicas for the replication commands: a replica URL given
//! directly, or the database's entry in a Litestream YAML config.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use stn_core::config::Settings;
use stn_replicate::{
    Config, DbConfig, LoadOptions, ReplicaClient, ReplicaConfig, ReplicaKind, ReplicationStatus,
};

use crate::cli::ReplicationConfigArgs;

/// The config file to read: `--config`, `$LITESTREAM_CONFIG`, or
/// `<config dir>/litestream.yml` when it exists.
pub fn config_path(args: &ReplicationConfigArgs, settings: &Settings) -> Option<PathBuf> {
    args.config
        .clone()
        .or_else(|| std::env::var_os("LITESTREAM_CONFIG").map(PathBuf::from))
        .or_else(|| Some(settings.config_dir.join("litestream.yml")).filter(|p| p.is_file()))
}

/// Loads the config named by `args`, if there is one.
pub fn load_config(args: &ReplicationConfigArgs, settings: &Settings) -> Result<Option<Config>> {
    load_config_unless_url(args, settings, None)
}

/// Like [`load_config`], but a replica URL target needs no config file: an
/// implicit one is then not read at all (an explicit `--config` still is).
pub fn load_config_unless_url(
    args: &ReplicationConfigArgs,
    settings: &Settings,
    target: Option<&str>,
) -> Result<Option<Config>> {
    if target.is_some_and(is_url) && args.config.is_none() {
        return Ok(None);
    }
    let Some(path) = config_path(args, settings) else {
        return Ok(None);
    };
    let options = LoadOptions {
        no_expand_env: args.no_expand_env,
    };
    Ok(Some(Config::load_with(&path, options)?))
}

/// True when `target` is a replica URL rather than a database path.
pub fn is_url(target: &str) -> bool {
    target.contains("://")
}

/// The config entry of the database at `path` (paths compared after resolving).
pub fn db_entry<'a>(config: &'a Config, path: &Path) -> Option<&'a DbConfig> {
    let wanted = absolute(path);
    config.dbs.iter().find(|db| absolute(&db.path) == wanted)
}

/// The replicas for `target`: the URL itself, or the configured replicas of a database path.
pub fn replicas_for(target: &str, config: Option<&Config>) -> Result<Vec<ReplicaClient>> {
    if is_url(target) {
        return Ok(vec![ReplicaClient::from_url(target)?]);
    }
    let Some(config) = config else {
        bail!(
            "no replica for {target}: give a replica URL, or a config file with --config (or $LITESTREAM_CONFIG)"
        );
    };
    let Some(db) = db_entry(config, Path::new(target)) else {
        bail!("the config has no entry for the database {target}");
    };
    db.replicas
        .iter()
        .map(|r| ReplicaClient::from_config(r).map_err(Into::into))
        .collect()
}

fn absolute(path: &Path) -> PathBuf {
    // Only fails for an empty path or without a current dir: compare as given.
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// The S3 replica of the Go original's container example, from
/// `LITESTREAM_S3_BUCKET` (required), `LITESTREAM_S3_ACCESS_KEY_ID`,
/// `LITESTREAM_S3_SECRET_ACCESS_KEY`, `LITESTREAM_S3_REGION` (default
/// us-east-1), `LITESTREAM_S3_ENDPOINT` and `LITESTREAM_S3_PATH` (default
/// `station-db`, the Go original's). `None` when the bucket is not set.
pub fn s3_replica_from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<Option<ReplicaClient>> {
    let var = |name: &str| env(name).filter(|v| !v.trim().is_empty());
    let Some(bucket) = var("LITESTREAM_S3_BUCKET") else {
        return Ok(None);
    };
    let mut replica = ReplicaConfig::new(ReplicaKind::S3);
    replica.bucket = Some(bucket);
    replica.path = Some(var("LITESTREAM_S3_PATH").unwrap_or_else(|| "station-db".to_owned()));
    replica.region = Some(var("LITESTREAM_S3_REGION").unwrap_or_else(|| "us-east-1".to_owned()));
    replica.endpoint = var("LITESTREAM_S3_ENDPOINT");
    replica.access_key_id = var("LITESTREAM_S3_ACCESS_KEY_ID");
    replica.secret_access_key = var("LITESTREAM_S3_SECRET_ACCESS_KEY");
    if replica.access_key_id.is_some() != replica.secret_access_key.is_some() {
        bail!(
            "set both LITESTREAM_S3_ACCESS_KEY_ID and LITESTREAM_S3_SECRET_ACCESS_KEY, or neither"
        );
    }
    Ok(Some(ReplicaClient::from_config(&replica)?))
}

/// The replicator's state as the API's `GET /api/v1/data` and the Data page show it.
pub fn view(status: &ReplicationStatus, durability: &str) -> stn_server::Replication {
    let now = std::time::SystemTime::now();
    stn_server::Replication {
        durability: durability.to_owned(),
        txid: status.txid,
        last_error: status.last_error.clone(),
        replicas: status
            .replicas
            .iter()
            .map(|r| stn_server::Replica {
                url: r.url.clone(),
                txid: r.txid,
                lag_txids: status.txid.saturating_sub(r.txid),
                lag_seconds: r
                    .behind_since
                    .and_then(|since| now.duration_since(since).ok())
                    .map_or(0.0, |lag| lag.as_secs_f64()),
                uploads: r.uploads,
                errors: r.errors,
                hint: r
                    .last_error
                    .as_deref()
                    .map(|e| stn_server::hint_for(e).to_owned()),
                last_error: r.last_error.clone(),
            })
            .collect(),
    }
}
