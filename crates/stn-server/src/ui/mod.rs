//! The web UI at `/`: HTML rendered on the server by `maud` templates (which
//! escape every value they insert), one hand-written CSS file and one small
//! ES module that follows a run's server-sent events. Both assets are
//! compiled into the binary: no CDN, no fonts, no Node toolchain.
//!
//! Layering as in the API: [`router`] wires routes, `pages::*` are the
//! handlers, and they read through the same store functions as the API's
//! handlers (`docs/api.md`). Every response carries a strict
//! Content-Security-Policy; every form is checked by `session`.

mod assets;
mod layout;
mod pages;
pub mod session;

use std::net::IpAddr;

use axum::Router;
use axum::extract::{Extension, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::html;
use stn_agent::RunManager;
use stn_core::{CoreError, Station};

use crate::DataFn;
use crate::auth::{Gate, Proof, identify_how};
use crate::error::ApiError;
use layout::Ctx;

/// The policy of every UI response: scripts and styles only from our own
/// files (no inline code, no `eval`), no framing, forms only to us.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; \
frame-ancestors 'none'; base-uri 'none'";

/// What the UI's handlers need besides the database.
#[derive(Clone)]
pub struct UiState {
    /// Who may do what.
    pub gate: Gate,
    /// Starts and cancels runs (absent on a read-only server).
    pub runs: Option<RunManager>,
    /// The replicator's state, when the database is replicated.
    pub data: Option<DataFn>,
    /// Proxies whose `X-Forwarded-Proto` is believed.
    pub trusted_proxies: Vec<IpAddr>,
}

impl UiState {
    /// The run manager, or why this server cannot start or cancel runs.
    pub fn manager(&self) -> Result<&RunManager, UiError> {
        self.runs.as_ref().ok_or_else(|| {
            ApiError::Conflict("this server does not execute runs".to_owned()).into()
        })
    }
}

/// Why a page could not be shown; rendered as an HTML page.
#[derive(Debug, thiserror::Error)]
pub enum UiError {
    /// What the API would have answered.
    #[error(transparent)]
    Api(#[from] ApiError),
}

impl From<CoreError> for UiError {
    fn from(e: CoreError) -> Self {
        UiError::Api(ApiError::Core(e))
    }
}

impl From<stn_agent::AgentError> for UiError {
    fn from(e: stn_agent::AgentError) -> Self {
        UiError::Api(ApiError::Agent(e))
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let UiError::Api(api) = self;
        if matches!(api, ApiError::Unauthorized(_)) {
            return Redirect::to("/signin").into_response();
        }
        // The API's status and message; internals stay in the log as there.
        let (status, _) = api.status_and_code();
        let message = if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %api, "page failed");
            "internal error; the server log has the details".to_owned()
        } else {
            api.to_string()
        };
        let body = html! {
            (maud::DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { "Station: " (status.as_u16()) }
                    link rel="stylesheet" href=(assets::CSS_PATH);
                }
                body {
                    main.card.narrow {
                        h1 { (status.as_u16()) " " (status.canonical_reason().unwrap_or("")) }
                        p.error role="alert" { (message) }
                        p { a href="/" { "Back to the overview" } }
                    }
                }
            }
        };
        (status, axum::response::Html(body.into_string())).into_response()
    }
}

/// The UI's routes. `state` goes in as an extension.
pub fn router(state: UiState) -> Router<Station> {
    let pages = Router::new()
        .route("/", get(pages::overview::page))
        .route("/agents", get(pages::agents::list))
        .route("/agents/{id}", get(pages::agents::show))
        .route("/agents/{id}/run", post(pages::agents::run))
        .route("/runs", get(pages::runs::list))
        .route("/runs/{id}", get(pages::runs::show))
        .route("/runs/{id}/cancel", post(pages::runs::cancel))
        .route("/runs/{id}/export", get(pages::runs::export))
        .route("/environments", get(pages::environments::list))
        .route("/data", get(pages::data::page))
        .route("/keys", get(pages::keys::list).post(pages::keys::create))
        .route("/keys/revoke", post(pages::keys::revoke))
        .route("/signout", post(session::sign_out))
        .route_layer(axum::middleware::from_fn_with_state(
            state.gate.clone(),
            require_caller,
        ));
    Router::new()
        .merge(pages)
        .route("/signin", get(session::page).post(session::sign_in))
        .route(assets::CSS_PATH, get(assets::css))
        .route(assets::JS_PATH, get(assets::js))
        .layer(axum::middleware::from_fn(protect))
        .layer(Extension(state))
}

/// Every UI response: security headers; a CSRF cookie for the forms when
/// the browser has none; writes only from our own origin.
async fn protect(mut request: Request, next: Next) -> Response {
    if !request.method().is_safe()
        && let Err(e) = session::check_origin(request.headers(), true)
    {
        return with_security_headers(UiError::Api(e).into_response());
    }
    let existing = session::cookie(request.headers(), session::CSRF_COOKIE).map(str::to_owned);
    let fresh = existing.is_none();
    let csrf = existing.unwrap_or_else(stn_core::store::new_api_key);
    request.extensions_mut().insert(layout::Csrf(csrf.clone()));
    let mut response = next.run(request).await;
    if fresh {
        // Lives as long as a session, so a form left open keeps working.
        let cookie = session::set_cookie(
            session::CSRF_COOKIE,
            &csrf,
            u64::from(stn_core::store::SESSION_HOURS) * 3600,
            false,
        );
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    with_security_headers(response)
}

fn with_security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Pages show live state and what a user may see: never from a cache.
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// Pages need a caller (the API's rules); strangers go to the sign-in page.
async fn require_caller(
    State(gate): State<Gate>,
    mut request: Request,
    next: Next,
) -> Result<Response, UiError> {
    let (caller, proof) = match identify_how(&gate, request.headers()).await {
        Ok(found) => found,
        Err(ApiError::Unauthorized(_)) if request.method() == Method::GET => {
            return Ok(Redirect::to("/signin").into_response());
        }
        Err(e) => return Err(e.into()),
    };
    let csrf = request
        .extensions()
        .get::<layout::Csrf>()
        .map(|c| c.0.clone())
        .unwrap_or_default();
    request.extensions_mut().insert(Ctx {
        caller: Some(caller),
        csrf,
        signed_in: proof == Proof::Session,
    });
    Ok(next.run(request).await)
}
