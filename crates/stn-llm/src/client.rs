//! The model client: one HTTP attempt (headers, status, stream) and the retry loop around it.
//!
//! Retrying after partial output: an attempt that already handed text or a tool call to
//! `on_event` is never retried. The caller may have shown those deltas (a terminal, an SSE
//! client); a second attempt would produce a different answer whose deltas could not be
//! told apart from the first. Such a failure (a stall or a cut connection mid-answer) is
//! returned as is, and the caller's own loop decides (the engine fails the step). Before
//! the first delta nothing is visible, so those failures are retried like any other.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

use crate::config::{Dialect, ProviderConfig};
use crate::error::LlmError;
use crate::retry::{backoff, parse_retry_after};
use crate::sse::{SseEvent, SseParser};
use crate::types::{ChatRequest, ChatResponse, StreamEvent};
use crate::wire::{body_message, malformed};
use crate::{anthropic, openai};

/// The most of an error body we read.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// Talks to one provider. Cheap to clone (one connection pool inside).
#[derive(Debug, Clone)]
pub struct ModelClient {
    http: reqwest::Client,
    config: std::sync::Arc<ProviderConfig>,
    endpoint: reqwest::Url,
    headers: HeaderMap,
}

/// An attempt's failure and what the server said about waiting.
struct Failure {
    error: LlmError,
    retry_after: Option<Duration>,
}

impl From<LlmError> for Failure {
    fn from(error: LlmError) -> Self {
        Failure {
            error,
            retry_after: None,
        }
    }
}

impl ModelClient {
    /// A client for `config` (builds the HTTP client; no request is made).
    pub fn new(config: ProviderConfig) -> Result<Self, LlmError> {
        let path = match config.dialect {
            Dialect::OpenAi => openai::PATH,
            Dialect::Anthropic => anthropic::PATH,
        };
        let base = config.base_url.as_str().trim_end_matches('/');
        let endpoint = reqwest::Url::parse(&format!("{base}/{path}"))
            .map_err(|e| bad_config(format!("base URL `{base}`: {e}")))?;
        let headers = headers(&config)?;
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .build()
            .map_err(|e| bad_config(format!("cannot build the HTTP client: {e}")))?;
        Ok(ModelClient {
            http,
            config: std::sync::Arc::new(config),
            endpoint,
            headers,
        })
    }

    /// The settings this client uses.
    pub fn config(&self) -> &ProviderConfig {
        &self.config
    }

