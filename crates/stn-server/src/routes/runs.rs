//! `/api/v1/runs`: the run history, read-only.

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use stn_core::Station;
use stn_core::model::{Run, RunStatus};
use stn_core::store::RunFilter;

use crate::error::{ApiError, ApiResult};

/// Runs listed when the query gives no `limit`.
const DEFAULT_LIMIT: u32 = 50;
/// The largest `limit` accepted, so one request cannot pull the whole history.
const MAX_LIMIT: u32 = 1000;

/// Query of `GET /api/v1/runs`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    environment: Option<String>,
    agent: Option<String>,
    status: Option<String>,
    limit: Option<u32>,
}

impl ListQuery {
    fn into_filter(self) -> Result<RunFilter, ApiError> {
        let status = match self.status {
            None => None,
            Some(text) => Some(RunStatus::parse(&text).ok_or_else(|| {
                ApiError::InvalidRequest(format!(
                    "unknown status `{text}`: use queued, running, completed, failed, cancelled or timeout"
                ))
            })?),
        };
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::InvalidRequest(format!(
                "limit must be between 1 and {MAX_LIMIT}, not {limit}"
            )));
        }
        Ok(RunFilter {
            environment: self.environment,
            agent: self.agent,
            status,
            limit,
        })
    }
}

/// `GET /api/v1/runs?environment=&agent=&status=&limit=`: newest first.
pub async fn list(
    State(station): State<Station>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> ApiResult<Json<Vec<Run>>> {
    let Query(query) = query?;
    let filter = query.into_filter()?;
    Ok(Json(station.store().list_runs(&filter).await?))
}

/// `GET /api/v1/runs/{id}`.
pub async fn get(
    State(station): State<Station>,
    id: Result<Path<i64>, PathRejection>,
) -> ApiResult<Json<Run>> {
    let Path(id) = id?;
    Ok(Json(station.store().run(id).await?))
}
