//! `stn replicate`: continuous replication of any SQLite database, like
//! `litestream replicate`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use stn_core::config::Settings;
use stn_replicate::ReplicaClient;
use stn_replicate::{Durability, ReplicaWaiter, ReplicationOptions, Replicator, ReplicatorHandle};
use stn_replicate::{IntegrityCheck, RestoreOptions, restore};

use crate::cli::ReplicateArgs;
use crate::replication;

/// One database and where it goes.
struct Job {
    db_path: PathBuf,
    replicas: Vec<ReplicaClient>,
    options: ReplicationOptions,
    restore_if_missing: bool,
}

pub async fn run(settings: &Settings, args: ReplicateArgs) -> Result<ExitCode> {
    let stop = crate::signals::Shutdown::listen().context("cannot listen for stop signals")?;
    let target = args.replica_url.as_deref();
    let config = replication::load_config_unless_url(&args.config, settings, target)?;
    // Checked before anything starts: a refused address must not leave a replicator behind.
    let metrics_addr = metrics_addr(
        args.metrics_addr
            .as_deref()
            .or_else(|| config.as_ref().and_then(|c| c.addr.as_deref())),
        args.metrics_allow_remote,
    )?;
    let jobs = match (&args.db_path, &args.replica_url) {
        (Some(db_path), Some(url)) => vec![Job {
            db_path: db_path.clone(),
            replicas: vec![ReplicaClient::from_url(url)?],
            options: ReplicationOptions::default(),
            restore_if_missing: false,
        }],
        (Some(_), None) => bail!("give both DB_PATH and REPLICA_URL, or neither and a config file"),
        _ => {
            let Some(config) = &config else {
                bail!(
                    "nothing to replicate: give DB_PATH REPLICA_URL, or a config file with --config (or $LITESTREAM_CONFIG)"
                );
            };
            if config.dbs.is_empty() {
                bail!("the config file lists no databases under `dbs:`");
            }
            config
                .dbs
                .iter()
                .map(|db| {
                    Ok(Job {
                        db_path: db.path.clone(),
                        replicas: db
                            .replicas
                            .iter()
                            .map(ReplicaClient::from_config)
                            .collect::<Result<_, _>>()?,
                        options: ReplicationOptions::from_config(config, db),
                        restore_if_missing: db.restore_if_db_not_exists,
                    })
                })
                .collect::<Result<Vec<_>>>()?
        }
    };

    let mut handles = Vec::new();
    let mut sync_budgets = Vec::new();
    let mut names = Vec::new();
    for mut job in jobs {
        job.options.lease.takeover = args.takeover;
        if job.options.durability == Durability::Sync {
            // Another process makes the writes; nothing here can hold them back.
            tracing::warn!(
                db = %job.db_path.display(),
                "`durability: sync` only applies to `stn serve`; `stn replicate` replicates asynchronously"
            );
        }
        if job.restore_if_missing {
            restore_if_missing(&job.db_path, &job.replicas).await?;
        }
        if !job.db_path.exists() {
            bail!(
                "{} does not exist; create the database first (replication never creates one)",
                job.db_path.display()
            );
        }
        sync_budgets.push(job.options.shutdown_sync_timeout);
        let handle = Replicator::start(job.db_path.clone(), job.replicas, job.options)
            .await
            .with_context(|| format!("cannot start replicating {}", job.db_path.display()))?;
        tracing::info!(db = %job.db_path.display(), txid = handle.status().txid, "replicating");
        handles.push(handle);
        names.push(job.db_path.display().to_string());
    }

    // Metrics read the replicators' counters when scraped.
    let waiters: Vec<(String, ReplicaWaiter)> = names
        .into_iter()
        .zip(handles.iter().map(ReplicatorHandle::waiter))
        .collect();
    let (stop_metrics, metrics_stopped) = tokio::sync::oneshot::channel::<()>();
    if let Some(addr) = metrics_addr {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on --metrics-addr {addr}"))?;
        let metrics: stn_server::MetricsFn = std::sync::Arc::new(move || {
            waiters
                .iter()
                .map(|(db, waiter)| crate::metrics::replication(db, &waiter.status()))
                .collect()
        });
        tracing::info!(%addr, "serving metrics");
        // With --metrics-allow-remote any host may scrape (there is nothing
        // to rebind to); otherwise the same Host check as `stn serve`.
        let allowed_hosts = if args.metrics_allow_remote {
            stn_server::AllowedHosts::any()
        } else {
            stn_server::AllowedHosts::new(&[], addr)
        };
        tokio::spawn(stn_server::serve_metrics(
            listener,
            metrics,
            allowed_hosts,
            async {
                let _ = metrics_stopped.await;
            },
        ));
    }

    let exit: Result<ExitCode> = if args.once {
        let sync_all = async {
            for (handle, budget) in handles.iter().zip(&sync_budgets) {
                // Replica tasks retry for ever; --once gives them the same time
                // as the final sync of a shutdown, then reports why.
                let txid = handle.waiter().sync_now_within(*budget).await?;
                println!("synced TXID {txid:016x}");
            }
            Ok(ExitCode::SUCCESS)
        };
        tokio::select! {
            synced = sync_all => synced,
            () = stop.wait() => Err(anyhow::anyhow!("stopped by a signal before the sync finished")),
        }
    } else if let Some(cmd) = args
        .exec
        .as_deref()
        .or(config.as_ref().and_then(|c| c.exec.as_deref()))
    {
        run_exec(cmd).await
    } else {
        stop.wait().await;
        Ok(ExitCode::SUCCESS)
    };
    let _ = stop_metrics.send(());
    let exit = match exit {
        Ok(exit) => exit,
        Err(e) => {
            // A final sync would wait out the same failure again.
            for handle in handles {
                if let Err(stop) = handle.stop().await {
                    tracing::warn!(error = %stop, "stopping replication");
                }
            }
            return Err(e);
        }
    };
    let mut failed = false;
    for handle in handles {
        if let Err(e) = handle.shutdown().await {
            eprintln!("error: final sync: {e}");
            failed = true;
        }
    }
    Ok(if failed { ExitCode::FAILURE } else { exit })
}

