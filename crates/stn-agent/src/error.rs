//! Why a run could not be started or did not complete.

use stn_core::CoreError;

/// What stops a run. Its text is what the run's `error` column and the CLI
/// show; it never holds a key or token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AgentError {
    /// The database or the config dir failed.
    #[error(transparent)]
    Core(#[from] CoreError),
    /// The agent's prompt does not render.
    #[error("the prompt of agent `{agent}` does not render: {source}")]
    Prompt {
        /// The agent.
        agent: String,
        /// What is wrong with it.
        source: stn_llm::PromptError,
    },
    /// The run's input does not match the agent's input schema.
    #[error("the input does not match the input schema of agent `{agent}`: {}", .problems.join("; "))]
    InvalidInput {
        /// The agent.
        agent: String,
        /// Every mismatch.
        problems: Vec<String>,
    },
    /// The model's final answer does not match the output schema, also after one repair turn.
    #[error("the answer does not match the output schema of agent `{agent}` (after one repair attempt): {}", .problems.join("; "))]
    InvalidOutput {
        /// The agent.
        agent: String,
        /// Every mismatch.
        problems: Vec<String>,
    },
    /// The agent names a tool no MCP server of its environment offers.
    #[error("agent `{agent}` lists tool `{tool}`, which no MCP server of environment `{environment}` offers{}", available_text(.available))]
    UnknownTool {
        /// The agent.
        agent: String,
        /// The tool as written in `tools:`.
        tool: String,
        /// The environment.
        environment: String,
        /// The tools that exist.
        available: Vec<String>,
    },
    /// The model could not be reached or refused.
    #[error("model `{model}`: {source}")]
    Model {
        /// The model.
        model: String,
        /// What went wrong.
        source: stn_llm::LlmError,
    },
    /// An MCP server failed (did not start, exited, wrote garbage, timed out).
    #[error("MCP tools of environment `{environment}`: {source}")]
    Mcp {
        /// The environment.
        environment: String,
        /// What went wrong, naming the server.
        source: stn_mcp::McpError,
    },
    /// The model kept calling tools for `max_steps` turns.
    #[error(
        "max_steps ({max_steps}) reached: the model still wanted to call {pending} after {max_steps} turns; the steps so far are kept"
    )]
    MaxSteps {
        /// The agent's limit.
        max_steps: u32,
        /// The tools it still asked for.
        pending: String,
    },
    /// The agent (and with it the run) was deleted while the run executed.
    #[error("agent `{agent}` was deleted while run {run_id} executed; the run was deleted with it")]
    AgentDeleted {
        /// The agent.
        agent: String,
        /// The run.
        run_id: i64,
    },
    /// The server is stopping and takes no new runs.
    #[error("the server is shutting down and starts no new runs")]
    ShuttingDown,
}

fn available_text(available: &[String]) -> String {
    if available.is_empty() {
        " (it offers none: check its MCP configs and run `stn sync`)".to_owned()
    } else {
        format!(" (available: {})", available.join(", "))
    }
}

impl AgentError {
    /// A hint for the user, when there is one.
    pub fn hint(&self) -> Option<String> {
        match self {
            AgentError::Core(e) => e.hint(),
            AgentError::Prompt { source, .. } => source.hint().or_else(|| {
                Some("fix the body of the agent's .prompt file (Handlebars), then `stn sync`".to_owned())
            }),
            AgentError::InvalidInput { .. } => Some(
                "pass the variables the agent's `input.schema` asks for with --var KEY=VALUE"
                    .to_owned(),
            ),
            AgentError::UnknownTool { .. } => Some(
                "fix `tools:` in the agent's .prompt file (Go's `__name` spelling works too), or add the MCP server that has it, then `stn sync`".to_owned(),
            ),
            AgentError::Model { source, .. } => source.hint(),
            AgentError::Mcp { source, .. } => source.hint(),
            AgentError::MaxSteps { .. } => Some(
                "raise `max_steps` in the agent's .prompt file, or make the task smaller".to_owned(),
            ),
            _ => None,
        }
    }

    /// The text recorded as the run's error: the message and its hint.
    pub fn run_error(&self) -> String {
        match self.hint() {
            Some(hint) => format!("{self}\nhint: {hint}"),
            None => self.to_string(),
        }
    }
}
