//! Agent run history: the run rows and their append-only steps.
//!
//! A run is written in few, small transactions: its row when it is queued,
//! one update when it starts, one batch per step (the step row plus the run's
//! counters) and one update when it ends. Nothing is ever rewritten whole, so
//! a crash keeps every step that finished.

use stn_db::{Row, Statement, Value, params};

use super::{NOW, Store, json_text, parse_json};
use crate::error::{CoreError, Result};
use crate::model::{Run, RunStatus, RunStep, StepKind, StepState};

const SELECT: &str = "SELECT r.id, r.agent_id, a.name, e.name, r.task, r.status, r.final_response, \
    r.steps_taken, r.model_name, r.input_tokens, r.output_tokens, r.duration_seconds, r.error, \
    r.started_at, r.completed_at, COALESCE(r.tools_used, 0), r.total_tokens, r.variables, \
    r.parent_run_id, r.origin \
    FROM agent_runs r JOIN agents a ON a.id = r.agent_id JOIN environments e ON e.id = a.environment_id";

const SELECT_STEP: &str = "SELECT run_id, seq, kind, name, input, output, is_error, input_tokens, \
    output_tokens, total_tokens, child_run_id, started_at, duration_ms, state, call_id, server \
    FROM agent_run_steps";

fn from_row(row: &Row) -> Result<Run> {
    let status: String = row.get(5)?;
    Ok(Run {
        id: row.get(0)?,
        agent_id: row.get(1)?,
        agent: row.get(2)?,
        environment: row.get(3)?,
        task: row.get(4)?,
        status: RunStatus::parse(&status)
            .ok_or_else(|| CoreError::Invalid(format!("run has unknown status `{status}`")))?,
        final_response: row.get(6)?,
        steps_taken: row.get(7)?,
        model_name: row.get(8)?,
        input_tokens: row.get(9)?,
        output_tokens: row.get(10)?,
        duration_seconds: row.get(11)?,
        error: row.get(12)?,
        started_at: row.get(13)?,
        completed_at: row.get(14)?,
        tools_used: row.get(15)?,
        total_tokens: row.get(16)?,
        variables: parse_json(row.get(17)?),
        parent_run_id: row.get(18)?,
        origin: row.get(19)?,
    })
}

fn step_from_row(row: &Row) -> Result<RunStep> {
    let kind: String = row.get(2)?;
    Ok(RunStep {
        run_id: row.get(0)?,
        seq: row.get(1)?,
        kind: StepKind::parse(&kind)
            .ok_or_else(|| CoreError::Invalid(format!("run step has unknown kind `{kind}`")))?,
        name: row.get(3)?,
        input: parse_json(row.get(4)?),
        output: row.get(5)?,
        is_error: row.get(6)?,
        input_tokens: row.get(7)?,
        output_tokens: row.get(8)?,
        total_tokens: row.get(9)?,
        child_run_id: row.get(10)?,
        started_at: row.get(11)?,
        duration_ms: row.get(12)?,
        state: if row.get::<String>(13)? == StepState::Started.as_str() {
            StepState::Started
        } else {
            StepState::Finished
        },
        call_id: row.get(14)?,
        server: row.get(15)?,
    })
}

/// A run about to be queued.
#[derive(Debug, Clone)]
pub struct QueuedRun {
    /// The agent.
    pub agent_id: i64,
    /// The task.
    pub task: String,
    /// Input variables (a JSON object), if any.
    pub variables: Option<serde_json::Value>,
    /// The calling run, for a sub-agent call.
    pub parent_run_id: Option<i64>,
    /// The process that will execute it, so a later start can tell whether it died.
    pub owner: String,
    /// How it was started: cli, api, schedule, mcp or agent.
    pub origin: String,
}

/// How a run ended.
#[derive(Debug, Clone)]
pub struct RunEnd {
    /// completed, failed, cancelled or timeout.
    pub status: RunStatus,
    /// The answer (also kept for a failed run when the model gave one).
    pub final_response: Option<String>,
    /// Why it did not complete.
    pub error: Option<String>,
}

