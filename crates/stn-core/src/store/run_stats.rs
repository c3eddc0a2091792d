//! Totals over recent runs, for the web UI's overview and `GET /api/v1/runs/summary`:
//! counts by status and tokens (and cost, where the model's price is known)
//! by model, in one query.

use stn_db::params;

use super::Store;
use crate::error::Result;

/// Runs started since a time, summed.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct RunSummary {
    /// The start of the window (RFC 3339 UTC).
    pub since: String,
    /// Runs per status, by status name.
    pub by_status: Vec<StatusCount>,
    /// Tokens per model.
    pub by_model: Vec<ModelUsage>,
}

/// Runs in one status.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StatusCount {
    /// The status.
    pub status: String,
    /// How many runs.
    pub runs: i64,
}

/// What one model consumed.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ModelUsage {
    /// The model name as runs record it (`None`: runs that never reached a model).
    pub model: Option<String>,
    /// Runs.
    pub runs: i64,
    /// Tokens in.
    pub input_tokens: i64,
    /// Tokens out.
    pub output_tokens: i64,
    /// Cost in the `models` table's currency, when both prices are known there
    /// (`input_cost`/`output_cost` per million tokens).
    pub cost: Option<f64>,
}

impl Store {
    /// Counts and token totals of the runs started at or after `since`.
    pub async fn run_summary(&self, since: &str) -> Result<RunSummary> {
        let by_status = self
            .db
            .query(
                "SELECT status, COUNT(*) FROM agent_runs WHERE started_at >= ?1 \
                 GROUP BY status ORDER BY status",
                params![since],
            )
            .await?;
        // The price of a model name: any enabled model row with that id.
        let by_model = self
            .db
            .query(
                "SELECT r.model_name, COUNT(*), COALESCE(SUM(r.input_tokens), 0), \
                 COALESCE(SUM(r.output_tokens), 0), \
                 (SELECT m.input_cost FROM models m WHERE m.model_id = r.model_name AND m.enabled = 1 LIMIT 1), \
                 (SELECT m.output_cost FROM models m WHERE m.model_id = r.model_name AND m.enabled = 1 LIMIT 1) \
                 FROM agent_runs r WHERE r.started_at >= ?1 GROUP BY r.model_name ORDER BY r.model_name",
                params![since],
            )
            .await?;
        let by_status = by_status
            .rows
            .iter()
            .map(|row| {
                Ok(StatusCount {
                    status: row.get(0)?,
                    runs: row.get(1)?,
                })
            })
            .collect::<Result<_>>()?;
        let by_model = by_model
            .rows
            .iter()
            .map(|row| {
                let input_tokens: i64 = row.get(2)?;
                let output_tokens: i64 = row.get(3)?;
                let input_cost: Option<f64> = row.get(4)?;
                let output_cost: Option<f64> = row.get(5)?;
                let cost = input_cost.zip(output_cost).map(|(i, o)| {
                    (input_tokens as f64 * i + output_tokens as f64 * o) / 1_000_000.0
                });
                Ok(ModelUsage {
                    model: row.get(0)?,
                    runs: row.get(1)?,
                    input_tokens,
                    output_tokens,
                    cost,
                })
            })
            .collect::<Result<_>>()?;
        Ok(RunSummary {
            since: since.to_owned(),
            by_status,
            by_model,
        })
    }
}
