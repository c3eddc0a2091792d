//! How each table of the Go original's final schema (goose version 48) maps to
//! ours: one `INSERT … SELECT` per table with the conversions (timestamps to
//! ISO 8601 UTC, booleans to 0/1, NULLs to our defaults, dangling optional
//! references to NULL). Columns an older Go schema lacks read as NULL.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

/// The name a Go table has during the conversion.
pub fn aside(table: &str) -> String {
    format!("go_{table}")
}

/// The Go columns of each Go table.
pub type GoColumns = BTreeMap<String, BTreeSet<String>>;

struct Cols<'a> {
    table: &'a str,
    columns: Option<&'a BTreeSet<String>>,
    /// The Go columns the conversion reads, to name the ones it does not.
    used: RefCell<BTreeSet<String>>,
}

const FMT: &str = "'%Y-%m-%dT%H:%M:%fZ'";

impl Cols<'_> {
    fn has(&self, name: &str) -> bool {
        self.columns.is_some_and(|c| c.contains(name))
    }

    /// `x."name"`, counted as carried over.
    fn read(&self, name: &str) -> String {
        self.used.borrow_mut().insert(name.to_owned());
        format!("x.\"{name}\"")
    }

    /// The column, or NULL when this Go schema has no such column.
    fn col(&self, name: &str) -> String {
        if self.has(name) {
            self.read(name)
        } else {
            "NULL".to_owned()
        }
    }

    fn or(&self, name: &str, default: &str) -> String {
        format!("coalesce({}, {default})", self.col(name))
    }

    /// A timestamp in our format; Go's driver writes `2006-01-02 15:04:05.999-07:00`
    /// or SQLite's `CURRENT_TIMESTAMP`. Unparseable text is kept as it is.
    fn ts(&self, names: &[&str]) -> String {
        let parts: Vec<String> = names
            .iter()
            .filter(|n| self.has(n))
            .map(|n| {
                let x = self.read(n);
                format!("strftime({FMT}, {x}), {x}")
            })
            .collect();
        if parts.is_empty() {
            "NULL".to_owned()
        } else {
            format!("coalesce({})", parts.join(", "))
        }
    }

    /// A NOT NULL timestamp: `now` when Go had none.
    fn ts_now(&self, names: &[&str]) -> String {
        format!("coalesce({}, strftime({FMT}, 'now'))", self.ts(names))
    }

    /// Go's BOOLEAN column (0/1, or text from some drivers) as 0/1.
    fn boolean(&self, name: &str, default: u8) -> String {
        if !self.has(name) {
            return default.to_string();
        }
        let x = self.read(name);
        format!(
            "CASE WHEN {x} IS NULL THEN {default} \
             WHEN lower(CAST({x} AS TEXT)) IN ('1', 'true', 't', 'yes') THEN 1 ELSE 0 END"
        )
    }

    /// An optional reference; NULL when the row it points to is gone.
    fn optional_ref(&self, name: &str, parent: &str) -> String {
        if !self.has(name) {
            return "NULL".to_owned();
        }
        let x = self.read(name);
        format!(
            "CASE WHEN {x} IN (SELECT id FROM {}) THEN {x} END",
            aside(parent)
        )
    }
}

/// One Go table's conversion.
pub struct Mapped {
    /// The `INSERT … SELECT`, reading the Go table renamed aside.
    pub sql: String,
    /// The Go columns it carries over.
    pub used: BTreeSet<String>,
}

