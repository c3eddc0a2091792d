//! MCP servers, grouped by the config file they came from, and their tools.

use std::collections::BTreeMap;

use stn_db::{Row, Statement, params};

use super::{NOW, Store, in_env};
use crate::error::{CoreError, Result};
use crate::model::{McpServer, McpServerSpec};

/// What the database knows of one MCP config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct McpConfigRecord {
    /// File stem.
    pub config_name: String,
    /// Hash of the file when last loaded.
    pub template_hash: String,
    /// Hash of the variables used when last loaded, by versions that stored
    /// resolved values; `None` now that placeholders are stored.
    pub variables_hash: Option<String>,
}

/// What loading one MCP config file changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum McpConfigChange {
    /// New file.
    Created,
    /// The file or its variables changed.
    Updated,
    /// Nothing changed.
    Unchanged,
}

/// A tool as an MCP server listed it (`stn sync` discovery).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct McpToolRecord {
    /// The tool's name as the server spells it.
    pub name: String,
    /// Its description (may be empty).
    pub description: String,
    /// JSON Schema of its arguments.
    pub input_schema: serde_json::Value,
}

/// SQL for the id of the `mcp_tools` row an agent's `tools:` entry names in
/// an environment: the tool's own name, or Go's `__name` spelling. `env`
/// and `tool` are SQL expressions (parameters or columns).
pub(crate) fn tool_id_sql(env: &str, tool: &str) -> String {
    // The exact name first, then Go's `__name`. Two subqueries rather than an
    // ORDER BY on the outer column: libSQL servers (sqld) refuse a correlated
    // column in a subquery's ORDER BY inside an UPDATE.
    let lookup = |name_matches: String| {
        format!(
            "(SELECT t.id FROM mcp_tools t JOIN mcp_servers s ON s.id = t.mcp_server_id \
              JOIN environments e ON e.id = s.environment_id WHERE e.name = {env} \
              AND {name_matches} ORDER BY s.name, t.id LIMIT 1)"
        )
    };
    format!(
        "COALESCE({}, {})",
        lookup(format!("t.name = {tool}")),
        lookup(format!("('__' || t.name) = {tool}"))
    )
}

const SELECT: &str = "SELECT s.id, e.name, f.config_name, s.name, s.command, s.args, s.env, s.url, \
    (SELECT json_group_array(name) FROM (SELECT name FROM mcp_tools WHERE mcp_server_id = s.id ORDER BY name)) \
    FROM mcp_servers s JOIN environments e ON e.id = s.environment_id \
    LEFT JOIN file_mcp_configs f ON f.id = s.file_config_id";

fn from_row(row: &Row) -> Result<McpServer> {
    let args: String = row.get(5)?;
    let env: String = row.get(6)?;
    let tools: String = row.get(8)?;
    Ok(McpServer {
        id: row.get(0)?,
        environment: row.get(1)?,
        config_name: row.get(2)?,
        spec: McpServerSpec {
            name: row.get(3)?,
            command: row.get(4)?,
            args: serde_json::from_str(&args).unwrap_or_default(),
            env: serde_json::from_str::<BTreeMap<String, String>>(&env).unwrap_or_default(),
            url: row.get(7)?,
        },
        tools: serde_json::from_str(&tools).unwrap_or_default(),
    })
}

impl Store {
    /// MCP servers of one environment or of all.
    pub async fn list_mcp_servers(&self, env: Option<&str>) -> Result<Vec<McpServer>> {
        let rs = match env {
            Some(env) => {
                self.environment(env).await?;
                self.db
                    .query(
                        &format!("{SELECT} WHERE e.name = ?1 ORDER BY s.name"),
                        params![env],
                    )
                    .await?
            }
            None => {
                self.db
                    .query(&format!("{SELECT} ORDER BY e.name, s.name"), params![])
                    .await?
            }
        };
        rs.rows.iter().map(from_row).collect()
    }

