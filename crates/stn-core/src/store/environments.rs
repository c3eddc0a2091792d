//! Environments: named groups of agents and MCP servers.

use stn_db::{Row, params};

use super::{Store, user_id, username_of, validate_name};
use crate::error::{CoreError, Result};
use crate::model::Environment;
use crate::names;

/// The environment `stn init` and `stn serve` create, and commands use without `-e`.
pub const DEFAULT_ENVIRONMENT: &str = "default";

fn select() -> String {
    format!(
        "SELECT e.id, e.name, e.description, \
         (SELECT count(*) FROM agents a WHERE a.environment_id = e.id), \
         (SELECT count(*) FROM mcp_servers s WHERE s.environment_id = e.id), \
         e.created_at, e.updated_at, {}, {} FROM environments e",
        username_of("e.created_by"),
        username_of("e.updated_by")
    )
}

fn from_row(row: &Row) -> Result<Environment> {
    Ok(Environment {
        id: row.get(0)?,
        name: row.get(1)?,
        description: row.get(2)?,
        agent_count: row.get(3)?,
        mcp_server_count: row.get(4)?,
        created_at: row.get(5)?,
        updated_at: row.get(6)?,
        created_by: row.get(7)?,
        updated_by: row.get(8)?,
    })
}

impl Store {
    /// Every environment, by name.
    pub async fn list_environments(&self) -> Result<Vec<Environment>> {
        let rs = self
            .db
            .query(&format!("{} ORDER BY e.name", select()), params![])
            .await?;
        rs.rows.iter().map(from_row).collect()
    }

    /// One environment by name.
    pub async fn environment(&self, name: &str) -> Result<Environment> {
        let row = self
            .db
            .query_opt(&format!("{} WHERE e.name = ?1", select()), params![name])
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
        self.refuse_lookalike_environment(name).await?;
        let result = self
            .db
            .execute(
                &format!(
                    "INSERT INTO environments (name, description, created_by, updated_by) \
                     VALUES (?1, ?2, {0}, {0})",
                    user_id(3)
                ),
                params![name, description, self.actor.as_str()],
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
        self.refuse_lookalike_environment(name).await?;
        let rs = self
            .db
            .execute(
                // Not `ON CONFLICT DO NOTHING`: that would use up an
                // AUTOINCREMENT id on every call, leaving gaps in the ids.
                &format!(
                    "INSERT INTO environments (name, created_by, updated_by) SELECT ?1, {0}, {0} \
                     WHERE NOT EXISTS (SELECT 1 FROM environments WHERE name = ?1)",
                    user_id(2)
                ),
                params![name, self.actor.as_str()],
            )
            .await?;
        Ok(rs.rows_affected > 0)
    }

    /// A new environment must not look like an existing one; one that
    /// exists already passes (even beside a lookalike stored before this rule).
    async fn refuse_lookalike_environment(&self, name: &str) -> Result<()> {
        let envs = self
            .names("SELECT name FROM environments", params![])
            .await?;
        if envs.iter().any(|e| e == name) {
            return Ok(());
        }
        names::refuse_lookalike("environment", name, envs.iter().map(String::as_str), "")
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