/// The conversion of one Go table into ours; `None` for a table of ours the
/// Go original does not have.
pub fn insert_select(table: &str, go: &GoColumns) -> Option<Mapped> {
    let c = Cols {
        table,
        columns: go.get(table),
        used: RefCell::default(),
    };
    let columns: Vec<(&str, String)> = match table {
        "users" => vec![
            ("id", c.col("id")),
            ("username", c.col("username")),
            ("public_key", c.col("public_key")),
            ("is_admin", c.boolean("is_admin", 0)),
            ("created_at", c.ts_now(&["created_at"])),
            ("updated_at", c.ts_now(&["updated_at", "created_at"])),
        ],
        "environments" => vec![
            ("id", c.col("id")),
            ("name", c.col("name")),
            ("description", c.col("description")),
            ("created_by", c.optional_ref("created_by", "users")),
            ("mcp_config_path", c.col("mcp_config_path")),
            ("variables_path", c.col("variables_path")),
            ("created_at", c.ts_now(&["created_at"])),
            ("updated_at", c.ts_now(&["updated_at", "created_at"])),
        ],
        "file_mcp_configs" => vec![
            ("id", c.col("id")),
            ("environment_id", c.col("environment_id")),
            ("config_name", c.col("config_name")),
            ("template_path", c.or("template_path", "''")),
            ("variables_path", c.col("variables_path")),
            ("template_hash", c.or("template_hash", "''")),
            ("variables_hash", c.col("variables_hash")),
            ("metadata", c.col("metadata")),
            ("last_loaded_at", c.ts(&["last_loaded_at"])),
            ("created_at", c.ts_now(&["created_at"])),
            ("updated_at", c.ts_now(&["updated_at", "created_at"])),
        ],
        "mcp_servers" => vec![
            ("id", c.col("id")),
            ("name", c.col("name")),
            ("command", c.col("command")),
            ("args", c.or("args", "'[]'")),
            ("env", c.or("env", "'{}'")),
            ("url", c.col("url")),
            ("working_dir", c.col("working_dir")),
            ("timeout_seconds", c.or("timeout_seconds", "30")),
            ("auto_restart", c.boolean("auto_restart", 1)),
            ("environment_id", c.col("environment_id")),
            (
                "file_config_id",
                c.optional_ref("file_config_id", "file_mcp_configs"),
            ),
            ("created_at", c.ts_now(&["created_at"])),
            ("updated_at", c.ts_now(&["updated_at", "created_at"])),
        ],
        "mcp_tools" => vec![
            ("id", c.col("id")),
            ("mcp_server_id", c.col("mcp_server_id")),
            ("name", c.col("name")),
            ("description", c.col("description")),
            ("input_schema", c.col("input_schema")),
            (
                "file_config_id",
                c.optional_ref("file_config_id", "file_mcp_configs"),
            ),
            ("created_at", c.ts_now(&["created_at"])),
            ("updated_at", c.ts_now(&["updated_at", "created_at"])),
        ],
        // The provider's clear-text api_key is not carried over: our schema
        // keeps only the name of the environment variable holding a key.
        "model_providers" => vec![
            ("id", c.col("id")),
            ("name", c.col("name")),
            ("display_name", c.col("display_name")),
            ("base_url", c.col("base_url")),
            ("headers", c.or("headers", "'{}'")),
            ("enabled", c.boolean("enabled", 1)),
            ("is_default", c.boolean("is_default", 0)),
            ("created_at", c.ts_now(&["created_at"])),
            ("updated_at", c.ts_now(&["updated_at", "created_at"])),
        ],
        "models" => vec![
            ("id", c.col("id")),
            ("provider_id", c.col("provider_id")),
            ("model_id", c.col("model_id")),
            (
                "name",
                format!("coalesce({}, {})", c.col("name"), c.col("model_id")),
            ),
            ("context_size", c.col("context_size")),
            ("max_tokens", c.col("max_tokens")),
            ("supports_tools", c.boolean("supports_tools", 0)),
            ("input_cost", c.col("input_cost")),
            ("output_cost", c.col("output_cost")),
            ("enabled", c.boolean("enabled", 1)),
            ("created_at", c.ts_now(&["created_at"])),
            ("updated_at", c.ts_now(&["updated_at", "created_at"])),
        ],
        "agents" => vec![
            ("id", c.col("id")),
            ("name", c.col("name")),
            ("description", c.or("description", "''")),
            ("prompt", c.or("prompt", "''")),
            ("max_steps", c.or("max_steps", "5")),
            ("environment_id", c.col("environment_id")),
            ("created_by", c.optional_ref("created_by", "users")),
            // Go names the model through its catalog; we keep the name on the agent.
            (
                "model",
                if c.has("model_id") {
                    format!(
                        "(SELECT m.model_id FROM {} m WHERE m.id = {})",
                        aside("models"),
                        c.read("model_id")
                    )
                } else {
                    "NULL".to_owned()
                },
            ),
            ("model_id", c.optional_ref("model_id", "models")),
            ("input_schema", c.col("input_schema")),
            ("output_schema", c.col("output_schema")),
            ("output_schema_preset", c.col("output_schema_preset")),
            ("app", c.col("app")),
            ("app_subtype", c.col("app_subtype")),
            ("memory_topic_key", c.col("memory_topic_key")),
            ("memory_max_tokens", c.col("memory_max_tokens")),
            ("cron_schedule", c.col("cron_schedule")),
            ("schedule_enabled", c.boolean("schedule_enabled", 0)),
            ("schedule_variables", c.col("schedule_variables")),
            ("last_scheduled_run", c.ts(&["last_scheduled_run"])),
            // Not Go's next slot: a slot due before the conversion would
            // run as a missed one at the first `stn serve`. Empty, the
            // scheduler plans the next slot after it starts.
            ("next_scheduled_run", "NULL".to_owned()),
            ("created_at", c.ts_now(&["created_at"])),
            ("updated_at", c.ts_now(&["updated_at", "created_at"])),
        ],
        // Go links tools by id only; we keep the name too.
        "agent_tools" => vec![
            ("id", c.col("id")),
            ("agent_id", c.col("agent_id")),
            (
                "tool_name",
                format!(
                    "(SELECT t.name FROM {} t WHERE t.id = {})",
                    aside("mcp_tools"),
                    c.read("tool_id")
                ),
            ),
            ("tool_id", c.optional_ref("tool_id", "mcp_tools")),
            ("created_at", c.ts_now(&["created_at"])),
        ],
        "agent_agents" => vec![
            ("id", c.col("id")),
            ("parent_agent_id", c.col("parent_agent_id")),
            ("child_agent_id", c.col("child_agent_id")),
            ("created_at", c.ts_now(&["created_at"])),
        ],
        "agent_runs" => vec![
            ("id", c.col("id")),
            ("agent_id", c.col("agent_id")),
            ("user_id", c.optional_ref("user_id", "users")),
            ("task", c.or("task", "''")),
            ("final_response", c.col("final_response")),
            ("steps_taken", c.or("steps_taken", "0")),
            ("tool_calls", c.col("tool_calls")),
            ("execution_steps", c.col("execution_steps")),
            ("status", c.or("status", "'completed'")),
            ("started_at", c.ts_now(&["started_at"])),
            ("completed_at", c.ts(&["completed_at"])),
            ("input_tokens", c.col("input_tokens")),
            ("output_tokens", c.col("output_tokens")),
            ("total_tokens", c.col("total_tokens")),
            ("duration_seconds", c.col("duration_seconds")),
            ("model_name", c.col("model_name")),
            ("tools_used", c.col("tools_used")),
            ("error", c.col("error")),
            (
                "parent_run_id",
                c.optional_ref("parent_run_id", "agent_runs"),
            ),
            ("trace_id", c.col("trace_id")),
        ],
        "settings" => vec![
            ("id", c.col("id")),
            ("key", c.col("key")),
            ("value", c.or("value", "''")),
            ("description", c.col("description")),
            ("created_at", c.ts_now(&["created_at"])),
            ("updated_at", c.ts_now(&["updated_at", "created_at"])),
        ],
        _ => return None,
    };
    let (names, exprs): (Vec<&str>, Vec<String>) = columns.into_iter().unzip();
    let sql = format!(
        "INSERT INTO {table} ({}) SELECT {} FROM {} x ORDER BY x.id",
        names.join(", "),
        exprs.join(", "),
        aside(c.table)
    );
    let mut used = c.used.take();
    // Read outside the `INSERT … SELECT`: the clear-text keys become hashed
    // `api_keys`, the history blobs step and log rows (see `history`).
    for (t, column) in CARRIED_ELSEWHERE {
        if *t == table && c.has(column) {
            used.insert((*column).to_owned());
        }
    }
    Some(Mapped { sql, used })
}

