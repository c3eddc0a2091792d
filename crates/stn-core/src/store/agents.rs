//! Agents and what they may call (tools, child agents).

use stn_db::{Row, Statement, params};

use super::{NOW, Store, in_env, json_text, parse_json, user_id, username_of};
use crate::agent_check::{check_spec, check_tools};
use crate::error::{CoreError, Result};
use crate::model::{Agent, AgentSpec};
use crate::names;

fn select() -> String {
    format!(
        "{SELECT_COLUMNS}, {}, {} {FROM}",
        username_of("a.created_by"),
        username_of("a.updated_by")
    )
}

/// The agent with id `id`, as a statement that can end a write's transaction.
fn select_by_id(id: i64) -> Statement {
    Statement::new(format!("{} WHERE a.id = ?1", select()), params![id])
}

const SELECT_COLUMNS: &str = "SELECT a.id, e.name, a.name, a.description, a.prompt, a.model, a.max_steps, \
    (SELECT json_group_array(tool_name) FROM \
        (SELECT tool_name FROM agent_tools WHERE agent_id = a.id ORDER BY id)), \
    (SELECT json_group_array(name) FROM \
        (SELECT c.name FROM agent_agents x JOIN agents c ON c.id = x.child_agent_id \
         WHERE x.parent_agent_id = a.id ORDER BY x.id)), \
    a.input_schema, a.output_schema, a.output_schema_preset, a.app, a.app_subtype, \
    a.memory_topic_key, a.memory_max_tokens, a.cron_schedule, a.schedule_enabled, \
    a.schedule_variables, a.created_at, a.updated_at";
const FROM: &str = "FROM agents a JOIN environments e ON e.id = a.environment_id";

fn names(json: String) -> Vec<String> {
    serde_json::from_str(&json).unwrap_or_default()
}

fn from_row(row: &Row) -> Result<Agent> {
    Ok(Agent {
        id: row.get(0)?,
        environment: row.get(1)?,
        spec: AgentSpec {
            name: row.get(2)?,
            description: row.get(3)?,
            prompt: row.get(4)?,
            model: row.get(5)?,
            max_steps: row.get(6)?,
            tools: names(row.get(7)?),
            agents: names(row.get(8)?),
            input_schema: parse_json(row.get(9)?),
            output_schema: parse_json(row.get(10)?),
            output_schema_preset: row.get(11)?,
            app: row.get(12)?,
            app_subtype: row.get(13)?,
            memory_topic_key: row.get(14)?,
            memory_max_tokens: row.get(15)?,
            cron_schedule: row.get(16)?,
            schedule_enabled: row.get(17)?,
            schedule_variables: parse_json(row.get(18)?),
        },
        created_by: row.get(21)?,
        updated_by: row.get(22)?,
        created_at: row.get(19)?,
        updated_at: row.get(20)?,
    })
}

/// What a sync did to one agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AgentChange {
    /// It did not exist.
    Created,
    /// It existed with a different definition.
    Updated,
    /// It already matched.
    Unchanged,
}

impl Store {
    /// Agents of one environment, or of all, by environment then name.
    pub async fn list_agents(&self, env: Option<&str>) -> Result<Vec<Agent>> {
        let rs = match env {
            Some(env) => {
                self.environment(env).await?;
                self.db
                    .query(
                        &format!("{} WHERE e.name = ?1 ORDER BY a.name", select()),
                        params![env],
                    )
                    .await?
            }
            None => {
                self.db
                    .query(&format!("{} ORDER BY e.name, a.name", select()), params![])
                    .await?
            }
        };
        rs.rows.iter().map(from_row).collect()
    }

    /// One agent by environment and name.
    pub async fn agent(&self, env: &str, name: &str) -> Result<Agent> {
        let row = self
            .db
            .query_opt(
                &format!("{} WHERE e.name = ?1 AND a.name = ?2", select()),
                params![env, name],
            )
            .await?;
        match row {
            Some(row) => from_row(&row),
            None => {
                // Say which of the two is missing.
                self.environment(env).await?;
                Err(CoreError::NotFound {
                    what: "agent",
                    name: name.to_owned(),
                    place: in_env(env),
                })
            }
        }
    }

    /// One agent by id.
    pub async fn agent_by_id(&self, id: i64) -> Result<Agent> {
        let stmt = select_by_id(id);
        let row = self.db.query_opt(&stmt.sql, stmt.params).await?;
        match row {
            Some(row) => from_row(&row),
            None => Err(CoreError::NotFound {
                what: "agent",
                name: id.to_string(),
                place: String::new(),
            }),
        }
    }

