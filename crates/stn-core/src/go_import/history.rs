//! Go's run history blobs as our rows, so that an imported run reads like a
//! native one: `tool_calls` (and `execution_steps`, where a Go version wrote
//! them) become `agent_run_steps`, `debug_logs` become `agent_run_logs`.
//!
//! Go kept, per run, the tool calls of the whole run as one array
//! (`[{tool_name, parameters, tool_call_id, output}]`, some versions with
//! `result`, `success`, `duration_ms`) and the token usage of its last model
//! call only. It did not record which turn asked for which call, so a run
//! with tool calls becomes: one model turn asking for all of them, the calls
//! in order, and a final model turn holding the answer and the run's tokens.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value, json};
use stn_db::{Database, Statement, params};

use super::mapping::GoColumns;
use crate::error::Result;

/// What the history conversion made.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HistoryCounts {
    /// Runs that got step rows.
    pub runs_with_steps: u64,
    /// Tool and sub-agent calls read from Go's `tool_calls` / `execution_steps`.
    pub tool_calls: u64,
    /// Step rows written (model turns and calls).
    pub steps: u64,
    /// Log lines written from Go's `debug_logs`.
    pub logs: u64,
    /// Runs whose JSON could not be read: the text stays in the run's
    /// `tool_calls` / `execution_steps` column (or in the backup, for
    /// `debug_logs`).
    pub unreadable: Vec<Unreadable>,
}

/// A run's column that held no readable JSON array.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unreadable {
    /// The run.
    pub run_id: i64,
    /// Go's column.
    pub column: String,
}

/// The step and log rows for every Go run, to run after the runs are copied.
pub async fn statements(db: &Database, go: &GoColumns) -> Result<(Vec<Statement>, HistoryCounts)> {
    let Some(columns) = go.get("agent_runs") else {
        return Ok((Vec::new(), HistoryCounts::default()));
    };
    let col = |name: &str| {
        if columns.contains(name) {
            format!("\"{name}\"")
        } else {
            "NULL".to_owned()
        }
    };
    let rows = db
        .query(
            &format!(
                "SELECT id, {}, {}, {}, {}, {}, {}, {}, {}, {} FROM agent_runs ORDER BY id",
                col("tool_calls"),
                col("execution_steps"),
                col("debug_logs"),
                col("final_response"),
                col("model_name"),
                col("input_tokens"),
                col("output_tokens"),
                col("total_tokens"),
                col("status"),
            ),
            params![],
        )
        .await?;
    let children = child_runs(db, columns).await?;
    let mut stmts = Vec::new();
    let mut counts = HistoryCounts::default();
    for row in &rows.rows {
        let run = GoRun {
            id: row.get(0)?,
            final_response: row.get(4)?,
            model: row.get(5)?,
            tokens: [row.get(6)?, row.get(7)?, row.get(8)?],
            failed: row.get::<Option<String>>(9)?.as_deref() == Some("failed"),
        };
        let mut unreadable = |column: &str| {
            counts.unreadable.push(Unreadable {
                run_id: run.id,
                column: column.to_owned(),
            });
        };
        let mut calls = match array(row.get(1)?) {
            Ok(items) => items.iter().filter_map(Call::from_tool_call).collect(),
            Err(()) => {
                unreadable("tool_calls");
                Vec::new()
            }
        };
        if calls.is_empty() {
            match array(row.get(2)?) {
                Ok(items) => calls = items.iter().filter_map(Call::from_execution_step).collect(),
                Err(()) => unreadable("execution_steps"),
            }
        }
        let logs = match array(row.get(3)?) {
            Ok(items) => items,
            Err(()) => {
                unreadable("debug_logs");
                Vec::new()
            }
        };
        let steps = run.steps(&calls, children.get(&run.id).map_or(&[][..], Vec::as_slice));
        if !steps.is_empty() {
            counts.runs_with_steps += 1;
        }
        counts.tool_calls += calls.len() as u64;
        counts.steps += steps.len() as u64;
        counts.logs += logs.len() as u64;
        stmts.extend(steps);
        stmts.extend(logs.iter().map(|entry| log_line(run.id, entry)));
    }
    Ok((stmts, counts))
}

/// A JSON array column: empty for NULL or blank text, `Err` for anything
/// else that is not an array.
fn array(text: Option<String>) -> std::result::Result<Vec<Value>, ()> {
    let Some(text) = text.filter(|t| !t.trim().is_empty()) else {
        return Ok(Vec::new());
    };
    match serde_json::from_str(&text) {
        Ok(Value::Array(items)) => Ok(items),
        Ok(Value::Null) => Ok(Vec::new()),
        _ => Err(()),
    }
}

struct GoRun {
    id: i64,
    final_response: Option<String>,
    model: Option<String>,
    tokens: [Option<i64>; 3],
    failed: bool,
}

/// One tool or sub-agent call of a Go run.
struct Call {
    id: Option<String>,
    name: String,
    arguments: Value,
    output: Option<String>,
    is_error: bool,
    duration_ms: i64,
}

impl Call {
    fn from_tool_call(item: &Value) -> Option<Self> {
        let m = item.as_object()?;
        let name = text(m, &["tool_name", "name"])?;
        Some(Self {
            id: text(m, &["tool_call_id", "id"]),
            name,
            arguments: first(m, &["parameters", "arguments", "input"])
                .cloned()
                .unwrap_or(Value::Null),
            output: first(m, &["output", "result"]).map(as_text),
            is_error: m.get("success").and_then(Value::as_bool) == Some(false),
            duration_ms: duration(m),
        })
    }

