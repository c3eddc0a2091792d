//! `/environments`: each environment's agents count and MCP servers, with
//! every server's tools (description, input schema) and the variables its
//! config needs, set or not (never their values).

use axum::extract::{Extension, State};
use maud::html;
use stn_core::Station;

use crate::routes::mcp::servers;
use crate::ui::UiError;
use crate::ui::layout::{self, Ctx, Page, long_text};

/// `GET /environments`.
pub async fn list(
    State(station): State<Station>,
    Extension(ctx): Extension<Ctx>,
) -> Result<Page, UiError> {
    let environments = station.store().list_environments().await?;
    let mut sections = Vec::with_capacity(environments.len());
    for env in &environments {
        sections.push((env, servers(&station, &env.name).await?));
    }
    let body = html! {
        h1 { "Environments and MCP servers" }
        @for (env, servers) in &sections {
            section.card aria-labelledby={ "env-" (env.id) } {
                h2 id={ "env-" (env.id) } { (env.name) }
                @if let Some(d) = &env.description { p { (d) } }
                p { a href={ "/agents?environment=" (env.name) } { (env.agent_count) " agents" } " · " (env.mcp_server_count) " MCP servers" }
                @for server in servers {
                    h3 { (server.name) " " span.muted { "(" (server.transport) ", " (server.config_name.as_deref().unwrap_or("?")) ".json)" } }
                    p.mono { (server.target) }
                    @if !server.variables.is_empty() {
                        p { "Variables: "
                            @for v in &server.variables {
                                code { (v.name) } " "
                                @if v.set { span.badge.s-completed { "set" } } @else { span.badge.s-failed { "missing" } }
                                " "
                            }
                        }
                    }
                    @if server.tools.is_empty() { p.muted { "No tools recorded; run " code { "stn sync" } "." } }
                    @else {
                        div.table-wrap tabindex="0" { table {
                            thead { tr { th scope="col" { "Tool" } th scope="col" { "Description" } th scope="col" { "Input schema" } } }
                            tbody {
                                @for t in &server.tools {
                                    tr {
                                        td.mono { (t.name) }
                                        td { (t.description) }
                                        td { (long_text(&serde_json::to_string_pretty(&t.input_schema).unwrap_or_default())) }
                                    }
                                }
                            }
                        } }
                    }
                }
            }
        }
    };
    Ok(layout::page(&ctx, "Environments", "/environments", body))
}