const CARRIED_ELSEWHERE: &[(&str, &str)] = &[("users", "api_key"), ("agent_runs", "debug_logs")];

/// Why a Go column has no place in our schema, for the report; columns
/// not named here get a generic reason.
pub fn why_not_carried(table: &str, column: &str) -> &'static str {
    match (table, column) {
        ("model_providers", "api_key") => {
            "a clear-text provider key: Station stores only the name of the environment variable holding it (api_key_env); set that variable"
        }
        ("agents", "is_scheduled") => "Go's duplicate of schedule_enabled, which is carried over",
        ("agents", "next_scheduled_run") => {
            "a slot planned by Go; the first `stn serve` plans the next slot after it starts, so no slot due before the conversion runs"
        }
        (
            "agent_runs",
            "orchestrator_run_id"
            | "parent_orchestrator_run_id"
            | "originating_station_id"
            | "work_id",
        ) => "Go's multi-station orchestration (lattice) ids; Station has no orchestrator",
        ("file_mcp_configs", "template_specific_vars_path" | "template_vars_hash") => {
            "Go's per-template variables file; Station reads each environment's variables.yml, so move those variables there"
        }
        _ => "Station's schema has no column for it",
    }
}

/// A row our schema would refuse, found before anything changes: the table,
/// the condition on the Go table, and what it means.
pub struct RowCheck {
    /// The Go table.
    pub table: &'static str,
    /// SQL condition selecting the bad rows (on the Go table, alias `x`).
    pub condition: &'static str,
    /// What is wrong, for the error.
    pub problem: &'static str,
    /// Columns the condition needs.
    pub needs: &'static [&'static str],
}

