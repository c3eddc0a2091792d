//! `stn serve`: the HTTP API on the configured database, optionally
//! replicating it (restore on start when the file is missing, continuous
//! replication while serving, a final sync on shutdown).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, OnceLock};

use anyhow::{Context as _, Result, bail};
use stn_agent::schedule::Scheduler;
use stn_agent::{EngineOptions, RunManager};
use stn_core::bundle::{self, BundleSource};
use stn_core::config::Settings;
use stn_core::{Layout, Station};
use stn_db::{CommitHook, Database, OpenOptions};
use stn_replicate::ReplicaClient;
use stn_replicate::{Durability, ReplicaWaiter, ReplicationOptions, Replicator};
use stn_server::{AllowedHosts, Limits, ServeOptions};

use crate::cli::ServeArgs;
use crate::commands::replicate::restore_if_missing;
use crate::{replication, runner, signals};

const DEFAULT_ADDR: &str = "127.0.0.1:8585";

/// What `--replica` / `--replicate` asked for.
struct Replication {
    db_path: PathBuf,
    replicas: Vec<ReplicaClient>,
    options: ReplicationOptions,
}

pub async fn run(settings: &Settings, args: ServeArgs) -> Result<ExitCode> {
    let stop = signals::Shutdown::listen().context("cannot listen for stop signals")?;
    let addr_text = args
        .addr
        .clone()
        .or_else(|| settings.file.api_addr.clone())
        .unwrap_or_else(|| DEFAULT_ADDR.to_owned());
    let addr = crate::listen::listen_addr(&addr_text).with_context(|| {
        format!(
            "--addr `{addr_text}` is not HOST:PORT with an IP address or localhost (e.g. 127.0.0.1:8585)"
        )
    })?;
    // Private, as `stn init` makes it: the database and config.yaml live here.
    stn_core::files::create_private_dir(&settings.config_dir).with_context(|| {
        format!(
            "cannot create the config dir {}",
            settings.config_dir.display()
        )
    })?;
    let replication = replication_for(settings, &args)?;
    if let Some(r) = &replication {
        restore_if_missing(&r.db_path, &r.replicas).await?;
    }

    // Set once the replicator runs; writes before that (migrations at
    // start) reach the replica with its first sync.
    let waiter = Arc::new(OnceLock::new());
    let open_options = OpenOptions {
        must_exist: false,
        checkpoint_externally: replication.is_some(),
        on_commit: replication
            .as_ref()
            .map(|r| commit_hook(&r.options, Arc::clone(&waiter))),
        ..settings.open_options()
    };
    crate::context::upgrade_go_database(settings).await?;
    let db = Database::open_with(&settings.database, &open_options).await?;
    let station = Station::new(db, Layout::new(&settings.config_dir));
    let applied = station.migrate().await?;
    if !applied.is_empty() {
        tracing::info!(count = applied.len(), "applied migrations");
    }
    station.store().ensure_environment("default").await?;
    if let Some(src) = &args.bundle {
        install_bundle_once(
            settings,
            &station,
            src,
            &args.bundle_env,
            args.bundle_replace,
        )
        .await?;
    }
    store_bootstrap_key(&station, std::env::var(BOOTSTRAP_KEY_VAR).ok()).await?;
    // Keys are checked on every request; this only keeps a server that
    // starts without any off the network.
    let allow_keyless = addr.ip().is_loopback();
    check_keyless(addr, station.store().has_api_keys().await?)?;
    let mut durability_name = String::new();
    let handle = match replication {
        Some(r) => {
            let urls: Vec<String> = r.replicas.iter().map(|c| c.url().to_owned()).collect();
            let mut options = r.options;
            options.lease.takeover = args.takeover;
            let durability = options.durability;
            durability_name = durability.as_str().to_owned();
            let handle = Replicator::start(r.db_path, r.replicas, options).await?;
            let _ = waiter.set(handle.waiter());
            tracing::info!(
                replicas = ?urls,
                txid = handle.status().txid,
                durability = durability.as_str(),
                "replicating"
            );
            Some(handle)
        }
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    tracing::info!(database = %settings.database, "database");

    // /metrics and the Data page read the replicator's state when asked.
    let data = handle.as_ref().map(|h| {
        let waiter = h.waiter();
        let durability = durability_name.clone();
        let data: stn_server::DataFn =
            Arc::new(move || replication::view(&waiter.status(), &durability));
        data
    });
    let db_name = settings.database.redacted();
    let metrics: stn_server::MetricsFn = Arc::new(move || match waiter.get() {
        Some(waiter) => crate::metrics::replication(&db_name, &waiter.status()),
        None => String::new(),
    });
    // Flags and STN_ALLOWED_HOSTS replace config.yaml's list rather than add to it.
    let configured_hosts = if args.allowed_hosts.is_empty() {
        settings.file.allowed_hosts.clone().unwrap_or_default()
    } else {
        args.allowed_hosts.clone()
    };
    // Runs a previous server (or a killed `stn agent run`) left behind can
    // never end on their own.
    runner::settle_orphaned_runs(&station).await?;
    let engine = runner::engine(settings, station.clone(), EngineOptions::default())?;
    let manager = RunManager::new(engine, args.runs.max_concurrent_runs);
    let scheduler = Scheduler::start(manager.clone());
    let options = ServeOptions {
        allow_keyless,
        allowed_hosts: AllowedHosts::new(&configured_hosts, addr),
        limits: Limits {
            max_connections: args.max_connections,
            ..Limits::default()
        },
        metrics: Some(metrics),
        runs: Some(manager.clone()),
        mcp_environment: args.mcp_environment.clone(),
        data,
        trusted_proxies: args.trusted_proxies.clone(),
    };
    // On a stop signal, runs are cancelled first: their event streams end
    // with the final status, which lets the HTTP server finish gracefully
    // (open connections are cut after `Limits::shutdown_grace`).
    let shutdown = {
        let manager = manager.clone();
        async move {
            stop.wait().await;
            scheduler.stop().await;
            manager.shutdown().await;
        }
    };
    let served = stn_server::serve(station, listener, options, shutdown).await;
    manager.shutdown().await;
    if let Some(handle) = handle {
        handle.shutdown().await.context("final replication sync")?;
        tracing::info!("replica up to date");
    }
    served?;
    Ok(ExitCode::SUCCESS)
}

/// Where `stn deploy` hands a fresh instance its first admin key. Only an
/// environment variable (from a secret), never a flag: flags show in process lists.
pub const BOOTSTRAP_KEY_VAR: &str = "STN_BOOTSTRAP_API_KEY";

/// Stores the hash of `$STN_BOOTSTRAP_API_KEY` for the admin user once, so a
/// deployment listening on the network can start and be reached.
async fn store_bootstrap_key(station: &Station, key: Option<String>) -> Result<()> {
    let Some(key) = key.filter(|k| !k.is_empty()) else {
        return Ok(());
    };
    let stored = station
        .store()
        .ensure_bootstrap_api_key(&key)
        .await
        .with_context(|| format!("${BOOTSTRAP_KEY_VAR}"))?;
    if let Some(record) = stored {
        tracing::info!(
            user = %record.username,
            prefix = %record.prefix,
            "stored the hash of the bootstrap API key"
        );
    }
    Ok(())
}

/// A server off loopback needs API keys: without any, anyone reaching the
/// port would be the admin.
fn check_keyless(addr: SocketAddr, has_api_keys: bool) -> Result<()> {
    if !addr.ip().is_loopback() && !has_api_keys {
        bail!(
            "refusing to serve on {addr} without authentication: create an API key first \
             (`stn user create NAME --admin` then `stn apikey create NAME`, or set ${BOOTSTRAP_KEY_VAR} \
             as `stn deploy` does), or listen on 127.0.0.1"
        );
    }
    Ok(())
}

/// `--bundle`: installs the bundle on the first start of this database only
/// (with `replace`, also a new bundle over the environment's files).
async fn install_bundle_once(
    settings: &Settings,
    station: &Station,
    src: &str,
    env: &str,
    replace: bool,
) -> Result<()> {
    let limits = bundle::Limits::default();
    let source = BundleSource::open(src, &settings.config_dir, &limits)
        .await
        .with_context(|| format!("--bundle {src}"))?;
    match station
        .install_bundle_once(&source, env, &limits, replace)
        .await
        .with_context(|| format!("--bundle {src}"))?
    {
        Some(report) => {
            tracing::info!(
                bundle = %report.source,
                environment = env,
                agents = report.sync.agents.len(),
                "installed the bundle"
            );
            for v in &report.missing_variables {
                tracing::warn!(
                    variable = %v.name,
                    file = %report.variables_file,
                    "the bundle's MCP servers need this variable; add it to the file and run `stn sync`"
                );
            }
        }
        None => {
            tracing::info!(bundle = %source.name(), "bundle already installed in this database; not reinstalling")
        }
    }
    Ok(())
}

/// What every committed API write does: wake the replicator (async), or
/// also wait until every replica holds it (sync), so a write is only
/// acknowledged once it cannot be lost.
fn commit_hook(options: &ReplicationOptions, waiter: Arc<OnceLock<ReplicaWaiter>>) -> CommitHook {
    let durability = options.durability;
    let timeout = options.durable_timeout;
    Arc::new(move || {
        let waiter = waiter.get().cloned();
        Box::pin(async move {
            let Some(waiter) = waiter else {
                return Ok(());
            };
            match durability {
                Durability::Async => {
                    waiter.notify_commit();
                    Ok(())
                }
                Durability::Sync => waiter
                    .sync_now_within(timeout)
                    .await
                    .map(drop)
                    .map_err(|e| e.to_string()),
            }
        })
    })
}

/// `--durability` (or `$STN_DURABILITY`), then `durability` in config.yaml,
/// then the Litestream config's (`from_config`).
fn durability(
    settings: &Settings,
    args: &ServeArgs,
    from_config: Durability,
) -> Result<Durability> {
    if let Some(durability) = args.durability {
        return Ok(durability);
    }
    match &settings.file.durability {
        Some(text) => text.parse().map_err(|e: String| {
            anyhow::anyhow!("{}: durability: {e}", settings.config_file().display())
        }),
        None => Ok(from_config),
    }
}

fn replication_for(settings: &Settings, args: &ServeArgs) -> Result<Option<Replication>> {
    let replication = replicas_for(settings, args)?;
    let Some(mut replication) = replication else {
        if durability(settings, args, Durability::Async)? == Durability::Sync {
            bail!(
                "durability `sync` needs a replica: pass --replica URL or --replicate (or set LITESTREAM_S3_BUCKET)"
            );
        }
        return Ok(None);
    };
    replication.options.durability = durability(settings, args, replication.options.durability)?;
    Ok(Some(replication))
}

fn replicas_for(settings: &Settings, args: &ServeArgs) -> Result<Option<Replication>> {
    // The Go original's container example configures S3 through these variables.
    let from_env = if args.replica.is_none() && !args.replicate {
        replication::s3_replica_from_env(&|var| std::env::var(var).ok())?
    } else {
        None
    };
    if args.replica.is_none() && !args.replicate && from_env.is_none() {
        return Ok(None);
    }
    let Some(db_path) = settings.database.local_path() else {
        bail!(
            "replication needs a local database, but the database is {} (a remote server keeps its own copies)",
            settings.database
        );
    };
    let db_path = std::path::absolute(db_path).with_context(|| db_path.display().to_string())?;
    let direct = match (&args.replica, from_env) {
        (Some(url), _) => Some(ReplicaClient::from_url(url)?),
        (None, Some(client)) => Some(client),
        (None, None) => None,
    };
    if let Some(client) = direct {
        return Ok(Some(Replication {
            db_path,
            replicas: vec![client],
            options: ReplicationOptions::default(),
        }));
    }
    let Some(config) = replication::load_config(&args.replication_config, settings)? else {
        bail!(
            "--replicate needs a Litestream config: {} does not exist (create it with `stn init --replicate`, or pass --config)",
            settings.config_dir.join("litestream.yml").display()
        );
    };
    let Some(db) = replication::db_entry(&config, &db_path) else {
        bail!(
            "the replication config has no `dbs:` entry for {}",
            db_path.display()
        );
    };
    Ok(Some(Replication {
        db_path,
        replicas: db
            .replicas
            .iter()
            .map(ReplicaClient::from_config)
            .collect::<Result<_, _>>()?,
        options: ReplicationOptions::from_config(&config, db),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_loopback_needs_a_key() {
        let any: SocketAddr = "0.0.0.0:8585".parse().unwrap();
        let lo: SocketAddr = "127.0.0.1:8585".parse().unwrap();
        let refused = check_keyless(any, false).unwrap_err().to_string();
        assert!(refused.contains(BOOTSTRAP_KEY_VAR), "{refused}");
        // A bootstrap key stored at start is a key: the container listens.
        check_keyless(any, true).unwrap();
        check_keyless(lo, false).unwrap();
    }
}
