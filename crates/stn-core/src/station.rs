//! Operations that keep the database and the config dir in step: creating an
//! agent writes its `.prompt` file, deleting an environment removes its
//! directory, and so on. The CLI and the HTTP API both go through here.

use stn_db::Database;

use crate::error::{CoreError, Result};
use crate::files::mcp_config::resolve_server;
use crate::files::prompt::{PromptFile, parse_prompt, render_prompt};
use crate::files::variables::Variables;
use crate::files::write_atomic;
use crate::layout::Layout;
use crate::migrations::MIGRATIONS;
use crate::model::{Agent, AgentSpec, Environment, McpServer, McpServerSpec};
use crate::store::Store;

/// Station's state: the database plus the config dir.
#[derive(Debug, Clone)]
pub struct Station {
    store: Store,
    layout: Layout,
}

impl Station {
    /// Wraps an open database and a config dir. Does not migrate.
    pub fn new(db: Database, layout: Layout) -> Self {
        Self {
            store: Store::new(db),
            layout,
        }
    }

    /// The same Station, recording its changes as made by `username` (the
    /// `created_by` / `updated_by` of environments and agents). Without it,
    /// changes are recorded as the CLI's user, `console`.
    pub fn acting_as(&self, username: &str) -> Station {
        Station {
            store: self.store.acting_as(username),
            layout: self.layout.clone(),
        }
    }

    /// Opens and migrates: what `stn init`, `stn serve` and `stn db migrate` do.
    /// Returns the versions applied now.
    pub async fn migrate(&self) -> Result<Vec<u32>> {
        Ok(self.store.db().migrate(MIGRATIONS).await?)
    }

    /// Fails with a hint when the database is not migrated (commands other than
    /// init/serve/migrate never change the schema behind the user's back).
    pub async fn require_migrated(&self) -> Result<()> {
        let status = self.store.db().migration_status(MIGRATIONS).await?;
        if status.pending.is_empty() {
            return Ok(());
        }
        Err(CoreError::Invalid(format!(
            "the database at {} has {} pending migration(s); run `stn db migrate` (or `stn init`) first",
            self.store.db().url(),
            status.pending.len()
        )))
    }

    /// The stores.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The config dir's layout.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Creates an environment and its directory.
    pub async fn create_environment(
        &self,
        name: &str,
        description: Option<&str>,
    ) -> Result<Environment> {
        let env = self.store.create_environment(name, description).await?;
        let dir = self.layout.agents_dir(name);
        std::fs::create_dir_all(&dir).map_err(|e| CoreError::io(&dir, e))?;
        Ok(env)
    }

    /// Deletes an environment, everything in it, and its directory.
    pub async fn delete_environment(&self, name: &str) -> Result<Environment> {
        let env = self.store.delete_environment(name).await?;
        let dir = self.layout.env_dir(name);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => Ok(env),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(env),
            Err(e) => Err(CoreError::io(&dir, e)),
        }
    }

    /// Creates an agent and writes its `.prompt` file.
    pub async fn create_agent(&self, env: &str, spec: &AgentSpec) -> Result<Agent> {
        let agent = self.store.create_agent(env, spec).await?;
        self.write_prompt(env, PromptFile::new(agent.spec.clone()))?;
        Ok(agent)
    }

    /// Updates an agent and rewrites its `.prompt` file, keeping front-matter
    /// keys Station does not model.
    pub async fn update_agent(&self, env: &str, spec: &AgentSpec) -> Result<Agent> {
        // Read the file first: a broken file stops the update before anything changes.
        let path = self.layout.agent_file(env, &spec.name);
        let file = match std::fs::read_to_string(&path) {
            Ok(text) => Some(parse_prompt(&text, &spec.name)?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(CoreError::io(&path, e)),
        };
        let agent = self.store.update_agent(env, spec).await?;
        let file = match file {
            Some(existing) => existing.with_spec(agent.spec.clone()),
            None => PromptFile::new(agent.spec.clone()),
        };
        self.write_prompt(env, file)?;
        Ok(agent)
    }

    /// Deletes an agent and its `.prompt` file.
    pub async fn delete_agent(&self, env: &str, name: &str) -> Result<Agent> {
        let agent = self.store.delete_agent(env, name).await?;
        let path = self.layout.agent_file(env, name);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(agent),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(agent),
            Err(e) => Err(CoreError::io(&path, e)),
        }
    }

    /// An MCP server as it must be started: its `{{.NAME}}` placeholders
    /// filled from its environment's `variables.yml` as it is now, then from
    /// the process environment. The database holds the placeholders only, so
    /// secrets never reach it or its replicas; call this each time a server
    /// is started (or an HTTP one called), and never store the result.
    pub async fn resolve_mcp_server(&self, server: &McpServer) -> Result<McpServerSpec> {
        let vars = Variables::load(&self.layout.env_dir(&server.environment))?.with_process_env();
        let file = format!(
            "{}.json",
            server.config_name.as_deref().unwrap_or(&server.spec.name)
        );
        Ok(resolve_server(&file, &server.spec, &vars)?)
    }

    fn write_prompt(&self, env: &str, file: PromptFile) -> Result<()> {
        let path = self.layout.agent_file(env, &file.spec.name);
        write_atomic(&path, render_prompt(&file).as_bytes()).map_err(|e| CoreError::io(&path, e))
    }
}
