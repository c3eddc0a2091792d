//! `GET /health`: is the server up and can it reach its database?

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};
use stn_core::Station;

/// How long the database may take to answer a health check. Far below the
/// database's own request timeout: a load balancer probing every few seconds
/// needs an answer before its own deadline, not after 30 s.
const PING_DEADLINE: Duration = Duration::from_secs(2);

/// 200 when the database answers a ping, 503 with the reason when it does
/// not, or does not within [`PING_DEADLINE`].
pub async fn health(State(station): State<Station>) -> (StatusCode, Json<Value>) {
    let ping = tokio::time::timeout(PING_DEADLINE, station.store().db().ping()).await;
    let ping = ping.unwrap_or_else(|_| {
        Err(stn_db::DbError::Timeout {
            url: station.store().db().url().redacted(),
            seconds: PING_DEADLINE.as_secs_f64(),
            limit: "the health check's deadline",
        })
    });
    match ping {
        Ok(()) => (
            StatusCode::OK,
            Json(json!({ "status": "ok", "database": "ok" })),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "health check: database ping failed");
            // DbError text carries redacted URLs only, never a token.
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "unavailable", "database": e.to_string() })),
            )
        }
    }
}
