//! The tools a run offers its model: the agent's MCP tools (from its
//! environment's servers, through the shared pool) and its sub-agents
//! (`__agent_<name>`, each call a child run). It routes a called name and
//! calls MCP tools; recording steps and running sub-agents is the engine's.

use std::collections::HashMap;

use serde_json::{Value, json};
use stn_core::Station;
use stn_core::model::{Agent, McpServer, McpServerSpec};
use stn_llm::ToolSpec;
use stn_mcp::{Pool, ServerSpec, Transport};

use crate::error::AgentError;
use crate::names;

/// Where a tool call goes.
pub(crate) enum Route<'a> {
    /// An MCP server's tool.
    Mcp { server: &'a str, tool: &'a str },
    /// A sub-agent: a child run.
    Agent(&'a Agent),
    /// No tool of that name: the model is told which there are.
    Unknown,
}

enum Target {
    Mcp { server: String, tool: String },
    Agent(Box<Agent>),
}

/// An MCP tool call's result. A tool's error result (and a request the
/// server refused) goes back to the model; `failure` is set when the server
/// failed to start, died or timed out, which ends the run.
pub(crate) struct McpResult {
    pub text: String,
    pub is_error: bool,
    pub failure: Option<AgentError>,
}

/// The tools of one run.
pub(crate) struct Tools {
    specs: Vec<ToolSpec>,
    routes: HashMap<String, Target>,
}

impl Tools {
    /// The agent's tools; an unknown tool name or an MCP server that fails
    /// stops the run here, before the model is called.
    pub(crate) async fn resolve(
        station: &Station,
        pool: &Pool,
        agent: &Agent,
    ) -> Result<Tools, AgentError> {
        let store = station.store();
        let mut tools = Tools {
            specs: Vec::new(),
            routes: HashMap::new(),
        };
        for child in &agent.spec.agents {
            let child = store.agent(&agent.environment, child).await?;
            let name = names::sub_agent_tool(&child.spec.name);
            tools.specs.push(ToolSpec {
                name: name.clone(),
                description: format!(
                    "Give a task to the agent `{}`: {}. It answers with its final response.",
                    child.spec.name, child.spec.description
                ),
                input_schema: json!({
                    "type": "object",
                    "properties": {"task": {"type": "string", "maxLength": 10000, "description": "What the agent should do"}},
                    "required": ["task"]
                }),
            });
            tools.routes.insert(name, Target::Agent(Box::new(child)));
        }
        if agent.spec.tools.is_empty() {
            return Ok(tools);
        }
        let servers = store.list_mcp_servers(Some(&agent.environment)).await?;
        // The database holds `{{.VAR}}` placeholders only; the values (secrets
        // among them) are filled from variables.yml and the environment now.
        let mut specs = Vec::new();
        for server in servers_for(&servers, &agent.spec.tools) {
            let resolved = station.resolve_mcp_server(server).await?;
            specs.push(mcp_server_spec(&resolved)?);
        }
        let found = pool
            .tools(&agent.environment, &specs)
            .await
            .map_err(|source| AgentError::Mcp {
                environment: agent.environment.clone(),
                source,
            })?;
        for declared in &agent.spec.tools {
            let bare = names::mcp_tool_name(declared);
            let Some(info) = found.iter().find(|t| t.name == bare) else {
                return Err(AgentError::UnknownTool {
                    agent: agent.spec.name.clone(),
                    tool: declared.clone(),
                    environment: agent.environment.clone(),
                    available: found.iter().map(|t| t.name.clone()).collect(),
                });
            };
            // The model sees the name as the agent wrote it, so prompts that
            // mention `__read_file` keep working.
            tools.specs.push(ToolSpec {
                name: declared.clone(),
                description: info.description.clone(),
                input_schema: info.input_schema.clone(),
            });
            tools.routes.insert(
                declared.clone(),
                Target::Mcp {
                    server: info.server.clone(),
                    tool: info.name.clone(),
                },
            );
        }
        Ok(tools)
    }

