//! Agent schedules: which agents run on a cron schedule, and the slot claim
//! that makes every slot run at most once, across restarts and processes.

use stn_db::params;

use super::{Store, parse_json};
use crate::error::Result;

/// An agent with an enabled schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduledAgent {
    /// The agent.
    pub agent_id: i64,
    /// Its name.
    pub name: String,
    /// Its environment.
    pub environment: String,
    /// The cron expression.
    pub cron: String,
    /// Variables for its runs.
    pub variables: Option<serde_json::Value>,
    /// The next slot to run, as stored (RFC 3339 UTC); `None` before the first plan.
    pub next_run: Option<String>,
}

impl Store {
    /// Agents whose schedule is enabled.
    pub async fn scheduled_agents(&self) -> Result<Vec<ScheduledAgent>> {
        let rs = self
            .db
            .query(
                "SELECT a.id, a.name, e.name, a.cron_schedule, a.schedule_variables, a.next_scheduled_run \
                 FROM agents a JOIN environments e ON e.id = a.environment_id \
                 WHERE a.schedule_enabled = 1 AND a.cron_schedule IS NOT NULL AND a.cron_schedule != '' \
                 ORDER BY a.id",
                params![],
            )
            .await?;
        rs.rows
            .iter()
            .map(|row| {
                Ok(ScheduledAgent {
                    agent_id: row.get(0)?,
                    name: row.get(1)?,
                    environment: row.get(2)?,
                    cron: row.get(3)?,
                    variables: parse_json(row.get(4)?),
                    next_run: row.get(5)?,
                })
            })
            .collect()
    }

    /// Plans an agent's first slot; false when another process planned it first.
    pub async fn plan_schedule(&self, agent_id: i64, next: &str) -> Result<bool> {
        let rs = self
            .db
            .execute(
                "UPDATE agents SET next_scheduled_run = ?2 WHERE id = ?1 AND next_scheduled_run IS NULL",
                params![agent_id, next],
            )
            .await?;
        Ok(rs.rows_affected == 1)
    }

    /// Claims the due slot `slot` and plans `next`, atomically: true for
    /// exactly one caller per slot, so a restart or a second server never runs
    /// the same slot twice.
    pub async fn claim_schedule_slot(&self, agent_id: i64, slot: &str, next: &str) -> Result<bool> {
        let rs = self
            .db
            .execute(
                "UPDATE agents SET last_scheduled_run = ?2, next_scheduled_run = ?3 \
                 WHERE id = ?1 AND next_scheduled_run = ?2",
                params![agent_id, slot, next],
            )
            .await?;
        Ok(rs.rows_affected == 1)
    }
}
