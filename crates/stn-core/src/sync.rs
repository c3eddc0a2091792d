//! `stn sync`: load an environment's files (`.prompt` agents, MCP JSON
//! configs, `variables.yml`) into the database. Idempotent: a second run
//! changes nothing and says so.

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;

use crate::error::{CoreError, Result, located};
use crate::files::mcp_config::{content_hash, parse_mcp_config};
use crate::files::prompt::parse_prompt;
use crate::files::variables::Variables;
use crate::model::AgentSpec;
use crate::station::Station;
use crate::store::{AgentChange, McpConfigChange, McpConfigRecord};

/// What one environment's sync did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SyncReport {
    /// The environment.
    pub environment: String,
    /// True when the environment row was created by this sync.
    pub environment_created: bool,
    /// Each agent file and what happened to its agent.
    pub agents: BTreeMap<String, AgentChange>,
    /// Each MCP config file and what happened to its servers.
    pub mcp_configs: BTreeMap<String, McpConfigChange>,
    /// MCP configs removed because their file is gone.
    pub mcp_configs_removed: Vec<String>,
    /// Agents removed because their file is gone (only with prune).
    pub agents_removed: Vec<String>,
    /// Agents in the database without a file (kept; prune removes them).
    pub agents_without_file: Vec<String>,
    /// Each MCP server whose tools were listed (discovery) and what changed.
    pub mcp_tools: BTreeMap<String, McpToolsChange>,
    /// Files that could not be loaded, with the reason. The rest was still applied.
    pub errors: Vec<String>,
    /// Files that were loaded but hold something ignored (a `metadata.name`
    /// that is not the file name).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl SyncReport {
    /// True when anything in the database changed.
    pub fn changed(&self) -> bool {
        self.environment_created
            || self.agents.values().any(|c| *c != AgentChange::Unchanged)
            || self
                .mcp_configs
                .values()
                .any(|c| *c != McpConfigChange::Unchanged)
            || !self.mcp_configs_removed.is_empty()
            || !self.agents_removed.is_empty()
            || self.mcp_tools.values().any(|t| t.changed)
    }
}

/// What listing one MCP server's tools changed in the database.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct McpToolsChange {
    /// The tools it offers now.
    pub tools: Vec<String>,
    /// False when the database already had exactly these tools.
    pub changed: bool,
}

impl Station {
    /// Syncs one environment directory into the database.
    pub async fn sync_environment(&self, env: &str, prune: bool) -> Result<SyncReport> {
        let layout = self.layout();
        if !layout.env_dir(env).is_dir() {
            return Err(CoreError::NotFound {
                what: "environment directory",
                name: layout.env_dir(env).display().to_string(),
                place: String::new(),
            });
        }
        let mut report = SyncReport {
            environment: env.to_owned(),
            environment_created: self.store().ensure_environment(env).await?,
            ..SyncReport::default()
        };
        // A bad file (variables.yml, a config dir that cannot be read) stops
        // the MCP configs only; the agents are still applied. A database
        // failure stops everything.
        match self.sync_mcp_configs(env, &mut report).await {
            Err(e @ CoreError::Db(_)) => return Err(e),
            Err(e) => report.errors.push(e.to_string()),
            Ok(()) => {}
        }
        self.sync_agents(env, prune, &mut report).await?;
        Ok(report)
    }

    /// Syncs every environment in `envs`, in order. An environment that
    /// cannot be synced (bad name, missing directory) becomes a report
    /// holding its error and the others are still applied; only a database
    /// failure stops the whole sync.
    pub async fn sync_environments(&self, envs: &[String], prune: bool) -> Result<Vec<SyncReport>> {
        let mut reports = Vec::with_capacity(envs.len());
        for env in envs {
            match self.sync_environment(env, prune).await {
                Ok(report) => reports.push(report),
                Err(e @ CoreError::Db(_)) => return Err(e),
                Err(e) => reports.push(SyncReport {
                    environment: env.clone(),
                    errors: vec![format!("environment `{env}`: {e}")],
                    ..SyncReport::default()
                }),
            }
        }
        Ok(reports)
    }

