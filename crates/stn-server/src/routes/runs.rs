//! `/api/v1/runs`: the run history with every step, starting runs
//! (`POST /api/v1/agents/{id}/runs`), following them live (server-sent
//! events) and cancelling them.

use std::convert::Infallible;

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use stn_agent::{Origin, RunManager, RunRequest};
use stn_core::Station;
use stn_core::model::{Run, RunStatus, RunStep};
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
    /// Only this environment.
    pub environment: Option<String>,
    /// Only this agent (by name).
    pub agent: Option<String>,
    /// Only this status.
    pub status: Option<String>,
    /// Only runs whose task contains this text.
    pub q: Option<String>,
    /// Only runs started at or after this RFC 3339 time.
    pub since: Option<String>,
    /// The next page: runs with a smaller id than this (the last id of the page before).
    pub before: Option<i64>,
    /// Page size.
    pub limit: Option<u32>,
}

/// An empty query value (`?status=` from a form) means no filter.
fn given(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

impl ListQuery {
    /// The store's filter, or why the query is wrong.
    pub fn into_filter(self) -> Result<RunFilter, ApiError> {
        let status = match given(self.status) {
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
        let since = given(self.since);
        if let Some(since) = &since
            && time::OffsetDateTime::parse(since, &time::format_description::well_known::Rfc3339)
                .is_err()
        {
            return Err(ApiError::InvalidRequest(format!(
                "since must be an RFC 3339 time such as 2026-01-31T00:00:00Z, not `{since}`"
            )));
        }
        Ok(RunFilter {
            environment: given(self.environment),
            agent: given(self.agent),
            status,
            search: given(self.q),
            since,
            before: self.before,
            limit,
        })
    }
}

/// `GET /api/v1/runs?environment=&agent=&status=&q=&since=&before=&limit=`: newest first.
pub async fn list(
    State(station): State<Station>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> ApiResult<Json<Vec<Run>>> {
    let Query(query) = query?;
    let filter = query.into_filter()?;
    Ok(Json(station.store().list_runs(&filter).await?))
}

/// Steps answered when the query gives no `limit`.
const DEFAULT_STEPS: u32 = 100;
/// A page ends before the step whose output would pass this many bytes (each
/// stored output is at most 1 MiB), so one answer stays a few MiB at most.
const PAGE_BYTES: usize = 4 * 1024 * 1024;

/// Query of `GET /api/v1/runs/{id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepsQuery {
    /// Only steps with a higher `seq` (the `next_steps_after` of the previous page).
    steps_after: Option<i64>,
    limit: Option<u32>,
}

/// Query of `GET /api/v1/runs/summary`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SummaryQuery {
    /// Start of the window; default 24 hours ago.
    since: Option<String>,
}

/// The stored-time spelling of "`hours` ago".
pub fn hours_ago(hours: i64) -> String {
    let t = time::OffsetDateTime::now_utc() - time::Duration::hours(hours);
    t.format(&time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    ))
    .unwrap_or_default()
}

/// `GET /api/v1/runs/summary[?since=]`: runs by status and tokens by model
/// (with cost where the model's price is known), default the last 24 hours.
pub async fn summary(
    State(station): State<Station>,
    query: Result<Query<SummaryQuery>, QueryRejection>,
) -> ApiResult<Json<stn_core::store::RunSummary>> {
    let Query(query) = query?;
    let since = given(query.since).unwrap_or_else(|| hours_ago(24));
    Ok(Json(station.store().run_summary(&since).await?))
}

/// A run with (a page of) its transcript.
#[derive(Debug, Serialize)]
pub struct RunDetail {
    /// The run.
    #[serde(flatten)]
    pub run: Run,
    /// Its steps in order (from the API, a page of them).
    pub steps: Vec<RunStep>,
    /// Set when more steps follow: pass it as `steps_after` for the next page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_steps_after: Option<i64>,
}

/// A run and all its steps: the Run page and its JSON export.
pub async fn detail(station: &Station, id: i64) -> ApiResult<RunDetail> {
    let run = station.store().run(id).await?;
    let steps = station.store().run_steps(id).await?;
    Ok(RunDetail {
        run,
        steps,
        next_steps_after: None,
    })
}

