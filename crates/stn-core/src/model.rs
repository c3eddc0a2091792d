//! Station's domain types, as stored and as shown (`--json`, the HTTP API).

use serde::{Deserialize, Serialize};

/// An agent as defined by the user: in a `.prompt` file, a CLI call or an API request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentSpec {
    /// Unique within its environment; also the `.prompt` file's stem.
    pub name: String,
    /// One line saying what the agent does.
    pub description: String,
    /// The prompt body (dotprompt/Handlebars), without front matter.
    pub prompt: String,
    /// Model id, e.g. `gpt-4o-mini`; `None` uses the configured default.
    pub model: Option<String>,
    /// Tool-loop limit.
    pub max_steps: u32,
    /// MCP tool names the agent may call, e.g. `__read_text_file`.
    pub tools: Vec<String>,
    /// Child agents the agent may call as tools, by name.
    pub agents: Vec<String>,
    /// JSON schema of custom input variables.
    pub input_schema: Option<serde_json::Value>,
    /// JSON schema of structured output.
    pub output_schema: Option<serde_json::Value>,
    /// Named output schema preset.
    pub output_schema_preset: Option<String>,
    /// CloudShip app classification.
    pub app: Option<String>,
    /// CloudShip app subtype: investigations, opportunities, projections, inventory or events.
    pub app_subtype: Option<String>,
    /// CloudShip memory topic.
    pub memory_topic_key: Option<String>,
    /// Token budget for injected memory.
    pub memory_max_tokens: Option<u32>,
    /// Cron schedule.
    pub cron_schedule: Option<String>,
    /// Whether the schedule is active.
    pub schedule_enabled: bool,
    /// Variables passed to scheduled runs.
    pub schedule_variables: Option<serde_json::Value>,
}

/// Default tool-loop limit for new agents (the Go CLI's default).
pub const DEFAULT_MAX_STEPS: u32 = 5;

/// An agent as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Agent {
    /// Row id.
    pub id: i64,
    /// Environment name.
    pub environment: String,
    /// The definition.
    #[serde(flatten)]
    pub spec: AgentSpec,
    /// The user who created it (`console` for the CLI); `None` once that user is deleted.
    pub created_by: Option<String>,
    /// The user who changed it last; `None` when unknown.
    pub updated_by: Option<String>,
    /// Creation time, RFC 3339 UTC.
    pub created_at: String,
    /// Last change, RFC 3339 UTC.
    pub updated_at: String,
}

/// An environment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Environment {
    /// Row id.
    pub id: i64,
    /// Unique name; also the directory under `environments/`.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Number of agents in it.
    pub agent_count: i64,
    /// Number of MCP servers in it.
    pub mcp_server_count: i64,
    /// The user who created it (`console` for the CLI); `None` once that user is deleted.
    pub created_by: Option<String>,
    /// The user who changed it last; `None` when unknown.
    pub updated_by: Option<String>,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
}

/// How an MCP server is reached.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct McpServerSpec {
    /// Name, unique within the environment.
    pub name: String,
    /// Command for a stdio server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// Its arguments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Environment variables for the command.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub env: std::collections::BTreeMap<String, String>,
    /// URL of an HTTP server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// What `stn mcp list` shows for a literal secret value.
pub const REDACTED: &str = "<redacted>";

impl McpServerSpec {
    /// The spec fit for printing: every env value typed literally becomes
    /// [`REDACTED`], whatever its name (`MY_PASSWD`, `DSN`, … hold secrets
    /// no naming rule foresees). `{{.NAME}}` references stay: they are not
    /// the secret.
    pub fn redacted(&self) -> McpServerSpec {
        let mut spec = self.clone();
        for value in spec.env.values_mut() {
            if !crate::files::mcp_config::has_placeholder(value) {
                *value = REDACTED.to_owned();
            }
        }
        spec
    }
}

/// An MCP server as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct McpServer {
    /// Row id.
    pub id: i64,
    /// Environment name.
    pub environment: String,
    /// The config file (without `.json`) it came from, if any.
    pub config_name: Option<String>,
    /// The definition as stored: `{{.VAR}}` placeholders, not their values
    /// (see `Station::resolve_mcp_server`).
    #[serde(flatten)]
    pub spec: McpServerSpec,
    /// Tools discovered on it.
    pub tools: Vec<String>,
}

/// The state of an agent run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Waiting to start.
    Queued,
    /// In progress.
    Running,
    /// Finished successfully.
    Completed,
    /// Finished with an error.
    Failed,
    /// Stopped by a user.
    Cancelled,
    /// Stopped by the time limit.
    Timeout,
}

