//! Errors as the API shows them: an HTTP status and a stable JSON body,
//! `{"error": {"code": "<stable_snake_code>", "message": "…"}}`.
//!
//! Clients match on `code`, never on `message`, so codes must not change.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use stn_core::CoreError;
use stn_db::DbError;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The core refused or failed; its variant decides the status.
    #[error(transparent)]
    Core(#[from] CoreError),
    /// The request itself is wrong: bad JSON, a bad query or path parameter, a missing field.
    #[error("{0}")]
    InvalidRequest(String),
    /// No valid API key was given. The message never contains the key.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// The caller is known but its role does not allow this.
    #[error("{0}")]
    Forbidden(String),
    /// The `Host` header names a host this server does not answer for (DNS rebinding).
    #[error(
        "host `{0}` is not allowed: this server answers only for loopback names, its bind \
         address and hosts allowed with --allowed-host (STN_ALLOWED_HOSTS, allowed_hosts in config.yaml)"
    )]
    HostNotAllowed(String),
    /// No route matches the path.
    #[error("no route for {0}")]
    NoRoute(String),
    /// An `Idempotency-Key` was sent before with a different request.
    #[error(
        "this Idempotency-Key was used for a different request (method, path or body); use a new key for a new request"
    )]
    IdempotencyKeyReused,
    /// The first request with this `Idempotency-Key` has not finished.
    #[error("a request with this Idempotency-Key is still running; retry in a moment")]
    IdempotencyKeyInProgress,
    /// The request body is longer than [`crate::MAX_BODY_BYTES`].
    #[error(
        "the request body is over the API's limit of {} MiB",
        crate::MAX_BODY_BYTES / (1024 * 1024)
    )]
    PayloadTooLarge,
    /// The route exists but not for this method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The request conflicts with the resource's state (e.g. cancelling a finished run).
    #[error("{0}")]
    Conflict(String),
    /// The engine refused to start a run.
    #[error(transparent)]
    Agent(#[from] stn_agent::AgentError),
}

impl ApiError {
    /// The status and the stable code.
    pub(crate) fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::Core(e) => core_status_and_code(e),
            ApiError::InvalidRequest(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::HostNotAllowed(_) => (StatusCode::MISDIRECTED_REQUEST, "host_not_allowed"),
            ApiError::NoRoute(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            ApiError::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::Agent(stn_agent::AgentError::Core(e)) => core_status_and_code(e),
            ApiError::Agent(stn_agent::AgentError::ShuttingDown) => {
                (StatusCode::SERVICE_UNAVAILABLE, "shutting_down")
            }
            ApiError::Agent(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
            ApiError::IdempotencyKeyReused => {
                (StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused")
            }
            ApiError::IdempotencyKeyInProgress => (StatusCode::CONFLICT, "idempotency_key_in_use"),
        }
    }
}

fn core_status_and_code(error: &CoreError) -> (StatusCode, &'static str) {
    match error {
        CoreError::NotFound { .. } => (StatusCode::NOT_FOUND, "not_found"),
        CoreError::AlreadyExists { .. } => (StatusCode::CONFLICT, "already_exists"),
        CoreError::Invalid(_) | CoreError::Rejected(_) => {
            (StatusCode::BAD_REQUEST, "invalid_request")
        }
        // A hand-edited `.prompt` file that no longer parses blocks an update;
        // the message names the file, which is what the caller must fix.
        CoreError::File(_) => (StatusCode::CONFLICT, "config_file_invalid"),
        e if e.is_conflict() => (StatusCode::CONFLICT, "conflict"),
        e if e.is_unavailable() => (StatusCode::SERVICE_UNAVAILABLE, "database_unavailable"),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
    }
}

/// What a client should do about a durable-mode 503.
const NOT_REPLICATED_ADVICE: &str = ". The write is not lost: retry the request with the same \
`Idempotency-Key` header to get its original answer once the replica has it (without a key, \
a retried create answers 409 because the first attempt was applied)";

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let message = if status == StatusCode::INTERNAL_SERVER_ERROR {
            // The details may describe internals; they go to the log, not the client.
            tracing::error!(error = %self, "request failed");
            "internal error; the server log has the details".to_owned()
        } else {
            if status == StatusCode::SERVICE_UNAVAILABLE {
                tracing::warn!(error = %self, "database unavailable");
            }
            // Database errors carry redacted URLs only, so their text is safe to show.
            let mut message = self.to_string();
            if matches!(
                self,
                ApiError::Core(CoreError::Db(DbError::NotReplicated(_)))
            ) {
                message.push_str(NOT_REPLICATED_ADVICE);
            }
            message
        };
        let body = Json(serde_json::json!({ "error": { "code": code, "message": message } }));
        if status == StatusCode::UNAUTHORIZED {
            (status, [(header::WWW_AUTHENTICATE, "Bearer")], body).into_response()
        } else {
            (status, body).into_response()
        }
    }
}

// Extractor rejections become the same JSON shape. Handlers take
// `Result<Json<T>, JsonRejection>` and apply `?`, which calls these.

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge
        } else {
            ApiError::InvalidRequest(rejection.body_text())
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::InvalidRequest(rejection.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::InvalidRequest(rejection.body_text())
    }
}

/// The result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_errors_map_to_stable_codes() {
        let cases = [
            (
                CoreError::NotFound {
                    what: "agent",
                    name: "a".into(),
                    place: String::new(),
                },
                StatusCode::NOT_FOUND,
                "not_found",
            ),
            (
                CoreError::Db(DbError::Constraint {
                    message: "FOREIGN KEY constraint failed".into(),
                }),
                StatusCode::CONFLICT,
                "conflict",
            ),
            (
                CoreError::Db(DbError::Busy {
                    message: "database is locked".into(),
                }),
                StatusCode::SERVICE_UNAVAILABLE,
                "database_unavailable",
            ),
            (
                CoreError::Db(DbError::Sql {
                    code: None,
                    message: "no such table: agents".into(),
                }),
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
            ),
        ];
        for (error, status, code) in cases {
            assert_eq!(ApiError::Core(error).status_and_code(), (status, code));
        }
    }
}
