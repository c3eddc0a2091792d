//! `GET /health`: is the server up and can it reach its database?

use axum::Json;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use crate::auth::{Gate, identify};

/// 200 when the database answers a ping, 503 when it does not. Only a caller
/// who could use the API (a valid key, or keyless loopback mode) learns why:
/// the error may name the database's path or host.
pub async fn health(gate: &Gate, headers: &HeaderMap) -> (StatusCode, Json<Value>) {
    let ping = gate.station.store().db().ping().await;
    if let Err(e) = &ping {
        tracing::warn!(error = %e, "health check: database ping failed");
    }
    let details = identify(gate, headers).await.is_ok();
    match (ping, details) {
        (Ok(()), false) => (StatusCode::OK, Json(json!({ "status": "ok" }))),
        (Ok(()), true) => (
            StatusCode::OK,
            Json(json!({ "status": "ok", "database": "ok" })),
        ),
        (Err(_), false) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "unavailable" })),
        ),
        // DbError text carries redacted URLs only, never a token.
        (Err(e), true) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "unavailable", "database": e.to_string() })),
        ),
    }
}