    async fn sync_mcp_configs(&self, env: &str, report: &mut SyncReport) -> Result<()> {
        let layout = self.layout();
        let env_dir = layout.env_dir(env);
        // Checked here so a missing variable is reported now, not when the server starts.
        let variables = Variables::load(&env_dir)?.with_process_env();
        let names = layout
            .mcp_config_names(env)
            .map_err(|e| CoreError::io(&env_dir, e))?;
        for name in &names {
            let path = layout.mcp_file(env, name);
            let loaded = std::fs::read_to_string(&path)
                .map_err(|e| CoreError::io(&path, e))
                .and_then(|text| {
                    let file = parse_mcp_config(&text, name)?;
                    file.resolve(&variables)?;
                    // The database gets the placeholders, never the values:
                    // they are often secrets, and the database is replicated.
                    // So the variables' values do not change what is stored
                    // (and no hash of a secret is stored either).
                    Ok((content_hash(&text), file.servers))
                });
            match loaded {
                Ok((template_hash, servers)) => {
                    let record = McpConfigRecord {
                        config_name: name.clone(),
                        template_hash,
                        // Set by earlier versions, which stored resolved
                        // values: the difference makes sync rewrite their rows.
                        variables_hash: None,
                    };
                    let change = self
                        .store()
                        .apply_mcp_config(env, &record, &path.display().to_string(), &servers)
                        .await?;
                    report.mcp_configs.insert(name.clone(), change);
                }
                Err(e) => report.errors.push(located(&path.display().to_string(), &e)),
            }
        }
        for record in self.store().mcp_configs(env).await? {
            if !names.contains(&record.config_name) {
                self.store()
                    .remove_mcp_config(env, &record.config_name)
                    .await?;
                report.mcp_configs_removed.push(record.config_name);
            }
        }
        Ok(())
    }

    async fn sync_agents(&self, env: &str, prune: bool, report: &mut SyncReport) -> Result<()> {
        let layout = self.layout();
        let agents_dir = layout.agents_dir(env);
        let names = layout
            .agent_names(env)
            .map_err(|e| CoreError::io(&agents_dir, e))?;
        let mut specs: Vec<AgentSpec> = Vec::new();
        for name in &names {
            let path = layout.agent_file(env, name);
            match std::fs::read_to_string(&path)
                .map_err(|e| CoreError::io(&path, e))
                .and_then(|text| Ok(parse_prompt(&text, name)?))
            {
                Ok(file) => {
                    if let Some(other) = file.ignored_name() {
                        report.warnings.push(format!(
                            "{}: `metadata.name` is `{other}` but the file name makes the agent `{name}`; \
                             the file name wins (rename the file to rename the agent, or fix metadata.name)",
                            path.display()
                        ));
                    }
                    specs.push(file.spec);
                }
                Err(e) => report.errors.push(located(&path.display().to_string(), &e)),
            }
        }
        for spec in children_first(specs, &mut report.errors) {
            match self.store().upsert_agent(env, &spec).await {
                Ok(change) => {
                    report.agents.insert(spec.name.clone(), change);
                }
                // Only a database failure stops the sync; a bad file (an
                // invalid name, a lookalike, a bad field) is its own error.
                Err(e @ CoreError::Db(_)) => return Err(e),
                Err(e) => {
                    let path = layout.agent_file(env, &spec.name);
                    report.errors.push(format!("{}: {e}", path.display()));
                }
            }
        }
        for agent in self.store().list_agents(Some(env)).await? {
            let name = agent.spec.name;
            if names.contains(&name) {
                continue;
            }
            if prune {
                self.store().delete_agent(env, &name).await?;
                report.agents_removed.push(name);
            } else {
                report.agents_without_file.push(name);
            }
        }
        Ok(())
    }
}

/// Orders agents so every child agent is synced before the agents that call
/// it. Agents in a cycle are reported and left out.
fn children_first(specs: Vec<AgentSpec>, errors: &mut Vec<String>) -> Vec<AgentSpec> {
    let in_files: HashSet<String> = specs.iter().map(|s| s.name.clone()).collect();
    let mut done: HashSet<String> = HashSet::new();
    let mut ordered = Vec::new();
    let mut remaining = specs;
    while !remaining.is_empty() {
        // A child without a file may already be in the database: it does not block.
        let (ready, blocked): (Vec<_>, Vec<_>) = remaining.into_iter().partition(|spec| {
            spec.agents
                .iter()
                .all(|c| done.contains(c) || !in_files.contains(c) || *c == spec.name)
        });
        if ready.is_empty() {
            for spec in &blocked {
                errors.push(format!(
                    "agent `{}`: its child agents form a cycle ({})",
                    spec.name,
                    spec.agents.join(", ")
                ));
            }
            break;
        }
        done.extend(ready.iter().map(|s| s.name.clone()));
        ordered.extend(ready);
        remaining = blocked;
    }
    ordered
}
