//! `/api/v1/environments`: list, create, show and delete environments.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use stn_core::Station;
use stn_core::model::Environment;

use crate::auth::Caller;
use crate::error::ApiResult;

/// Body of `POST /api/v1/environments`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewEnvironment {
    name: String,
    description: Option<String>,
}

/// `GET /api/v1/environments`: every environment, by name.
pub async fn list(State(station): State<Station>) -> ApiResult<Json<Vec<Environment>>> {
    Ok(Json(station.store().list_environments().await?))
}

/// `POST /api/v1/environments`: creates one (and its directory); 201.
pub async fn create(
    State(station): State<Station>,
    Extension(caller): Extension<Caller>,
    body: Result<Json<NewEnvironment>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<Environment>)> {
    let Json(body) = body?;
    let env = station
        .acting_as(&caller.username)
        .create_environment(&body.name, body.description.as_deref())
        .await?;
    Ok((StatusCode::CREATED, Json(env)))
}

/// `GET /api/v1/environments/{name}`.
pub async fn get(
    State(station): State<Station>,
    name: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<Environment>> {
    let Path(name) = name?;
    Ok(Json(station.store().environment(&name).await?))
}

/// `DELETE /api/v1/environments/{name}`: deletes it with its agents, their
/// runs and its directory; 204.
pub async fn delete(
    State(station): State<Station>,
    name: Result<Path<String>, PathRejection>,
) -> ApiResult<StatusCode> {
    let Path(name) = name?;
    station.delete_environment(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}
