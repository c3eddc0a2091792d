//! Talking to models, and rendering dotprompt templates. Knows nothing of Station.
//!
//! - [`ModelClient::chat`] sends one turn (messages + tools) and streams the answer back:
//!   text deltas and tool-call starts through a callback, the whole [`ChatResponse`]
//!   (text, tool calls, [`Usage`]) as the result. Two wire dialects cover the providers:
//!   OpenAI Chat Completions ([`Dialect::OpenAi`]: OpenAI, Ollama, vLLM, OpenRouter,
//!   Together, Gemini's OpenAI endpoint, any `ai_base_url`) and Anthropic Messages
//!   ([`Dialect::Anthropic`]).
//! - Failures are [`LlmError`]s with a `hint()`; 429/5xx/connect errors/timeouts are retried
//!   with backoff and `Retry-After` (only before any output was streamed); nothing in an
//!   error or a `Debug` string holds the API key ([`ApiKey`] prints `<redacted>`).
//! - [`resolve`] turns config.yaml's `ai_*` keys, the environment and an agent's `model:`
//!   into a [`ProviderConfig`] and a model name.
//! - [`render_prompt`] renders a `.prompt` body (Handlebars with dotprompt's helpers) into
//!   messages; [`validate`] checks a value against a Picoschema or JSON Schema.
//!
//! ```no_run
//! # async fn demo() -> Result<(), stn_llm::LlmError> {
//! use stn_llm::{AiSettings, ChatRequest, Message, ModelClient, StreamEvent, resolve};
//! let (config, model) = resolve(None, &AiSettings::default(), &|k| std::env::var(k).ok())?;
//! let client = ModelClient::new(config)?;
//! let req = ChatRequest { model, messages: vec![Message::user("hi")], ..Default::default() };
//! let answer = client.chat(&req, &|e| if let StreamEvent::TextDelta(t) = e { print!("{t}") }).await?;
//! println!("\n{} tokens", answer.usage.total_tokens);
//! # Ok(()) }
//! ```

mod anthropic;
mod client;
mod config;
mod error;
mod openai;
mod prompt;
mod retry;
mod schema;
mod sse;
mod types;
mod wire;

pub use client::ModelClient;
pub use config::{AiSettings, ApiKey, Dialect, ProviderConfig, resolve};
pub use error::{LlmError, PromptError};
pub use prompt::render_prompt;
pub use schema::{to_json_schema, validate};
pub use types::{ChatRequest, ChatResponse, Message, Role, StreamEvent, ToolCall, ToolSpec, Usage};
