//! A scripted model server: the one stand-in for a model in Station's tests.
//!
//! A real HTTP server on 127.0.0.1 speaking OpenAI Chat Completions
//! (`POST /v1/chat/completions`) and Anthropic Messages (`POST /v1/messages`), streamed
//! (SSE) or whole, answering each request with the next scripted [`Turn`] (or, when the
//! queue is empty, with a fallback [`Responder`]). Turns can carry text, tool calls, usage,
//! delays, an HTTP error with `Retry-After`, a stall mid-stream, malformed JSON or a broken
//! stream. Every request is recorded for assertions. The client under test is the same
//! code a real key uses; only the server is scripted.

mod frames;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

/// Picks the answer to a request when no scripted turn is queued.
pub type Responder = Arc<dyn Fn(&RecordedRequest) -> Turn + Send + Sync>;

/// Which wire format a request used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireDialect {
    /// `/v1/chat/completions`.
    OpenAi,
    /// `/v1/messages`.
    Anthropic,
}

/// A tool call the scripted model makes.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptedCall {
    /// The call id the client must send back with the result.
    pub id: String,
    /// Tool name.
    pub name: String,
    /// Arguments (streamed in two pieces, to exercise the client's assembly).
    pub arguments: Value,
}

/// Something going wrong on purpose.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Answer with this status and the dialect's error JSON.
    Status {
        /// HTTP status.
        status: u16,
        /// `Retry-After` header value, if any.
        retry_after: Option<String>,
        /// The error message in the JSON body.
        message: String,
    },
    /// Send this many stream frames, then nothing more, forever (connection stays open).
    StallAfter(usize),
    /// A body (or the first stream frame) that is not JSON.
    MalformedJson,
    /// Send the first half of the frames, then close the stream without its terminator.
    BrokenStream,
}

/// One scripted answer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Turn {
    /// The text, as the chunks it streams in (joined for a whole answer).
    pub text: Vec<String>,
    /// Tool calls, in order.
    pub tool_calls: Vec<ScriptedCall>,
    /// (input, output) tokens reported.
    pub usage: Option<(u64, u64)>,
    /// Wait before the response headers.
    pub first_byte_delay: Duration,
    /// Wait between stream frames.
    pub chunk_delay: Duration,
    /// Fail on purpose.
    pub fault: Option<Fault>,
    /// Answer with one JSON document even when streaming was asked for (as some
    /// compatible servers do).
    pub ignore_stream: bool,
}

impl Turn {
    /// A text answer in one chunk.
    pub fn text(text: impl Into<String>) -> Turn {
        Turn {
            text: vec![text.into()],
            ..Default::default()
        }
    }

    /// A text answer streamed in these chunks.
    pub fn chunks<S: Into<String>>(chunks: impl IntoIterator<Item = S>) -> Turn {
        Turn {
            text: chunks.into_iter().map(Into::into).collect(),
            ..Default::default()
        }
    }

    /// A turn that calls one tool.
    pub fn tool_call(id: &str, name: &str, arguments: Value) -> Turn {
        Turn::default().and_tool_call(id, name, arguments)
    }

    /// Adds a tool call (parallel calls in one turn).
    pub fn and_tool_call(mut self, id: &str, name: &str, arguments: Value) -> Turn {
        self.tool_calls.push(ScriptedCall {
            id: id.to_owned(),
            name: name.to_owned(),
            arguments,
        });
        self
    }

    /// Reports this usage.
    pub fn usage(mut self, input: u64, output: u64) -> Turn {
        self.usage = Some((input, output));
        self
    }

    /// Waits before the response headers.
    pub fn first_byte_after(mut self, delay: Duration) -> Turn {
        self.first_byte_delay = delay;
        self
    }

    /// Waits between stream frames.
    pub fn chunk_every(mut self, delay: Duration) -> Turn {
        self.chunk_delay = delay;
        self
    }

    /// Answers whole even to a streaming request.
    pub fn whole(mut self) -> Turn {
        self.ignore_stream = true;
        self
    }

    /// An HTTP error with the dialect's error JSON.
    pub fn status(status: u16, message: &str) -> Turn {
        Turn {
            fault: Some(Fault::Status {
                status,
                retry_after: None,
                message: message.to_owned(),
            }),
            ..Default::default()
        }
    }

    /// Adds `Retry-After` to an HTTP error turn.
    pub fn retry_after(mut self, value: &str) -> Turn {
        if let Some(Fault::Status { retry_after, .. }) = &mut self.fault {
            *retry_after = Some(value.to_owned());
        }
        self
    }

    /// 401 as the providers send it.
    pub fn unauthorized() -> Turn {
        Turn::status(401, "invalid x-api-key")
    }

