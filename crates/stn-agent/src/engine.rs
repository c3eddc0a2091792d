//! One run from start to end: load the agent, render its prompt, resolve its
//! tools, loop model turn → tool calls until the model answers, and record
//! every step as it happens.
//!
//! The run's end is always written by the run itself, also when it is
//! cancelled or times out: the loop is raced against the cancel token and the
//! timeout, and whichever wins, the outcome is recorded afterwards.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use stn_core::model::{RunStatus, RunStep, StepKind};
use stn_core::store::{QueuedRun, RunEnd};
use stn_core::{CoreError, Station};
use stn_llm::{ChatRequest, ChatResponse, Message, ModelClient, StreamEvent};
use stn_mcp::Pool;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::error::AgentError;
use crate::events::{EventSender, RunEvent};
use crate::models::Models;
use crate::output;
use crate::owner;
use crate::tools::Tools;

/// How runs behave.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// A run still going after this long ends as `timeout` (the Go original: 15 min).
    pub run_timeout: Duration,
    /// How deep sub-agents may call sub-agents.
    pub max_depth: u32,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            run_timeout: Duration::from_secs(15 * 60),
            max_depth: 5,
        }
    }
}

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

/// Executes runs. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    station: Station,
    pool: Pool,
    models: Models,
    options: EngineOptions,
    /// Sub-agent runs, spawned so they record their own end even when their
    /// parent is dropped; waited for at shutdown.
    children: TaskTracker,
}

/// What one executing run carries through its loop.
pub(crate) struct RunCtx {
    pub run_id: i64,
    pub depth: u32,
    /// Agents from the top run down to this one, to refuse cycles.
    pub ancestors: Vec<i64>,
    pub cancel: CancellationToken,
    /// Cancelled when this run ends, so sub-agent runs never outlive it.
    pub scope: CancellationToken,
    pub events: EventSender,
    seq: AtomicI64,
    /// The model's last text, kept as the answer of a run that stops early.
    last_text: Mutex<Option<String>>,
}

impl RunCtx {
    pub(crate) fn new(
        run_id: i64,
        depth: u32,
        ancestors: Vec<i64>,
        cancel: CancellationToken,
        events: EventSender,
    ) -> Self {
        Self {
            run_id,
            depth,
            ancestors,
            scope: cancel.child_token(),
            cancel,
            events,
            seq: AtomicI64::new(0),
            last_text: Mutex::new(None),
        }
    }

    pub(crate) fn next_seq(&self) -> i64 {
        self.seq.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub(crate) fn emit(&self, event: RunEvent) {
        // Nobody listening is normal (a scheduled run, a sub-agent).
        let _ = self.events.send(event);
    }

    pub(crate) fn step_started(&self, seq: i64, kind: StepKind, name: &str) -> Started {
        self.emit(RunEvent::StepStarted {
            run_id: self.run_id,
            seq,
            kind,
            name: name.to_owned(),
        });
        Started::now(self.run_id, seq)
    }
}

/// When a step began, for its row.
pub(crate) struct Started {
    run_id: i64,
    seq: i64,
    at: String,
    clock: Instant,
}

impl Started {
    fn now(run_id: i64, seq: i64) -> Self {
        Self {
            run_id,
            seq,
            at: timestamp(),
            clock: Instant::now(),
        }
    }

