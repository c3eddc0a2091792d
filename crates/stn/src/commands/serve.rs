//! `stn serve`: the HTTP API on the configured database.

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use stn_core::config::Settings;
use stn_server::ServeOptions;

use crate::cli::ServeArgs;
use crate::context;

const DEFAULT_ADDR: &str = "127.0.0.1:8585";

pub async fn run(settings: &Settings, args: ServeArgs) -> Result<ExitCode> {
    let addr_text = args
        .addr
        .or_else(|| settings.file.api_addr.clone())
        .unwrap_or_else(|| DEFAULT_ADDR.to_owned());
    let addr: SocketAddr = addr_text.parse().with_context(|| {
        format!("--addr `{addr_text}` is not HOST:PORT with an IP address (e.g. 127.0.0.1:8585)")
    })?;
    let station = context::open(settings).await?;
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
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    tracing::info!(
        addr = %listener.local_addr()?,
        database = %settings.database,
        auth = require_auth,
        "serving"
    );
    stn_server::serve(
        station,
        listener,
        ServeOptions { require_auth },
        shutdown_signal(),
    )
    .await?;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
    tracing::info!("shutdown signal received; finishing in-flight requests");
}
