//! The engine as the commands that run agents build it (`agent run`, `serve`,
//! `stdio`): models from config.yaml's `ai_*` keys and the environment
//! (`STN_AI_*`, `*_API_KEY`), MCP servers in a pool that records its child
//! processes under the config dir so a restart can stop what a killed process
//! left behind.

use std::sync::Arc;

use anyhow::Result;
use stn_agent::{Engine, EngineOptions, Models, Resolve};
use stn_core::Station;
use stn_core::config::Settings;
use stn_llm::{AiSettings, ApiKey};
use stn_mcp::{Pool, PoolOptions};

pub fn engine(settings: &Settings, station: Station, mut options: EngineOptions) -> Result<Engine> {
    let file = &settings.file;
    if let Some(bytes) = file.max_tool_result_bytes {
        options.tool_results.to_model = bytes;
    }
    if let Some(bytes) = file.max_stored_tool_result_bytes {
        options.tool_results.stored = bytes;
    }
    // Secret-looking process variables (`STN_AI_API_KEY`, `*_TOKEN`) are
    // added per run; these are the credentials only the config file names.
    let configured = [
        file.ai_api_key.as_deref().and_then(expand_var),
        file.database_auth_token.clone(),
        settings.database.token().map(|t| t.expose().to_owned()),
    ];
    options.secrets.extend(configured.into_iter().flatten());
    let ai = AiSettings {
        ai_provider: file.ai_provider.clone(),
        ai_model: file.ai_model.clone(),
        ai_base_url: file.ai_base_url.clone(),
        ai_api_key: file
            .ai_api_key
            .as_deref()
            .and_then(expand_var)
            .map(ApiKey::new),
        ai_auth_type: file.ai_auth_type.clone(),
    };
    let resolve: Resolve =
        Arc::new(move |model| stn_llm::resolve(model, &ai, &|var| std::env::var(var).ok()));
    let pid_dir = settings.config_dir.join("run");
    match stn_mcp::reap_orphans(&pid_dir) {
        Ok(killed) if !killed.is_empty() => {
            tracing::warn!(process_groups = ?killed, "stopped MCP servers a killed Station process left running");
        }
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(dir = %pid_dir.display(), error = %e, "cannot check for MCP servers left running")
        }
    }
    let pool = Pool::with_options(PoolOptions {
        pid_dir: Some(pid_dir),
        start_timeout: settings
            .mcp_start_timeout
            .unwrap_or(stn_mcp::DEFAULT_START_TIMEOUT),
    });
    Ok(Engine::new(station, pool, Models::new(resolve), options))
}

/// `ai_api_key: ${VAR}` (the Go original's spelling) reads the variable; a
/// literal key is used as written.
fn expand_var(value: &str) -> Option<String> {
    match value.strip_prefix("${").and_then(|v| v.strip_suffix('}')) {
        Some(var) => std::env::var(var).ok().filter(|v| !v.is_empty()),
        None => Some(value.to_owned()),
    }
}

/// Marks `failed` ("interrupted") the queued and running runs whose owner
/// process is gone: nothing can end them any more (issue 15 defect 12: a
/// `kill -9` of `stn agent run` left its run `running`). Called by `stn
/// serve` at start and by the commands that read runs, so they never show
/// a dead run as running.
pub async fn settle_orphaned_runs(station: &Station) -> Result<()> {
    let interrupted = station
        .store()
        .interrupt_orphaned_runs(&stn_agent::owner::is_gone)
        .await?;
    if !interrupted.is_empty() {
        tracing::warn!(runs = ?interrupted, "runs of a stopped process marked failed (interrupted)");
    }
    Ok(())
}