    /// What the model is offered.
    pub(crate) fn specs(&self) -> &[ToolSpec] {
        &self.specs
    }

    /// Where a called name goes, in either spelling (`x` or `__x`).
    pub(crate) fn route(&self, name: &str) -> Route<'_> {
        let target = self
            .routes
            .get(name)
            .or_else(|| self.routes.get(&format!("__{name}")))
            .or_else(|| self.routes.get(names::mcp_tool_name(name)));
        match target {
            Some(Target::Mcp { server, tool }) => Route::Mcp { server, tool },
            Some(Target::Agent(agent)) => Route::Agent(agent),
            None => Route::Unknown,
        }
    }

    /// What the model is told when it calls a tool that does not exist.
    pub(crate) fn unknown_tool_text(&self, name: &str) -> String {
        let offered: Vec<&str> = self.specs.iter().map(|s| s.name.as_str()).collect();
        format!(
            "there is no tool `{name}`; the tools are: {}",
            offered.join(", ")
        )
    }

    /// Calls an MCP tool through the pool.
    pub(crate) async fn call_mcp(
        pool: &Pool,
        environment: &str,
        server: &str,
        tool: &str,
        arguments: Value,
    ) -> McpResult {
        match pool.call(environment, server, tool, arguments).await {
            Ok(out) => McpResult {
                text: out.text,
                is_error: out.is_error,
                failure: None,
            },
            // The server refused the request (bad arguments, unknown
            // tool): the model can correct that.
            Err(e @ stn_mcp::McpError::Protocol { .. }) => McpResult {
                text: e.to_string(),
                is_error: true,
                failure: None,
            },
            Err(source) => McpResult {
                text: source.to_string(),
                is_error: true,
                failure: Some(AgentError::Mcp {
                    environment: environment.to_owned(),
                    source,
                }),
            },
        }
    }
}

/// The servers to connect for `wanted` tools: those that offered them at the
/// last `stn sync`, so one broken server does not stop agents that do not use
/// it. When a tool is not in the database (never synced), every server.
fn servers_for<'a>(servers: &'a [McpServer], wanted: &[String]) -> Vec<&'a McpServer> {
    let offers = |s: &McpServer, tool: &str| s.tools.iter().any(|t| t == tool);
    let all_known = wanted
        .iter()
        .all(|w| servers.iter().any(|s| offers(s, names::mcp_tool_name(w))));
    servers
        .iter()
        .filter(|s| !all_known || wanted.iter().any(|w| offers(s, names::mcp_tool_name(w))))
        .collect()
}

/// A stored MCP server definition (placeholders already filled, see
/// `Station::resolve_mcp_server`) as stn-mcp starts it. `stn sync` uses it
/// for discovery, so runs and sync start a server the same way.
pub fn mcp_server_spec(spec: &McpServerSpec) -> Result<ServerSpec, AgentError> {
    let transport = match (&spec.command, &spec.url) {
        (Some(command), _) => Transport::Stdio {
            command: command.clone(),
            args: spec.args.clone(),
            env: spec.env.clone(),
            cwd: None,
        },
        (None, Some(url)) => Transport::Http {
            url: url.parse().map_err(|e| {
                AgentError::Core(stn_core::CoreError::Invalid(format!(
                    "MCP server `{}` has an invalid url `{url}`: {e}",
                    spec.name
                )))
            })?,
            headers: Vec::new(),
        },
        (None, None) => {
            return Err(AgentError::Core(stn_core::CoreError::Invalid(format!(
                "MCP server `{}` has neither a command nor a url",
                spec.name
            ))));
        }
    };
    Ok(ServerSpec {
        name: spec.name.clone(),
        transport,
        call_timeout: stn_mcp::DEFAULT_CALL_TIMEOUT,
    })
}
