//! Agent run history.

use stn_db::{Row, Value, params};

use super::Store;
use crate::error::{CoreError, Result};
use crate::model::{Run, RunStatus};

const SELECT: &str = "SELECT r.id, r.agent_id, a.name, e.name, r.task, r.status, r.final_response, \
    r.steps_taken, r.model_name, r.input_tokens, r.output_tokens, r.duration_seconds, r.error, \
    r.started_at, r.completed_at \
    FROM agent_runs r JOIN agents a ON a.id = r.agent_id JOIN environments e ON e.id = a.environment_id";

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
    })
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
        rs.last_insert_rowid.ok_or_else(|| {
            CoreError::Invalid("the database returned no id for the new run".to_owned())
        })
    }
}