/// Every rule of our schema a Go row may break.
pub const ROW_CHECKS: &[RowCheck] = &[
    RowCheck {
        table: "agent_runs",
        condition: "coalesce(x.status, 'completed') NOT IN ('queued', 'running', 'completed', 'failed', 'cancelled', 'timeout')",
        problem: "status must be one of queued, running, completed, failed, cancelled, timeout",
        needs: &["status"],
    },
    RowCheck {
        table: "agent_runs",
        condition: "x.agent_id IS NULL OR x.agent_id NOT IN (SELECT id FROM agents)",
        problem: "the run's agent does not exist",
        needs: &["agent_id"],
    },
    RowCheck {
        table: "agents",
        condition: "coalesce(x.max_steps, 5) <= 0",
        problem: "max_steps must be at least 1",
        needs: &["max_steps"],
    },
    RowCheck {
        table: "agents",
        condition: "x.memory_max_tokens IS NOT NULL AND x.memory_max_tokens <= 0",
        problem: "memory_max_tokens must be positive",
        needs: &["memory_max_tokens"],
    },
    RowCheck {
        table: "agents",
        condition: "x.environment_id IS NULL OR x.environment_id NOT IN (SELECT id FROM environments)",
        problem: "the agent's environment does not exist",
        needs: &["environment_id"],
    },
    RowCheck {
        table: "mcp_servers",
        condition: "x.command IS NULL AND x.url IS NULL",
        problem: "a server needs a command or a url",
        needs: &["command", "url"],
    },
    RowCheck {
        table: "mcp_servers",
        condition: "x.environment_id IS NULL OR x.environment_id NOT IN (SELECT id FROM environments)",
        problem: "the server's environment does not exist",
        needs: &["environment_id"],
    },
    RowCheck {
        table: "mcp_tools",
        condition: "x.mcp_server_id IS NULL OR x.mcp_server_id NOT IN (SELECT id FROM mcp_servers)",
        problem: "the tool's server does not exist",
        needs: &["mcp_server_id"],
    },
    RowCheck {
        table: "agent_tools",
        condition: "x.tool_id IS NULL OR x.tool_id NOT IN (SELECT id FROM mcp_tools) \
                    OR x.agent_id NOT IN (SELECT id FROM agents)",
        problem: "the agent or the tool it names does not exist",
        needs: &["tool_id", "agent_id"],
    },
    RowCheck {
        table: "agent_agents",
        condition: "x.parent_agent_id = x.child_agent_id OR x.parent_agent_id NOT IN (SELECT id FROM agents) \
                    OR x.child_agent_id NOT IN (SELECT id FROM agents)",
        problem: "an agent cannot call itself, and both agents must exist",
        needs: &["parent_agent_id", "child_agent_id"],
    },
];