    /// Creates an agent in an existing environment. One transaction checks
    /// the environment and the children (their ids are `NOT NULL` columns, so
    /// a missing one fails the insert), writes the links and reads the new
    /// row back: one request on a remote database.
    pub async fn create_agent(&self, env: &str, spec: &AgentSpec) -> Result<Agent> {
        check_spec(spec)?;
        if spec.agents.contains(&spec.name) {
            return Err(CoreError::Invalid(format!(
                "agent `{}` cannot call itself",
                spec.name
            )));
        }
        self.check_new_agent(env, spec).await?;
        let mut stmts = vec![insert_agent(env, spec, &self.actor)];
        stmts.extend(links(env, spec));
        stmts.push(Statement::new(
            format!("{} WHERE e.name = ?1 AND a.name = ?2", select()),
            params![env, spec.name.as_str()],
        ));
        match self.db.batch(stmts).await {
            Ok(results) => match results.last().and_then(|rs| rs.rows.first()) {
                Some(row) => from_row(row),
                None => Err(CoreError::Invalid(format!(
                    "agent `{}` was not found right after it was created",
                    spec.name
                ))),
            },
            Err(stn_db::DbError::Constraint { message }) if message.contains("agents.name") => {
                Err(CoreError::AlreadyExists {
                    what: "agent",
                    name: spec.name.clone(),
                    place: in_env(env),
                })
            }
            Err(stn_db::DbError::Constraint { message })
                if message.contains("agents.environment_id")
                    || message.contains("agent_agents.child_agent_id") =>
            {
                // Only now, on the failure path, read which one is missing.
                self.environment(env).await?;
                self.check_children(env, spec).await?;
                Err(CoreError::Invalid(message))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Replaces an agent's definition (its name stays).
    pub async fn update_agent(&self, env: &str, spec: &AgentSpec) -> Result<Agent> {
        check_spec(spec)?;
        let current = self.agent(env, &spec.name).await?;
        self.check_children(env, spec).await?;
        self.check_offered_tools(env, spec).await?;
        let mut stmts = vec![update_agent(current.id, spec, &self.actor)];
        stmts.extend(links(env, spec));
        stmts.push(select_by_id(current.id));
        let results = self.db.batch(stmts).await?;
        match results.last().and_then(|rs| rs.rows.first()) {
            Some(row) => from_row(row),
            None => self.agent_by_id(current.id).await,
        }
    }

    /// Creates or updates an agent to match `spec`; says which.
    pub async fn upsert_agent(&self, env: &str, spec: &AgentSpec) -> Result<AgentChange> {
        match self.agent(env, &spec.name).await {
            Ok(current) if &current.spec == spec => Ok(AgentChange::Unchanged),
            Ok(_) => self
                .update_agent(env, spec)
                .await
                .map(|_| AgentChange::Updated),
            Err(CoreError::NotFound { what: "agent", .. }) => self
                .create_agent(env, spec)
                .await
                .map(|_| AgentChange::Created),
            Err(e) => Err(e),
        }
    }

    /// What a new agent is checked against, read in one batch (one request
    /// on a remote database): its name must neither look like another
    /// agent's of the environment nor give the same tool name (`agent_…`,
    /// `__agent_…`) — decided on the names themselves, not by an index — and
    /// its tools must be offered by the environment's MCP servers.
    async fn check_new_agent(&self, env: &str, spec: &AgentSpec) -> Result<()> {
        let results = self
            .db
            .batch(vec![
                Statement::new(
                    "SELECT a.name FROM agents a JOIN environments e ON e.id = a.environment_id \
                     WHERE e.name = ?1",
                    params![env],
                ),
                Statement::new(
                    "SELECT (SELECT json_group_array(name) FROM mcp_tools WHERE mcp_server_id = s.id) \
                     FROM mcp_servers s JOIN environments e ON e.id = s.environment_id \
                     WHERE e.name = ?1",
                    params![env],
                ),
            ])
            .await?;
        let column = |i: usize| -> Result<Vec<String>> {
            results.get(i).map_or(Ok(Vec::new()), |rs| {
                rs.rows.iter().map(|r| Ok(r.get(0)?)).collect()
            })
        };
        let agents = column(0)?;
        let existing = || agents.iter().map(String::as_str);
        let place = in_env(env);
        names::refuse_lookalike("agent", &spec.name, existing(), &place)?;
        names::refuse_same_tool(&spec.name, existing(), &place)?;
        let offered: Vec<Vec<String>> = column(1)?
            .iter()
            .map(|tools| serde_json::from_str(tools).unwrap_or_default())
            .collect();
        check_tools(spec, env, &offered)
    }

    async fn check_offered_tools(&self, env: &str, spec: &AgentSpec) -> Result<()> {
        if spec.tools.is_empty() {
            return Ok(());
        }
        let offered: Vec<Vec<String>> = self
            .list_mcp_servers(Some(env))
            .await?
            .into_iter()
            .map(|s| s.tools)
            .collect();
        check_tools(spec, env, &offered)
    }

    /// Every child agent must exist in the same environment (and not be the agent itself).
    async fn check_children(&self, env: &str, spec: &AgentSpec) -> Result<()> {
        if spec.agents.is_empty() {
            return Ok(());
        }
        if spec.agents.contains(&spec.name) {
            return Err(CoreError::Invalid(format!(
                "agent `{}` cannot call itself",
                spec.name
            )));
        }
        let existing: Vec<String> = self
            .list_agents(Some(env))
            .await?
            .into_iter()
            .map(|a| a.spec.name)
            .collect();
        match spec.agents.iter().find(|c| !existing.contains(c)) {
            Some(missing) => Err(CoreError::NotFound {
                what: "child agent",
                name: missing.clone(),
                place: in_env(env),
            }),
            None => Ok(()),
        }
    }

    /// Deletes an agent and its runs.
    pub async fn delete_agent(&self, env: &str, name: &str) -> Result<Agent> {
        let agent = self.agent(env, name).await?;
        self.db
            .execute("DELETE FROM agents WHERE id = ?1", params![agent.id])
            .await?;
        Ok(agent)
    }
}

/// The agent's own columns, in the order of the INSERT and UPDATE below (?1..?16).
fn columns(spec: &AgentSpec) -> Vec<stn_db::Value> {
    params![
        spec.name.as_str(),
        spec.description.as_str(),
        spec.prompt.as_str(),
        spec.model.as_deref(),
        spec.max_steps,
        json_text(&spec.input_schema),
        json_text(&spec.output_schema),
        spec.output_schema_preset.as_deref(),
        spec.app.as_deref(),
        spec.app_subtype.as_deref(),
        spec.memory_topic_key.as_deref(),
        spec.memory_max_tokens,
        spec.cron_schedule.as_deref(),
        spec.schedule_enabled,
        json_text(&spec.schedule_variables),
    ]
}

fn insert_agent(env: &str, spec: &AgentSpec, actor: &str) -> Statement {
    let mut params = columns(spec);
    params.push(env.into());
    params.push(actor.into());
    Statement::new(
        format!(
            "INSERT INTO agents (name, description, prompt, model, max_steps, input_schema, output_schema, \
             output_schema_preset, app, app_subtype, memory_topic_key, memory_max_tokens, cron_schedule, \
             schedule_enabled, schedule_variables, environment_id, created_by, updated_by) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, \
             (SELECT id FROM environments WHERE name = ?16), {0}, {0})",
            user_id(17)
        ),
        params,
    )
}

/// A changed cron expression forgets the planned slot, so the scheduler plans
/// the next one from the new expression.
fn update_agent(id: i64, spec: &AgentSpec, actor: &str) -> Statement {
    let mut params = columns(spec);
    params.push(id.into());
    params.push(actor.into());
    Statement::new(
        format!(
            "UPDATE agents SET name = ?1, description = ?2, prompt = ?3, model = ?4, max_steps = ?5, \
             input_schema = ?6, output_schema = ?7, output_schema_preset = ?8, app = ?9, app_subtype = ?10, \
             memory_topic_key = ?11, memory_max_tokens = ?12, cron_schedule = ?13, schedule_enabled = ?14, \
             schedule_variables = ?15, updated_at = {NOW}, updated_by = {}, \
             next_scheduled_run = CASE WHEN cron_schedule IS ?13 THEN next_scheduled_run END \
             WHERE id = ?16",
            user_id(17)
        ),
        params,
    )
}

/// Replaces the agent's tool and child-agent links. Tools link to a known
/// `mcp_tools` row of the same environment when there is one; children must exist.
fn links(env: &str, spec: &AgentSpec) -> Vec<Statement> {
    const AGENT: &str = "(SELECT a.id FROM agents a JOIN environments e ON e.id = a.environment_id \
                         WHERE e.name = ?1 AND a.name = ?2)";
    let mut stmts = vec![
        Statement::new(
            format!("DELETE FROM agent_tools WHERE agent_id = {AGENT}"),
            params![env, spec.name.as_str()],
        ),
        Statement::new(
            format!("DELETE FROM agent_agents WHERE parent_agent_id = {AGENT}"),
            params![env, spec.name.as_str()],
        ),
    ];
    for tool in &spec.tools {
        stmts.push(Statement::new(
            format!(
                "INSERT INTO agent_tools (agent_id, tool_name, tool_id) VALUES ({AGENT}, ?3, {}) \
                 ON CONFLICT (agent_id, tool_name) DO NOTHING",
                super::mcp::tool_id_sql("?1", "?3")
            ),
            params![env, spec.name.as_str(), tool.as_str()],
        ));
    }
    for child in &spec.agents {
        stmts.push(Statement::new(
            // A missing child leaves `child_agent_id` NULL, which fails the
            // transaction instead of dropping the link silently.
            format!(
                "INSERT INTO agent_agents (parent_agent_id, child_agent_id) \
                 VALUES ({AGENT}, (SELECT c.id FROM agents c JOIN environments e ON e.id = c.environment_id \
                 WHERE e.name = ?1 AND c.name = ?3)) ON CONFLICT DO NOTHING"
            ),
            params![env, spec.name.as_str(), child.as_str()],
        ));
    }
    stmts
}
