//! `stn stdio`: the agents of an environment as MCP tools over stdin/stdout.
//! stdout carries the protocol only; logs go to stderr.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Result;
use stn_agent::{AgentTools, EngineOptions, RunManager};
use stn_core::config::Settings;

use crate::cli::StdioArgs;
use crate::{context, runner};

pub async fn run(settings: &Settings, args: StdioArgs) -> Result<ExitCode> {
    let station = context::open_migrated(settings).await?;
    station.store().environment(&args.env.environment).await?;
    let engine = runner::engine(settings, station, EngineOptions::default())?;
    let manager = RunManager::new(engine, args.runs.max_concurrent_runs);
    let tools = AgentTools::new(manager.clone(), args.env.environment);
    let served = stn_mcp::serve_stdio(Arc::new(tools)).await;
    // The client closed stdin: cancel what still runs, stop the MCP servers.
    manager.shutdown().await;
    served?;
    Ok(ExitCode::SUCCESS)
}
