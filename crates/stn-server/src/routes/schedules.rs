//! `GET /api/v1/schedules`: agents with an enabled schedule and their next slot.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use stn_core::Station;

use crate::error::ApiResult;

/// One scheduled agent.
#[derive(Debug, Clone, Serialize)]
pub struct Schedule {
    /// The agent's id.
    pub agent_id: i64,
    /// Its name.
    pub agent: String,
    /// Its environment.
    pub environment: String,
    /// The cron expression.
    pub cron: String,
    /// The next slot (RFC 3339 UTC) once the scheduler planned it.
    pub next_run: Option<String>,
}

/// Scheduled agents, soonest slot first (unplanned ones last).
pub async fn schedules(station: &Station) -> ApiResult<Vec<Schedule>> {
    let mut list: Vec<Schedule> = station
        .store()
        .scheduled_agents()
        .await?
        .into_iter()
        .map(|a| Schedule {
            agent_id: a.agent_id,
            agent: a.name,
            environment: a.environment,
            cron: a.cron,
            next_run: a.next_run,
        })
        .collect();
    list.sort_by(|a, b| match (&a.next_run, &b.next_run) {
        (Some(x), Some(y)) => x.cmp(y),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.agent.cmp(&b.agent),
    });
    Ok(list)
}

/// `GET /api/v1/schedules`.
pub async fn list(State(station): State<Station>) -> ApiResult<Json<Vec<Schedule>>> {
    Ok(Json(schedules(&station).await?))
}
