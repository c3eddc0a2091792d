//! The tools a run offers its model: the agent's MCP tools (from its
//! environment's servers, through the shared pool) and its sub-agents
//! (`__agent_<name>`, each call a child run).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

use serde_json::{Value, json};
use stn_core::model::{Agent, McpServer, McpServerSpec, StepKind};
use stn_llm::{ToolCall, ToolSpec};
use stn_mcp::{ServerSpec, Transport};

use crate::engine::{Engine, Origin, RunCtx, RunRequest};
use crate::error::AgentError;
use crate::events;
use crate::names;
use crate::tool_result;

/// Where a tool call goes.
enum Route {
    Mcp { server: String, tool: String },
    Agent(Box<Agent>),
}

/// The tools of one run.
pub(crate) struct Tools {
    specs: Vec<ToolSpec>,
    routes: HashMap<String, Route>,
}

impl Tools {
    /// The agent's tools; an unknown tool name or an MCP server that fails
    /// stops the run here, before the model is called.
    pub(crate) async fn resolve(engine: &Engine, agent: &Agent) -> Result<Tools, AgentError> {
        let store = engine.station().store();
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
            tools.routes.insert(name, Route::Agent(Box::new(child)));
        }
        if agent.spec.tools.is_empty() {
            return Ok(tools);
        }
        let servers = store.list_mcp_servers(Some(&agent.environment)).await?;
        // The database holds `{{.VAR}}` placeholders only; the values (secrets
        // among them) are filled from variables.yml and the environment now.
        let mut specs = Vec::new();
        for server in servers_for(&servers, &agent.spec.tools) {
            let resolved = engine.station().resolve_mcp_server(server).await?;
            specs.push(mcp_server_spec(&resolved)?);
        }
        let found = engine
            .pool()
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
                Route::Mcp {
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

    /// A called name in either spelling (`x` or `__x`).
    fn route(&self, name: &str) -> Option<&Route> {
        self.routes
            .get(name)
            .or_else(|| self.routes.get(&format!("__{name}")))
            .or_else(|| self.routes.get(names::mcp_tool_name(name)))
    }

    /// Runs one tool call and records it. A tool's error result (and a
    /// request the server refused) goes back to the model; an MCP server that
    /// fails to start, dies or times out ends the run, named in its error.
    pub(crate) async fn call(
        &self,
        engine: &Engine,
        ctx: &RunCtx,
        agent: &Agent,
        call: &ToolCall,
    ) -> Result<String, AgentError> {
        let seq = ctx.next_seq();
        let route = self.route(&call.name);
        let kind = match route {
            Some(Route::Agent(_)) => StepKind::Agent,
            _ => StepKind::Tool,
        };
        let started = ctx.step_started(seq, kind, &call.name);
        let mut failure = None;
        let mut child_run_id = None;
        let (text, is_error) = match route {
            None => {
                let offered: Vec<&str> = self.specs.iter().map(|s| s.name.as_str()).collect();
                (
                    format!(
                        "there is no tool `{}`; the tools are: {}",
                        call.name,
                        offered.join(", ")
                    ),
                    true,
                )
            }
            Some(Route::Mcp { server, tool }) => match engine
                .pool()
                .call(&agent.environment, server, tool, call.arguments.clone())
                .await
            {
                Ok(out) => (out.text, out.is_error),
                // The server refused the request (bad arguments, unknown
                // tool): the model can correct that.
                Err(e @ stn_mcp::McpError::Protocol { .. }) => (e.to_string(), true),
                Err(source) => {
                    let text = source.to_string();
                    failure = Some(AgentError::Mcp {
                        environment: agent.environment.clone(),
                        source,
                    });
                    (text, true)
                }
            },
            Some(Route::Agent(child)) => {
                let (text, is_error, child_id) =
                    sub_agent(engine, ctx, child, &call.arguments).await;
                child_run_id = child_id;
                (text, is_error)
            }
        };
        let text = tool_result::bound(text, &engine.options().tool_results);
        let mut step = started.step(kind, &call.name);
        step.input = Some(call.arguments.clone());
        step.output = Some(text.stored);
        step.is_error = is_error;
        step.child_run_id = child_run_id;
        engine.record(ctx, &agent.spec.name, step).await?;
        match failure {
            Some(e) => Err(e),
            None => Ok(text.for_model),
        }
    }
}

/// The answer (or why there is none), whether it is an error, and the child run.
type SubAgentCall<'a> = Pin<Box<dyn Future<Output = (String, bool, Option<i64>)> + Send + 'a>>;

/// A sub-agent call: a child run with `parent_run_id`, refused past the depth
/// limit or when it would call an agent already on the stack. Returns the
/// answer (or why there is none), whether it is an error, and the child run.
/// Boxed with `Send` spelled out: a run contains runs, and the compiler
/// cannot infer `Send` through that cycle.
fn sub_agent<'a>(
    engine: &'a Engine,
    ctx: &'a RunCtx,
    child: &'a Agent,
    args: &'a Value,
) -> SubAgentCall<'a> {
    Box::pin(sub_agent_run(engine, ctx, child, args))
}

async fn sub_agent_run(
    engine: &Engine,
    ctx: &RunCtx,
    child: &Agent,
    args: &Value,
) -> (String, bool, Option<i64>) {
    let Some(task) = args.get("task").and_then(Value::as_str) else {
        return ("the arguments need `task`, a string".to_owned(), true, None);
    };
    if ctx.ancestors.contains(&child.id) {
        return (
            format!(
                "refused: agent `{}` is already running further up this chain of calls (a cycle)",
                child.spec.name
            ),
            true,
            None,
        );
    }
    let max_depth = engine.options().max_depth;
    if ctx.depth + 1 > max_depth {
        return (
            format!("refused: sub-agents may nest {max_depth} deep, and this call would go deeper"),
            true,
            None,
        );
    }
    let req = RunRequest {
        agent_id: child.id,
        task: task.to_owned(),
        variables: serde_json::Map::new(),
        origin: Origin::Agent,
    };
    let child_id = match engine.queue(&req, Some(ctx.run_id)).await {
        Ok(id) => id,
        Err(e) => return (e.to_string(), true, None),
    };
    let mut ancestors = ctx.ancestors.clone();
    ancestors.push(child.id);
    let child_ctx = RunCtx::new(
        child_id,
        ctx.depth + 1,
        ancestors,
        ctx.scope.child_token(),
        events::channel(),
    );
    // Spawned, so that a parent dropped by its cancel or timeout still lets
    // the child record its own end.
    let run = {
        let engine = engine.clone();
        async move { engine.execute_in(child_ctx, req).await }
    };
    match engine.children().spawn(run).await {
        Ok(outcome) => match outcome.final_response {
            Some(answer) if outcome.status == stn_core::model::RunStatus::Completed => {
                (answer, false, Some(child_id))
            }
            _ => (
                format!(
                    "sub-agent run {child_id} ended {}: {}",
                    outcome.status.as_str(),
                    outcome.error.unwrap_or_default()
                ),
                true,
                Some(child_id),
            ),
        },
        Err(e) => (
            format!("sub-agent run {child_id} stopped abnormally: {e}"),
            true,
            Some(child_id),
        ),
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