/// `GET /api/v1/runs/{id}?steps_after=&limit=`: the run and its steps, a
/// page at a time (up to `limit` steps, fewer when their outputs would pass 4 MiB).
pub async fn get(
    State(station): State<Station>,
    id: Result<Path<i64>, PathRejection>,
    query: Result<Query<StepsQuery>, QueryRejection>,
) -> ApiResult<Json<RunDetail>> {
    let Path(id) = id?;
    let Query(query) = query?;
    let limit = query.limit.unwrap_or(DEFAULT_STEPS);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::InvalidRequest(format!(
            "limit must be between 1 and {MAX_LIMIT}, not {limit}"
        )));
    }
    let run = station.store().run(id).await?;
    // One more than asked tells whether another page follows.
    let mut steps = station
        .store()
        .run_steps_after(id, query.steps_after.unwrap_or(0), limit + 1)
        .await?;
    let mut bytes = 0;
    let fits = steps
        .iter()
        .take(limit as usize)
        .enumerate()
        // The first step is always sent, so a page never comes back empty.
        .take_while(|(i, step)| {
            bytes += step.output.as_ref().map_or(0, String::len);
            *i == 0 || bytes <= PAGE_BYTES
        })
        .count();
    let more = steps.len() > fits;
    steps.truncate(fits);
    let next_steps_after = more.then(|| steps.last().map(|s| s.seq)).flatten();
    Ok(Json(RunDetail {
        run,
        steps,
        next_steps_after,
    }))
}

/// Body of `POST /api/v1/agents/{id}/runs`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartBody {
    task: String,
    #[serde(default)]
    variables: Map<String, Value>,
}

/// Answer of `POST /api/v1/agents/{id}/runs`.
#[derive(Debug, Serialize)]
pub struct Accepted {
    run_id: i64,
    status: RunStatus,
    /// Where to read the run.
    run_url: String,
    /// Where to follow it.
    events_url: String,
}

/// Queues a run of agent `agent_id`; returns its id. What the API and the
/// agent page's form do (both count as `api` runs: the page is an API client).
pub async fn start_run(
    station: &Station,
    runs: &RunManager,
    agent_id: i64,
    task: String,
    variables: Map<String, Value>,
) -> ApiResult<i64> {
    if task.trim().is_empty() {
        return Err(ApiError::InvalidRequest(
            "`task` must not be empty".to_owned(),
        ));
    }
    station.store().agent_by_id(agent_id).await?;
    let started = runs
        .submit(RunRequest {
            agent_id,
            task,
            variables,
            origin: Origin::Api,
        })
        .await?;
    Ok(started.run_id)
}

/// `POST /api/v1/agents/{id}/runs {task, variables}`: queues a run and answers
/// 202 at once; the run executes in the background.
pub async fn start(
    State(station): State<Station>,
    Extension(runs): Extension<RunManager>,
    id: Result<Path<i64>, PathRejection>,
    body: Result<Json<StartBody>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<Accepted>)> {
    let Path(agent_id) = id?;
    let Json(body) = body?;
    let run_id = start_run(&station, &runs, agent_id, body.task, body.variables).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Accepted {
            run_id,
            status: RunStatus::Queued,
            run_url: format!("/api/v1/runs/{run_id}"),
            events_url: format!("/api/v1/runs/{run_id}/events"),
        }),
    ))
}

/// `GET /api/v1/runs/{id}/events`: server-sent events, the steps so far then
/// live ones, ending with the final status. Event names are the `type`s of
/// [`stn_agent::RunEvent`]; the data is the event as JSON.
pub async fn events(
    State(station): State<Station>,
    Extension(runs): Extension<RunManager>,
    id: Result<Path<i64>, PathRejection>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let Path(id) = id?;
    // Subscribe before reading the database, so no step falls in between.
    let live = runs.subscribe(id);
    let rx = stn_agent::watch(station, live, id).await?;
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        let event = rx.recv().await?;
        let sse = Event::default()
            .event(event.name())
            .json_data(&event)
            .unwrap_or_else(|e| Event::default().event("error").data(e.to_string()));
        Some((Ok(sse), rx))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// Asks the run to stop: what the API and the Run page's button do.
pub async fn cancel_run(station: &Station, runs: &RunManager, id: i64) -> ApiResult<()> {
    let run = station.store().run(id).await?;
    if run.status.is_final() {
        return Err(ApiError::Conflict(format!(
            "run {id} has already ended ({})",
            run.status.as_str()
        )));
    }
    if !runs.cancel(id) {
        return Err(ApiError::Conflict(format!(
            "run {id} is executed by another process (e.g. `stn agent run`); cancel it there"
        )));
    }
    Ok(())
}

/// `POST /api/v1/runs/{id}/cancel`: 202 when the run is being cancelled
/// (it ends `cancelled` within a second); 409 when it has ended or is
/// executed by another process.
pub async fn cancel(
    State(station): State<Station>,
    Extension(runs): Extension<RunManager>,
    id: Result<Path<i64>, PathRejection>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let Path(id) = id?;
    cancel_run(&station, &runs, id).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({"run_id": id, "cancelling": true})),
    ))
}
