//! Environments: named groups of agents and MCP servers.

use stn_db::{Row, params};

use super::{Store, validate_name};
use crate::error::{CoreError, Result};
use crate::model::Environment;

/// The environment `stn init` and `stn serve` create, and commands use without `-e`.
pub const DEFAULT_ENVIRONMENT: &str = "default";

const SELECT: &str = "SELECT e.id, e.name, e.description, \
    (SELECT count(*) FROM agents a WHERE a.environment_id = e.id), \
    (SELECT count(*) FROM mcp_servers s WHERE s.environment_id = e.id), \
    e.created_at, e.updated_at FROM environments e";

fn from_row(row: &Row) -> Result<Environment> {
    Ok(Environment {
        id: row.get(0)?,
        name: row.get(1)?,
        description: row.get(2)?,
        agent_count: row.get(3)?,
        mcp_server_count: row.get(4)?,
        created_at: row.get(5)?,
        updated_at: row.get(6)?,
    })
}

impl Store {
    /// Every environment, by name.
    pub async fn list_environments(&self) -> Result<Vec<Environment>> {
        let rs = self
            .db
            .query(&format!("{SELECT} ORDER BY e.name"), params![])
            .await?;
        rs.rows.iter().map(from_row).collect()
    }

    /// One environment by name.
    pub async fn environment(&self, name: &str) -> Result<Environment> {
        let row = self
            .db
            .query_opt(&format!("{SELECT} WHERE e.name = ?1"), params![name])
            .await?;
        match row {
            Some(row) => from_row(&row),
            None => Err(CoreError::NotFound {
                what: "environment",
                name: name.to_owned(),
                place: String::new(),
            }),
        }
    }

    /// Creates an environment; an existing name is an error.
    pub async fn create_environment(
        &self,
        name: &str,
        description: Option<&str>,
    ) -> Result<Environment> {
        validate_name("environment", name)?;
        let result = self
            .db
            .execute(
                "INSERT INTO environments (name, description, created_by) \
                 VALUES (?1, ?2, (SELECT id FROM users WHERE username = 'console'))",
                params![name, description],
            )
            .await;
        match result {
            Ok(_) => self.environment(name).await,
            Err(stn_db::DbError::Constraint { .. }) => Err(CoreError::AlreadyExists {
                what: "environment",
                name: name.to_owned(),
                place: String::new(),
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// Creates the environment unless it exists; true when it was created.
    pub async fn ensure_environment(&self, name: &str) -> Result<bool> {
        validate_name("environment", name)?;
        let rs = self
            .db
            .execute(
                // Not `ON CONFLICT DO NOTHING`: that would use up an
                // AUTOINCREMENT id on every call, leaving gaps in the ids.
                "INSERT INTO environments (name, created_by) \
                 SELECT ?1, (SELECT id FROM users WHERE username = 'console') \
                 WHERE NOT EXISTS (SELECT 1 FROM environments WHERE name = ?1)",
                params![name],
            )
            .await?;
        Ok(rs.rows_affected > 0)
    }

    /// Deletes an environment with everything in it (agents, their runs, MCP servers).
    pub async fn delete_environment(&self, name: &str) -> Result<Environment> {
        if name == DEFAULT_ENVIRONMENT {
            // Commands without -e and `stn serve` rely on it existing.
            return Err(CoreError::Rejected(format!(
                "the `{DEFAULT_ENVIRONMENT}` environment cannot be deleted; delete its agents instead (`stn agent delete NAME`)"
            )));
        }
        let env = self.environment(name).await?;
        self.db
            .execute("DELETE FROM environments WHERE id = ?1", params![env.id])
            .await?;
        Ok(env)
    }
}
