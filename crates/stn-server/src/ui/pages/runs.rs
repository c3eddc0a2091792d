//! `/runs` (filters, search, keyset pages) and `/runs/{id}`: a run's
//! transcript, live while it runs (the ES module follows
//! `/api/v1/runs/{id}/events`), with cancel and a JSON export.

use axum::Form;
use axum::extract::rejection::PathRejection;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;
use stn_core::Station;
use stn_core::model::{Run, RunStep};

use crate::error::ApiError;
use crate::routes::runs::{ListQuery, cancel_run, detail, hours_ago};
use crate::ui::layout::{self, Ctx, Page, count, duration_ms, long_text};
use crate::ui::session::check_csrf;
use crate::ui::{UiError, UiState};

/// Runs per page.
const PAGE: u32 = 50;

/// The runs table of the Runs page, the overview and an agent's page.
pub fn runs_table(runs: &[Run]) -> Markup {
    html! {
        div.table-wrap tabindex="0" {
            table {
                thead { tr {
                    th scope="col" { "Run" } th scope="col" { "Agent" } th scope="col" { "Status" }
                    th scope="col" { "Task" } th scope="col" { "Started" } th.num scope="col" { "Tokens" }
                } }
                tbody {
                    @for r in runs {
                        tr {
                            td { a href={ "/runs/" (r.id) } { "#" (r.id) } }
                            td { a href={ "/agents/" (r.agent_id) } { (r.agent) } br; span.muted { (r.environment) } }
                            td { (layout::status(r.status.as_str())) }
                            td { (truncate(&r.task, 120)) }
                            td { (layout::time(&r.started_at)) }
                            td.num { (r.total_tokens.map(count).unwrap_or_default()) }
                        }
                    }
                }
            }
        }
    }
}

fn truncate(text: &str, chars: usize) -> String {
    match text.char_indices().nth(chars) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
    }
}

/// The time-window choices of the filter: (value, label, hours).
const WINDOWS: &[(&str, &str, i64)] = &[
    ("", "any time", 0),
    ("1h", "last hour", 1),
    ("24h", "last 24 h", 24),
    ("7d", "last 7 days", 168),
];

/// Query of `GET /runs`: the API's filters, with the time as a window.
#[derive(Debug, Default, Deserialize)]
pub struct RunsQuery {
    status: Option<String>,
    agent: Option<String>,
    environment: Option<String>,
    q: Option<String>,
    window: Option<String>,
    before: Option<i64>,
}

impl RunsQuery {
    /// The query string of these filters plus `before`.
    fn link(&self, before: i64) -> String {
        let mut pairs = vec![];
        for (key, value) in [
            ("status", &self.status),
            ("agent", &self.agent),
            ("environment", &self.environment),
            ("q", &self.q),
            ("window", &self.window),
        ] {
            if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
                pairs.push(format!("{key}={}", encode(v)));
            }
        }
        pairs.push(format!("before={before}"));
        format!("/runs?{}", pairs.join("&"))
    }
}

/// Percent-encodes a query value.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `GET /runs`.
pub async fn list(
    State(station): State<Station>,
    Extension(ctx): Extension<Ctx>,
    query: Result<Query<RunsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Page, UiError> {
    let Query(query) = query.map_err(ApiError::from)?;
    let hours = WINDOWS
        .iter()
        .find(|(value, _, _)| Some(*value) == query.window.as_deref())
        .map_or(0, |w| w.2);
    let filter = ListQuery {
        environment: query.environment.clone(),
        agent: query.agent.clone(),
        status: query.status.clone(),
        q: query.q.clone(),
        since: (hours > 0).then(|| hours_ago(hours)),
        before: query.before,
        limit: Some(PAGE),
    }
    .into_filter()?;
    let runs = station.store().list_runs(&filter).await?;
    let environments = station.store().list_environments().await?;
    let selected = |value: &Option<String>, option: &str| value.as_deref() == Some(option);
    let body = html! {
        h1 { "Runs" }
        form.filters method="get" action="/runs" role="search" {
            div {
                label for="f-q" { "Task contains" }
                input #f-q type="search" name="q" value=[query.q.as_deref()];
            }
            div {
                label for="f-status" { "Status" }
                select #f-status name="status" {
                    option value="" { "any" }
                    @for s in ["queued", "running", "completed", "failed", "cancelled", "timeout"] {
                        option value=(s) selected[selected(&query.status, s)] { (s) }
                    }
                }
            }
            div {
                label for="f-agent" { "Agent" }
                input #f-agent type="text" name="agent" value=[query.agent.as_deref()];
            }
            div {
                label for="f-env" { "Environment" }
                select #f-env name="environment" {
                    option value="" { "any" }
                    @for e in &environments {
                        option value=(e.name) selected[selected(&query.environment, &e.name)] { (e.name) }
                    }
                }
            }
            div {
                label for="f-window" { "Started" }
                select #f-window name="window" {
                    @for (value, label, _) in WINDOWS {
                        option value=(value) selected[query.window.as_deref().unwrap_or("") == *value] { (label) }
                    }
                }
            }
            button type="submit" { "Filter" }
        }
        @if runs.is_empty() { p.muted { "No runs match." } } @else { (runs_table(&runs)) }
        nav.pager aria-label="Pages" {
            @if query.before.is_some() { a href="/runs" { "Newest" } }
            @if runs.len() == PAGE as usize && let Some(last) = runs.last() {
                a href=(query.link(last.id)) rel="next" { "Older runs" }
            }
        }
    };
    Ok(layout::page(&ctx, "Runs", "/runs", body))
}