impl RunStatus {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Queued => "queued",
            RunStatus::Running => "running",
            RunStatus::Completed => "completed",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
            RunStatus::Timeout => "timeout",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Option<Self> {
        [
            RunStatus::Queued,
            RunStatus::Running,
            RunStatus::Completed,
            RunStatus::Failed,
            RunStatus::Cancelled,
            RunStatus::Timeout,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }
}

/// One agent run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Run {
    /// Row id.
    pub id: i64,
    /// The agent's id.
    pub agent_id: i64,
    /// The agent's name.
    pub agent: String,
    /// The agent's environment.
    pub environment: String,
    /// The task given.
    pub task: String,
    /// State.
    pub status: RunStatus,
    /// The agent's answer.
    pub final_response: Option<String>,
    /// Model turns taken.
    pub steps_taken: i64,
    /// Tool and sub-agent calls made.
    pub tools_used: i64,
    /// Model used.
    pub model_name: Option<String>,
    /// Tokens in, summed over every model call.
    pub input_tokens: Option<i64>,
    /// Tokens out, summed over every model call.
    pub output_tokens: Option<i64>,
    /// All tokens, summed over every model call.
    pub total_tokens: Option<i64>,
    /// Wall time.
    pub duration_seconds: Option<f64>,
    /// The error of a failed run.
    pub error: Option<String>,
    /// Start time.
    pub started_at: String,
    /// End time.
    pub completed_at: Option<String>,
    /// The variables the run was given (a JSON object).
    pub variables: Option<serde_json::Value>,
    /// The run that called this one as a sub-agent.
    pub parent_run_id: Option<i64>,
    /// How it was started: cli, api, schedule, mcp or agent.
    pub origin: Option<String>,
}

impl Run {
    /// "2 model turns, 1 tool call": what the CLI's transcript and the UI's
    /// run page say of the steps taken.
    pub fn steps_summary(&self) -> String {
        format!(
            "{}, {}",
            count(self.steps_taken, "model turn"),
            count(self.tools_used, "tool call")
        )
    }
}

/// "1 tool call", "2 tool calls": `n` and a noun that takes an `s`, in agreement.
pub fn count(n: i64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

impl RunStatus {
    /// True once the run can change no more.
    pub fn is_final(self) -> bool {
        !matches!(self, RunStatus::Queued | RunStatus::Running)
    }
}

/// What a step of a run was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepKind {
    /// A model turn.
    Model,
    /// An MCP tool call.
    Tool,
    /// A sub-agent call (a child run).
    Agent,
}

impl StepKind {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            StepKind::Model => "model",
            StepKind::Tool => "tool",
            StepKind::Agent => "agent",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Option<Self> {
        [StepKind::Model, StepKind::Tool, StepKind::Agent]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// One step of a run: a model turn or a tool call, as it happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunStep {
    /// The run.
    pub run_id: i64,
    /// Order within the run, from 1.
    pub seq: i64,
    /// Model turn, tool call or sub-agent call.
    pub kind: StepKind,
    /// The model, or the tool's name.
    pub name: String,
    /// A tool call's arguments; for a model turn, the tool calls it asked for.
    pub input: Option<serde_json::Value>,
    /// The model's text or the tool's result.
    pub output: Option<String>,
    /// The tool reported an error (or the call failed).
    pub is_error: bool,
    /// Tokens in (model turns).
    pub input_tokens: Option<i64>,
    /// Tokens out (model turns).
    pub output_tokens: Option<i64>,
    /// All tokens (model turns).
    pub total_tokens: Option<i64>,
    /// The child run of a sub-agent call.
    pub child_run_id: Option<i64>,
    /// When it started, RFC 3339 UTC.
    pub started_at: String,
    /// How long it took (0 while it is `started`).
    pub duration_ms: i64,
    /// `started` (a tool call written ahead with its model turn, outcome
    /// not yet known) or `finished`.
    pub state: StepState,
    /// A tool call's id as the model gave it.
    pub call_id: Option<String>,
    /// The MCP server a tool call goes to.
    pub server: Option<String>,
}

/// Whether a step has its result.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepState {
    /// Written before the call was made; its outcome is not known.
    Started,
    /// Done, with its result.
    #[default]
    Finished,
}

impl StepState {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            StepState::Started => "started",
            StepState::Finished => "finished",
        }
    }
}

impl RunStep {
    /// True once the step has its result.
    pub fn is_finished(&self) -> bool {
        self.state == StepState::Finished
    }
}
