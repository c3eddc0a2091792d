//! Station's HTTP API, the server behind `stn serve`.
//!
//! [`router`] builds the axum app: `GET /health` plus JSON routes for
//! environments, agents and runs under `/api/v1`; with a run manager also
//! starting, following (SSE) and cancelling runs, and `/mcp`, the agents as
//! MCP tools (streamable HTTP). [`serve`] runs it on a listener until a
//! shutdown future resolves. Every change goes through
//! [`Station`], so the API keeps the config dir's `.prompt` files in step with
//! the database exactly as the CLI does.
//!
//! The web UI is served at `/` from the same router (`ui`): server-rendered
//! pages that read through the same store functions as the API.
//!
//! Every request passes the `Host` check (see [`AllowedHosts`]); every route
//! but `/health` needs a caller, decided per request (see [`ServeOptions::allow_keyless`]).
//! This crate does not choose the bind address or handle signals: the CLI
//! does, and passes the results in.

#![warn(missing_docs)]

mod auth;
mod connections;
mod data;
mod error;
mod hosts;
mod idempotency;
mod logging;
mod routes;
mod ui;

use axum::Router;
use stn_core::Station;
use tokio::net::TcpListener;

pub use auth::Role;
pub use connections::Limits;
pub use data::{DataFn, Replica, Replication, hint_for};
pub use hosts::AllowedHosts;

/// The longest request body the API reads; longer ones get 413
/// `payload_too_large`. Agents' prompts are the biggest thing sent.
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// Produces Prometheus text-format lines for `GET /metrics` (for example
/// replication counters, which this crate does not know about).
pub type MetricsFn = std::sync::Arc<dyn Fn() -> String + Send + Sync>;

/// How the server behaves.
#[derive(Clone, Default)]
pub struct ServeOptions {
    /// Serve requests without a key, as the admin `console`, while no usable
    /// API key exists. Once one exists (checked on every request), every
    /// `/api/v1` route and `/metrics` need `Authorization: Bearer <key>`. The
    /// CLI sets this only for loopback binds. `/health` never needs a key but
    /// shows details only to a caller that could use the API.
    pub allow_keyless: bool,
    /// Hosts requests may name besides loopback ones.
    pub allowed_hosts: AllowedHosts,
    /// Connection count, header timeout and shutdown bound.
    pub limits: Limits,
    /// Extra lines for `GET /metrics`.
    pub metrics: Option<MetricsFn>,
    /// Executes agents: enables `POST /api/v1/agents/{id}/runs`, run events,
    /// cancel, and `/mcp`. Without it the API only reads run history.
    pub runs: Option<stn_agent::RunManager>,
    /// The environment whose agents `/mcp` serves.
    pub mcp_environment: String,
    /// The replicator's state, for `GET /api/v1/data` and the Data page.
    pub data: Option<DataFn>,
    /// Addresses of reverse proxies whose `X-Forwarded-Proto` is believed
    /// (it decides whether the UI's cookies are `Secure`).
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

impl std::fmt::Debug for ServeOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeOptions")
            .field("allow_keyless", &self.allow_keyless)
            .field("allowed_hosts", &self.allowed_hosts)
            .field("limits", &self.limits)
            .field("metrics", &self.metrics.is_some())
            .field("runs", &self.runs.is_some())
            .field("mcp_environment", &self.mcp_environment)
            .field("data", &self.data.is_some())
            .field("trusted_proxies", &self.trusted_proxies)
            .finish()
    }
}

/// The whole HTTP app, ready to serve or to call in tests.
pub fn router(station: Station, options: &ServeOptions) -> Router {
    let gate = auth::Gate {
        station: station.clone(),
        allow_keyless: options.allow_keyless,
    };
    let authenticate = || axum::middleware::from_fn_with_state(gate.clone(), auth::authenticate);
    let mut api = routes::api();
    let mut mcp = None;
    if let Some(runs) = &options.runs {
        api = api.merge(routes::executions(runs.clone()));
        let tools = std::sync::Arc::new(stn_agent::AgentTools::new(
            runs.clone(),
            options.mcp_environment.clone(),
        ));
        // Any host name that passed our own Host check below may reach
        // `/mcp`; the caller check guards it like the API.
        mcp = Some(stn_mcp::http_router_for_hosts(tools, Vec::new()).layer(authenticate()));
    }
    // Inside the caller check (layered later, so it runs first): callers
    // without a valid key never reach the idempotency table. `layer` (not
    // `route_layer`) so unknown `/api/v1` paths also need a caller:
    // strangers learn nothing about which routes exist.
    let api = api
        .layer(axum::middleware::from_fn_with_state(
            station.clone(),
            idempotency::idempotent_writes,
        ))
        .layer(authenticate());
    let metrics = routes::metrics(options.metrics.clone()).route_layer(authenticate());
    let mut api = api;
    if let Some(data) = &options.data {
        api = api.layer(axum::Extension(data.clone()));
    }
    let ui = ui::router(ui::UiState {
        gate: gate.clone(),
        runs: options.runs.clone(),
        data: options.data.clone(),
        trusted_proxies: options.trusted_proxies.clone(),
    });
    let mut app = Router::new()
        .merge(routes::health(gate.clone()))
        .merge(metrics)
        .merge(ui)
        .nest("/api/v1", api);
    if let Some(mcp) = mcp {
        app = app.nest_service("/mcp", mcp);
    }
    app.fallback(routes::no_route)
        .method_not_allowed_fallback(routes::method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            options.allowed_hosts.clone(),
            hosts::check_host,
        ))
        .layer(axum::middleware::from_fn(logging::log_request))
        .with_state(station)
}

/// Serves until `shutdown` resolves, then lets requests in flight finish for
/// at most `options.limits.shutdown_grace` (see [`Limits`]).
pub async fn serve(
    station: Station,
    listener: TcpListener,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    match listener.local_addr() {
        Ok(addr) => tracing::info!(
            %addr,
            allow_keyless = options.allow_keyless,
            max_connections = options.limits.max_connections,
            "serving the HTTP API"
        ),
        Err(e) => tracing::warn!(error = %e, "serving the HTTP API on an unknown address"),
    }
    let app = router(station, &options);
    connections::serve(listener, app, options.limits, shutdown).await?;
    tracing::info!("HTTP API stopped");
    Ok(())
}

/// Serves only `GET /metrics` with `metrics`' lines until `shutdown` resolves:
/// the listener of `stn replicate --metrics-addr`, which has no database API.
/// The same `Host` check and connection [`Limits`] as [`serve`].
pub async fn serve_metrics(
    listener: TcpListener,
    metrics: MetricsFn,
    allowed_hosts: AllowedHosts,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = Router::new()
        .route(
            "/metrics",
            axum::routing::get(move || {
                let text = metrics();
                async move {
                    (
                        [(
                            axum::http::header::CONTENT_TYPE,
                            "text/plain; version=0.0.4; charset=utf-8",
                        )],
                        text,
                    )
                }
            }),
        )
        .layer(axum::middleware::from_fn_with_state(
            allowed_hosts,
            hosts::check_host,
        ));
    connections::serve(listener, app, Limits::default(), shutdown).await
}
