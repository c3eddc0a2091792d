//! Who is calling, decided on every request, and what they may do.
//!
//! - A request with `Authorization: Bearer <key>` acts as the key's user when
//!   the key is valid and unrevoked; any other key is refused.
//! - A request without a key is refused as soon as one usable API key exists.
//!   While none exists, it acts as the admin `console` — but only when the
//!   server was started on a loopback address (`allow_keyless`).
//!
//! - A browser signed in to the web UI sends its session cookie instead (see
//!   `ui::session`); the session acts as its key's user while the key works.
//!   A write authenticated so must come from our own origin (`Origin`), since
//!   browsers attach cookies to requests that other pages start.
//!
//! Nothing is cached: a key created or revoked with `stn` in another process
//! counts from the very next request. The price is one indexed query per
//! request (`authenticate`, or `SELECT EXISTS` on unrevoked keys).
//!
//! Roles: admins may do everything; other users may read and run agents. A
//! route that needs more than reading says so with [`allow`] in `routes`.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::MethodRouter;
use stn_core::Station;
use stn_core::store::{CONSOLE_USER, User};

use crate::error::ApiError;

/// What a caller may do besides reading, which every caller may. Ordered:
/// `Admin` includes `Run`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Read, and run agents: users without `--admin`.
    Run,
    /// Everything, including creating, changing and deleting: admins.
    Admin,
}

/// The user a request acts as, put into the request's extensions by
/// [`authenticate`]; handlers take it as `Extension<Caller>`.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Recorded as `created_by` / `updated_by` of what the request changes.
    pub username: String,
    /// What the user may do.
    pub role: Role,
}

impl Caller {
    fn user(user: User) -> Caller {
        let role = if user.is_admin {
            Role::Admin
        } else {
            Role::Run
        };
        Caller {
            username: user.username,
            role,
        }
    }

    /// The local caller of a keyless loopback server.
    fn console() -> Caller {
        Caller {
            username: CONSOLE_USER.to_owned(),
            role: Role::Admin,
        }
    }
}

/// What [`authenticate`] needs: the database, and whether keyless requests
/// are allowed while no key exists (only on a loopback bind).
#[derive(Clone)]
pub struct Gate {
    /// Where keys live.
    pub station: Station,
    /// Serve requests without a key (as `console`) while no key exists.
    pub allow_keyless: bool,
}

/// Who the request acts as, or why it may not act at all.
pub async fn identify(gate: &Gate, headers: &HeaderMap) -> Result<Caller, ApiError> {
    Ok(identify_how(gate, headers).await?.0)
}

/// How a caller proved who it is; a browser's cookie needs an `Origin` check on writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proof {
    /// `Authorization: Bearer`.
    Key,
    /// The web UI's session cookie.
    Session,
    /// Nothing: a keyless loopback server.
    Keyless,
}

/// [`identify`], also saying how.
pub async fn identify_how(gate: &Gate, headers: &HeaderMap) -> Result<(Caller, Proof), ApiError> {
    let store = gate.station.store();
    if let Some(key) = bearer_token(headers) {
        return match store.authenticate(key).await? {
            Some(user) => {
                tracing::debug!(user = %user.username, "authenticated");
                Ok((Caller::user(user), Proof::Key))
            }
            None => Err(ApiError::Unauthorized("invalid or revoked API key")),
        };
    }
    if let Some(token) = crate::ui::session::session_cookie(headers) {
        // An ended session falls through: on a keyless server the browser
        // still gets in, elsewhere it is asked to sign in again.
        if let Some(user) = store.session_user(token).await? {
            return Ok((Caller::user(user), Proof::Session));
        }
    }
    if store.has_api_keys().await? {
        return Err(ApiError::Unauthorized(
            "missing API key: send `Authorization: Bearer <key>`",
        ));
    }
    if !gate.allow_keyless {
        return Err(ApiError::Unauthorized(
            "this server listens on a non-loopback address and no API key exists: \
             create one with `stn user create NAME --admin` and `stn apikey create NAME`",
        ));
    }
    Ok((Caller::console(), Proof::Keyless))
}

/// Middleware: lets the request through only when [`identify`] accepts it,
/// with the [`Caller`] in its extensions. A browser (no key) may change
/// things only from a page of this server: `Origin` must name it.
pub async fn authenticate(
    State(gate): State<Gate>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let (caller, proof) = identify_how(&gate, request.headers()).await?;
    // A keyless write without `Origin` is a program like curl, not a page;
    // browsers send `Origin` with every POST, PUT and DELETE.
    if proof != Proof::Key && !request.method().is_safe() {
        crate::ui::session::check_origin(request.headers(), proof == Proof::Session)?;
    }
    request.extensions_mut().insert(caller);
    Ok(next.run(request).await)
}

/// `route` only for callers holding `role` (403 for the others). Every
/// `/api/v1` route needs a caller; this is for routes that need more than reading.
pub fn allow(role: Role, route: MethodRouter<Station>) -> MethodRouter<Station> {
    route.route_layer(axum::middleware::from_fn_with_state(role, require_role))
}

async fn require_role(
    State(role): State<Role>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let Some(caller) = request.extensions().get::<Caller>() else {
        // A route layered with `allow` outside `authenticate`: a bug, never a pass.
        return Err(ApiError::Unauthorized("no caller identified"));
    };
    if caller.role < role {
        return Err(ApiError::Forbidden(format!(
            "user `{}` may read and run agents; creating, changing and deleting needs an admin's \
             key (`stn user create NAME --admin`, then `stn apikey create NAME`)",
            caller.username
        )));
    }
    Ok(next.run(request).await)
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

    #[test]
    fn admin_includes_run() {
        assert!(Role::Admin > Role::Run);
    }
}
