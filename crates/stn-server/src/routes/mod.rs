//! The routes, one module per resource.

mod agents;
pub mod data;
mod environments;
mod health;
pub mod mcp;
mod metrics;
pub mod runs;
pub mod schedules;
pub mod users;

use axum::Router;
use axum::http::{HeaderMap, Uri};
use axum::routing::{delete, get, post, put};
use stn_agent::RunManager;
use stn_core::Station;

use crate::auth::{Gate, Role, allow};
use crate::error::ApiError;

/// `GET /health`, outside `/api/v1` so it never needs a key; the details are
/// for callers who could use the API.
pub fn health(gate: Gate) -> Router<Station> {
    Router::new().route(
        "/health",
        get(move |headers: HeaderMap| async move { health::health(&gate, &headers).await }),
    )
}

/// `GET /metrics` in Prometheus text format: the database's state plus the
/// caller's extra lines.
pub fn metrics(extra: Option<crate::MetricsFn>) -> Router<Station> {
    Router::new().route(
        "/metrics",
        get(move |state| metrics::metrics(state, extra.clone())),
    )
}

/// The routes under `/api/v1`. Any caller may read; what needs more says
/// so with [`allow`] (a route to run agents takes `allow(Role::Run, …)`).
pub fn api() -> Router<Station> {
    Router::new()
        .route(
            "/environments",
            get(environments::list).merge(allow(Role::Admin, post(environments::create))),
        )
        .route(
            "/environments/{name}",
            get(environments::get).merge(allow(Role::Admin, delete(environments::delete))),
        )
        .route(
            "/agents",
            get(agents::list).merge(allow(Role::Admin, post(agents::create))),
        )
        .route(
            "/agents/{id}",
            get(agents::get).merge(allow(
                Role::Admin,
                put(agents::update).delete(agents::delete),
            )),
        )
        .route("/environments/{name}/mcp-servers", get(mcp::list))
        .route("/runs", get(runs::list))
        .route("/runs/summary", get(runs::summary))
        .route("/runs/{id}", get(runs::get))
        .route("/schedules", get(schedules::list))
        .route("/data", get(data::get))
        .route("/users", allow(Role::Admin, get(users::list_users)))
        .route(
            "/keys",
            allow(Role::Admin, get(users::list_keys).post(users::create_key)),
        )
        .route(
            "/keys/{prefix}",
            allow(Role::Admin, delete(users::revoke_key)),
        )
        // Its own fallback, so a layer on this router (auth) covers unknown paths too.
        .fallback(no_route)
}

/// The routes under `/api/v1` that execute agents: only on a server with a run manager.
pub fn executions(runs: RunManager) -> Router<Station> {
    Router::new()
        .route("/agents/{id}/runs", allow(Role::Run, post(runs::start)))
        .route("/runs/{id}/events", get(runs::events))
        .route("/runs/{id}/cancel", allow(Role::Run, post(runs::cancel)))
        .layer(axum::Extension(runs))
}

/// Fallback for paths no route matches.
pub async fn no_route(uri: Uri) -> ApiError {
    ApiError::NoRoute(uri.path().to_owned())
}

/// Fallback for a known path with an unsupported method.
pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
