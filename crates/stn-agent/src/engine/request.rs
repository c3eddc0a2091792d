//! What a caller gives the engine and what it gets back.

use serde_json::{Map, Value};
use stn_core::model::RunStatus;

/// How a run was started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// `stn agent run`.
    Cli,
    /// `POST /api/v1/agents/{id}/runs`.
    Api,
    /// A schedule of `stn serve`.
    Schedule,
    /// An MCP client (`/mcp`, `stn stdio`).
    Mcp,
    /// Another agent (a sub-agent call).
    Agent,
}

impl Origin {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Cli => "cli",
            Origin::Api => "api",
            Origin::Schedule => "schedule",
            Origin::Mcp => "mcp",
            Origin::Agent => "agent",
        }
    }
}

/// A run to start.
#[derive(Debug, Clone)]
pub struct RunRequest {
    /// The agent.
    pub agent_id: i64,
    /// The task (`userInput` in the prompt).
    pub task: String,
    /// Further prompt input.
    pub variables: Map<String, Value>,
    /// Who asks.
    pub origin: Origin,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutcome {
    /// The run.
    pub run_id: i64,
    /// completed, failed, cancelled or timeout.
    pub status: RunStatus,
    /// The answer.
    pub final_response: Option<String>,
    /// Why it did not complete.
    pub error: Option<String>,
}
