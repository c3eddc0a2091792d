//! `Idempotency-Key` on API writes (POST, PUT, PATCH, DELETE under `/api/v1`).
//!
//! A write sent with a key runs once; a retry with the same key gets the first
//! answer (same status and body) instead of running again, for
//! [`KEY_LIFETIME_HOURS`](stn_core::store::KEY_LIFETIME_HOURS) hours. The key
//! reused for a different request is 422; while the first request runs, 409.
//!
//! This is what makes a retry after a durable-mode 503 safe: the write had
//! committed locally, so running it again would answer 409 "already exists".
//! The request and its answer are kept with replication confirmation deferred
//! ([`stn_db::defer_commit_wait`]); only then does the request wait for the
//! replica, so an answer that the replica cannot confirm yet is not lost. The
//! retry replays it as soon as the replica confirms it.

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use stn_core::Station;
use stn_core::store::{IdempotentRequest, Reservation};

use crate::error::ApiError;

/// The request header.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// Set on a replayed answer.
const REPLAYED: &str = "idempotent-replayed";

/// Longest key accepted (a UUID is 36).
const MAX_KEY_LEN: usize = 255;

/// Middleware: runs keyed writes at most once.
pub async fn idempotent_writes(
    State(station): State<Station>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let is_write = matches!(
        *request.method(),
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    let Some(key) = request.headers().get(IDEMPOTENCY_KEY).filter(|_| is_write) else {
        return Ok(next.run(request).await);
    };
    let key = key
        .to_str()
        .ok()
        .filter(|k| !k.is_empty() && k.len() <= MAX_KEY_LEN)
        .ok_or_else(|| {
            ApiError::InvalidRequest(format!(
                "the Idempotency-Key header must be 1-{MAX_KEY_LEN} visible ASCII characters (a UUID works)"
            ))
        })?
        .to_owned();
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, crate::MAX_BODY_BYTES)
        .await
        .map_err(|e| {
            let over_limit = std::error::Error::source(&e)
                .is_some_and(|source| source.is::<http_body_util::LengthLimitError>());
            if over_limit {
                ApiError::PayloadTooLarge
            } else {
                ApiError::InvalidRequest(format!("cannot read the request body: {e}"))
            }
        })?;
    let caller = parts
        .headers
        .get(header::AUTHORIZATION)
        .map_or(&[][..], HeaderValue::as_bytes);
    let path = parts.uri.path_and_query().map_or("", |p| p.as_str());
    let keyed = IdempotentRequest::new(caller, &key, parts.method.as_str(), path, &body);
    let store = station.store();

    // Every write here returns once committed locally; `confirm_commits`
    // then waits for the replica once, for all of them.
    let reservation = stn_db::defer_commit_wait(store.reserve_idempotency_key(&keyed)).await?;
    match reservation {
        Reservation::Run => {}
        Reservation::Replay { status, body } => {
            store
                .db()
                .confirm_commits()
                .await
                .map_err(stn_core::CoreError::from)?;
            return Ok(replay(status, body));
        }
        Reservation::Mismatch => return Err(ApiError::IdempotencyKeyReused),
        Reservation::InProgress => return Err(ApiError::IdempotencyKeyInProgress),
    }

    let request = Request::from_parts(parts, Body::from(body));
    let response = stn_db::defer_commit_wait(next.run(request)).await;
    let (parts, body) = response.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_else(|e| {
            tracing::error!(error = %e, "cannot read the response body");
            Bytes::new()
        });
    let kept = if parts.status.is_server_error() {
        // Worth retrying: let the retry run again.
        stn_db::defer_commit_wait(store.release_idempotency_key(&keyed)).await
    } else {
        let text = String::from_utf8_lossy(&body);
        stn_db::defer_commit_wait(store.answer_idempotency_key(
            &keyed,
            parts.status.as_u16(),
            &text,
        ))
        .await
    };
    if let Err(e) = kept {
        tracing::warn!(error = %e, "cannot keep the answer to an idempotent request; a retry would run it again");
    }
    store
        .db()
        .confirm_commits()
        .await
        .map_err(stn_core::CoreError::from)?;
    Ok(Response::from_parts(parts, Body::from(body)))
}

fn replay(status: u16, body: String) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
    response
        .headers_mut()
        .insert(REPLAYED, HeaderValue::from_static("true"));
    response
}