    /// The MCP config files loaded into an environment.
    pub async fn mcp_configs(&self, env: &str) -> Result<Vec<McpConfigRecord>> {
        let rs = self
            .db
            .query(
                "SELECT f.config_name, f.template_hash, f.variables_hash FROM file_mcp_configs f \
                 JOIN environments e ON e.id = f.environment_id WHERE e.name = ?1 ORDER BY f.config_name",
                params![env],
            )
            .await?;
        rs.rows
            .iter()
            .map(|r| {
                Ok(McpConfigRecord {
                    config_name: r.get(0)?,
                    template_hash: r.get(1)?,
                    variables_hash: r.get(2)?,
                })
            })
            .collect()
    }

    /// Makes the servers of one config file exactly `servers`, in one
    /// transaction. `servers` keep their `{{.NAME}}` placeholders: values are
    /// filled in only when a server is used (`Station::resolve_mcp_server`). Servers that stay keep their tools.
    pub async fn apply_mcp_config(
        &self,
        env: &str,
        record: &McpConfigRecord,
        template_path: &str,
        servers: &[McpServerSpec],
    ) -> Result<McpConfigChange> {
        let existing = self.mcp_configs(env).await?;
        let change = match existing
            .iter()
            .find(|c| c.config_name == record.config_name)
        {
            None => McpConfigChange::Created,
            Some(current) if current == record => return Ok(McpConfigChange::Unchanged),
            Some(_) => McpConfigChange::Updated,
        };
        const CONFIG: &str = "(SELECT f.id FROM file_mcp_configs f JOIN environments e ON e.id = f.environment_id \
                              WHERE e.name = ?1 AND f.config_name = ?2)";
        let mut stmts = vec![Statement::new(
            format!(
                "INSERT INTO file_mcp_configs (environment_id, config_name, template_path, template_hash, variables_hash, last_loaded_at) \
                 VALUES ((SELECT id FROM environments WHERE name = ?1), ?2, ?3, ?4, ?5, {NOW}) \
                 ON CONFLICT (environment_id, config_name) DO UPDATE SET template_path = excluded.template_path, \
                 template_hash = excluded.template_hash, variables_hash = excluded.variables_hash, \
                 last_loaded_at = excluded.last_loaded_at, updated_at = {NOW}"
            ),
            params![
                env,
                record.config_name.as_str(),
                template_path,
                record.template_hash.as_str(),
                record.variables_hash.as_deref()
            ],
        )];
        let keep: Vec<String> = servers.iter().map(|s| s.name.clone()).collect();
        let keep_json = serde_json::to_string(&keep).unwrap_or_else(|_| "[]".to_owned());
        stmts.push(Statement::new(
            format!(
                "DELETE FROM mcp_servers WHERE file_config_id = {CONFIG} \
                 AND name NOT IN (SELECT value FROM json_each(?3))"
            ),
            params![env, record.config_name.as_str(), keep_json],
        ));
        for server in servers {
            stmts.push(Statement::new(
                format!(
                    "INSERT INTO mcp_servers (name, command, args, env, url, environment_id, file_config_id) \
                     VALUES (?3, ?4, ?5, ?6, ?7, (SELECT id FROM environments WHERE name = ?1), {CONFIG}) \
                     ON CONFLICT (name, environment_id) DO UPDATE SET command = excluded.command, args = excluded.args, \
                     env = excluded.env, url = excluded.url, file_config_id = excluded.file_config_id, updated_at = {NOW}"
                ),
                params![
                    env,
                    record.config_name.as_str(),
                    server.name.as_str(),
                    server.command.as_deref(),
                    serde_json::to_string(&server.args).unwrap_or_else(|_| "[]".to_owned()),
                    serde_json::to_string(&server.env).unwrap_or_else(|_| "{}".to_owned()),
                    server.url.as_deref(),
                ],
            ));
        }
        self.db.batch(stmts).await?;
        Ok(change)
    }

