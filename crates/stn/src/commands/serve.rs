//! `stn serve`: the HTTP API on the configured database, optionally
//! replicating it (restore on start when the file is missing, continuous
//! replication while serving, a final sync on shutdown).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, OnceLock};

use anyhow::{Context as _, Result, bail};
use stn_core::config::Settings;
use stn_core::{Layout, Station};
use stn_db::{CommitHook, Database, OpenOptions};
use stn_replicate::replicator::{Durability, ReplicaWaiter, ReplicationOptions, Replicator};
use stn_replicate::storage::ReplicaClient;
use stn_server::ServeOptions;

use crate::cli::ServeArgs;
use crate::commands::replicate::restore_if_missing;
use crate::{replication, signals};

const DEFAULT_ADDR: &str = "127.0.0.1:8585";

/// What `--replica` / `--replicate` asked for.
struct Replication {
    db_path: PathBuf,
    replicas: Vec<ReplicaClient>,
    options: ReplicationOptions,
}

pub async fn run(settings: &Settings, args: ServeArgs) -> Result<ExitCode> {
    let addr_text = args
        .addr
        .clone()
        .or_else(|| settings.file.api_addr.clone())
        .unwrap_or_else(|| DEFAULT_ADDR.to_owned());
    let addr: SocketAddr = addr_text.parse().with_context(|| {
        format!("--addr `{addr_text}` is not HOST:PORT with an IP address (e.g. 127.0.0.1:8585)")
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
    };
    let db = Database::open_with(&settings.database, &open_options).await?;
    let station = Station::new(db, Layout::new(&settings.config_dir));
    let applied = station.migrate().await?;
    if !applied.is_empty() {
        tracing::info!(count = applied.len(), "applied migrations");
    }
    station.store().ensure_environment("default").await?;
    let require_auth = station.store().has_api_keys().await?;
    if !require_auth && !addr.ip().is_loopback() {
        bail!(
            "refusing to serve on {addr} without authentication: create an API key first \
             (`stn user create NAME --admin` then `stn apikey create NAME`), or listen on 127.0.0.1"
        );
    }
    let handle = match replication {
        Some(r) => {
            let urls: Vec<String> = r.replicas.iter().map(|c| c.url().to_owned()).collect();
            let mut options = r.options;
            options.lease.takeover = args.takeover;
            let durability = options.durability;
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

    // /metrics reads the replicator's counters when scraped.
    let db_name = settings.database.redacted();
    let metrics: stn_server::MetricsFn = Arc::new(move || match waiter.get() {
        Some(waiter) => crate::metrics::replication(&db_name, &waiter.status()),
        None => String::new(),
    });
    let options = ServeOptions {
        require_auth,
        metrics: Some(metrics),
    };
    let served = stn_server::serve(station, listener, options, signals::shutdown()).await;
    if let Some(handle) = handle {
        handle.shutdown().await.context("final replication sync")?;
        tracing::info!("replica up to date");
    }
    served?;
    Ok(ExitCode::SUCCESS)
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