    /// Streams `frames` frames of this turn, then stalls forever.
    pub fn stall_after(mut self, frames: usize) -> Turn {
        self.fault = Some(Fault::StallAfter(frames));
        self
    }

    /// Sends JSON that does not parse.
    pub fn malformed_json() -> Turn {
        Turn {
            fault: Some(Fault::MalformedJson),
            ..Turn::text("never seen")
        }
    }

    /// Cuts the stream halfway, without its terminator.
    pub fn broken_stream(mut self) -> Turn {
        self.fault = Some(Fault::BrokenStream);
        self
    }
}

/// A request as the server received it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// Which endpoint.
    pub dialect: WireDialect,
    /// Headers, names lowercased.
    pub headers: Vec<(String, String)>,
    /// The JSON body (`Null` when it did not parse).
    pub body: Value,
}

impl RecordedRequest {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether the client asked for a stream.
    pub fn stream(&self) -> bool {
        self.body["stream"].as_bool().unwrap_or(false)
    }

    /// The messages (without Anthropic's top-level `system`).
    pub fn messages(&self) -> &[Value] {
        self.body["messages"].as_array().map_or(&[], Vec::as_slice)
    }

    /// The tool results carried by the last message: (call id, output), in order.
    pub fn tool_results(&self) -> Vec<(String, String)> {
        let tail: Vec<&Value> = match self.dialect {
            // OpenAI: the trailing run of `tool` messages.
            WireDialect::OpenAi => {
                let msgs = self.messages();
                let n = msgs
                    .iter()
                    .rev()
                    .take_while(|m| m["role"] == "tool")
                    .count();
                msgs[msgs.len() - n..].iter().collect()
            }
            WireDialect::Anthropic => self
                .messages()
                .last()
                .and_then(|m| m["content"].as_array())
                .map(|blocks| {
                    blocks
                        .iter()
                        .filter(|b| b["type"] == "tool_result")
                        .collect()
                })
                .unwrap_or_default(),
        };
        tail.into_iter()
            .map(|m| {
                let id = m["tool_call_id"].as_str().or(m["tool_use_id"].as_str());
                (id.unwrap_or("").to_owned(), text_of(&m["content"]))
            })
            .collect()
    }

    /// The text of the last user message (empty when it holds only tool results).
    pub fn last_user_text(&self) -> String {
        self.messages()
            .iter()
            .rev()
            .find(|m| m["role"] == "user")
            .map(|m| text_of(&m["content"]))
            .unwrap_or_default()
    }

    /// Names of the tools offered.
    pub fn tool_names(&self) -> Vec<String> {
        self.body["tools"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["name"].as_str().or(t["function"]["name"].as_str()))
            .map(str::to_owned)
            .collect()
    }
}

/// Text of a message content: a string, or the text blocks of a block list.
fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter_map(|b| b["text"].as_str())
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    }
}

#[derive(Default)]
struct Shared {
    turns: Mutex<VecDeque<Turn>>,
    fallback: Mutex<Option<Responder>>,
    requests: Mutex<Vec<RecordedRequest>>,
    open_streams: AtomicUsize,
    serial: AtomicUsize,
}

/// The running server; stops when dropped.
pub struct ScriptedModel {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl ScriptedModel {
    /// Starts on 127.0.0.1 on a free port (inside a Tokio runtime).
    pub async fn start() -> ScriptedModel {
        Self::start_on("127.0.0.1:0".parse().expect("loopback address")).await
    }

    /// Starts on `addr`.
    pub async fn start_on(addr: SocketAddr) -> ScriptedModel {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .expect("bind the scripted model server");
        let addr = listener.local_addr().expect("scripted model address");
        let shared = Arc::new(Shared::default());
        let app = Router::new()
            .route("/v1/chat/completions", post(openai))
            .route("/v1/messages", post(anthropic))
            .with_state(Arc::clone(&shared));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        ScriptedModel { addr, shared, task }
    }

    /// Queues turns, answered in order.
    pub fn push(&self, turn: Turn) -> &Self {
        lock(&self.shared.turns).push_back(turn);
        self
    }

