//! Operations that keep the database and the config dir in step: creating an
//! agent writes its `.prompt` file, deleting an environment removes its
//! directory, and so on. The CLI and the HTTP API both go through here.

use stn_db::Database;

use crate::error::{CoreError, Result};
use crate::files::mcp_config::resolve_server;
use crate::files::prompt::{PromptFile, parse_prompt, render_prompt};
use crate::files::variables::Variables;
use crate::files::{CreatedDirs, SetAside, StagedFile};
use crate::layout::Layout;
use crate::migrations::MIGRATIONS;
use crate::model::{Agent, AgentSpec, Environment, McpServer, McpServerSpec};
use crate::store::{Store, validate_name};

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

    /// Creates an environment and its directory: both or neither.
    pub async fn create_environment(
        &self,
        name: &str,
        description: Option<&str>,
    ) -> Result<Environment> {
        // The name becomes a directory: check it before touching the disk.
        validate_name("environment", name)?;
        let dir = self.layout.agents_dir(name);
        let created = CreatedDirs::create(&dir).map_err(|e| CoreError::io(&dir, e))?;
        match self.store.create_environment(name, description).await {
            Ok(env) => Ok(env),
            Err(e) => {
                created.undo();
                Err(e)
            }
        }
    }

    /// Deletes an environment, everything in it, and its directory: all or nothing.
    pub async fn delete_environment(&self, name: &str) -> Result<Environment> {
        validate_name("environment", name)?;
        let dir = self.layout.env_dir(name);
        let aside = SetAside::take(&dir).map_err(|e| CoreError::io(&dir, e))?;
        match self.store.delete_environment(name).await {
            Ok(env) => {
                if let Some(aside) = aside {
                    remove_aside(aside);
                }
                Ok(env)
            }
            Err(e) => {
                if let Some(aside) = aside {
                    restore_aside(aside);
                }
                Err(e)
            }
        }
    }

    /// Creates an agent and writes its `.prompt` file: both or neither.
    pub async fn create_agent(&self, env: &str, spec: &AgentSpec) -> Result<Agent> {
        let staged = self.stage_prompt(env, PromptFile::new(spec.clone()))?;
        let agent = match self.store.create_agent(env, spec).await {
            Ok(agent) => agent,
            Err(e) => {
                staged.discard();
                return Err(e);
            }
        };
        if let Err(e) = staged.commit() {
            // The file could not be put in place: take the row back out.
            if let Err(undo) = self.store.delete_agent(env, &spec.name).await {
                tracing::error!(agent = %spec.name, env, error = %undo, "could not undo the agent's row after its file failed");
            }
            return Err(CoreError::io(&self.layout.agent_file(env, &spec.name), e));
        }
        Ok(agent)
    }

    /// Updates an agent and rewrites its `.prompt` file, keeping front-matter
    /// keys Station does not model: both or neither.
    pub async fn update_agent(&self, env: &str, spec: &AgentSpec) -> Result<Agent> {
        // Read the file first: a broken file stops the update before anything changes.
        let path = self.layout.agent_file(env, &spec.name);
        let previous = self.store.agent(env, &spec.name).await?;
        let file = match std::fs::read_to_string(&path) {
            Ok(text) => parse_prompt(&text, &spec.name)?.with_spec(spec.clone()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => PromptFile::new(spec.clone()),
            Err(e) => return Err(CoreError::io(&path, e)),
        };
        let staged = self.stage_prompt(env, file)?;
        let agent = match self.store.update_agent(env, spec).await {
            Ok(agent) => agent,
            Err(e) => {
                staged.discard();
                return Err(e);
            }
        };
        if let Err(e) = staged.commit() {
            if let Err(undo) = self.store.update_agent(env, &previous.spec).await {
                tracing::error!(agent = %spec.name, env, error = %undo, "could not undo the agent's update after its file failed");
            }
            return Err(CoreError::io(&path, e));
        }
        Ok(agent)
    }

    /// Deletes an agent and its `.prompt` file: both or neither.
    pub async fn delete_agent(&self, env: &str, name: &str) -> Result<Agent> {
        validate_name("environment", env)?;
        validate_name("agent", name)?;
        let path = self.layout.agent_file(env, name);
        let aside = SetAside::take(&path).map_err(|e| CoreError::io(&path, e))?;
        match self.store.delete_agent(env, name).await {
            Ok(agent) => {
                if let Some(aside) = aside {
                    remove_aside(aside);
                }
                Ok(agent)
            }
            Err(e) => {
                if let Some(aside) = aside {
                    restore_aside(aside);
                }
                Err(e)
            }
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

    /// Writes the `.prompt` file beside its place, ready to commit.
    fn stage_prompt(&self, env: &str, file: PromptFile) -> Result<StagedFile> {
        // Both names become paths: check them before touching the disk.
        validate_name("environment", env)?;
        validate_name("agent", &file.spec.name)?;
        let path = self.layout.agent_file(env, &file.spec.name);
        StagedFile::write(&path, render_prompt(&file).as_bytes())
            .map_err(|e| CoreError::io(&path, e))
    }
}

/// Deletes what a committed delete set aside. The database no longer knows
/// it and it sits under a hidden name, so a failure only costs disk space.
fn remove_aside(aside: SetAside) {
    let path = aside.aside().to_path_buf();
    if let Err(e) = aside.remove() {
        tracing::warn!(path = %path.display(), error = %e, "could not remove a deleted file; remove it by hand");
    }
}

/// Puts back what a failed delete set aside.
fn restore_aside(aside: SetAside) {
    let path = aside.aside().to_path_buf();
    if let Err(e) = aside.restore() {
        tracing::error!(path = %path.display(), error = %e, "could not put a file back after a failed delete; rename it back by hand");
    }
}
