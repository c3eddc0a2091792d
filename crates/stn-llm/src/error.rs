//! Errors of model calls and of prompt rendering. None of them ever holds an API key:
//! messages come from the provider's JSON `error.message` (or a short text body), cut to
//! a few hundred characters.

use std::time::Duration;

use crate::config::Dialect;

/// A model call failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum LlmError {
    /// 401/403: the provider refused the credentials.
    #[error("the model provider refused the API key (HTTP {status}): {message}")]
    Unauthorized {
        /// HTTP status.
        status: u16,
        /// The provider's message.
        message: String,
        /// Which wire dialect, to name the right key variable in the hint.
        dialect: Dialect,
    },
    /// 429 after every retry.
    #[error("the model provider is rate limiting us (HTTP 429, {attempts} attempts): {message}")]
    RateLimited {
        /// The provider's message.
        message: String,
        /// Attempts made.
        attempts: u32,
    },
    /// 5xx after every retry.
    #[error("the model provider failed (HTTP {status}, {attempts} attempts): {message}")]
    Server {
        /// HTTP status.
        status: u16,
        /// The provider's message.
        message: String,
        /// Attempts made.
        attempts: u32,
    },
    /// Any other 4xx: the request itself is wrong (unknown model, bad tool schema, …); not retried.
    #[error("the model provider rejected the request (HTTP {status}): {message}")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// The provider's message.
        message: String,
    },
    /// No answer in time: no response headers within the request timeout, or a stream that
    /// sent nothing for that long.
    #[error("the model did not answer within {after:?} ({phase})")]
    Timeout {
        /// The bound that passed.
        after: Duration,
        /// `waiting for the response` or `stream stalled after partial output` etc.
        phase: String,
    },
    /// The provider could not be reached (after every retry).
    #[error("cannot reach the model provider at {url}: {message}")]
    Connect {
        /// The endpoint (no credentials in it).
        url: String,
        /// Why.
        message: String,
    },
    /// The answer is not what the dialect promises (bad JSON, broken stream).
    #[error("the model provider sent a malformed answer: {message}")]
    Malformed {
        /// What was wrong.
        message: String,
    },
    /// Provider settings are wrong or missing.
    #[error("{message}")]
    BadConfig {
        /// What is wrong.
        message: String,
        /// What to do.
        hint: String,
    },
}

impl LlmError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            LlmError::Unauthorized { dialect, .. } => {
                let own = match dialect {
                    Dialect::Anthropic => "ANTHROPIC_API_KEY",
                    Dialect::OpenAi => "OPENAI_API_KEY (GEMINI_API_KEY for gemini)",
                };
                Some(format!(
                    "set a valid key in STN_AI_API_KEY, AI_API_KEY or {own}, or `ai_api_key` in config.yaml"
                ))
            }
            LlmError::RateLimited { .. } => Some(
                "wait a moment or lower the number of concurrent runs; the provider's quota may be used up"
                    .into(),
            ),
            LlmError::Connect { .. } => {
                Some("check `ai_base_url` / STN_AI_BASE_URL and the network".into())
            }
            LlmError::Timeout { .. } => {
                Some("the provider may be overloaded; try again or pick a faster model".into())
            }
            LlmError::Rejected { status: 404, .. } => {
                Some("check the model name and `ai_base_url` (it should end in /v1)".into())
            }
            LlmError::BadConfig { hint, .. } => Some(hint.clone()),
            _ => None,
        }
    }

    /// Whether a later attempt may succeed (what the retry loop acts on).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            LlmError::RateLimited { .. }
                | LlmError::Server { .. }
                | LlmError::Timeout { .. }
                | LlmError::Connect { .. }
        )
    }
}

/// A prompt template could not be rendered, or a schema is not valid.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum PromptError {
    /// The Handlebars text does not parse.
    #[error("prompt template: {reason}{place}")]
    Syntax {
        /// What is wrong.
        reason: String,
        /// ` at line L, column C` when known.
        place: String,
    },
    /// Rendering failed (unknown helper, bad helper argument, unsupported helper).
    #[error("prompt template: {0}")]
    Render(String),
    /// An input or output schema is not valid Picoschema / JSON Schema.
    #[error("schema: {0}")]
    Schema(String),
}

impl PromptError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            PromptError::Syntax { .. } | PromptError::Render(_) => Some(
                "fix the .prompt body: helpers are role, json, history, section, ifEquals, unlessEquals"
                    .into(),
            ),
            PromptError::Schema(_) => Some(
                "write the schema as Picoschema (`name: string, description`, `tags(array): string`) or JSON Schema"
                    .into(),
            ),
        }
    }
}

/// Cuts a provider's message so a huge body never floods an error line.
pub(crate) fn short(text: &str) -> String {
    const MAX: usize = 300;
    let text = text.trim();
    if text.len() <= MAX {
        return text.to_owned();
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}
