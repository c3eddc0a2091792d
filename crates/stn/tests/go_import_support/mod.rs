//! Go Station databases as three of its releases left them (goose version
//! 33, before the benchmark tables of 034; 40; and 48, the current one),
//! with rows in every table: realistic ones for what Station carries over,
//! one generated row for each of the others, all references intact.

pub mod schema;

use std::path::Path;

use rusqlite::Connection;

use schema::{TABLES, Table, VIEWS, columns, create_table, goose_versions};

/// The releases the fixtures are built for.
pub const RELEASES: [u32; 3] = [33, 40, 48];

pub const ALICE_KEY: &str = "sk-alice-0123456789abcdef0123456789abcdef";
pub const BOB_KEY: &str = "sk-bob-fedcba9876543210fedcba9876543210";

/// Run 1's `tool_calls` as Go writes them: the whole run's calls, with
/// arguments and outputs, one of them a sub-agent call.
pub const TOOL_CALLS: &str = r#"[{"tool_name":"__read_text_file","parameters":{"path":"/srv/log.txt"},"tool_call_id":"call_1","output":"ok: 3 lines"},{"tool_name":"__agent_helper","parameters":{"task":"Help triage"},"tool_call_id":"call_2","output":"Helped"}]"#;

/// A row: the release that could have written it, its table, and its values
/// (SQL literals) by column; columns the release does not have are left out.
struct Row {
    since: u32,
    table: &'static str,
    values: &'static [(&'static str, &'static str)],
}

const fn row(table: &'static str, values: &'static [(&'static str, &'static str)]) -> Row {
    Row {
        since: 1,
        table,
        values,
    }
}

