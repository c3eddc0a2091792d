//! Keeping the run history: deleting runs, and what a run cost where the
//! model's price is known.

use std::collections::HashMap;

use stn_db::{Statement, params};

use super::Store;
use crate::error::{CoreError, Result};
use crate::model::Run;

/// A model's price in the `models` table (the Go original's catalog):
/// `input_cost`/`output_cost` per million tokens, as providers list them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModelPrice {
    /// Per million input tokens.
    pub input_per_million: f64,
    /// Per million output tokens.
    pub output_per_million: f64,
}

impl ModelPrice {
    /// The cost of `run`, when it recorded its tokens.
    pub fn cost_of(&self, run: &Run) -> Option<f64> {
        let input = run.input_tokens?;
        let output = run.output_tokens.unwrap_or(0);
        Some(
            (input as f64 * self.input_per_million + output as f64 * self.output_per_million)
                / 1_000_000.0,
        )
    }
}

impl Store {
    /// Deletes the runs `ids` with their steps and logs, all or none: a run
    /// that does not exist, or is queued or running (its process is still
    /// writing it), is refused and nothing is deleted. Child runs keep their
    /// history and lose the link to the parent.
    pub async fn delete_runs(&self, ids: &[i64]) -> Result<Vec<Run>> {
        let mut runs = Vec::with_capacity(ids.len());
        for &id in ids {
            let run = self.run(id).await?;
            if !run.status.is_final() {
                return Err(CoreError::Rejected(format!(
                    "run {id} is {}; wait for it to end or cancel it \
                     (POST /api/v1/runs/{id}/cancel, or Ctrl-C in its `stn agent run`), then delete it",
                    run.status.as_str()
                )));
            }
            runs.push(run);
        }
        let mut stmts = Vec::new();
        for run in &runs {
            // Explicit rather than left to ON DELETE CASCADE, so the steps and
            // logs go even where foreign keys are not enforced.
            for table in ["agent_run_steps", "agent_run_logs"] {
                stmts.push(Statement::new(
                    format!("DELETE FROM {table} WHERE run_id = ?1"),
                    params![run.id],
                ));
            }
            stmts.push(Statement::new(
                "DELETE FROM agent_runs WHERE id = ?1 AND status NOT IN ('queued', 'running')",
                params![run.id],
            ));
        }
        self.db.batch(stmts).await?;
        Ok(runs)
    }

    /// The prices of the models in the `models` table that have both, by
    /// model id (what runs record as `model_name`). Empty when the catalog
    /// is (Station fills it only from an imported Go database).
    pub async fn model_prices(&self) -> Result<HashMap<String, ModelPrice>> {
        let rs = self
            .db
            .query(
                "SELECT model_id, input_cost, output_cost FROM models \
                 WHERE input_cost IS NOT NULL AND output_cost IS NOT NULL ORDER BY id",
                params![],
            )
            .await?;
        let mut prices = HashMap::new();
        for row in &rs.rows {
            let price = ModelPrice {
                input_per_million: row.get(1)?,
                output_per_million: row.get(2)?,
            };
            prices.entry(row.get(0)?).or_insert(price);
        }
        Ok(prices)
    }
}
