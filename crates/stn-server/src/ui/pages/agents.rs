//! `/agents` (per environment) and `/agents/{id}`: an agent's prompt file as
//! written, model, tools, sub-agents, schedule and recent runs, and a form
//! that runs it and opens the run's page live.

use axum::Form;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Extension, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;
use serde_json::{Map, Value};
use stn_core::Station;
use stn_core::store::RunFilter;

use super::runs::runs_table;
use crate::error::ApiError;
use crate::routes::runs::start_run;
use crate::ui::layout::{self, Ctx, Page};
use crate::ui::session::check_csrf;
use crate::ui::{UiError, UiState};

/// Recent runs on an agent's page.
const RECENT: u32 = 10;

/// Query of `GET /agents`.
#[derive(Debug, Deserialize)]
pub struct AgentsQuery {
    environment: Option<String>,
}

/// `GET /agents[?environment=]`.
pub async fn list(
    State(station): State<Station>,
    Extension(ctx): Extension<Ctx>,
    query: Result<Query<AgentsQuery>, QueryRejection>,
) -> Result<Page, UiError> {
    let Query(query) = query.map_err(ApiError::from)?;
    let env = query.environment.filter(|e| !e.is_empty());
    let agents = station.store().list_agents(env.as_deref()).await?;
    let environments = station.store().list_environments().await?;
    let body = html! {
        h1 { "Agents" }
        form.filters method="get" action="/agents" {
            div {
                label for="a-env" { "Environment" }
                select #a-env name="environment" {
                    option value="" { "all" }
                    @for e in &environments {
                        option value=(e.name) selected[env.as_deref() == Some(e.name.as_str())] { (e.name) }
                    }
                }
            }
            button type="submit" { "Show" }
        }
        @if agents.is_empty() { p.muted { "No agents. Add a .prompt file to an environment and run " code { "stn sync" } "." } }
        div.table-wrap tabindex="0" { table {
            thead { tr { th scope="col" { "Agent" } th scope="col" { "Environment" } th scope="col" { "Description" } th scope="col" { "Model" } th scope="col" { "Schedule" } } }
            tbody {
                @for a in &agents {
                    tr {
                        td { a href={ "/agents/" (a.id) } { (a.spec.name) } }
                        td { (a.environment) }
                        td { (a.spec.description) }
                        td { (a.spec.model.as_deref().unwrap_or("default")) }
                        td { @if a.spec.schedule_enabled { code { (a.spec.cron_schedule.as_deref().unwrap_or("")) } } }
                    }
                }
            }
        } }
    };
    Ok(layout::page(&ctx, "Agents", "/agents", body))
}

/// `GET /agents/{id}`.
pub async fn show(
    State(station): State<Station>,
    Extension(ctx): Extension<Ctx>,
    Extension(ui): Extension<UiState>,
    id: Result<Path<i64>, PathRejection>,
) -> Result<Page, UiError> {
    let Path(id) = id.map_err(ApiError::from)?;
    let agent = station.store().agent_by_id(id).await?;
    let spec = &agent.spec;
    // The file as the user wrote it, front matter included; the stored
    // prompt when the file is gone (e.g. a database moved without its config dir).
    let file = station.layout().agent_file(&agent.environment, &spec.name);
    let prompt = std::fs::read_to_string(&file).unwrap_or_else(|_| spec.prompt.clone());
    let recent = station
        .store()
        .list_runs(&RunFilter {
            environment: Some(agent.environment.clone()),
            agent: Some(spec.name.clone()),
            limit: RECENT,
            ..RunFilter::default()
        })
        .await?;
    let next = station
        .store()
        .scheduled_agents()
        .await?
        .into_iter()
        .find(|s| s.agent_id == id)
        .and_then(|s| s.next_run);
    let last_scheduled = station
        .store()
        .list_runs(&RunFilter {
            environment: Some(agent.environment.clone()),
            agent: Some(spec.name.clone()),
            limit: 50,
            ..RunFilter::default()
        })
        .await?
        .into_iter()
        .find(|r| r.origin.as_deref() == Some("schedule"));
    let body = html! {
        h1 { (spec.name) " " span.muted { "in " (agent.environment) } }
        @if !spec.description.is_empty() { p { (spec.description) } }
        div.grid {
            section.card aria-labelledby="cfg" {
                h2 #cfg { "Configuration" }
                dl.facts {
                    dt { "Model" } dd { (spec.model.as_deref().unwrap_or("the server's default")) }
                    dt { "Max steps" } dd { (spec.max_steps) }
                    dt { "Tools" } dd {
                        @if spec.tools.is_empty() { span.muted { "none" } }
                        @for t in &spec.tools { code { (t) } " " }
                    }
                    dt { "Sub-agents" } dd {
                        @if spec.agents.is_empty() { span.muted { "none" } }
                        @for a in &spec.agents { (a) " " }
                    }
                    dt { "Schedule" } dd {
                        @match (&spec.cron_schedule, spec.schedule_enabled) {
                            (Some(cron), true) => { code { (cron) } }
                            (Some(cron), false) => { code { (cron) } " (disabled)" }
                            _ => { span.muted { "none" } }
                        }
                    }
                    @if spec.schedule_enabled {
                        dt { "Next slot" } dd { @match &next { Some(t) => { (layout::time(t)) }, None => { "not planned yet" } } }
                        dt { "Last scheduled run" } dd { @match &last_scheduled { Some(r) => { a href={ "/runs/" (r.id) } { (layout::time(&r.started_at)) } }, None => { "none yet" } } }
                    }
                }
            }
            @if ui.runs.is_some() {
                section.card aria-labelledby="run" {
                    h2 #run { "Run it" }
                    form.stack method="post" action={ "/agents/" (agent.id) "/run" } {
                        (ctx.csrf_field())
                        label for="task" { "Task" }
                        textarea #task name="task" required {}
                        label for="variables" { "Variables (JSON object, optional)" }
                        textarea #variables name="variables" placeholder="{}" {}
                        button type="submit" { "Start run" }
                    }
                }
            }
        }
        h2 { "Prompt file" }
        p.muted.mono { (file.display()) }
        pre.out { (prompt) }
        h2 { "Recent runs" }
        @if recent.is_empty() { p.muted { "No runs yet." } } @else { (runs_table(&recent)) }
        p { a href={ "/runs?agent=" (spec.name) "&environment=" (agent.environment) } { "All runs of this agent" } }
    };
    Ok(layout::page(&ctx, &spec.name, "/agents", body))
}

/// The run form.
#[derive(Debug, Deserialize)]
pub struct RunForm {
    csrf: String,
    task: String,
    #[serde(default)]
    variables: String,
}

/// `POST /agents/{id}/run`: starts the run and opens its page.
pub async fn run(
    State(station): State<Station>,
    Extension(ui): Extension<UiState>,
    headers: HeaderMap,
    id: Result<Path<i64>, PathRejection>,
    Form(form): Form<RunForm>,
) -> Result<Response, UiError> {
    check_csrf(&headers, &form.csrf)?;
    let Path(agent_id) = id.map_err(ApiError::from)?;
    let manager = ui.manager()?;
    let variables: Map<String, Value> = if form.variables.trim().is_empty() {
        Map::new()
    } else {
        serde_json::from_str(&form.variables).map_err(|e| {
            ApiError::InvalidRequest(format!("variables must be a JSON object: {e}"))
        })?
    };
    let run_id = start_run(&station, manager, agent_id, form.task, variables).await?;
    Ok(Redirect::to(&format!("/runs/{run_id}")).into_response())
}
