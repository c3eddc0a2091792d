//! `/data`: where the state lives and how safe it is — the page no other
//! agent platform has. Database location (redacted), size and schema; for a
//! replicated database each replica's TXID, lag and last error with a hint.

use axum::extract::{Extension, State};
use maud::html;
use stn_core::Station;

use crate::hint_for;
use crate::routes::data::{DataStatus, status};
use crate::ui::layout::{self, Ctx, Page, count};
use crate::ui::{UiError, UiState};

/// Replication health in one line, for the overview.
pub fn health_line(data: &DataStatus) -> String {
    match (&data.replication, data.kind) {
        (None, "remote") => format!(
            "remote database {} (it keeps its own copies)",
            data.database
        ),
        (None, _) => "local file, not replicated: a lost disk loses everything".to_owned(),
        (Some(r), _) => {
            let failing = r.replicas.iter().filter(|x| x.last_error.is_some()).count();
            let worst = r.replicas.iter().map(|x| x.lag_seconds).fold(0.0, f64::max);
            if failing > 0 || r.last_error.is_some() {
                format!(
                    "replication failing on {failing} of {} replicas",
                    r.replicas.len()
                )
            } else {
                format!(
                    "replicated to {} replica(s), TXID {}, lag {worst:.1} s, durability {}",
                    r.replicas.len(),
                    r.txid,
                    r.durability
                )
            }
        }
    }
}

/// `GET /data`.
pub async fn page(
    State(station): State<Station>,
    Extension(ctx): Extension<Ctx>,
    Extension(ui): Extension<UiState>,
) -> Result<Page, UiError> {
    let data = status(&station, ui.data.as_ref()).await?;
    let body = html! {
        h1 { "Data" }
        p { (health_line(&data)) }
        section.card aria-labelledby="db" {
            h2 #db { "Database" }
            dl.facts {
                dt { "Where" } dd.mono data-fact="database" { (data.database) }
                dt { "Kind" } dd data-fact="kind" { (data.kind) }
                dt { "Size" } dd data-fact="size" { @match data.size_bytes { Some(b) => { (count(b as i64)) " bytes" }, None => { "unknown" } } }
                dt { "Schema version" } dd data-fact="schema" { (data.schema_version)
                    @if data.pending_migrations > 0 { " (" (data.pending_migrations) " migrations pending: run " code { "stn db migrate" } ")" } }
            }
        }
        @if let Some(r) = &data.replication {
            section.card aria-labelledby="repl" {
                h2 #repl { "Replication" }
                dl.facts {
                    dt { "Durability" } dd data-fact="durability" { (r.durability)
                        @if r.durability == "async" { span.muted { " (a write is acknowledged once local; the replica follows)" } }
                        @else { span.muted { " (a write is acknowledged once every replica holds it)" } } }
                    dt { "Local TXID" } dd data-fact="txid" { (r.txid) }
                    @if let Some(e) = &r.last_error {
                        dt { "Local error" } dd.error { (e) }
                    }
                }
                div.table-wrap tabindex="0" { table {
                    thead { tr {
                        th scope="col" { "Replica" } th.num scope="col" { "TXID" } th.num scope="col" { "Lag (TXIDs)" }
                        th.num scope="col" { "Lag (s)" } th.num scope="col" { "Uploads" } th scope="col" { "Last error" }
                    } }
                    tbody {
                        @for x in &r.replicas {
                            tr data-replica=(x.url) {
                                td.mono { (x.url) }
                                td.num data-fact="replica-txid" { (x.txid) }
                                td.num data-fact="lag-txids" { (x.lag_txids) }
                                td.num data-fact="lag-seconds" { (format!("{:.1}", x.lag_seconds)) }
                                td.num { (x.uploads) }
                                td {
                                    @match &x.last_error {
                                        Some(e) => { span.error { (e) } br; span.muted { (x.hint.as_deref().unwrap_or_else(|| hint_for(e))) } }
                                        None => { span.muted { "none" } }
                                    }
                                }
                            }
                        }
                    }
                } }
                p.muted { "Restore points: " code { "stn restore -timestamp T" } " restores any time the replica holds; "
                    code { "stn ltx REPLICA_URL" } " lists them." }
            }
        }
        p { a href="/api/v1/data" { "This page as JSON" } }
        p.muted { "Reload to refresh." }
    };
    Ok(layout::page(&ctx, "Data", "/data", body))
}
