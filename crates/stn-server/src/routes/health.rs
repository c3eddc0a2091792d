//! `GET /health`: is the server up and can it reach its database?

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};
use stn_core::Station;

/// 200 when the database answers a ping, 503 with the reason when it does not.
pub async fn health(State(station): State<Station>) -> (StatusCode, Json<Value>) {
    match station.store().db().ping().await {
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