    /// The step row, with its duration up to now.
    pub(crate) fn step(self, kind: StepKind, name: &str) -> RunStep {
        RunStep {
            run_id: self.run_id,
            seq: self.seq,
            kind,
            name: name.to_owned(),
            input: None,
            output: None,
            is_error: false,
            input_tokens: None,
            output_tokens: None,
            total_tokens: None,
            child_run_id: None,
            started_at: self.at,
            duration_ms: i64::try_from(self.clock.elapsed().as_millis()).unwrap_or(i64::MAX),
        }
    }
}

fn timestamp() -> String {
    const FORMAT: &[time::format_description::BorrowedFormatItem<'_>] = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time::OffsetDateTime::now_utc()
        .format(FORMAT)
        .unwrap_or_default()
}

/// Why the loop stopped without an answer.
enum Stop {
    Failed(AgentError),
    Cancelled,
    Timeout,
}

impl Engine {
    /// An engine over `station`, calling MCP tools through `pool` and models through `models`.
    pub fn new(station: Station, pool: Pool, models: Models, options: EngineOptions) -> Self {
        Self {
            inner: Arc::new(Inner {
                station,
                pool,
                models,
                options,
                children: TaskTracker::new(),
            }),
        }
    }

    /// The database and config dir.
    pub fn station(&self) -> &Station {
        &self.inner.station
    }

    /// The MCP connections.
    pub fn pool(&self) -> &Pool {
        &self.inner.pool
    }

    pub(crate) fn options(&self) -> &EngineOptions {
        &self.inner.options
    }

    /// Records a run as `queued` and returns its id; [`Engine::execute`] runs it.
    pub async fn queue(
        &self,
        req: &RunRequest,
        parent_run_id: Option<i64>,
    ) -> Result<i64, AgentError> {
        let queued = QueuedRun {
            agent_id: req.agent_id,
            task: req.task.clone(),
            variables: (!req.variables.is_empty()).then(|| Value::Object(req.variables.clone())),
            parent_run_id,
            owner: owner::current().to_owned(),
            origin: req.origin.as_str().to_owned(),
        };
        match self.inner.station.store().queue_run(&queued).await {
            Ok(id) => Ok(id),
            // The agent's row is gone (deleted since the caller looked it up).
            Err(e) if e.is_conflict() => Err(AgentError::Core(CoreError::NotFound {
                what: "agent",
                name: req.agent_id.to_string(),
                place: String::new(),
            })),
            Err(e) => Err(e.into()),
        }
    }

    /// Executes a queued run to its end and records the end. Cancelling
    /// `cancel` ends it as `cancelled` (sub-agent runs included).
    pub async fn execute(
        &self,
        run_id: i64,
        req: RunRequest,
        cancel: CancellationToken,
        events: EventSender,
    ) -> RunOutcome {
        let ctx = RunCtx::new(run_id, 0, vec![req.agent_id], cancel, events);
        self.execute_in(ctx, req).await
    }

    /// [`Engine::execute`] for a run at any depth.
    pub(crate) async fn execute_in(&self, ctx: RunCtx, req: RunRequest) -> RunOutcome {
        let timeout = self.inner.options.run_timeout;
        let result = tokio::select! {
            biased;
            () = ctx.cancel.cancelled() => Err(Stop::Cancelled),
            r = tokio::time::timeout(timeout, self.run_loop(&ctx, &req)) => match r {
                Ok(Ok(answer)) => Ok(answer),
                Ok(Err(e)) => Err(Stop::Failed(e)),
                Err(_) => Err(Stop::Timeout),
            },
        };
        ctx.scope.cancel();
        self.finish(&ctx, result).await
    }

    async fn finish(&self, ctx: &RunCtx, result: Result<String, Stop>) -> RunOutcome {
        let partial = ctx
            .last_text
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .filter(|t| !t.trim().is_empty());
        let timeout = self.inner.options.run_timeout;
        let end = match result {
            Ok(answer) => RunEnd {
                status: RunStatus::Completed,
                final_response: Some(answer),
                error: None,
            },
            Err(Stop::Cancelled) => RunEnd {
                status: RunStatus::Cancelled,
                final_response: partial,
                error: Some("cancelled".to_owned()),
            },
            Err(Stop::Timeout) => RunEnd {
                status: RunStatus::Timeout,
                final_response: partial,
                error: Some(format!(
                    "the run timeout ({} s) was reached",
                    timeout.as_secs()
                )),
            },
            Err(Stop::Failed(e)) => RunEnd {
                status: RunStatus::Failed,
                final_response: partial,
                error: Some(e.run_error()),
            },
        };
        if let Err(e) = self
            .inner
            .station
            .store()
            .finish_run(ctx.run_id, &end)
            .await
        {
            tracing::error!(run_id = ctx.run_id, error = %e, "cannot record the end of a run");
        }
        match &end.error {
            Some(error) => {
                tracing::info!(run_id = ctx.run_id, status = end.status.as_str(), %error, "run ended")
            }
            None => tracing::info!(
                run_id = ctx.run_id,
                status = end.status.as_str(),
                "run ended"
            ),
        }
        ctx.emit(RunEvent::Status {
            run_id: ctx.run_id,
            status: end.status,
            error: end.error.clone(),
            final_response: end.final_response.clone(),
        });
        RunOutcome {
            run_id: ctx.run_id,
            status: end.status,
            final_response: end.final_response,
            error: end.error,
        }
    }

    async fn run_loop(&self, ctx: &RunCtx, req: &RunRequest) -> Result<String, AgentError> {
        let store = self.inner.station.store();
        let agent = match store.agent_by_id(req.agent_id).await {
            Ok(agent) => agent,
            Err(CoreError::NotFound { .. }) => {
                return Err(AgentError::AgentDeleted {
                    agent: format!("#{}", req.agent_id),
                    run_id: ctx.run_id,
                });
            }
            Err(e) => return Err(e.into()),
        };
        let name = agent.spec.name.as_str();
        let (client, model) = self
            .inner
            .models
            .client(agent.spec.model.as_deref())
            .map_err(|source| AgentError::Model {
                model: agent
                    .spec
                    .model
                    .clone()
                    .unwrap_or_else(|| "(default)".to_owned()),
                source,
            })?;
        if !store
            .start_run(ctx.run_id, Some(&model))
            .await
            .map_err(AgentError::from)?
        {
            return Err(self.store_error(ctx, name, None).await);
        }
        ctx.emit(RunEvent::Status {
            run_id: ctx.run_id,
            status: RunStatus::Running,
            error: None,
            final_response: None,
        });

        let mut input = req.variables.clone();
        input.insert("userInput".to_owned(), Value::String(req.task.clone()));
        let input = Value::Object(input);
        if let Some(schema) = &agent.spec.input_schema {
            stn_llm::validate(schema, &input).map_err(|problems| AgentError::InvalidInput {
                agent: name.to_owned(),
                problems,
            })?;
        }
        let messages =
            stn_llm::render_prompt(&agent.spec.prompt, &input, &[]).map_err(|source| {
                AgentError::Prompt {
                    agent: name.to_owned(),
                    source,
                }
            })?;
        let tools = Tools::resolve(self, &agent).await?;
        let mut request = ChatRequest {
            model: model.clone(),
            messages,
            tools: tools.specs().to_vec(),
            json_output: agent.spec.output_schema.is_some(),
            max_tokens: None,
            temperature: None,
        };
        if let Some(schema) = &agent.spec.output_schema {
            output::ask_for_json(&mut request.messages, schema);
        }

        let mut repaired = false;
        let mut turn = 0;
        loop {
            turn += 1;
            let response = self.model_turn(ctx, name, &client, &request).await?;
            request.messages.push(Message::assistant(
                response.text.clone(),
                response.tool_calls.clone(),
            ));
            if response.tool_calls.is_empty() {
                let Some(schema) = &agent.spec.output_schema else {
                    return Ok(response.text);
                };
                match output::check(schema, &response.text) {
                    Ok(()) => return Ok(response.text),
                    Err(problems) if !repaired => {
                        repaired = true;
                        request.messages.push(output::repair_request(&problems));
                    }
                    Err(problems) => {
                        return Err(AgentError::InvalidOutput {
                            agent: name.to_owned(),
                            problems,
                        });
                    }
                }
                continue;
            }
            if turn >= agent.spec.max_steps {
                let pending: Vec<String> = response
                    .tool_calls
                    .iter()
                    .map(|c| format!("`{}`", c.name))
                    .collect();
                return Err(AgentError::MaxSteps {
                    max_steps: agent.spec.max_steps,
                    pending: pending.join(", "),
                });
            }
            // Tool calls of one turn run concurrently; each records its own step.
            let results = futures::future::join_all(
                response
                    .tool_calls
                    .iter()
                    .map(|call| tools.call(self, ctx, &agent, call)),
            )
            .await;
            for (call, result) in response.tool_calls.iter().zip(results) {
                request
                    .messages
                    .push(Message::tool_result(call.id.clone(), result?));
            }
        }
    }

    async fn model_turn(
        &self,
        ctx: &RunCtx,
        agent: &str,
        client: &ModelClient,
        request: &ChatRequest,
    ) -> Result<ChatResponse, AgentError> {
        let seq = ctx.next_seq();
        let started = ctx.step_started(seq, StepKind::Model, &request.model);
        let events = ctx.events.clone();
        let run_id = ctx.run_id;
        let on_event = move |event: StreamEvent| {
            if let StreamEvent::TextDelta(text) = event {
                let _ = events.send(RunEvent::TextDelta { run_id, text });
            }
        };
        let result = client.chat(request, &on_event).await;
        let mut step = started.step(StepKind::Model, &request.model);
        match &result {
            Ok(response) => {
                if !response.tool_calls.is_empty() {
                    step.input = Some(Value::Array(
                        response
                            .tool_calls
                            .iter()
                            .map(|c| json!({"id": c.id, "name": c.name, "arguments": c.arguments}))
                            .collect(),
                    ));
                }
                step.output = Some(response.text.clone());
                step.input_tokens = Some(to_i64(response.usage.input_tokens));
                step.output_tokens = Some(to_i64(response.usage.output_tokens));
                step.total_tokens = Some(to_i64(response.usage.total_tokens));
                if !response.text.trim().is_empty() {
                    *ctx.last_text.lock().unwrap_or_else(|e| e.into_inner()) =
                        Some(response.text.clone());
                }
            }
            Err(e) => {
                step.output = Some(e.to_string());
                step.is_error = true;
            }
        }
        self.record(ctx, agent, step).await?;
        result.map_err(|source| AgentError::Model {
            model: request.model.clone(),
            source,
        })
    }

    /// Appends a step (one transaction) and announces it.
    pub(crate) async fn record(
        &self,
        ctx: &RunCtx,
        agent: &str,
        step: RunStep,
    ) -> Result<(), AgentError> {
        match self.inner.station.store().append_run_step(&step).await {
            Ok(()) => {
                ctx.emit(RunEvent::StepFinished { step });
                Ok(())
            }
            Err(e) => Err(self.store_error(ctx, agent, Some(e)).await),
        }
    }

    /// A write to the run failed or changed nothing: when the run is gone,
    /// its agent was deleted meanwhile (runs go with their agent).
    async fn store_error(&self, ctx: &RunCtx, agent: &str, error: Option<CoreError>) -> AgentError {
        match self.inner.station.store().run(ctx.run_id).await {
            Err(CoreError::NotFound { .. }) => AgentError::AgentDeleted {
                agent: agent.to_owned(),
                run_id: ctx.run_id,
            },
            _ => match error {
                Some(e) => e.into(),
                None => AgentError::Core(CoreError::Invalid(format!(
                    "run {} was no longer queued when it was to start",
                    ctx.run_id
                ))),
            },
        }
    }

    /// Sub-agent runs, for the tool calls that start them.
    pub(crate) fn children(&self) -> &TaskTracker {
        &self.inner.children
    }

    /// Waits for sub-agent runs still recording their end, then stops every
    /// MCP server this engine started.
    pub async fn shutdown(&self) {
        self.inner.children.close();
        self.inner.children.wait().await;
        self.inner.pool.shutdown().await;
    }
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