/// 3 users (2 with keys), 3 environments, an MCP config with 2 servers and 3
/// tools, a provider with 2 models, 5 agents (one on a cron schedule Go had
/// last planned months ago) with tools and sub-agents, 6 runs (tool calls in
/// Go's shapes, debug logs, tokens, a child run) and 2 settings.
const ROWS: &[Row] = &[
    row(
        "users",
        &[
            ("id", "1"),
            ("username", "'console'"),
            ("public_key", "'console'"),
            ("is_admin", "1"),
            ("created_at", "'2025-01-02 03:04:05'"),
            ("updated_at", "'2025-01-02 03:04:05'"),
        ],
    ),
    row(
        "users",
        &[
            ("id", "2"),
            ("username", "'alice'"),
            ("public_key", "'ssh-ed25519 AAAA alice'"),
            ("is_admin", "1"),
            ("api_key", "'sk-alice-0123456789abcdef0123456789abcdef'"),
            ("created_at", "'2025-01-03 10:00:00.123456789+00:00'"),
            ("updated_at", "'2025-01-03 10:00:00.123456789+00:00'"),
        ],
    ),
    row(
        "users",
        &[
            ("id", "3"),
            ("username", "'bob'"),
            ("public_key", "'ssh-ed25519 AAAA bob'"),
            ("is_admin", "0"),
            ("api_key", "'sk-bob-fedcba9876543210fedcba9876543210'"),
            ("created_at", "'2025-01-04 08:30:00+02:00'"),
            ("updated_at", "'2025-01-04 08:30:00+02:00'"),
        ],
    ),
    row(
        "environments",
        &[
            ("id", "1"),
            ("name", "'default'"),
            ("description", "'Default environment'"),
            ("created_by", "1"),
        ],
    ),
    row(
        "environments",
        &[
            ("id", "2"),
            ("name", "'production'"),
            ("description", "'Prod'"),
            ("created_by", "2"),
            (
                "mcp_config_path",
                "'/home/u/.config/station/environments/production/template.json'",
            ),
            (
                "variables_path",
                "'/home/u/.config/station/environments/production/variables.yml'",
            ),
        ],
    ),
    row(
        "environments",
        &[("id", "3"), ("name", "'staging'"), ("created_by", "3")],
    ),
    row(
        "file_mcp_configs",
        &[
            ("id", "1"),
            ("environment_id", "2"),
            ("config_name", "'template'"),
            (
                "template_path",
                "'/home/u/.config/station/environments/production/template.json'",
            ),
            ("template_hash", "'abc123'"),
            (
                "template_specific_vars_path",
                "'/home/u/.config/station/environments/production/template.vars.yml'",
            ),
            ("template_vars_hash", "'def456'"),
            ("metadata", "'{\"k\":\"v\"}'"),
        ],
    ),
    row(
        "mcp_servers",
        &[
            ("id", "1"),
            ("name", "'filesystem'"),
            ("command", "'npx'"),
            (
                "args",
                "'[\"-y\",\"@modelcontextprotocol/server-filesystem\",\"/srv\"]'",
            ),
            ("env", "'{\"LOG\":\"1\"}'"),
            ("environment_id", "2"),
            ("file_config_id", "1"),
            ("auto_restart", "1"),
        ],
    ),
    Row {
        since: 40,
        table: "mcp_servers",
        values: &[
            ("id", "2"),
            ("name", "'remote'"),
            ("command", "''"),
            ("environment_id", "2"),
            ("file_config_id", "1"),
            ("url", "'https://mcp.example.com/mcp'"),
            ("auto_restart", "0"),
        ],
    },
    row(
        "mcp_tools",
        &[
            ("id", "1"),
            ("mcp_server_id", "1"),
            ("name", "'__read_text_file'"),
            ("description", "'Read a file'"),
            ("input_schema", "'{\"type\":\"object\"}'"),
            ("file_config_id", "1"),
        ],
    ),
    row(
        "mcp_tools",
        &[
            ("id", "2"),
            ("mcp_server_id", "1"),
            ("name", "'__list_directory'"),
            ("description", "'List'"),
            ("input_schema", "'{\"type\":\"object\"}'"),
            ("file_config_id", "1"),
        ],
    ),
    Row {
        since: 40,
        table: "mcp_tools",
        values: &[
            ("id", "3"),
            ("mcp_server_id", "2"),
            ("name", "'__search'"),
            ("description", "'Search'"),
        ],
    },
    row(
        "model_providers",
        &[
            ("id", "1"),
            ("name", "'openai'"),
            ("display_name", "'OpenAI'"),
            ("base_url", "'https://api.openai.com/v1'"),
            ("api_key", "'sk-provider-secret'"),
        ],
    ),
    row(
        "models",
        &[
            ("id", "1"),
            ("provider_id", "1"),
            ("model_id", "'gpt-4o-mini'"),
            ("name", "'GPT-4o mini'"),
            ("context_size", "128000"),
            ("max_tokens", "16384"),
            ("supports_tools", "1"),
        ],
    ),
    row(
        "models",
        &[
            ("id", "2"),
            ("provider_id", "1"),
            ("model_id", "'gpt-4o'"),
            ("name", "'GPT-4o'"),
            ("context_size", "128000"),
            ("max_tokens", "16384"),
            ("supports_tools", "1"),
        ],
    ),
    row(
        "agents",
        &[
            ("id", "1"),
            ("name", "'triage'"),
            ("description", "'Triage incidents'"),
            ("prompt", "'You triage.'"),
            ("max_steps", "12"),
            ("environment_id", "2"),
            ("created_by", "2"),
            ("model_id", "1"),
            ("cron_schedule", "'0 * * * *'"),
            ("is_scheduled", "1"),
            ("schedule_enabled", "1"),
            ("last_scheduled_run", "'2025-03-01 12:00:00+00:00'"),
            ("next_scheduled_run", "'2025-03-01 13:00:00+00:00'"),
            ("app", "'ops'"),
            ("app_subtype", "'investigations'"),
            ("memory_topic_key", "'incidents'"),
            ("memory_max_tokens", "2000"),
            ("input_schema", "'{\"type\":\"object\"}'"),
            ("created_at", "'2025-02-01 09:00:00'"),
            ("updated_at", "'2025-02-02 09:00:00'"),
        ],
    ),
    row(
        "agents",
        &[
            ("id", "2"),
            ("name", "'helper'"),
            ("description", "'Helps'"),
            ("prompt", "'You help.'"),
            ("max_steps", "4"),
            ("environment_id", "2"),
            ("created_by", "2"),
            ("model_id", "2"),
            ("created_at", "'2025-02-01 09:00:00'"),
            ("updated_at", "'2025-02-01 09:00:00'"),
        ],
    ),
    row(
        "agents",
        &[
            ("id", "3"),
            ("name", "'reporter'"),
            ("description", "'Reports'"),
            ("prompt", "'You report.'"),
            ("max_steps", "6"),
            ("environment_id", "2"),
            ("created_by", "3"),
            ("memory_max_tokens", "1500"),
            ("created_at", "'2025-02-01 09:00:00'"),
            ("updated_at", "'2025-02-01 09:00:00'"),
        ],
    ),
    row(
        "agents",
        &[
            ("id", "4"),
            ("name", "'hello'"),
            ("description", "'Says hello'"),
            ("prompt", "'Hello.'"),
            ("max_steps", "1"),
            ("environment_id", "1"),
            ("created_by", "1"),
            ("created_at", "'2025-02-01 09:00:00'"),
            ("updated_at", "'2025-02-01 09:00:00'"),
        ],
    ),
    row(
        "agents",
        &[
            ("id", "5"),
            ("name", "'stager'"),
            ("description", "'Staging agent'"),
            ("prompt", "'Stage.'"),
            ("max_steps", "12"),
            ("environment_id", "3"),
            ("created_by", "3"),
            ("model_id", "1"),
            ("created_at", "'2025-02-01 09:00:00'"),
            ("updated_at", "'2025-02-01 09:00:00'"),
        ],
    ),
    row(
        "agent_tools",
        &[("id", "1"), ("agent_id", "1"), ("tool_id", "1")],
    ),
    row(
        "agent_tools",
        &[("id", "2"), ("agent_id", "1"), ("tool_id", "2")],
    ),
    Row {
        since: 40,
        table: "agent_tools",
        values: &[("id", "3"), ("agent_id", "2"), ("tool_id", "3")],
    },
    row(
        "agent_tools",
        &[("id", "4"), ("agent_id", "3"), ("tool_id", "1")],
    ),
    row(
        "agent_agents",
        &[
            ("id", "1"),
            ("parent_agent_id", "1"),
            ("child_agent_id", "2"),
        ],
    ),
    row(
        "agent_agents",
        &[
            ("id", "2"),
            ("parent_agent_id", "1"),
            ("child_agent_id", "3"),
        ],
    ),
    row(
        "agent_runs",
        &[
            ("id", "1"),
            ("agent_id", "1"),
            ("user_id", "2"),
            ("task", "'Check the logs'"),
            ("final_response", "'All good'"),
            ("steps_taken", "2"),
            (
                "tool_calls",
                "'[{\"tool_name\":\"__read_text_file\",\"parameters\":{\"path\":\"/srv/log.txt\"},\"tool_call_id\":\"call_1\",\"output\":\"ok: 3 lines\"},{\"tool_name\":\"__agent_helper\",\"parameters\":{\"task\":\"Help triage\"},\"tool_call_id\":\"call_2\",\"output\":\"Helped\"}]'",
            ),
            ("status", "'completed'"),
            ("started_at", "'2025-03-01 12:00:00.5+00:00'"),
            ("completed_at", "'2025-03-01 12:00:07.25+00:00'"),
            ("input_tokens", "1200"),
            ("output_tokens", "340"),
            ("total_tokens", "1540"),
            ("duration_seconds", "6.75"),
            ("model_name", "'gpt-4o-mini'"),
            ("tools_used", "2"),
            (
                "debug_logs",
                "'[{\"timestamp\":\"2025-03-01T12:00:00Z\",\"level\":\"info\",\"message\":\"Starting execution for agent triage\",\"details\":{\"agent_id\":1}},{\"timestamp\":\"2025-03-01T12:00:07Z\",\"level\":\"debug\",\"message\":\"OpenAI call done\"}]'",
            ),
            ("trace_id", "'trace-1'"),
        ],
    ),
    row(
        "agent_runs",
        &[
            ("id", "2"),
            ("agent_id", "2"),
            ("user_id", "2"),
            ("task", "'Help triage'"),
            ("final_response", "'Helped'"),
            ("steps_taken", "1"),
            ("status", "'completed'"),
            ("started_at", "'2025-03-01 12:00:01'"),
            ("completed_at", "'2025-03-01 12:00:03'"),
            ("input_tokens", "300"),
            ("output_tokens", "50"),
            ("total_tokens", "350"),
            ("duration_seconds", "2.0"),
            ("model_name", "'gpt-4o'"),
            ("tools_used", "0"),
            ("parent_run_id", "1"),
            ("trace_id", "'trace-1'"),
        ],
    ),
    row(
        "agent_runs",
        &[
            ("id", "3"),
            ("agent_id", "1"),
            ("user_id", "3"),
            ("task", "'Check again'"),
            ("final_response", "''"),
            ("steps_taken", "1"),
            (
                "tool_calls",
                "'[{\"tool_name\":\"__list_directory\",\"parameters\":{\"path\":\"/srv\"},\"result\":{\"error\":\"denied\"},\"success\":false,\"duration_ms\":42}]'",
            ),
            ("status", "'failed'"),
            ("started_at", "'2025-03-02 08:00:00'"),
            ("completed_at", "'2025-03-02 08:00:30'"),
            ("input_tokens", "800"),
            ("output_tokens", "0"),
            ("total_tokens", "800"),
            ("duration_seconds", "30.0"),
            ("model_name", "'gpt-4o-mini'"),
            ("tools_used", "1"),
            ("error", "'model timeout'"),
        ],
    ),
    row(
        "agent_runs",
        &[
            ("id", "4"),
            ("agent_id", "4"),
            ("user_id", "1"),
            ("task", "'Say hello'"),
            ("final_response", "'Hello!'"),
            ("steps_taken", "1"),
            (
                "execution_steps",
                "'[{\"step_number\":1,\"type\":\"tool_call\",\"tool_name\":\"__read_text_file\",\"description\":\"read greeting\",\"duration_ms\":5}]'",
            ),
            ("status", "'completed'"),
            ("started_at", "'2025-03-03 09:00:00'"),
            ("completed_at", "'2025-03-03 09:00:01'"),
            ("input_tokens", "10"),
            ("output_tokens", "5"),
            ("total_tokens", "15"),
            ("duration_seconds", "0.5"),
            ("model_name", "'gpt-4o-mini'"),
            ("tools_used", "0"),
        ],
    ),
    row(
        "agent_runs",
        &[
            ("id", "5"),
            ("agent_id", "5"),
            ("user_id", "3"),
            ("task", "'Stage it'"),
            ("final_response", "''"),
            ("steps_taken", "0"),
            ("status", "'running'"),
            ("started_at", "'2025-03-04 09:00:00'"),
            ("input_tokens", "0"),
            ("output_tokens", "0"),
            ("total_tokens", "0"),
            ("duration_seconds", "0"),
        ],
    ),
    row(
        "agent_runs",
        &[
            ("id", "6"),
            ("agent_id", "3"),
            ("user_id", "2"),
            ("task", "'Report'"),
            ("final_response", "''"),
            ("steps_taken", "0"),
            ("tool_calls", "'not json'"),
            ("status", "'cancelled'"),
            ("started_at", "'2025-03-05 09:00:00'"),
            ("completed_at", "'2025-03-05 09:00:02'"),
            ("input_tokens", "20"),
            ("output_tokens", "0"),
            ("total_tokens", "20"),
            ("duration_seconds", "2.0"),
            ("model_name", "'gpt-4o-mini'"),
            ("tools_used", "0"),
        ],
    ),
    row(
        "settings",
        &[
            ("id", "1"),
            ("key", "'telemetry'"),
            ("value", "'off'"),
            ("description", "'Telemetry'"),
        ],
    ),
    row(
        "settings",
        &[("id", "2"), ("key", "'theme'"), ("value", "'dark'")],
    ),
];