    /// Answers with `responder` once the queue is empty.
    pub fn set_fallback(
        &self,
        responder: impl Fn(&RecordedRequest) -> Turn + Send + Sync + 'static,
    ) {
        *lock(&self.shared.fallback) = Some(Arc::new(responder));
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL for either dialect: `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.requests).clone()
    }

    /// Responses still streaming (a dropped client closes its stream within a frame).
    pub fn open_streams(&self) -> usize {
        self.shared.open_streams.load(Ordering::SeqCst)
    }

    /// Turns still queued.
    pub fn pending_turns(&self) -> usize {
        lock(&self.shared.turns).len()
    }
}

impl Drop for ScriptedModel {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A fallback for load tests: when the last message holds tool results, answer
/// `done: <results>`; otherwise call `tool` with `{"message": <last user text>}`.
pub fn echo_tool_loop(tool: &str) -> impl Fn(&RecordedRequest) -> Turn + Send + Sync + 'static {
    let tool = tool.to_owned();
    let serial = AtomicUsize::new(0);
    move |req: &RecordedRequest| {
        let results = req.tool_results();
        if results.is_empty() {
            let n = serial.fetch_add(1, Ordering::Relaxed);
            Turn::tool_call(
                &format!("call_{n}"),
                &tool,
                json!({"message": req.last_user_text()}),
            )
            .usage(10, 5)
        } else {
            let outputs: Vec<String> = results.into_iter().map(|(_, out)| out).collect();
            Turn::text(format!("done: {}", outputs.join("; "))).usage(20, 5)
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn openai(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    answer(shared, WireDialect::OpenAi, headers, body).await
}

async fn anthropic(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    answer(shared, WireDialect::Anthropic, headers, body).await
}

async fn answer(
    shared: Arc<Shared>,
    dialect: WireDialect,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let req = RecordedRequest {
        dialect,
        headers: headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: parsed,
    };
    lock(&shared.requests).push(req.clone());
    if req.body.is_null() {
        return error_response(dialect, 400, None, "request body is not JSON");
    }
    let next = lock(&shared.turns).pop_front();
    let turn = match next {
        Some(t) => t,
        None => match lock(&shared.fallback).clone() {
            Some(f) => f(&req),
            None => Turn::status(500, "scripted model: no turn left in the script"),
        },
    };
    tokio::time::sleep(turn.first_byte_delay).await;
    let serial = shared.serial.fetch_add(1, Ordering::Relaxed);
    let model = req.body["model"].as_str().unwrap_or("scripted").to_owned();
    match &turn.fault {
        Some(Fault::Status {
            status,
            retry_after,
            message,
        }) => {
            return error_response(dialect, *status, retry_after.as_deref(), message);
        }
        Some(Fault::MalformedJson) if !req.stream() || turn.ignore_stream => {
            return (
                [(header::CONTENT_TYPE, "application/json")],
                "{\"id\": \"x\", \"choices\": [",
            )
                .into_response();
        }
        _ => {}
    }
    if !req.stream() || turn.ignore_stream {
        let whole = frames::whole(dialect, &turn, &model, serial);
        return (
            [(header::CONTENT_TYPE, "application/json")],
            whole.to_string(),
        )
            .into_response();
    }
    let include_usage = req.body["stream_options"]["include_usage"]
        .as_bool()
        .unwrap_or(false);
    let mut frames = frames::stream(dialect, &turn, &model, serial, include_usage);
    let mut stall = false;
    match turn.fault {
        Some(Fault::StallAfter(n)) => {
            frames.truncate(n);
            stall = true;
        }
        Some(Fault::MalformedJson) => {
            frames.insert(0, "data: {\"choices\": [{\"delta\": \n\n".to_owned())
        }
        Some(Fault::BrokenStream) => {
            let half = frames.len() / 2;
            frames.truncate(half.max(1));
        }
        _ => {}
    }
    let guard = StreamGuard::new(Arc::clone(&shared));
    let stream = futures::stream::unfold(
        (frames.into_iter(), guard, turn.chunk_delay, stall, true),
        |(mut frames, guard, delay, stall, first)| async move {
            if !first && !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            match frames.next() {
                Some(f) => Some((
                    Ok::<_, std::convert::Infallible>(f),
                    (frames, guard, delay, stall, false),
                )),
                None if stall => {
                    // Keep the connection open and silent. The guard lives until the client
                    // goes away and hyper drops this stream.
                    std::future::pending::<()>().await;
                    None
                }
                None => None,
            }
        },
    );
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

fn error_response(
    dialect: WireDialect,
    status: u16,
    retry_after: Option<&str>,
    message: &str,
) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = frames::error_body(dialect, status, message);
    let mut resp = (
        code,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response();
    if let Some(v) = retry_after
        && let Ok(v) = v.parse::<axum::http::HeaderValue>()
    {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}

/// Counts a streaming response while it is alive.
struct StreamGuard(Arc<Shared>);

impl StreamGuard {
    fn new(shared: Arc<Shared>) -> Self {
        shared.open_streams.fetch_add(1, Ordering::SeqCst);
        StreamGuard(shared)
    }
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.0.open_streams.fetch_sub(1, Ordering::SeqCst);
    }
}