/// One step, as the ES module draws live ones (keep the two alike).
fn step(step: &RunStep) -> Markup {
    let kind = step.kind.as_str();
    let class = if step.is_error {
        format!("k-{kind} err")
    } else {
        format!("k-{kind}")
    };
    let empty_input = step
        .input
        .as_ref()
        .is_none_or(|v| v.is_null() || v.as_array().is_some_and(|a| a.is_empty()));
    html! {
        li class=(class) data-seq=(step.seq) data-kind=(kind) {
            div.step-head {
                span.mono.muted { "#" (step.seq) }
                span.name { (kind) ": " (step.name) }
                span.meta {
                    (duration_ms(step.duration_ms))
                    @if step.total_tokens.is_some() {
                        " · " (step.input_tokens.unwrap_or(0)) " in / " (step.output_tokens.unwrap_or(0)) " out tokens"
                    }
                }
                @if step.is_error { span.badge.s-failed { "error" } }
            }
            @if let Some(child) = step.child_run_id {
                p { a href={ "/runs/" (child) } { "sub-agent run " (child) } }
            }
            @if !empty_input {
                div.muted { @if kind == "model" { "tool calls" } @else { "arguments" } }
                (long_text(&serde_json::to_string_pretty(&step.input).unwrap_or_default()))
            }
            @if let Some(out) = step.output.as_deref().filter(|o| !o.is_empty()) {
                div.muted { @if kind == "model" { "text" } @else { "result" } }
                (long_text(out))
            }
        }
    }
}

/// `GET /runs/{id}`.
pub async fn show(
    State(station): State<Station>,
    Extension(ctx): Extension<Ctx>,
    Extension(ui): Extension<UiState>,
    id: Result<Path<i64>, PathRejection>,
) -> Result<Page, UiError> {
    let Path(id) = id.map_err(ApiError::from)?;
    let detail = detail(&station, id).await?;
    let run = &detail.run;
    let live = !run.status.is_final() && ui.runs.is_some();
    let events = format!("/api/v1/runs/{id}/events");
    let variables = run
        .variables
        .as_ref()
        .filter(|v| v.as_object().is_some_and(|o| !o.is_empty()));
    let body = html! {
        h1 { "Run #" (run.id) " " span data-run-status data-status=(run.status.as_str()) class={ "badge s-" (run.status.as_str()) } { (run.status.as_str()) } }
        section.card {
            dl.facts {
                dt { "Agent" } dd { a href={ "/agents/" (run.agent_id) } { (run.agent) } " (" (run.environment) ")" }
                dt { "Task" } dd { (long_text(&run.task)) }
                @if let Some(v) = variables { dt { "Variables" } dd { (long_text(&serde_json::to_string_pretty(v).unwrap_or_default())) } }
                @if let Some(parent) = run.parent_run_id { dt { "Called by" } dd { a href={ "/runs/" (parent) } { "run " (parent) } } }
                dt { "Model" } dd { (run.model_name.as_deref().unwrap_or("—")) }
                dt { "Started" } dd { (layout::time(&run.started_at)) " by " (run.origin.as_deref().unwrap_or("?")) }
                dt { "Duration" } dd { @match run.duration_seconds { Some(s) => { (format!("{s:.1} s")) }, None => { "—" } } }
                dt { "Tokens" } dd {
                    span data-run-tokens { (run.total_tokens.unwrap_or(0)) }
                    " total (" (run.input_tokens.unwrap_or(0)) " in / " (run.output_tokens.unwrap_or(0)) " out)"
                }
                dt { "Steps" } dd { (run.steps_summary()) }
            }
            p {
                a href={ "/runs/" (run.id) "/export" } download={ "run-" (run.id) ".json" } { "Export JSON" }
                @if live {
                    " "
                    form.inline method="post" action={ "/runs/" (run.id) "/cancel" } data-while-running {
                        (ctx.csrf_field())
                        button.danger type="submit" { "Cancel run" }
                    }
                }
            }
        }
        h2 { "Transcript" }
        ol.steps data-run-events=[live.then_some(events.as_str())] {
            @for s in &detail.steps { (step(s)) }
        }
        p.live data-live aria-live="polite" { @if live { (run.status.as_str()) "…" } }
        h2 { "Answer" }
        pre.out data-run-answer { (run.final_response.as_deref().unwrap_or("")) }
        p.error data-run-error role="status" { (run.error.as_deref().unwrap_or("")) }
    };
    Ok(layout::page(&ctx, &format!("Run {id}"), "/runs", body))
}

/// A form with only its CSRF token.
#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

/// `POST /runs/{id}/cancel`, then back to the run (which shows it ending).
pub async fn cancel(
    State(station): State<Station>,
    Extension(ui): Extension<UiState>,
    headers: HeaderMap,
    id: Result<Path<i64>, PathRejection>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, UiError> {
    check_csrf(&headers, &form.csrf)?;
    let Path(id) = id.map_err(ApiError::from)?;
    let manager = ui.manager()?;
    cancel_run(&station, manager, id).await?;
    Ok(Redirect::to(&format!("/runs/{id}")).into_response())
}

/// `GET /runs/{id}/export`: the API's JSON of the run, as a download.
pub async fn export(
    State(station): State<Station>,
    id: Result<Path<i64>, PathRejection>,
) -> Result<Response, UiError> {
    let Path(id) = id.map_err(ApiError::from)?;
    let detail = detail(&station, id).await?;
    let body = serde_json::to_string_pretty(&detail).unwrap_or_default();
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"run-{id}.json\""))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"));
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response())
}