/// Writes the Go database of release `version` at `path` (rollback journal,
/// as an idle Go Station leaves it), references checked as it is filled.
pub fn write(path: &Path, version: u32) {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(
        "PRAGMA foreign_keys = ON; \
         CREATE TABLE goose_db_version (id INTEGER PRIMARY KEY AUTOINCREMENT, version_id INTEGER NOT NULL, \
         is_applied INTEGER NOT NULL, tstamp TIMESTAMP DEFAULT (datetime('now')));",
    )
    .unwrap();
    conn.execute(
        "INSERT INTO goose_db_version (version_id, is_applied) VALUES (0, 1)",
        [],
    )
    .unwrap();
    for v in goose_versions(version) {
        conn.execute(
            "INSERT INTO goose_db_version (version_id, is_applied) VALUES (?1, 1)",
            [v],
        )
        .unwrap();
    }
    for table in TABLES {
        if let Some(sql) = create_table(table, version) {
            conn.execute_batch(&sql)
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
    }
    for (name, since, sql) in VIEWS {
        if *since <= version {
            conn.execute_batch(&format!("CREATE VIEW {name} AS {sql}"))
                .unwrap();
        }
    }
    // Indexes and a trigger, as Go has them (names that would clash with ours).
    conn.execute_batch(
        "CREATE INDEX idx_agent_runs_status ON agent_runs(status); \
         CREATE INDEX idx_agents_environment ON agents(environment_id); \
         CREATE UNIQUE INDEX idx_users_api_key ON users(api_key) WHERE api_key IS NOT NULL;",
    )
    .unwrap();
    if version >= 30 {
        conn.execute_batch(
            "CREATE TRIGGER update_reports_timestamp AFTER UPDATE ON reports BEGIN \
             UPDATE reports SET updated_at = CURRENT_TIMESTAMP WHERE id = NEW.id; END;",
        )
        .unwrap();
    }
    let written: Vec<&str> = ROWS.iter().map(|r| r.table).collect();
    for r in ROWS.iter().filter(|r| r.since <= version) {
        let table = TABLES.iter().find(|t| t.name == r.table).unwrap();
        let present = columns(table, version);
        let values: Vec<_> = r
            .values
            .iter()
            .filter(|(c, _)| present.contains(c))
            .collect();
        insert(&conn, r.table, &values);
    }
    for table in TABLES.iter().filter(|t| !written.contains(&t.name)) {
        if table.since <= version {
            let values = generated_row(table, version);
            insert(&conn, table.name, &values.iter().collect::<Vec<_>>());
        }
    }
    let dangling: i64 = conn
        .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(dangling, 0, "the fixture's references are intact");
}

fn insert<C: AsRef<str>, V: AsRef<str>>(conn: &Connection, table: &str, values: &[&(C, V)]) {
    let names: Vec<&str> = values.iter().map(|(c, _)| c.as_ref()).collect();
    let literals: Vec<&str> = values.iter().map(|(_, v)| v.as_ref()).collect();
    let sql = format!(
        "INSERT INTO {table} ({}) VALUES ({})",
        names.join(", "),
        literals.join(", ")
    );
    conn.execute_batch(&sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// One row for a table Station does not carry over: every column filled, by
/// its type; every reference points at row 1 (or the text key `x`) of its
/// parent, which has one.
fn generated_row(table: &Table, version: u32) -> Vec<(String, String)> {
    table
        .columns
        .iter()
        .filter(|(_, since)| *since <= version)
        .map(|(def, _)| {
            let mut words = def.split_whitespace();
            let name = words.next().unwrap_or_default();
            let kind = words.next().unwrap_or_default();
            let value = match kind {
                _ if def.contains("CHECK (operation_type") => "'read'".to_owned(),
                "INTEGER" | "BOOLEAN" => "1".to_owned(),
                "REAL" => "0.5".to_owned(),
                "TIMESTAMP" | "DATETIME" => "'2025-03-01 12:00:00'".to_owned(),
                _ => "'x'".to_owned(),
            };
            (name.to_owned(), value)
        })
        .collect()
}

/// Rows per table (and view names) of a database, read back.
pub fn table_rows(path: &Path) -> Vec<(String, u64)> {
    let conn = Connection::open(path).unwrap();
    let names: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    names
        .into_iter()
        .map(|name| {
            let n: i64 = conn
                .query_row(&format!("SELECT count(*) FROM \"{name}\""), [], |r| {
                    r.get(0)
                })
                .unwrap();
            (name, n as u64)
        })
        .collect()
}
