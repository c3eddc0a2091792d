//! Signing in to the web UI, and what protects its forms.
//!
//! - Sign-in takes an API key and sets `stn_session`, a random token whose
//!   hash the database keeps with an expiry and the key it came from
//!   (`Store::open_session`); revoking the key ends the session.
//! - Every form carries a CSRF token that must equal the `stn_csrf` cookie
//!   (double submit): a page on another origin can make the browser send
//!   our cookies but can read neither. `SameSite=Strict` alone is not enough:
//!   pages on other ports of the same host are the "same site".
//! - Every write must come with an `Origin` naming this server.
//!
//! Cookies are `Secure` when the request reached us over TLS, which behind a
//! proxy only a trusted proxy may tell (`X-Forwarded-Proto`, `--trusted-proxy`).

use std::net::{IpAddr, SocketAddr};

use axum::Form;
use axum::extract::{ConnectInfo, Extension, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header, request};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;
use stn_core::Station;
use stn_core::store::SESSION_HOURS;

use super::layout::{self, Csrf, Ctx};
use super::{UiError, UiState};
use crate::error::ApiError;

/// The session cookie.
pub const SESSION_COOKIE: &str = "stn_session";
/// The CSRF cookie, whose value every form repeats.
pub const CSRF_COOKIE: &str = "stn_csrf";

/// The value of cookie `name`, from any `Cookie` header.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
        .filter(|value| !value.is_empty())
}

/// The web UI's session token, if the request carries one.
pub fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    cookie(headers, SESSION_COOKIE)
}

/// Refuses a write whose `Origin` names another site. Without `Origin`,
/// refused only when `required` (a browser session always sends one).
pub fn check_origin(headers: &HeaderMap, required: bool) -> Result<(), ApiError> {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let Some(origin) = headers.get(header::ORIGIN) else {
        if required {
            return Err(ApiError::Forbidden(
                "a browser's change needs an `Origin` header naming this server".to_owned(),
            ));
        }
        return Ok(());
    };
    let origin = origin.to_str().unwrap_or("");
    let authority = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    if authority.is_some_and(|a| !host.is_empty() && a.eq_ignore_ascii_case(host)) {
        return Ok(());
    }
    tracing::warn!(origin, host, "refused a change from another origin");
    Err(ApiError::Forbidden(format!(
        "refused a change requested by a page of another origin (`{origin}`); \
         use this server's own pages or an API key"
    )))
}

/// Whether the browser reached us over TLS: only a trusted proxy's
/// `X-Forwarded-Proto: https` says so (this server itself speaks plain HTTP).
pub fn behind_tls(parts: &request::Parts, trusted: &[IpAddr]) -> bool {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip());
    let from_trusted = peer.is_some_and(|ip| trusted.contains(&ip));
    from_trusted
        && parts
            .headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"))
}

/// A `Set-Cookie` value for our cookies: never readable by scripts, never
/// sent with requests other sites start.
pub fn set_cookie(name: &str, value: &str, max_age_secs: u64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    // Tokens are hex, so the value is always a valid header.
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("stn_invalid=1"))
}

