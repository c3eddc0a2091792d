//! `GET /metrics`: Prometheus text format (version 0.0.4).

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use stn_core::Station;

use crate::MetricsFn;

/// The database's reachability and size, then the caller's lines.
pub async fn metrics(
    State(station): State<Station>,
    extra: Option<MetricsFn>,
) -> impl IntoResponse {
    let db = station.store().db();
    let up = db.ping().await.is_ok();
    let mut text = String::new();
    text.push_str("# HELP stn_database_up Whether the database answered a ping (1) or not (0).\n");
    text.push_str("# TYPE stn_database_up gauge\n");
    text.push_str(&format!("stn_database_up {}\n", u8::from(up)));
    if up && let Ok(size) = db.size_bytes().await {
        text.push_str("# HELP stn_database_size_bytes Size of the database (pages x page size).\n");
        text.push_str("# TYPE stn_database_size_bytes gauge\n");
        text.push_str(&format!("stn_database_size_bytes {size}\n"));
    }
    if let Some(extra) = extra {
        text.push_str(&extra());
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
}
