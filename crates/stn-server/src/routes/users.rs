//! `/api/v1/users` and `/api/v1/keys` (admins only): who may call, and
//! their API keys — created with the key shown once, listed without it,
//! revoked by prefix.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use stn_core::Station;
use stn_core::store::{ApiKey, ApiKeySummary, UserSummary};

use crate::error::{ApiError, ApiResult};

/// `GET /api/v1/users`.
pub async fn list_users(State(station): State<Station>) -> ApiResult<Json<Vec<UserSummary>>> {
    Ok(Json(station.store().list_users().await?))
}

/// `GET /api/v1/keys`: every key, newest first, never the key itself.
pub async fn list_keys(State(station): State<Station>) -> ApiResult<Json<Vec<ApiKeySummary>>> {
    Ok(Json(station.store().list_api_keys().await?))
}

/// Body of `POST /api/v1/keys`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    user: String,
    #[serde(default = "default_key_name")]
    name: String,
}

fn default_key_name() -> String {
    "default".to_owned()
}

/// Answer of `POST /api/v1/keys`: the only time the key is shown.
#[derive(Debug, Serialize)]
pub struct CreatedKey {
    #[serde(flatten)]
    record: ApiKey,
    key: String,
}

/// Creates a key for `user` named `name`: what the API and the Keys page do.
pub async fn create(station: &Station, user: &str, name: &str) -> ApiResult<(ApiKey, String)> {
    if name.trim().is_empty() {
        return Err(ApiError::InvalidRequest(
            "a key needs a name (what it is for)".to_owned(),
        ));
    }
    Ok(station.store().create_api_key(user, name.trim()).await?)
}

/// `POST /api/v1/keys {user, name}`: 201 with the key.
pub async fn create_key(
    State(station): State<Station>,
    body: Result<Json<NewKey>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<CreatedKey>)> {
    let Json(body) = body?;
    let (record, key) = create(&station, &body.user, &body.name).await?;
    Ok((StatusCode::CREATED, Json(CreatedKey { record, key })))
}

/// `DELETE /api/v1/keys/{prefix}`: revokes the key (and its UI sessions); 204.
pub async fn revoke_key(
    State(station): State<Station>,
    prefix: Result<Path<String>, PathRejection>,
) -> ApiResult<StatusCode> {
    let Path(prefix) = prefix?;
    station.store().revoke_api_key(&prefix).await?;
    Ok(StatusCode::NO_CONTENT)
}