/// Refuses a form whose CSRF field does not repeat the CSRF cookie.
pub fn check_csrf(headers: &HeaderMap, submitted: &str) -> Result<(), UiError> {
    match cookie(headers, CSRF_COOKIE) {
        Some(expected) if constant_time_eq(expected.as_bytes(), submitted.as_bytes()) => Ok(()),
        _ => Err(UiError::Api(ApiError::Forbidden(
            "the form's security token is missing or stale: reload the page and submit it again"
                .to_owned(),
        ))),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `GET /signin`.
pub async fn page(Extension(csrf): Extension<Csrf>) -> Response {
    signin_page(&Ctx::anonymous(csrf), None, StatusCode::OK)
}

fn signin_page(ctx: &Ctx, error: Option<&str>, status: StatusCode) -> Response {
    let body = html! {
        section.card.narrow {
            h1 { "Sign in" }
            p { "Paste an API key (" code { "stn apikey create NAME" } " makes one)." }
            @if let Some(error) = error {
                p.error role="alert" { (error) }
            }
            form method="post" action="/signin" {
                input type="hidden" name="csrf" value=(ctx.csrf);
                label for="key" { "API key" }
                input #key type="password" name="key" autocomplete="current-password" required;
                button type="submit" { "Sign in" }
            }
        }
    };
    (status, layout::page(ctx, "Sign in", "", body)).into_response()
}

/// The sign-in form.
#[derive(Debug, Deserialize)]
pub struct SignIn {
    csrf: String,
    key: String,
}

/// `POST /signin`: a session for a valid key, or the form again.
pub async fn sign_in(
    State(station): State<Station>,
    Extension(csrf): Extension<Csrf>,
    Extension(ui): Extension<UiState>,
    parts: request::Parts,
    Form(form): Form<SignIn>,
) -> Result<Response, UiError> {
    check_csrf(&parts.headers, &form.csrf)?;
    let Some((token, user)) = station.store().open_session(form.key.trim()).await? else {
        // Never which part was wrong, and never the key.
        tracing::warn!("web UI sign-in with an invalid or revoked API key");
        return Ok(signin_page(
            &Ctx::anonymous(csrf),
            Some("That key is not valid (wrong, or revoked)."),
            StatusCode::UNAUTHORIZED,
        ));
    };
    tracing::info!(user = %user.username, "signed in to the web UI");
    let secure = behind_tls(&parts, &ui.trusted_proxies);
    let cookie = set_cookie(
        SESSION_COOKIE,
        &token,
        u64::from(SESSION_HOURS) * 3600,
        secure,
    );
    Ok(([(header::SET_COOKIE, cookie)], Redirect::to("/")).into_response())
}

/// The sign-out form.
#[derive(Debug, Deserialize)]
pub struct CsrfOnly {
    csrf: String,
}

/// `POST /signout`: ends the session in the database and in the browser.
pub async fn sign_out(
    State(station): State<Station>,
    Extension(ui): Extension<UiState>,
    parts: request::Parts,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, UiError> {
    check_csrf(&parts.headers, &form.csrf)?;
    if let Some(token) = session_cookie(&parts.headers) {
        station.store().close_session(token).await?;
    }
    let secure = behind_tls(&parts, &ui.trusted_proxies);
    let cleared = set_cookie(SESSION_COOKIE, "", 0, secure);
    Ok(([(header::SET_COOKIE, cleared)], Redirect::to("/signin")).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    #[test]
    fn reads_cookies_from_every_header() {
        let h = headers(&[("cookie", "a=1; stn_csrf=abc"), ("cookie", "stn_session=t")]);
        assert_eq!(cookie(&h, CSRF_COOKIE), Some("abc"));
        assert_eq!(session_cookie(&h), Some("t"));
        assert_eq!(cookie(&h, "b"), None);
    }

    #[test]
    fn origin_must_name_this_server() {
        let same = headers(&[
            ("host", "127.0.0.1:8585"),
            ("origin", "http://127.0.0.1:8585"),
        ]);
        assert!(check_origin(&same, true).is_ok());
        let other_port = headers(&[
            ("host", "127.0.0.1:8585"),
            ("origin", "http://127.0.0.1:9000"),
        ]);
        assert!(check_origin(&other_port, false).is_err());
        let null = headers(&[("host", "127.0.0.1:8585"), ("origin", "null")]);
        assert!(check_origin(&null, false).is_err());
        let none = headers(&[("host", "127.0.0.1:8585")]);
        assert!(check_origin(&none, false).is_ok());
        assert!(check_origin(&none, true).is_err());
    }

    #[test]
    fn cookies_are_strict_and_http_only() {
        let value = set_cookie(SESSION_COOKIE, "t", 60, true);
        let value = value.to_str().unwrap();
        assert!(value.contains("HttpOnly") && value.contains("SameSite=Strict"));
        assert!(value.ends_with("; Secure"));
        assert!(
            !set_cookie(SESSION_COOKIE, "t", 60, false)
                .to_str()
                .unwrap()
                .contains("Secure")
        );
    }
}
