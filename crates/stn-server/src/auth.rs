//! Bearer-key authentication for `/api/v1`.
//!
//! Every request is checked against the database, without a cache, so a key
//! revoked with `stn` stops working on the very next request.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::Response;
use stn_core::Station;

use crate::error::ApiError;

/// Middleware: lets the request through only with a valid, unrevoked API key.
pub async fn require_api_key(
    State(station): State<Station>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let Some(key) = bearer_token(request.headers()) else {
        return Err(ApiError::Unauthorized(
            "missing API key: send `Authorization: Bearer <key>`",
        ));
    };
    match station.store().authenticate(key).await? {
        Some(user) => {
            tracing::debug!(user = %user.username, "authenticated");
            Ok(next.run(request).await)
        }
        None => Err(ApiError::Unauthorized("invalid or revoked API key")),
    }
}

/// The token of an `Authorization: Bearer <token>` header. The scheme is
/// case-insensitive (RFC 7235); anything else counts as no token.
fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(authorization: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(authorization).expect("valid header value"),
        );
        headers
    }

    #[test]
    fn reads_bearer_tokens_only() {
        assert_eq!(bearer_token(&headers("Bearer stn_abc")), Some("stn_abc"));
        assert_eq!(bearer_token(&headers("bearer  stn_abc ")), Some("stn_abc"));
        assert_eq!(bearer_token(&headers("Basic dXNlcjpwdw==")), None);
        assert_eq!(bearer_token(&headers("Bearer ")), None);
        assert_eq!(bearer_token(&headers("Bearer")), None);
        assert_eq!(bearer_token(&HeaderMap::new()), None);
    }
}