    /// Sends `req` streamed and calls `on_event` as deltas arrive; returns the whole turn.
    ///
    /// Transient failures (429, 5xx, connect errors, timeouts) are retried up to
    /// `max_retries` times with backoff, honouring `Retry-After`, but only while nothing
    /// has been passed to `on_event` (see the module docs). Cancellation = dropping the
    /// future: the connection is closed and nothing keeps running.
    pub async fn chat(
        &self,
        req: &ChatRequest,
        on_event: &(dyn Fn(StreamEvent) + Send + Sync),
    ) -> Result<ChatResponse, LlmError> {
        let body = match self.config.dialect {
            Dialect::OpenAi => openai::request_body(req),
            Dialect::Anthropic => anthropic::request_body(req),
        };
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let emitted = AtomicBool::new(false);
            let emit = |e: StreamEvent| {
                emitted.store(true, Ordering::Relaxed);
                on_event(e);
            };
            let failure = match self.attempt(&body, &emit).await {
                Ok(response) => return Ok(response),
                Err(f) => f,
            };
            let error = with_attempts(failure.error, attempt);
            let retries_left = attempt <= self.config.max_retries;
            if !error.is_transient() || !retries_left || emitted.load(Ordering::Relaxed) {
                return Err(error);
            }
            let wait = failure
                .retry_after
                .unwrap_or_else(|| backoff(self.config.backoff_base, attempt));
            tracing::warn!(model = %req.model, attempt, ?wait, error = %error, "model call failed; retrying");
            on_event(StreamEvent::Retrying {
                attempt,
                wait,
                reason: error.to_string(),
            });
            tokio::time::sleep(wait).await;
        }
    }

    async fn attempt(
        &self,
        body: &Value,
        emit: &(dyn Fn(StreamEvent) + Send + Sync),
    ) -> Result<ChatResponse, Failure> {
        let timeout = self.config.request_timeout;
        let send = self
            .http
            .post(self.endpoint.clone())
            .headers(self.headers.clone())
            .json(body)
            .send();
        let mut resp = match tokio::time::timeout(timeout, send).await {
            Err(_) => return Err(timed_out(timeout, "waiting for the response").into()),
            Ok(Err(e)) => return Err(self.transport_error(e).into()),
            Ok(Ok(r)) => r,
        };
        let status = resp.status();
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        if !status.is_success() {
            let retry_after = resp
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, SystemTime::now()));
            let bytes = self
                .read_capped(&mut resp, MAX_ERROR_BODY)
                .await
                .unwrap_or_default();
            let message = body_message(&content_type, &bytes);
            return Err(Failure {
                error: status_error(status.as_u16(), message, self.config.dialect),
                retry_after,
            });
        }
        if content_type.starts_with("text/event-stream") {
            self.read_stream(resp, emit).await.map_err(Failure::from)
        } else {
            // A compatible server that ignores `stream: true` answers with one JSON document.
            let bytes = self.read_capped(&mut resp, usize::MAX).await?;
            let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
                malformed(format!(
                    "answer is not JSON ({e}); content-type `{content_type}`: {}",
                    body_message(&content_type, &bytes)
                ))
            })?;
            match self.config.dialect {
                Dialect::OpenAi => openai::parse_response(&value, emit),
                Dialect::Anthropic => anthropic::parse_response(&value, emit),
            }
            .map_err(Failure::from)
        }
    }

    async fn read_stream(
        &self,
        mut resp: reqwest::Response,
        emit: &(dyn Fn(StreamEvent) + Send + Sync),
    ) -> Result<ChatResponse, LlmError> {
        let idle = self.config.request_timeout;
        let mut parser = SseParser::default();
        let mut assembler = Assembler::new(self.config.dialect);
        loop {
            let chunk = match tokio::time::timeout(idle, resp.chunk()).await {
                Err(_) => {
                    let phase = "the answer stream stalled";
                    return Err(timed_out(idle, phase));
                }
                Ok(Err(e)) => return Err(self.transport_error(e)),
                Ok(Ok(c)) => c,
            };
            let events = match &chunk {
                Some(bytes) => parser.push(bytes).map_err(malformed)?,
                None => parser.finish().map_err(malformed)?.into_iter().collect(),
            };
            for event in events {
                if assembler.push(&event, emit)? {
                    return assembler.finish();
                }
            }
            if chunk.is_none() {
                if assembler.complete() {
                    return assembler.finish();
                }
                return Err(LlmError::Connect {
                    url: self.endpoint.to_string(),
                    message: "the answer stream ended before the answer was complete".into(),
                });
            }
        }
    }

    async fn read_capped(
        &self,
        resp: &mut reqwest::Response,
        cap: usize,
    ) -> Result<Vec<u8>, LlmError> {
        let idle = self.config.request_timeout;
        let mut out = Vec::new();
        while out.len() < cap {
            match tokio::time::timeout(idle, resp.chunk()).await {
                Err(_) => return Err(timed_out(idle, "reading the answer")),
                Ok(Err(e)) => return Err(self.transport_error(e)),
                Ok(Ok(None)) => break,
                Ok(Ok(Some(b))) => out.extend_from_slice(&b),
            }
        }
        out.truncate(cap);
        Ok(out)
    }

    fn transport_error(&self, e: reqwest::Error) -> LlmError {
        if e.is_timeout() {
            return timed_out(self.config.connect_timeout, "connecting");
        }
        LlmError::Connect {
            url: self.endpoint.to_string(),
            message: error_chain(&e.without_url()),
        }
    }
}

