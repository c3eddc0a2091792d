//! `GET /api/v1/environments/{name}/mcp-servers`: an environment's MCP
//! servers with their tools (name, description, input schema) and the
//! variables their config needs — whether each is set, never its value.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use serde::Serialize;
use stn_core::Station;
use stn_core::files::mcp_config::McpConfigFile;
use stn_core::files::variables::Variables;
use stn_core::store::McpToolRecord;

use crate::error::ApiResult;

/// One MCP server as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ServerDetail {
    /// Its name in the environment.
    pub name: String,
    /// The config file (stem) it came from.
    pub config_name: Option<String>,
    /// `stdio` (a command) or `http` (a URL).
    pub transport: &'static str,
    /// The command, or the URL, with placeholders left in (no values).
    pub target: String,
    /// Tools as the server listed them at the last `stn sync`.
    pub tools: Vec<McpToolRecord>,
    /// Variables its config uses.
    pub variables: Vec<VariableState>,
}

/// A variable an MCP config needs.
#[derive(Debug, Clone, Serialize)]
pub struct VariableState {
    /// Its name.
    pub name: String,
    /// Defined in the environment's variables file or the server's environment.
    pub set: bool,
}

/// The servers of `env`, by name, with tools and variables.
pub async fn servers(station: &Station, env: &str) -> ApiResult<Vec<ServerDetail>> {
    station.store().environment(env).await?;
    let servers = station.store().list_mcp_servers(Some(env)).await?;
    // An unreadable variables file counts as none set: the page still shows what is needed.
    let vars = Variables::load(&station.layout().env_dir(env))
        .unwrap_or_default()
        .with_process_env();
    let mut details = Vec::with_capacity(servers.len());
    for server in servers {
        let tools = station.store().mcp_tools(env, &server.spec.name).await?;
        let config = McpConfigFile {
            name: server.config_name.clone().unwrap_or_default(),
            description: None,
            servers: vec![server.spec.clone()],
        };
        let variables = config
            .placeholders()
            .into_iter()
            .map(|name| VariableState {
                set: vars.get(&name).is_some(),
                name,
            })
            .collect();
        let (transport, target) = match &server.spec.url {
            Some(url) => ("http", url.clone()),
            None => ("stdio", server.spec.command.clone().unwrap_or_default()),
        };
        details.push(ServerDetail {
            name: server.spec.name,
            config_name: server.config_name,
            transport,
            target,
            tools,
            variables,
        });
    }
    Ok(details)
}

/// `GET /api/v1/environments/{name}/mcp-servers`.
pub async fn list(
    State(station): State<Station>,
    name: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<Vec<ServerDetail>>> {
    let Path(name) = name?;
    Ok(Json(servers(&station, &name).await?))
}
