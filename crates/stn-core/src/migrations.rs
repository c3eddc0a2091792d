//! Station's schema, as ordered migrations embedded in the binary.

use stn_db::Migration;

/// Every migration, in order. Never edit one that has shipped: add a new one.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "initial_schema",
        sql: include_str!("migrations/0001_initial_schema.sql"),
    },
    Migration {
        version: 2,
        name: "idempotency_keys",
        sql: include_str!("migrations/0002_idempotency_keys.sql"),
    },
    Migration {
        version: 3,
        name: "updated_by",
        sql: include_str!("migrations/0003_updated_by.sql"),
    },
    Migration {
        version: 4,
        name: "agent_run_steps",
        sql: include_str!("migrations/0004_agent_run_steps.sql"),
    },
    Migration {
        version: 5,
        name: "durable_runs",
        sql: include_str!("migrations/0005_durable_runs.sql"),
    },
    Migration {
        version: 6,
        name: "ui_sessions",
        sql: include_str!("migrations/0006_ui_sessions.sql"),
    },
];

/// Tables holding Station's state, parents before children (the copy order).
pub const TABLES: &[&str] = &[
    "users",
    "api_keys",
    // Hashes only; copied so that a moved database keeps its browsers signed in.
    "ui_sessions",
    "environments",
    "file_mcp_configs",
    "mcp_servers",
    "mcp_tools",
    "model_providers",
    "models",
    "agents",
    "agent_tools",
    "agent_agents",
    "agent_runs",
    "agent_run_logs",
    "agent_run_steps",
    "settings",
    // Copied so that a client retrying across a move to the copy still gets
    // the first answer, and so that `--force` clears stale answers.
    "idempotency_keys",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_table_is_listed_for_copy() {
        let dir = tempfile::tempdir().unwrap();
        let url = stn_db::DatabaseUrl::parse(dir.path().join("s.db").to_str().unwrap()).unwrap();
        let db = stn_db::Database::open(&url).await.unwrap();
        db.migrate(MIGRATIONS).await.unwrap();
        let rows = db
            .query(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
                 AND name != 'stn_schema_migrations' ORDER BY name",
                vec![],
            )
            .await
            .unwrap();
        let mut actual: Vec<String> = rows.rows.iter().map(|r| r.get(0).unwrap()).collect();
        let mut listed: Vec<String> = TABLES.iter().map(|t| t.to_string()).collect();
        actual.sort();
        listed.sort();
        assert_eq!(actual, listed);
    }
}