/// Which runs to list.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    /// Only this environment.
    pub environment: Option<String>,
    /// Only this agent (by name).
    pub agent: Option<String>,
    /// Only this status.
    pub status: Option<RunStatus>,
    /// Only runs whose task contains this text (case-insensitive for ASCII).
    pub search: Option<String>,
    /// Only runs started at or after this time (RFC 3339 UTC, as stored).
    pub since: Option<String>,
    /// Only runs with a smaller id: the next page after a page ending at this id.
    pub before: Option<i64>,
    /// At most this many, newest first.
    pub limit: u32,
}

/// A run to record.
#[derive(Debug, Clone)]
pub struct NewRun {
    /// The agent.
    pub agent_id: i64,
    /// The task.
    pub task: String,
    /// Its state.
    pub status: RunStatus,
    /// The answer, when finished.
    pub final_response: Option<String>,
    /// Steps used.
    pub steps_taken: i64,
    /// The model.
    pub model_name: Option<String>,
    /// The error, when failed.
    pub error: Option<String>,
}

/// `%text%` for LIKE, with the user's own `%`, `_` and `\` matching literally.
fn like_pattern(text: &str) -> String {
    let mut pattern = String::from("%");
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

impl Store {
    /// Runs matching `filter`, newest first.
    pub async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<Run>> {
        let mut clauses = Vec::new();
        let mut params: Vec<Value> = Vec::new();
        if let Some(env) = &filter.environment {
            params.push(env.into());
            clauses.push(format!("e.name = ?{}", params.len()));
        }
        if let Some(agent) = &filter.agent {
            params.push(agent.into());
            clauses.push(format!("a.name = ?{}", params.len()));
        }
        if let Some(status) = filter.status {
            params.push(status.as_str().into());
            clauses.push(format!("r.status = ?{}", params.len()));
        }
        if let Some(text) = &filter.search {
            params.push(like_pattern(text).into());
            clauses.push(format!("r.task LIKE ?{} ESCAPE '\\'", params.len()));
        }
        if let Some(since) = &filter.since {
            params.push(since.into());
            clauses.push(format!("r.started_at >= ?{}", params.len()));
        }
        if let Some(before) = filter.before {
            params.push(before.into());
            clauses.push(format!("r.id < ?{}", params.len()));
        }
        let limit = if filter.limit == 0 { 50 } else { filter.limit };
        params.push(limit.into());
        let where_clause = if clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", clauses.join(" AND "))
        };
        let sql = format!(
            "{SELECT}{where_clause} ORDER BY r.id DESC LIMIT ?{}",
            params.len()
        );
        let rs = self.db.query(&sql, params).await?;
        rs.rows.iter().map(from_row).collect()
    }

    /// One run by id.
    pub async fn run(&self, id: i64) -> Result<Run> {
        let row = self
            .db
            .query_opt(&format!("{SELECT} WHERE r.id = ?1"), params![id])
            .await?;
        match row {
            Some(row) => from_row(&row),
            None => Err(CoreError::NotFound {
                what: "run",
                name: id.to_string(),
                place: String::new(),
            }),
        }
    }

    /// Records a run; returns its id.
    pub async fn record_run(&self, run: &NewRun) -> Result<i64> {
        let finished = !matches!(run.status, RunStatus::Queued | RunStatus::Running);
        let rs = self
            .db
            .execute(
                "INSERT INTO agent_runs (agent_id, user_id, task, status, final_response, steps_taken, model_name, error, completed_at) \
                 VALUES (?1, (SELECT id FROM users WHERE username = 'console'), ?2, ?3, ?4, ?5, ?6, ?7, \
                 CASE WHEN ?8 THEN strftime('%Y-%m-%dT%H:%M:%fZ', 'now') END)",
                params![
                    run.agent_id,
                    run.task.as_str(),
                    run.status.as_str(),
                    run.final_response.as_deref(),
                    run.steps_taken,
                    run.model_name.as_deref(),
                    run.error.as_deref(),
                    finished
                ],
            )
            .await?;
        new_id(rs)
    }

    /// Inserts a run in state `queued`; returns its id.
    pub async fn queue_run(&self, run: &QueuedRun) -> Result<i64> {
        let rs = self
            .db
            .execute(
                "INSERT INTO agent_runs (agent_id, user_id, task, status, variables, parent_run_id, owner, origin) \
                 VALUES (?1, (SELECT id FROM users WHERE username = 'console'), ?2, 'queued', ?3, ?4, ?5, ?6)",
                params![
                    run.agent_id,
                    run.task.as_str(),
                    json_text(&run.variables),
                    run.parent_run_id,
                    run.owner.as_str(),
                    run.origin.as_str()
                ],
            )
            .await?;
        new_id(rs)
    }

    /// Moves a queued run to `running` with its model and a fresh start time.
    /// Returns false when the run is no longer queued (cancelled meanwhile, or
    /// deleted with its agent).
    pub async fn start_run(&self, id: i64, model: Option<&str>) -> Result<bool> {
        let rs = self
            .db
            .execute(
                &format!(
                    "UPDATE agent_runs SET status = 'running', model_name = ?2, started_at = {NOW} \
                     WHERE id = ?1 AND status = 'queued'"
                ),
                params![id, model],
            )
            .await?;
        Ok(rs.rows_affected == 1)
    }

    /// Appends one step and adds it to the run's counters, in one transaction.
    pub async fn append_run_step(&self, step: &RunStep) -> Result<()> {
        self.record_steps(std::slice::from_ref(step)).await
    }

    /// Inserts steps in one transaction, each finished one added to the
    /// run's counters. A model turn and the `started` rows of the calls it
    /// asked for go in together, so no call is ever made that the database
    /// does not know of.
    pub async fn record_steps(&self, steps: &[RunStep]) -> Result<()> {
        let mut batch = Vec::new();
        for step in steps {
            batch.push(Statement::new(
                "INSERT INTO agent_run_steps (run_id, seq, kind, name, input, output, is_error, \
                 input_tokens, output_tokens, total_tokens, child_run_id, started_at, duration_ms, \
                 state, call_id, server) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
                params![
                    step.run_id,
                    step.seq,
                    step.kind.as_str(),
                    step.name.as_str(),
                    json_text(&step.input),
                    step.output.as_deref(),
                    step.is_error,
                    step.input_tokens,
                    step.output_tokens,
                    step.total_tokens,
                    step.child_run_id,
                    step.started_at.as_str(),
                    step.duration_ms,
                    step.state.as_str(),
                    step.call_id.as_deref(),
                    step.server.as_deref()
                ],
            ));
            if step.is_finished() {
                batch.push(count_step(step, ""));
            }
        }
        self.db.batch(batch).await?;
        Ok(())
    }

    /// Finishes a `started` step in place (its start time kept) with the
    /// result in `step`, and adds it to the run's counters, in one
    /// transaction. A step that is not `started` is left as it is.
    pub async fn finish_step(&self, step: &RunStep) -> Result<()> {
        self.db
            .batch(vec![
                Statement::new(
                    "UPDATE agent_run_steps SET output = ?3, is_error = ?4, child_run_id = ?5, \
                     duration_ms = ?6, state = 'finished' \
                     WHERE run_id = ?1 AND seq = ?2 AND state = 'started'",
                    params![
                        step.run_id,
                        step.seq,
                        step.output.as_deref(),
                        step.is_error,
                        step.child_run_id,
                        step.duration_ms
                    ],
                ),
                // Counted only when the row above changed.
                count_step(step, " AND changes() = 1"),
            ])
            .await?;
        Ok(())
    }

    /// Notes on a `started` sub-agent call which child run it started, as
    /// soon as the child is queued (a resumed parent finds it there).
    pub async fn set_step_child(&self, run_id: i64, seq: i64, child_run_id: i64) -> Result<()> {
        self.db
            .execute(
                "UPDATE agent_run_steps SET child_run_id = ?3 WHERE run_id = ?1 AND seq = ?2",
                params![run_id, seq, child_run_id],
            )
            .await?;
        Ok(())
    }

    /// Records how a run ended. A run that has already ended keeps its first
    /// ending (a cancel racing a completion cannot overwrite it). Returns
    /// false when nothing changed.
    pub async fn finish_run(&self, id: i64, end: &RunEnd) -> Result<bool> {
        let rs = self
            .db
            .execute(
                &format!(
                    "UPDATE agent_runs SET status = ?2, final_response = COALESCE(?3, final_response), \
                     error = ?4, completed_at = {NOW}, \
                     duration_seconds = (julianday({NOW}) - julianday(started_at)) * 86400.0 \
                     WHERE id = ?1 AND status IN ('queued', 'running')"
                ),
                params![
                    id,
                    end.status.as_str(),
                    end.final_response.as_deref(),
                    end.error.as_deref()
                ],
            )
            .await?;
        Ok(rs.rows_affected == 1)
    }

    /// The steps of a run in order.
    pub async fn run_steps(&self, id: i64) -> Result<Vec<RunStep>> {
        let rs = self
            .db
            .query(
                &format!("{SELECT_STEP} WHERE run_id = ?1 ORDER BY seq"),
                params![id],
            )
            .await?;
        rs.rows.iter().map(step_from_row).collect()
    }

    /// Up to `limit` steps of a run with `seq` above `after`, in order.
    pub async fn run_steps_after(&self, id: i64, after: i64, limit: u32) -> Result<Vec<RunStep>> {
        let rs = self
            .db
            .query(
                &format!("{SELECT_STEP} WHERE run_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3"),
                params![id, after, limit],
            )
            .await?;
        rs.rows.iter().map(step_from_row).collect()
    }

    /// Marks `failed` ("interrupted") every queued or running run whose owner
    /// `is_gone` says has died, and returns their ids. Runs of live processes
    /// (another `stn agent run`, another server) are left alone.
    pub async fn interrupt_orphaned_runs(
        &self,
        is_gone: &dyn Fn(Option<&str>) -> bool,
    ) -> Result<Vec<i64>> {
        let rs = self
            .db
            .query(
                "SELECT id, owner FROM agent_runs WHERE status IN ('queued', 'running')",
                params![],
            )
            .await?;
        let mut ids = Vec::new();
        for row in &rs.rows {
            let owner: Option<String> = row.get(1)?;
            if is_gone(owner.as_deref()) {
                ids.push(row.get::<i64>(0)?);
            }
        }
        let end = RunEnd {
            status: RunStatus::Failed,
            final_response: None,
            error: Some(INTERRUPTED.to_owned()),
        };
        let mut interrupted = Vec::new();
        for id in ids {
            if self.finish_run(id, &end).await? {
                interrupted.push(id);
            }
        }
        Ok(interrupted)
    }
}

/// Adds a finished step to its run's counters (`condition` narrows the update).
fn count_step(step: &RunStep, condition: &str) -> Statement {
    let is_model = step.kind == StepKind::Model;
    Statement::new(
        format!(
            "UPDATE agent_runs SET steps_taken = steps_taken + ?2, \
             tools_used = COALESCE(tools_used, 0) + ?3, \
             input_tokens = COALESCE(input_tokens, 0) + ?4, \
             output_tokens = COALESCE(output_tokens, 0) + ?5, \
             total_tokens = COALESCE(total_tokens, 0) + ?6 WHERE id = ?1{condition}"
        ),
        params![
            step.run_id,
            i64::from(is_model),
            i64::from(!is_model),
            step.input_tokens.unwrap_or(0),
            step.output_tokens.unwrap_or(0),
            step.total_tokens.unwrap_or(0)
        ],
    )
}

/// The error of a run whose process died before it ended.
pub const INTERRUPTED: &str = "interrupted: the process running it stopped before the run ended";

fn new_id(rs: stn_db::ResultSet) -> Result<i64> {
    rs.last_insert_rowid
        .ok_or_else(|| CoreError::Invalid("the database returned no id for the new run".to_owned()))
}
