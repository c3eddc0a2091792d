//! `stn mcp tools [-e ENV] [--server S]` (the Go original's name): the tools
//! each MCP server offers, with their descriptions, as `stn sync` recorded them.

use std::process::ExitCode;

use anyhow::Result;
use serde::Serialize;
use stn_core::Station;

use crate::output;

/// One tool of one server, as `--json` prints it.
#[derive(Debug, Serialize)]
struct ToolRow {
    environment: String,
    server: String,
    name: String,
    description: String,
    input_schema: serde_json::Value,
}

/// Longest description shown in the table (the first line); `--json` has it whole.
const DESCRIPTION_CHARS: usize = 80;

pub async fn list(
    station: &Station,
    env: Option<&str>,
    server: Option<&str>,
    json: bool,
) -> Result<ExitCode> {
    let servers: Vec<_> = station
        .store()
        .list_mcp_servers(env)
        .await?
        .into_iter()
        .filter(|s| server.is_none_or(|name| s.spec.name == name))
        .collect();
    if let Some(name) = server
        && servers.is_empty()
    {
        anyhow::bail!(
            "no MCP server `{name}`{}; `stn mcp list` shows the servers",
            env.map(|e| format!(" in environment `{e}`"))
                .unwrap_or_default()
        );
    }
    let mut rows = Vec::new();
    let mut unrecorded = Vec::new();
    for s in &servers {
        let tools = station
            .store()
            .mcp_tools(&s.environment, &s.spec.name)
            .await?;
        if tools.is_empty() {
            unrecorded.push(format!("{}/{}", s.environment, s.spec.name));
        }
        rows.extend(tools.into_iter().map(|t| ToolRow {
            environment: s.environment.clone(),
            server: s.spec.name.clone(),
            name: t.name,
            description: t.description,
            input_schema: t.input_schema,
        }));
    }
    if json {
        output::json(&rows)?;
        return Ok(ExitCode::SUCCESS);
    }
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|t| {
            vec![
                t.environment.clone(),
                t.server.clone(),
                t.name.clone(),
                output::shorten(&t.description, DESCRIPTION_CHARS),
            ]
        })
        .collect();
    output::table(&["ENVIRONMENT", "SERVER", "TOOL", "DESCRIPTION"], &table);
    for name in &unrecorded {
        eprintln!("note: no tools recorded for {name}; `stn sync` starts it and records them");
    }
    Ok(ExitCode::SUCCESS)
}
