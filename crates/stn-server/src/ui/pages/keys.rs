//! `/keys` (admins): users and their API keys; create one (shown once) and
//! revoke one (which also ends the browser sessions opened with it).

use axum::Form;
use axum::extract::{Extension, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;
use stn_core::Station;

use crate::error::ApiError;
use crate::routes::users;
use crate::ui::UiError;
use crate::ui::layout::{self, Ctx, Page};
use crate::ui::session::check_csrf;

fn require_admin(ctx: &Ctx) -> Result<(), UiError> {
    if ctx.is_admin() {
        return Ok(());
    }
    Err(ApiError::Forbidden(format!(
        "user `{}` may read and run agents; keys are for admins",
        ctx.username()
    ))
    .into())
}

/// `GET /keys`.
pub async fn list(
    State(station): State<Station>,
    Extension(ctx): Extension<Ctx>,
) -> Result<Page, UiError> {
    require_admin(&ctx)?;
    keys_page(&station, &ctx, None).await
}

async fn keys_page(
    station: &Station,
    ctx: &Ctx,
    created: Option<(&str, &str)>,
) -> Result<Page, UiError> {
    let users = station.store().list_users().await?;
    let keys = station.store().list_api_keys().await?;
    let body = html! {
        h1 { "Keys and users" }
        @if let Some((user, key)) = created {
            section.card role="status" {
                h2 { "New key for " (user) }
                p { "Copy it now: it is not stored and cannot be shown again." }
                p { code.key-once data-new-key { (key) } }
            }
        }
        section.card aria-labelledby="new-key" {
            h2 #new-key { "Create a key" }
            form.stack method="post" action="/keys" {
                (ctx.csrf_field())
                label for="k-user" { "User" }
                select #k-user name="user" {
                    @for u in &users { option value=(u.user.username) { (u.user.username) @if u.user.is_admin { " (admin)" } } }
                }
                label for="k-name" { "Name (what the key is for)" }
                input #k-name type="text" name="name" required;
                button type="submit" { "Create key" }
            }
            p.muted { "New users: " code { "stn user create NAME [--admin]" } "." }
        }
        h2 { "Keys" }
        div.table-wrap tabindex="0" { table {
            thead { tr { th scope="col" { "Prefix" } th scope="col" { "Name" } th scope="col" { "User" } th scope="col" { "Created" } th scope="col" { "State" } } }
            tbody {
                @for k in &keys {
                    tr {
                        td.mono { (k.prefix) } td { (k.name) } td { (k.user) } td { (layout::time(&k.created_at)) }
                        td {
                            @match &k.revoked_at {
                                Some(t) => { "revoked " (layout::time(t)) }
                                None => {
                                    form.inline method="post" action="/keys/revoke" {
                                        (ctx.csrf_field())
                                        input type="hidden" name="prefix" value=(k.prefix);
                                        button.danger type="submit" aria-label={ "Revoke key " (k.prefix) } { "Revoke" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        } }
        h2 { "Users" }
        div.table-wrap tabindex="0" { table {
            thead { tr { th scope="col" { "User" } th scope="col" { "Role" } th.num scope="col" { "Keys" } } }
            tbody { @for u in &users { tr { td { (u.user.username) } td { @if u.user.is_admin { "admin" } @else { "run" } } td.num { (u.api_keys) } } } }
        } }
    };
    Ok(layout::page(ctx, "Keys", "/keys", body))
}

/// The create form.
#[derive(Debug, Deserialize)]
pub struct CreateForm {
    csrf: String,
    user: String,
    name: String,
}

/// `POST /keys`: creates the key and shows it once (this response only).
pub async fn create(
    State(station): State<Station>,
    Extension(ctx): Extension<Ctx>,
    headers: HeaderMap,
    Form(form): Form<CreateForm>,
) -> Result<Page, UiError> {
    check_csrf(&headers, &form.csrf)?;
    require_admin(&ctx)?;
    let (record, key) = users::create(&station, &form.user, &form.name).await?;
    tracing::info!(user = %record.username, prefix = %record.prefix, "API key created in the web UI");
    keys_page(&station, &ctx, Some((&record.username, &key))).await
}

/// The revoke form.
#[derive(Debug, Deserialize)]
pub struct RevokeForm {
    csrf: String,
    prefix: String,
}

/// `POST /keys/revoke`.
pub async fn revoke(
    State(station): State<Station>,
    Extension(ctx): Extension<Ctx>,
    headers: HeaderMap,
    Form(form): Form<RevokeForm>,
) -> Result<Response, UiError> {
    check_csrf(&headers, &form.csrf)?;
    require_admin(&ctx)?;
    station.store().revoke_api_key(&form.prefix).await?;
    Ok(Redirect::to("/keys").into_response())
}