/// Restores a missing database from the first replica that has a backup;
/// an empty replica is not an error (a new database starts from nothing).
pub(crate) async fn restore_if_missing(db_path: &Path, replicas: &[ReplicaClient]) -> Result<()> {
    if db_path.exists() {
        return Ok(());
    }
    let mut options = RestoreOptions::new(db_path);
    options.if_replica_exists = true;
    options.integrity_check = IntegrityCheck::Quick;
    for client in replicas {
        let outcome = restore(client, &options).await?;
        tracing::info!(db = %db_path.display(), replica = client.url(), ?outcome, "restored a missing database");
        if db_path.exists() {
            break;
        }
    }
    Ok(())
}

/// Runs `cmd` through `sh -c` until it exits (signals are forwarded) and returns its exit code.
async fn run_exec(cmd: &str) -> Result<ExitCode> {
    let mut child = tokio::process::Command::new("sh")
        .args(["-c", cmd])
        .spawn()
        .with_context(|| format!("cannot run --exec `{cmd}`"))?;
    let status = tokio::select! {
        status = child.wait() => status?,
        () = crate::signals::shutdown() => {
            if let Some(pid) = child.id() {
                // Forward the stop request; the child decides how to end.
                let _ = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status();
            }
            child.wait().await?
        }
    };
    let code = status
        .code()
        .and_then(|c| u8::try_from(c).ok())
        .unwrap_or(1);
    Ok(ExitCode::from(code))
}

/// The metrics listener's address. Metrics have no authentication, so like
/// `stn serve` without keys only loopback addresses are accepted, unless the
/// user opts in with `--metrics-allow-remote`.
fn metrics_addr(text: Option<&str>, allow_remote: bool) -> Result<Option<SocketAddr>> {
    let Some(text) = text else {
        return Ok(None);
    };
    // Litestream's `addr: ":9090"` means every interface; keep that meaning.
    let full = match text.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"),
        None => text.to_owned(),
    };
    let addr = crate::listen::listen_addr(&full).with_context(|| {
        format!(
            "--metrics-addr `{text}` is not HOST:PORT with an IP address or localhost (e.g. 127.0.0.1:9090)"
        )
    })?;
    if !addr.ip().is_loopback() && !allow_remote {
        bail!(
            "refusing to serve metrics on {addr} (from `{text}`): metrics have no authentication, \
             so only loopback addresses are used by default; listen on 127.0.0.1:{} or pass \
             --metrics-allow-remote to expose them",
            addr.port()
        );
    }
    Ok(Some(addr))
}
