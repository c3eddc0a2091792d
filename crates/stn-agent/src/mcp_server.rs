//! Station's agents as MCP tools, for `/mcp` and `stn stdio`: one tool per
//! agent of an environment, `agent_<normalized name>`, input `{task,
//! variables}`, answering with the run's final response (`isError` when the
//! run did not complete).

use serde_json::{Map, Value, json};
use stn_mcp::{ToolInfo, ToolOutput, ToolProvider};

use crate::engine::{Origin, RunRequest};
use crate::manager::RunManager;
use crate::names;

/// The MCP server name the tools are listed under.
const SERVER: &str = "station";

/// The agents of one environment as MCP tools.
pub struct AgentTools {
    manager: RunManager,
    environment: String,
}

impl AgentTools {
    /// Tools for the agents of `environment`, run through `manager`.
    pub fn new(manager: RunManager, environment: impl Into<String>) -> Self {
        Self {
            manager,
            environment: environment.into(),
        }
    }
}

struct CancelOnDrop<'a> {
    manager: &'a RunManager,
    run_id: i64,
}

impl Drop for CancelOnDrop<'_> {
    fn drop(&mut self) {
        // A run that already ended is no longer live: nothing happens.
        self.manager.cancel(self.run_id);
    }
}

fn failure(text: String) -> ToolOutput {
    ToolOutput {
        text,
        is_error: true,
    }
}

#[async_trait::async_trait]
impl ToolProvider for AgentTools {
    async fn list_tools(&self) -> Vec<ToolInfo> {
        let store = self.manager.engine().station().store();
        let agents = match store.list_agents(Some(&self.environment)).await {
            Ok(agents) => agents,
            Err(e) => {
                tracing::warn!(environment = %self.environment, error = %e, "MCP: cannot list agents");
                return Vec::new();
            }
        };
        agents
            .into_iter()
            .map(|agent| ToolInfo {
                server: SERVER.to_owned(),
                name: names::served_agent_tool(&agent.spec.name),
                description: format!("Run the Station agent `{}`: {}", agent.spec.name, agent.spec.description),
                input_schema: json!({
                    "type": "object",
                    "properties": {
                        "task": {"type": "string", "description": "What the agent should do"},
                        "variables": {"type": "object", "description": "Input variables of the agent's prompt"}
                    },
                    "required": ["task"]
                }),
            })
            .collect()
    }

    async fn call_tool(&self, name: &str, args: Value) -> ToolOutput {
        let store = self.manager.engine().station().store();
        let agents = match store.list_agents(Some(&self.environment)).await {
            Ok(agents) => agents,
            Err(e) => return failure(e.to_string()),
        };
        let Some(agent) = agents
            .into_iter()
            .find(|a| names::served_agent_tool(&a.spec.name) == name)
        else {
            return failure(format!(
                "no agent tool `{name}` in environment `{}`; list the tools again",
                self.environment
            ));
        };
        let Some(task) = args.get("task").and_then(Value::as_str) else {
            return failure("the arguments need `task`, a string".to_owned());
        };
        let variables = match args.get("variables") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(map)) => map.clone(),
            Some(_) => return failure("`variables` must be an object".to_owned()),
        };
        let req = RunRequest {
            agent_id: agent.id,
            task: task.to_owned(),
            variables,
            origin: Origin::Mcp,
        };
        let started = match self.manager.submit(req).await {
            Ok(started) => started,
            Err(e) => return failure(e.run_error()),
        };
        let run_id = started.run_id;
        // A client that goes away (or cancels the request) cancels the run.
        let _cancel = CancelOnDrop {
            manager: &self.manager,
            run_id,
        };
        match started.outcome.await {
            Ok(outcome) if outcome.status == stn_core::model::RunStatus::Completed => ToolOutput {
                text: outcome.final_response.unwrap_or_default(),
                is_error: false,
            },
            Ok(outcome) => failure(format!(
                "run {run_id} ended {}: {}",
                outcome.status.as_str(),
                outcome.error.unwrap_or_default()
            )),
            Err(e) => failure(format!("run {run_id} stopped abnormally: {e}")),
        }
    }
}
