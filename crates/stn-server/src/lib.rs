//! Station's HTTP API, the server behind `stn serve`.
//!
//! [`router`] builds the axum app: `GET /health` plus JSON routes for
//! environments, agents and runs under `/api/v1`. [`serve`] runs it on a
//! listener until a shutdown future resolves. Every change goes through
//! [`Station`], so the API keeps the config dir's `.prompt` files in step with
//! the database exactly as the CLI does.
//!
//! This crate does not choose the bind address, decide whether keys are
//! required, or handle signals: the CLI does, and passes the results in.

#![warn(missing_docs)]

mod auth;
mod error;
mod idempotency;
mod logging;
mod routes;

use axum::Router;
use stn_core::Station;
use tokio::net::TcpListener;

/// Produces Prometheus text-format lines for `GET /metrics` (for example
/// replication counters, which this crate does not know about).
pub type MetricsFn = std::sync::Arc<dyn Fn() -> String + Send + Sync>;

/// How the server behaves.
#[derive(Clone)]
pub struct ServeOptions {
    /// Require `Authorization: Bearer <API key>` on every `/api/v1` route and
    /// on `/metrics`. `/health` never requires a key, so load balancers can probe it.
    pub require_auth: bool,
    /// Extra lines for `GET /metrics`.
    pub metrics: Option<MetricsFn>,
}

impl std::fmt::Debug for ServeOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeOptions")
            .field("require_auth", &self.require_auth)
            .field("metrics", &self.metrics.is_some())
            .finish()
    }
}

/// The whole HTTP app, ready to serve or to call in tests.
pub fn router(station: Station, options: ServeOptions) -> Router {
    // Inside the key check (layered later, so it runs first): callers
    // without a valid key never reach the idempotency table.
    let mut api = routes::api().layer(axum::middleware::from_fn_with_state(
        station.clone(),
        idempotency::idempotent_writes,
    ));
    let mut metrics = routes::metrics(options.metrics.clone());
    if options.require_auth {
        // `layer` (not `route_layer`) so unknown `/api/v1` paths also need a
        // key: callers without one learn nothing about which routes exist.
        api = api.layer(axum::middleware::from_fn_with_state(
            station.clone(),
            auth::require_api_key,
        ));
        metrics = metrics.route_layer(axum::middleware::from_fn_with_state(
            station.clone(),
            auth::require_api_key,
        ));
    }
    Router::new()
        .merge(routes::health())
        .merge(metrics)
        .nest("/api/v1", api)
        .fallback(routes::no_route)
        .method_not_allowed_fallback(routes::method_not_allowed)
        .layer(axum::middleware::from_fn(logging::log_request))
        .with_state(station)
}

/// Serves until `shutdown` resolves, then finishes in-flight requests (graceful).
pub async fn serve(
    station: Station,
    listener: TcpListener,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let require_auth = options.require_auth;
    match listener.local_addr() {
        Ok(addr) => {
            tracing::info!(%addr, require_auth, "serving the HTTP API")
        }
        Err(e) => tracing::warn!(error = %e, "serving the HTTP API on an unknown address"),
    }
    axum::serve(listener, router(station, options))
        .with_graceful_shutdown(shutdown)
        .await?;
    tracing::info!("HTTP API stopped");
    Ok(())
}

/// Serves only `GET /metrics` with `metrics`' lines until `shutdown` resolves:
/// the listener of `stn replicate --metrics-addr`, which has no database API.
pub async fn serve_metrics(
    listener: TcpListener,
    metrics: MetricsFn,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = Router::new().route(
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
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