    /// The tools recorded for one server, by name.
    pub async fn mcp_tools(&self, env: &str, server: &str) -> Result<Vec<McpToolRecord>> {
        let rs = self
            .db
            .query(
                "SELECT t.name, t.description, t.input_schema FROM mcp_tools t \
                 JOIN mcp_servers s ON s.id = t.mcp_server_id JOIN environments e ON e.id = s.environment_id \
                 WHERE e.name = ?1 AND s.name = ?2 ORDER BY t.name",
                params![env, server],
            )
            .await?;
        rs.rows
            .iter()
            .map(|r| {
                let schema: Option<String> = r.get(2)?;
                Ok(McpToolRecord {
                    name: r.get(0)?,
                    description: r.get::<Option<String>>(1)?.unwrap_or_default(),
                    input_schema: schema
                        .and_then(|s| serde_json::from_str(&s).ok())
                        .unwrap_or(serde_json::Value::Null),
                })
            })
            .collect()
    }

    /// Makes a server's recorded tools exactly `tools` and links the
    /// environment's agents' `tools:` entries to them by name, in one
    /// transaction. Returns false (writing nothing) when they were already so.
    pub async fn record_mcp_tools(
        &self,
        env: &str,
        server: &str,
        tools: &[McpToolRecord],
    ) -> Result<bool> {
        let mut wanted = tools.to_vec();
        wanted.sort_by(|a, b| a.name.cmp(&b.name));
        wanted.dedup_by(|a, b| a.name == b.name);
        if self.mcp_tools(env, server).await? == wanted {
            return Ok(false);
        }
        const SERVER: &str = "(SELECT s.id FROM mcp_servers s JOIN environments e ON e.id = s.environment_id \
                              WHERE e.name = ?1 AND s.name = ?2)";
        if self
            .db
            .query_opt(&format!("SELECT {SERVER}"), params![env, server])
            .await?
            .and_then(|r| r.get::<Option<i64>>(0).ok().flatten())
            .is_none()
        {
            return Err(CoreError::NotFound {
                what: "MCP server",
                name: server.to_owned(),
                place: in_env(env),
            });
        }
        let keep: Vec<&str> = wanted.iter().map(|t| t.name.as_str()).collect();
        let mut stmts = vec![Statement::new(
            format!(
                "DELETE FROM mcp_tools WHERE mcp_server_id = {SERVER} \
                 AND name NOT IN (SELECT value FROM json_each(?3))"
            ),
            params![
                env,
                server,
                serde_json::to_string(&keep).unwrap_or_else(|_| "[]".to_owned())
            ],
        )];
        for tool in &wanted {
            stmts.push(Statement::new(
                format!(
                    "INSERT INTO mcp_tools (mcp_server_id, name, description, input_schema, file_config_id) \
                     SELECT id, ?3, ?4, ?5, file_config_id FROM mcp_servers WHERE id = {SERVER} \
                     ON CONFLICT (name, mcp_server_id) DO UPDATE SET description = excluded.description, \
                     input_schema = excluded.input_schema, updated_at = {NOW}"
                ),
                params![
                    env,
                    server,
                    tool.name.as_str(),
                    tool.description.as_str(),
                    tool.input_schema.to_string()
                ],
            ));
        }
        stmts.push(Statement::new(
            format!(
                "UPDATE agent_tools SET tool_id = {} WHERE agent_id IN \
                 (SELECT a.id FROM agents a JOIN environments e ON e.id = a.environment_id WHERE e.name = ?1)",
                tool_id_sql("?1", "agent_tools.tool_name")
            ),
            params![env],
        ));
        self.db.batch(stmts).await?;
        Ok(true)
    }

    /// Removes a config file's record with its servers and their tools.
    pub async fn remove_mcp_config(&self, env: &str, config_name: &str) -> Result<()> {
        let rs = self
            .db
            .execute(
                "DELETE FROM file_mcp_configs WHERE config_name = ?2 \
                 AND environment_id = (SELECT id FROM environments WHERE name = ?1)",
                params![env, config_name],
            )
            .await?;
        if rs.rows_affected == 0 {
            return Err(CoreError::NotFound {
                what: "MCP config",
                name: config_name.to_owned(),
                place: in_env(env),
            });
        }
        Ok(())
    }
}
