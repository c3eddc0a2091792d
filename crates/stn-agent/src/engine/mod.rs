//! One run from start to end: load the agent, render its prompt, resolve its
//! tools, loop model turn → tool calls until the model answers, and record
//! every step as it happens.
//!
//! The run's end is always written by the run itself, also when it is
//! cancelled or times out: the loop is raced against the cancel token and the
//! timeout, and whichever wins, the outcome is recorded afterwards.

mod ctx;
mod request;
mod subagent;

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use stn_core::model::{Agent, RunStatus, RunStep, StepKind, StepState};
use stn_core::redact::Redactor;
use stn_core::store::{QueuedRun, RunEnd};
use stn_core::{CoreError, Station};
use stn_llm::{ChatRequest, ModelClient, StreamEvent};
use stn_mcp::Pool;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub(crate) use ctx::RunCtx;
pub use request::{Origin, RunOutcome, RunRequest};

use crate::error::AgentError;
use crate::events::{EventSender, RunEvent};
use crate::models::Models;
use crate::output;
use crate::owner;
use crate::plan::{self, Action, PendingCall, Setup};
use crate::secrets::Secrets;
use crate::tool_result::{self, ResultLimits};
use crate::tools::{Route, Tools};

/// How runs behave.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// A run still going after this long ends as `timeout` (the Go original: 15 min).
    pub run_timeout: Duration,
    /// How deep sub-agents may call sub-agents.
    pub max_depth: u32,
    /// How much of a tool result the model sees and the step keeps.
    pub tool_results: ResultLimits,
    /// Configured credentials (model API keys, the database token) that no
    /// stored or logged text may contain; runs add their environment's values.
    pub secrets: Redactor,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            run_timeout: Duration::from_secs(15 * 60),
            max_depth: 5,
            tool_results: ResultLimits::default(),
            secrets: Redactor::default(),
        }
    }
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
    secrets: Secrets,
    /// Sub-agent runs, spawned so they record their own end even when their
    /// parent is dropped; waited for at shutdown.
    children: TaskTracker,
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
                secrets: Secrets::new(options.secrets.clone()),
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

    fn options(&self) -> &EngineOptions {
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
        let partial = ctx.take_last_text();
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
        let end = self.inner.secrets.end(end);
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
        self.inner
            .secrets
            .learn(&self.inner.station, &agent.environment);
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
        let tools = Tools::resolve(&self.inner.station, &self.inner.pool, &agent).await?;
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
        let setup = Setup {
            agent: name.to_owned(),
            request,
            output_schema: agent.spec.output_schema.clone(),
            max_steps: agent.spec.max_steps,
            tool_results: self.inner.options.tool_results,
        };

        // The conversation is what the steps say it is: each action is
        // decided from the steps recorded so far.
        let mut steps: Vec<RunStep> = Vec::new();
        loop {
            match plan::next(&setup, &steps) {
                Action::Answer(answer) => return Ok(answer),
                Action::Fail(e) => return Err(e),
                Action::Model { request, seq } => {
                    let tools = plan::calls_allowed(&setup, &steps).then_some(&tools);
                    let step = self
                        .model_turn(ctx, name, &client, tools, &request, seq)
                        .await?;
                    steps.push(step);
                }
                Action::Tools(calls) => {
                    // Tool calls of one turn run concurrently; each records its own step.
                    let results = futures::future::join_all(
                        calls
                            .iter()
                            .map(|call| self.tool_call(ctx, &agent, &tools, call)),
                    )
                    .await;
                    let mut failure = None;
                    for result in results {
                        let (step, failed) = result?;
                        steps.push(step);
                        failure = failure.or(failed);
                    }
                    if let Some(e) = failure {
                        return Err(e);
                    }
                }
            }
        }
    }

    /// One model turn, recorded as step `seq` together with a `started`
    /// step for each tool call it asks for (one transaction: write-ahead),
    /// unless `tools` is `None` (calls past `max_steps` are never made);
    /// a model that fails ends the run.
    async fn model_turn(
        &self,
        ctx: &RunCtx,
        agent: &str,
        client: &ModelClient,
        tools: Option<&Tools>,
        request: &ChatRequest,
        seq: i64,
    ) -> Result<RunStep, AgentError> {
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
                step.input = plan::calls_input(&response.tool_calls);
                step.output = Some(response.text.clone());
                step.input_tokens = Some(to_i64(response.usage.input_tokens));
                step.output_tokens = Some(to_i64(response.usage.output_tokens));
                step.total_tokens = Some(to_i64(response.usage.total_tokens));
                ctx.set_last_text(&response.text);
            }
            Err(e) => {
                step.output = Some(e.to_string());
                step.is_error = true;
            }
        }
        let calls = match (&result, tools) {
            (Ok(response), Some(tools)) => response
                .tool_calls
                .iter()
                .map(|c| (c, tools.route(&c.name)))
                .collect(),
            _ => Vec::new(),
        };
        let mut rows = vec![step.clone()];
        rows.extend(
            calls
                .into_iter()
                .zip(seq + 1..)
                .map(|((call, route), call_seq)| {
                    let (kind, server) = match route {
                        Route::Mcp { server, .. } => (StepKind::Tool, Some(server.to_owned())),
                        Route::Agent(_) => (StepKind::Agent, None),
                        Route::Unknown => (StepKind::Tool, None),
                    };
                    let mut row = ctx::Started::now(ctx.run_id, call_seq).step(kind, &call.name);
                    row.input = Some(call.arguments.clone());
                    row.duration_ms = 0;
                    row.state = StepState::Started;
                    row.call_id = Some(call.id.clone());
                    row.server = server;
                    row
                }),
        );
        self.record(ctx, agent, rows).await?;
        match result {
            Ok(_) => Ok(step),
            Err(source) => Err(AgentError::Model {
                model: request.model.clone(),
                source,
            }),
        }
    }

    /// Runs one tool call and records its step. Returns the step and, when
    /// its MCP server failed, the error that ends the run (after the step is
    /// recorded, so the transcript shows what failed).
    async fn tool_call(
        &self,
        ctx: &RunCtx,
        agent: &Agent,
        tools: &Tools,
        pending: &PendingCall,
    ) -> Result<(RunStep, Option<AgentError>), AgentError> {
        let call = &pending.call;
        let route = tools.route(&call.name);
        let kind = match route {
            Route::Agent(_) => StepKind::Agent,
            _ => StepKind::Tool,
        };
        let started = ctx.step_started(pending.seq, kind, &call.name);
        let mut failure = None;
        let mut child_run_id = None;
        let (text, is_error) = match route {
            Route::Unknown => (tools.unknown_tool_text(&call.name), true),
            Route::Mcp { server, tool } => {
                let result = Tools::call_mcp(
                    &self.inner.pool,
                    &agent.environment,
                    server,
                    tool,
                    call.arguments.clone(),
                )
                .await;
                failure = result.failure;
                (result.text, result.is_error)
            }
            Route::Agent(child) => {
                let result = self
                    .sub_agent(ctx, pending.seq, child, &call.arguments)
                    .await;
                child_run_id = result.child_run_id;
                (result.text, result.is_error)
            }
        };
        let mut step = started.step(kind, &call.name);
        step.input = Some(call.arguments.clone());
        step.output = Some(tool_result::for_storage(
            text,
            &self.inner.options.tool_results,
        ));
        step.is_error = is_error;
        step.child_run_id = child_run_id;
        step.call_id = Some(call.id.clone());
        if let Route::Mcp { server, .. } = route {
            step.server = Some(server.to_owned());
        }
        let step = self.inner.secrets.step(step);
        // Written ahead with its model turn: finished in place.
        if let Err(e) = self.inner.station.store().finish_step(&step).await {
            return Err(self.store_error(ctx, &agent.spec.name, Some(e)).await);
        }
        ctx.emit(RunEvent::StepFinished { step: step.clone() });
        Ok((step, failure))
    }

    /// Writes steps (one transaction) and announces the finished ones.
    async fn record(
        &self,
        ctx: &RunCtx,
        agent: &str,
        steps: Vec<RunStep>,
    ) -> Result<(), AgentError> {
        let steps: Vec<RunStep> = steps
            .into_iter()
            .map(|step| self.inner.secrets.step(step))
            .collect();
        match self.inner.station.store().record_steps(&steps).await {
            Ok(()) => {
                for step in steps.into_iter().filter(RunStep::is_finished) {
                    ctx.emit(RunEvent::StepFinished { step });
                }
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
    fn children(&self) -> &TaskTracker {
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
