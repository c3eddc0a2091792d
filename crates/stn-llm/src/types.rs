//! The provider-neutral shape of a conversation: messages, tools, one model turn.

use std::ops::{Add, AddAssign};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions for the model.
    System,
    /// The user (or the task).
    User,
    /// The model; may carry tool calls.
    Assistant,
    /// The result of one tool call (`tool_call_id` says which).
    Tool,
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Who wrote it.
    pub role: Role,
    /// Its text (for a tool message: the tool's output).
    pub content: String,
    /// Tool calls the model asked for (assistant messages only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// The call this message answers (tool messages only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl Message {
    /// A message with only text.
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Message {
            role,
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }

    /// A system message.
    pub fn system(content: impl Into<String>) -> Self {
        Self::new(Role::System, content)
    }

    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Self::new(Role::User, content)
    }

    /// An assistant message with its text and tool calls (what [`ChatResponse`] holds).
    pub fn assistant(content: impl Into<String>, tool_calls: Vec<ToolCall>) -> Self {
        Message {
            tool_calls,
            ..Self::new(Role::Assistant, content)
        }
    }

    /// The result of the tool call `tool_call_id`.
    pub fn tool_result(tool_call_id: impl Into<String>, content: impl Into<String>) -> Self {
        Message {
            tool_call_id: Some(tool_call_id.into()),
            ..Self::new(Role::Tool, content)
        }
    }
}

/// A tool the model may call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    /// Its name (what the model calls).
    pub name: String,
    /// What it does, for the model.
    pub description: String,
    /// JSON Schema of its arguments (an object schema).
    pub input_schema: serde_json::Value,
}

/// A call of a tool the model asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The provider's id for this call; the tool result must carry it back.
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// Its arguments (an object; a model that sent text that is not JSON gets
    /// `{"_raw": "<the text>"}` so the tool can report the problem back).
    pub arguments: serde_json::Value,
}

/// One request to the model.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChatRequest {
    /// The model's name as the provider knows it.
    pub model: String,
    /// The conversation so far (system messages included).
    pub messages: Vec<Message>,
    /// Tools offered (may be empty).
    pub tools: Vec<ToolSpec>,
    /// Ask for a JSON object as the answer (OpenAI `response_format`; Anthropic has no
    /// such switch, there the prompt must ask for it).
    pub json_output: bool,
    /// Upper bound of output tokens (Anthropic requires one: 4096 when unset).
    pub max_tokens: Option<u32>,
    /// Sampling temperature.
    pub temperature: Option<f32>,
}

/// Tokens used; sum the calls of a run with `+` / `+=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Generated tokens.
    pub output_tokens: u64,
    /// Their sum as the provider reports it (input + output when it does not).
    pub total_tokens: u64,
}

impl Usage {
    /// Usage from input and output counts.
    pub fn new(input_tokens: u64, output_tokens: u64) -> Self {
        Usage {
            input_tokens,
            output_tokens,
            total_tokens: input_tokens + output_tokens,
        }
    }
}

impl Add for Usage {
    type Output = Usage;
    fn add(self, other: Usage) -> Usage {
        Usage {
            input_tokens: self.input_tokens + other.input_tokens,
            output_tokens: self.output_tokens + other.output_tokens,
            total_tokens: self.total_tokens + other.total_tokens,
        }
    }
}

impl AddAssign for Usage {
    fn add_assign(&mut self, other: Usage) {
        *self = *self + other;
    }
}

/// One whole model turn.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChatResponse {
    /// The text of the answer (may be empty when the model only calls tools).
    pub text: String,
    /// The tools it wants called, in the order it sent them.
    pub tool_calls: Vec<ToolCall>,
    /// Tokens of this call.
    pub usage: Usage,
    /// The model that answered, as the provider names it.
    pub model: String,
    /// Why it stopped (`stop`, `tool_calls`, `end_turn`, `tool_use`, `max_tokens`, …).
    pub finish_reason: Option<String>,
}

/// What happens while a turn streams in.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    /// More text of the answer, in order.
    TextDelta(String),
    /// The model began a tool call (its arguments follow; the whole call is in the response).
    ToolCallStarted {
        /// The call's id.
        id: String,
        /// The tool's name.
        name: String,
    },
    /// An attempt failed before anything was streamed; the next one starts after `wait`.
    Retrying {
        /// The attempt that comes next (1 = the first retry).
        attempt: u32,
        /// How long we wait first.
        wait: Duration,
        /// What went wrong.
        reason: String,
    },
}
