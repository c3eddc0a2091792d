//! `GET /health`: is the server up and can it reach its database?

use std::time::Duration;

use axum::Json;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use crate::auth::{Gate, identify};

/// How long the database may take to answer a health check. Far below the
/// database's own request timeout: a load balancer probing every few seconds
/// needs an answer before its own deadline, not after 30 s.
const PING_DEADLINE: Duration = Duration::from_secs(2);

/// 200 when the database answers a ping, 503 when it does not, or does not
/// within [`PING_DEADLINE`]. Only a caller who could use the API (a valid
/// key, or keyless loopback mode) learns why: the error may name the
/// database's path or host.
pub async fn health(gate: &Gate, headers: &HeaderMap) -> (StatusCode, Json<Value>) {
    let db = gate.station.store().db();
    // One deadline for the ping and for finding out who asks (which reads
    // the database too): a hung database must not hold the answer.
    let deadline = tokio::time::Instant::now() + PING_DEADLINE;
    let ping = tokio::time::timeout_at(deadline, db.ping())
        .await
        .unwrap_or_else(|_| {
            Err(stn_db::DbError::Timeout {
                url: db.url().redacted(),
                seconds: PING_DEADLINE.as_secs_f64(),
                limit: "the health check's deadline",
            })
        });
    if let Err(e) = &ping {
        tracing::warn!(error = %e, "health check: database ping failed");
    }
    let details = tokio::time::timeout_at(deadline, identify(gate, headers))
        .await
        .is_ok_and(|caller| caller.is_ok());
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
