//! `/`: the last 24 hours at a glance, runs in progress, the next scheduled
//! runs, MCP servers whose variables are missing, and replication in one line.

use axum::extract::{Extension, State};
use maud::html;
use stn_core::Station;
use stn_core::model::RunStatus;
use stn_core::store::RunFilter;

use super::data::health_line;
use super::runs::runs_table;
use crate::routes::{data, runs, schedules};
use crate::ui::layout::{self, Ctx, Page, count};
use crate::ui::{UiError, UiState};

/// Runs in progress shown at most.
const IN_PROGRESS: u32 = 20;

/// `GET /`.
pub async fn page(
    State(station): State<Station>,
    Extension(ctx): Extension<Ctx>,
    Extension(ui): Extension<UiState>,
) -> Result<Page, UiError> {
    let summary = station.store().run_summary(&runs::hours_ago(24)).await?;
    let running = station
        .store()
        .list_runs(&RunFilter {
            status: Some(RunStatus::Running),
            limit: IN_PROGRESS,
            ..RunFilter::default()
        })
        .await?;
    let next = schedules::schedules(&station).await?;
    let data = data::status(&station, ui.data.as_ref()).await?;
    let total_in: i64 = summary.by_model.iter().map(|m| m.input_tokens).sum();
    let total_out: i64 = summary.by_model.iter().map(|m| m.output_tokens).sum();
    let cost: Option<f64> = summary
        .by_model
        .iter()
        .filter(|m| m.input_tokens + m.output_tokens > 0)
        .map(|m| m.cost)
        .sum();
    let body = html! {
        h1 { "Overview" }
        p.card { strong { "Data: " } (health_line(&data)) " " a href="/data" { "details" } }
        div.grid {
            section.card aria-labelledby="runs24" {
                h2 #runs24 { "Runs, last 24 h" }
                @if summary.by_status.is_empty() { p.muted { "No runs." } }
                ul {
                    @for s in &summary.by_status {
                        li { (layout::status(&s.status)) " " a href={ "/runs?status=" (s.status) } { (count(s.runs)) } }
                    }
                }
            }
            section.card aria-labelledby="tokens24" {
                h2 #tokens24 { "Tokens, last 24 h" }
                p { span.stat { (count(total_in)) } " in · " span.stat { (count(total_out)) } " out" }
                p.muted {
                    @match cost {
                        Some(c) if total_in + total_out > 0 => { "Cost: " (format!("{c:.4}")) }
                        _ => { "Cost: unknown (no price for the models used in the models table)" }
                    }
                }
            }
            section.card aria-labelledby="next" {
                h2 #next { "Next scheduled runs" }
                @if next.is_empty() { p.muted { "No agent has a schedule." } }
                ul {
                    @for s in next.iter().take(5) {
                        li {
                            a href={ "/agents/" (s.agent_id) } { (s.agent) }
                            " (" (s.environment) ") "
                            @match &s.next_run { Some(t) => { (layout::time(t)) }, None => { span.muted { "not planned yet" } } }
                        }
                    }
                }
            }
        }
        h2 { "In progress" }
        @if running.is_empty() { p.muted { "Nothing is running." } } @else { (runs_table(&running)) }
    };
    Ok(layout::page(&ctx, "Overview", "/", body))
}
