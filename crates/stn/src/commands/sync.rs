//! `stn sync [ENV]`.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, Result};
use futures::StreamExt as _;
use stn_core::config::Settings;
use stn_core::model::McpServer;
use stn_core::station::Station;
use stn_core::store::McpToolRecord;
use stn_core::sync::{McpToolsChange, SyncReport};

use crate::cli::SyncArgs;
use crate::{context, output};

pub async fn run(settings: &Settings, args: SyncArgs) -> Result<ExitCode> {
    let station = context::open_migrated(settings).await?;
    let envs = match args.environment {
        Some(env) => vec![env],
        None => station.layout().environment_names().with_context(|| {
            format!(
                "cannot list {}",
                station.layout().environments_dir().display()
            )
        })?,
    };
    let mut reports = station.sync_environments(&envs, args.prune).await?;
    if !args.no_discover {
        let timeout = match args.discover_timeout {
            Some(secs) => Duration::from_secs(secs),
            None => settings
                .mcp_start_timeout
                .unwrap_or(stn_mcp::DEFAULT_START_TIMEOUT),
        };
        for report in &mut reports {
            record_tools(&station, report, timeout).await?;
        }
    }
    if args.json.json {
        output::json(&reports)?;
    } else {
        reports.iter().for_each(print_report);
    }
    let failed = reports.iter().any(|r| !r.errors.is_empty());
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// How many MCP servers start at once during discovery.
const PARALLEL_DISCOVERIES: usize = 4;

/// Starts every MCP server of the environment (placeholders filled), lists
/// its tools and records them. A server that fails is named in the report's
/// errors; the others are still recorded.
async fn record_tools(station: &Station, report: &mut SyncReport, timeout: Duration) -> Result<()> {
    let env = report.environment.clone();
    let servers = match station.store().list_mcp_servers(Some(&env)).await {
        Ok(servers) => servers,
        // An environment that could not be synced at all: its report says why.
        Err(stn_core::CoreError::NotFound { .. }) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let discoveries: Vec<_> = futures::stream::iter(servers)
        .map(|server| async move {
            let listed = match spec_of(station, &server).await {
                Ok(spec) => stn_mcp::discover(&spec, timeout).await.map_err(|e| {
                    let hint = e
                        .hint()
                        .map(|h| format!(" (hint: {h})"))
                        .unwrap_or_default();
                    format!("{e}{hint}")
                }),
                Err(e) => Err(e),
            };
            (server.spec.name, listed)
        })
        .buffer_unordered(PARALLEL_DISCOVERIES)
        .collect()
        .await;
    for (server, listed) in discoveries {
        match listed {
            Ok(tools) => {
                let records: Vec<McpToolRecord> = tools
                    .into_iter()
                    .map(|t| McpToolRecord {
                        name: t.name,
                        description: t.description,
                        input_schema: t.input_schema,
                    })
                    .collect();
                let changed = station
                    .store()
                    .record_mcp_tools(&env, &server, &records)
                    .await?;
                let mut tools: Vec<String> = records.into_iter().map(|t| t.name).collect();
                tools.sort();
                report
                    .mcp_tools
                    .insert(server, McpToolsChange { tools, changed });
            }
            Err(reason) => report.errors.push(format!(
                "{reason}; its tools were not recorded (`stn sync --no-discover` skips this step)"
            )),
        }
    }
    Ok(())
}

/// The server as it must be started: placeholders filled from variables.yml
/// and the environment now (the database holds only the placeholders).
async fn spec_of(station: &Station, server: &McpServer) -> Result<stn_mcp::ServerSpec, String> {
    let resolved = station
        .resolve_mcp_server(server)
        .await
        .map_err(|e| format!("MCP server `{}`: {e}", server.spec.name))?;
    stn_agent::mcp_server_spec(&resolved).map_err(|e| e.to_string())
}

pub(crate) fn print_report(report: &SyncReport) {
    println!(
        "environment {}{}",
        report.environment,
        if report.environment_created {
            " (created)"
        } else {
            ""
        }
    );
    for (name, change) in &report.mcp_configs {
        println!(
            "  mcp config {name}: {}",
            serde_json::to_value(change)
                .unwrap_or_default()
                .as_str()
                .unwrap_or("")
        );
    }
    for name in &report.mcp_configs_removed {
        println!("  mcp config {name}: removed (file gone)");
    }
    for (name, change) in &report.agents {
        println!(
            "  agent {name}: {}",
            serde_json::to_value(change)
                .unwrap_or_default()
                .as_str()
                .unwrap_or("")
        );
    }
    for name in &report.agents_removed {
        println!("  agent {name}: removed (file gone)");
    }
    for name in &report.agents_without_file {
        println!("  agent {name}: no .prompt file (kept; --prune removes it)");
    }
    for (server, change) in &report.mcp_tools {
        let state = if change.changed {
            "recorded"
        } else {
            "unchanged"
        };
        println!(
            "  mcp server {server}: {} {state}",
            output::count(change.tools.len() as u64, "tool")
        );
    }
    for warning in &report.warnings {
        eprintln!("  warning: {warning}");
    }
    for error in &report.errors {
        eprintln!("  error: {error}");
    }
    if !report.changed() && report.errors.is_empty() {
        println!("  up to date");
    }
}