    /// Older Go versions' `execution_steps` (`{step_number, type, description,
    /// duration_ms}`): only the ones naming a tool are calls.
    fn from_execution_step(item: &Value) -> Option<Self> {
        let m = item.as_object()?;
        let kind = text(m, &["type"]).unwrap_or_default();
        if !kind.contains("tool") {
            return None;
        }
        let mut call = Self::from_tool_call(item)?;
        call.output = call.output.or_else(|| text(m, &["description"]));
        Some(call)
    }

    fn kind(&self) -> &'static str {
        if self.name.starts_with("__agent_") {
            "agent"
        } else {
            "tool"
        }
    }
}

/// Each run's child runs (sub-agent calls), oldest first.
async fn child_runs(
    db: &Database,
    columns: &std::collections::BTreeSet<String>,
) -> Result<BTreeMap<i64, Vec<i64>>> {
    let mut children: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    if !columns.contains("parent_run_id") {
        return Ok(children);
    }
    let rows = db
        .query(
            "SELECT parent_run_id, id FROM agent_runs WHERE parent_run_id IS NOT NULL ORDER BY id",
            params![],
        )
        .await?;
    for row in &rows.rows {
        children.entry(row.get(0)?).or_default().push(row.get(1)?);
    }
    Ok(children)
}

impl GoRun {
    /// The run's steps; its sub-agent calls are linked to its child runs in
    /// order (Go kept the child's `parent_run_id`, not which call made it).
    fn steps(&self, calls: &[Call], children: &[i64]) -> Vec<Statement> {
        let mut children = children.iter().copied();
        let model = self.model.clone().unwrap_or_else(|| "model".to_owned());
        let mut steps = Vec::new();
        if !calls.is_empty() {
            let asked: Vec<Value> = calls
                .iter()
                .map(|c| json!({"id": c.id, "name": c.name, "arguments": c.arguments}))
                .collect();
            steps.push(Step {
                child_run_id: None,
                kind: "model",
                name: model.clone(),
                input: Some(Value::Array(asked).to_string()),
                output: None,
                is_error: false,
                tokens: [None; 3],
                duration_ms: 0,
            });
            steps.extend(calls.iter().map(|c| Step {
                child_run_id: if c.kind() == "agent" {
                    children.next()
                } else {
                    None
                },
                kind: c.kind(),
                name: c.name.clone(),
                input: Some(c.arguments.to_string()),
                output: c.output.clone(),
                is_error: c.is_error,
                tokens: [None; 3],
                duration_ms: c.duration_ms,
            }));
        }
        let answer = self.final_response.clone().filter(|t| !t.is_empty());
        let has_tokens = self.tokens.iter().any(|t| t.is_some_and(|n| n > 0));
        if answer.is_some() || has_tokens {
            steps.push(Step {
                child_run_id: None,
                kind: "model",
                name: model,
                input: None,
                output: answer,
                is_error: self.failed && calls.is_empty(),
                tokens: self.tokens,
                duration_ms: 0,
            });
        }
        steps
            .into_iter()
            .enumerate()
            .map(|(i, s)| s.insert(self.id, i as i64 + 1))
            .collect()
    }
}

struct Step {
    child_run_id: Option<i64>,
    kind: &'static str,
    name: String,
    input: Option<String>,
    output: Option<String>,
    is_error: bool,
    tokens: [Option<i64>; 3],
    duration_ms: i64,
}

impl Step {
    /// Go has no time per step: each starts when its run started.
    fn insert(self, run_id: i64, seq: i64) -> Statement {
        Statement::new(
            "INSERT INTO agent_run_steps (run_id, seq, kind, name, input, output, is_error, \
             input_tokens, output_tokens, total_tokens, child_run_id, started_at, duration_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?12, \
             (SELECT started_at FROM agent_runs WHERE id = ?1), ?11)",
            params![
                run_id,
                seq,
                self.kind,
                self.name,
                self.input,
                self.output,
                self.is_error,
                self.tokens[0],
                self.tokens[1],
                self.tokens[2],
                self.duration_ms,
                self.child_run_id
            ],
        )
    }
}

/// A `debug_logs` entry (`{timestamp, level, message, details}`) as a log
/// line; an entry of another shape is kept whole as the message.
fn log_line(run_id: i64, entry: &Value) -> Statement {
    let m = entry.as_object();
    let level = m
        .and_then(|m| text(m, &["level"]))
        .unwrap_or_else(|| "info".to_owned());
    let message = m
        .and_then(|m| text(m, &["message", "msg"]))
        .unwrap_or_else(|| as_text(entry));
    let details = m.and_then(|m| m.get("details")).map(Value::to_string);
    let at = m.and_then(|m| text(m, &["timestamp", "time"]));
    Statement::new(
        "INSERT INTO agent_run_logs (run_id, level, message, details, created_at) \
         VALUES (?1, ?2, ?3, ?4, coalesce(strftime('%Y-%m-%dT%H:%M:%fZ', ?5), \
         (SELECT started_at FROM agent_runs WHERE id = ?1)))",
        params![run_id, level, message, details, at],
    )
}

fn first<'a>(m: &'a Map<String, Value>, keys: &[&str]) -> Option<&'a Value> {
    keys.iter().find_map(|k| m.get(*k).filter(|v| !v.is_null()))
}

fn text(m: &Map<String, Value>, keys: &[&str]) -> Option<String> {
    first(m, keys).map(as_text).filter(|t| !t.is_empty())
}

/// A string as it is, anything else as JSON.
fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn duration(m: &Map<String, Value>) -> i64 {
    m.get("duration_ms")
        .and_then(Value::as_f64)
        .map_or(0, |ms| ms.max(0.0) as i64)
}