/// The per-dialect stream assembler.
enum Assembler {
    OpenAi(openai::Stream),
    Anthropic(anthropic::Stream),
}

impl Assembler {
    fn new(dialect: Dialect) -> Self {
        match dialect {
            Dialect::OpenAi => Assembler::OpenAi(Default::default()),
            Dialect::Anthropic => Assembler::Anthropic(Default::default()),
        }
    }

    fn push(&mut self, event: &SseEvent, emit: &dyn Fn(StreamEvent)) -> Result<bool, LlmError> {
        match self {
            Assembler::OpenAi(s) => s.push(&event.data, emit),
            Assembler::Anthropic(s) => s.push(&event.data, emit),
        }
    }

    fn complete(&self) -> bool {
        match self {
            Assembler::OpenAi(s) => s.complete(),
            Assembler::Anthropic(s) => s.complete(),
        }
    }

    fn finish(self) -> Result<ChatResponse, LlmError> {
        match self {
            Assembler::OpenAi(s) => s.finish(),
            Assembler::Anthropic(s) => s.finish(),
        }
    }
}

fn headers(config: &ProviderConfig) -> Result<HeaderMap, LlmError> {
    let mut h = HeaderMap::new();
    h.insert(
        reqwest::header::ACCEPT,
        HeaderValue::from_static("text/event-stream"),
    );
    let secret = |value: String| {
        let mut v = HeaderValue::from_str(&value).map_err(|_| {
            bad_config("the API key contains characters not allowed in an HTTP header".to_owned())
        })?;
        v.set_sensitive(true);
        Ok::<_, LlmError>(v)
    };
    match config.dialect {
        Dialect::OpenAi => {
            if let Some(key) = &config.api_key {
                h.insert(
                    reqwest::header::AUTHORIZATION,
                    secret(format!("Bearer {}", key.expose()))?,
                );
            }
        }
        Dialect::Anthropic => {
            h.insert("anthropic-version", HeaderValue::from_static("2023-06-01"));
            if let Some(key) = &config.api_key {
                if config.bearer {
                    h.insert(
                        reqwest::header::AUTHORIZATION,
                        secret(format!("Bearer {}", key.expose()))?,
                    );
                    h.insert(
                        "anthropic-beta",
                        HeaderValue::from_static("oauth-2025-04-20"),
                    );
                } else {
                    h.insert("x-api-key", secret(key.expose().to_owned())?);
                }
            }
        }
    }
    for (name, value) in &config.extra_headers {
        let n = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| bad_config(format!("extra header name `{name}` is not valid")))?;
        let v = HeaderValue::from_str(value).map_err(|_| {
            bad_config(format!(
                "extra header `{name}` has a value not allowed in HTTP"
            ))
        })?;
        h.insert(n, v);
    }
    Ok(h)
}

fn status_error(status: u16, message: String, dialect: Dialect) -> LlmError {
    match status {
        401 | 403 => LlmError::Unauthorized {
            status,
            message,
            dialect,
        },
        429 => LlmError::RateLimited {
            message,
            attempts: 1,
        },
        408 | 500..=599 => LlmError::Server {
            status,
            message,
            attempts: 1,
        },
        _ => LlmError::Rejected { status, message },
    }
}

fn with_attempts(error: LlmError, n: u32) -> LlmError {
    match error {
        LlmError::RateLimited { message, .. } => LlmError::RateLimited {
            message,
            attempts: n,
        },
        LlmError::Server {
            status, message, ..
        } => LlmError::Server {
            status,
            message,
            attempts: n,
        },
        other => other,
    }
}

fn timed_out(after: Duration, phase: &str) -> LlmError {
    LlmError::Timeout {
        after,
        phase: phase.to_owned(),
    }
}

fn bad_config(message: String) -> LlmError {
    LlmError::BadConfig {
        message,
        hint: "check the AI provider settings (ai_provider, ai_base_url, the API key)".into(),
    }
}

/// An error with its causes ("error sending request: connection refused").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}
