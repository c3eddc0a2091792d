//! Go Station's schema, table by table, with the goose migration that added
//! each table and each later column: the facts of the Go project's
//! migrations 001-048 (names, types, constraints, references), written out
//! here so that a database of any release can be built. A table's shape is
//! the one of version 48 without the columns added after the release built.

/// One Go table.
pub struct Table {
    pub name: &'static str,
    /// The migration that created it.
    pub since: u32,
    /// Column definitions, each with the migration that added it.
    pub columns: &'static [(&'static str, u32)],
    /// Table constraints (UNIQUE, CHECK, composite references).
    pub constraints: &'static [&'static str],
}

/// The Go migrations that exist (there are no files 012, 041-043).
pub fn goose_versions(up_to: u32) -> impl Iterator<Item = u32> {
    (1..=up_to).filter(|v| ![12, 41, 42, 43].contains(v))
}

/// Views: name, migration, definition. Go's own views read columns that do
/// not exist (`agent_runs.duration`, `task_evaluations.agent_name`), so any
/// statement that makes SQLite re-read them (a table rename) fails while
/// they are there; these do the same.
pub const VIEWS: &[(&str, u32, &str)] = &[
    (
        "v_run_quality_metrics",
        34,
        "SELECT r.id AS run_id, r.agent_id, r.duration, count(m.id) AS total_metrics \
         FROM agent_runs r LEFT JOIN benchmark_metrics m ON m.run_id = r.id GROUP BY r.id",
    ),
    (
        "v_agent_rankings",
        34,
        "SELECT e.task_id, t.name AS task_name, e.agent_name, e.task_score, e.rank \
         FROM task_evaluations e JOIN benchmark_tasks t ON t.id = e.task_id WHERE t.is_active = 1",
    ),
    (
        "v_production_readiness_dashboard",
        34,
        "SELECT r.id AS report_id, r.name, p.production_readiness_score, p.risk_level \
         FROM reports r LEFT JOIN production_readiness p ON p.report_id = r.id WHERE r.status = 'completed'",
    ),
];

macro_rules! now {
    ($col:literal) => {
        concat!($col, " DEFAULT CURRENT_TIMESTAMP")
    };
}

/// Every table of Go Station at version 48, parents before children.
pub const TABLES: &[Table] = &[
    Table {
        name: "users",
        since: 1,
        columns: &[
            ("id INTEGER PRIMARY KEY AUTOINCREMENT", 1),
            ("username TEXT NOT NULL UNIQUE", 1),
            ("public_key TEXT NOT NULL", 1),
            (now!("created_at TIMESTAMP"), 1),
            ("api_key TEXT", 3),
            ("is_admin BOOLEAN DEFAULT false", 3),
            (now!("updated_at TIMESTAMP"), 3),
        ],
        constraints: &[],
    },
    Table {
        name: "environments",
        since: 1,
        columns: &[
            ("id INTEGER PRIMARY KEY AUTOINCREMENT", 1),
            ("name TEXT NOT NULL UNIQUE", 1),
            ("description TEXT", 1),
            ("created_by INTEGER NOT NULL REFERENCES users(id)", 1),
            (now!("created_at TIMESTAMP"), 1),
            (now!("updated_at TIMESTAMP"), 4),
            ("mcp_config_path TEXT", 16),
            ("variables_path TEXT", 16),
        ],
        constraints: &[],
    },
    Table {
        name: "file_mcp_configs",
        since: 16,
        columns: &[
            ("id INTEGER PRIMARY KEY AUTOINCREMENT", 16),
            (
                "environment_id INTEGER NOT NULL REFERENCES environments(id) ON DELETE CASCADE",
                16,
            ),
            ("config_name TEXT NOT NULL", 16),
            ("template_path TEXT NOT NULL", 16),
            ("variables_path TEXT", 16),
            ("template_specific_vars_path TEXT", 16),
            ("last_loaded_at TIMESTAMP", 16),
            ("template_hash TEXT", 16),
            ("variables_hash TEXT", 16),
            ("template_vars_hash TEXT", 16),
            ("metadata TEXT", 16),
            (now!("created_at TIMESTAMP"), 16),
            (now!("updated_at TIMESTAMP"), 16),
        ],
        constraints: &["UNIQUE (environment_id, config_name)"],
    },
    Table {
        name: "mcp_servers",
        since: 1,
        columns: &[
            ("id INTEGER PRIMARY KEY AUTOINCREMENT", 1),
            ("name TEXT NOT NULL", 1),
            ("command TEXT NOT NULL", 1),
            ("args TEXT", 1),
            ("env TEXT", 1),
            ("working_dir TEXT", 1),
            ("timeout_seconds INTEGER DEFAULT 30", 1),
            ("auto_restart BOOLEAN DEFAULT true", 1),
            (
                "environment_id INTEGER NOT NULL REFERENCES environments(id) ON DELETE CASCADE",
                1,
            ),
            (now!("created_at TIMESTAMP"), 1),
            (
                "file_config_id INTEGER REFERENCES file_mcp_configs(id) ON DELETE CASCADE",
                19,
            ),
            ("url TEXT DEFAULT ''", 40),
        ],
        constraints: &["UNIQUE (name, environment_id)"],
    },
    Table {
        name: "mcp_tools",
        since: 1,
        columns: &[
            ("id INTEGER PRIMARY KEY AUTOINCREMENT", 1),
            (
                "mcp_server_id INTEGER NOT NULL REFERENCES mcp_servers(id) ON DELETE CASCADE",
                1,
            ),
            ("name TEXT NOT NULL", 1),
            ("description TEXT", 1),
            ("input_schema TEXT", 1),
            (now!("created_at TIMESTAMP"), 1),
            (now!("updated_at TIMESTAMP"), 1),
            (
                "file_config_id INTEGER REFERENCES file_mcp_configs(id) ON DELETE SET NULL",
                17,
            ),
        ],
        constraints: &["UNIQUE (name, mcp_server_id)"],
    },
    Table {
        name: "model_providers",
        since: 2,
        columns: &[
            ("id INTEGER PRIMARY KEY AUTOINCREMENT", 2),
            ("name TEXT NOT NULL UNIQUE", 2),
            ("display_name TEXT NOT NULL", 2),
            ("base_url TEXT NOT NULL", 2),
            ("api_key TEXT", 2),
            ("headers TEXT", 2),
            ("enabled BOOLEAN DEFAULT true", 2),
            ("is_default BOOLEAN DEFAULT false", 2),
            (now!("created_at TIMESTAMP"), 2),
            (now!("updated_at TIMESTAMP"), 2),
        ],
        constraints: &[],
    },
    Table {
        name: "models",
        since: 2,
        columns: &[
            ("id INTEGER PRIMARY KEY AUTOINCREMENT", 2),
            (
                "provider_id INTEGER NOT NULL REFERENCES model_providers(id) ON DELETE CASCADE",
                2,
            ),
            ("model_id TEXT NOT NULL", 2),
            ("name TEXT NOT NULL", 2),
            ("context_size INTEGER NOT NULL", 2),
            ("max_tokens INTEGER NOT NULL", 2),
            ("supports_tools BOOLEAN DEFAULT false", 2),
            ("input_cost REAL DEFAULT 0.0", 2),
            ("output_cost REAL DEFAULT 0.0", 2),
            ("enabled BOOLEAN DEFAULT true", 2),
            (now!("created_at TIMESTAMP"), 2),
            (now!("updated_at TIMESTAMP"), 2),
        ],
        constraints: &["UNIQUE (provider_id, model_id)"],
    },
    Table {
        name: "agents",
        since: 1,
        columns: &[
            ("id INTEGER PRIMARY KEY AUTOINCREMENT", 1),
            ("name TEXT NOT NULL", 1),
            ("description TEXT", 1),
            ("prompt TEXT NOT NULL", 1),
            ("max_steps INTEGER DEFAULT 12", 1),
            (
                "environment_id INTEGER NOT NULL REFERENCES environments(id) ON DELETE CASCADE",
                1,
            ),
            ("created_by INTEGER NOT NULL REFERENCES users(id)", 1),
            (now!("created_at TIMESTAMP"), 1),
            (now!("updated_at TIMESTAMP"), 1),
            ("model_id INTEGER REFERENCES models(id)", 2),
            ("cron_schedule TEXT", 8),
            ("is_scheduled BOOLEAN DEFAULT FALSE", 8),
            ("last_scheduled_run TIMESTAMP", 8),
            ("next_scheduled_run TIMESTAMP", 8),
            ("schedule_enabled BOOLEAN DEFAULT FALSE", 8),
            ("input_schema TEXT", 21),
            ("output_schema TEXT", 23),
            ("output_schema_preset TEXT", 23),
            ("app TEXT", 25),
            ("app_subtype TEXT", 25),
            ("schedule_variables TEXT", 28),
            ("memory_topic_key TEXT", 39),
            ("memory_max_tokens INTEGER DEFAULT 2000", 39),
        ],
        constraints: &[
            "UNIQUE (name, environment_id)",
            "CHECK (app_subtype IS NULL OR app_subtype IN ('investigations', 'opportunities', 'projections', 'inventory', 'events'))",
        ],
    },
    Table {
        name: "agent_tools",
        since: 1,
        columns: &[
            ("id INTEGER PRIMARY KEY AUTOINCREMENT", 1),
            (
                "agent_id INTEGER NOT NULL REFERENCES agents(id) ON DELETE CASCADE",
                1,
            ),
            (
                "tool_id INTEGER NOT NULL REFERENCES mcp_tools(id) ON DELETE CASCADE",
                1,
            ),
            (now!("created_at TIMESTAMP"), 1),
        ],
        constraints: &["UNIQUE (agent_id, tool_id)"],
    },
    Table {
        name: "agent_runs",
        since: 1,
        columns: &[
            ("id INTEGER PRIMARY KEY AUTOINCREMENT", 1),
            (
                "agent_id INTEGER NOT NULL REFERENCES agents(id) ON DELETE CASCADE",
                1,
            ),
            (
                "user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE",
                9,
            ),
            ("task TEXT NOT NULL", 9),
            ("final_response TEXT NOT NULL", 9),
            ("steps_taken INTEGER NOT NULL DEFAULT 0", 1),
            ("tool_calls TEXT", 9),
            ("execution_steps TEXT", 9),
            ("status TEXT NOT NULL DEFAULT 'completed'", 1),
            (now!("started_at DATETIME"), 1),
            ("completed_at DATETIME", 1),
            ("input_tokens INTEGER", 20),
            ("output_tokens INTEGER", 20),
            ("total_tokens INTEGER", 20),
            ("duration_seconds REAL", 20),
            ("model_name TEXT", 20),
            ("tools_used INTEGER", 20),
            ("debug_logs TEXT", 22),
            ("error TEXT", 24),
            ("parent_run_id INTEGER", 26),
            ("orchestrator_run_id TEXT", 48),
            ("parent_orchestrator_run_id TEXT", 48),
            ("originating_station_id TEXT", 48),
            ("trace_id TEXT", 48),
            ("work_id TEXT", 48),
        ],
        constraints: &[],
    },
    Table {
        name: "settings",
        since: 15,
        columns: &[
            ("id INTEGER PRIMARY KEY AUTOINCREMENT", 15),
            ("key TEXT NOT NULL UNIQUE", 15),
            ("value TEXT NOT NULL", 15),
            ("description TEXT", 15),
            (now!("created_at DATETIME"), 15),
            (now!("updated_at DATETIME"), 15),
        ],
        constraints: &[],
    },
    Table {
        name: "faker_sessions",
        since: 27,
        columns: &[
            ("id TEXT PRIMARY KEY", 27),
            ("instruction TEXT NOT NULL", 27),
            (now!("created_at TIMESTAMP"), 27),
            (now!("updated_at TIMESTAMP"), 27),
        ],
        constraints: &[],
    },
    Table {
        name: "faker_events",
        since: 27,
        columns: &[
            ("id INTEGER PRIMARY KEY AUTOINCREMENT", 27),
            (
                "session_id TEXT NOT NULL REFERENCES faker_sessions(id) ON DELETE CASCADE",
                27,
            ),
            ("tool_name TEXT NOT NULL", 27),
            ("arguments TEXT NOT NULL", 27),
            ("response TEXT NOT NULL", 27),
            (
                "operation_type TEXT NOT NULL CHECK (operation_type IN ('read', 'write'))",
                27,
            ),
            (now!("timestamp TIMESTAMP"), 27),
        ],
        constraints: &[],
    },
    Table {
        name: "faker_tool_cache",
        since: 29,
        columns: &[
            ("id INTEGER PRIMARY KEY AUTOINCREMENT", 29),
            ("faker_id TEXT NOT NULL", 29),
            ("tool_name TEXT NOT NULL", 29),
            ("tool_schema TEXT NOT NULL", 29),
            ("created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP", 29),
            ("updated_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP", 29),
            ("config_hash TEXT", 29),
            ("session_id TEXT", 38),
        ],
        constraints: &["UNIQUE (faker_id, tool_name)"],
    },
    Table {
        name: "reports",
        since: 30,
        columns: &[
            ("id INTEGER PRIMARY KEY AUTOINCREMENT", 30),
            ("name TEXT NOT NULL", 30),
            ("description TEXT", 30),
            (
                "environment_id INTEGER NOT NULL REFERENCES environments(id) ON DELETE CASCADE",
                30,
            ),
            ("team_criteria TEXT NOT NULL", 30),
            ("agent_criteria TEXT", 30),
            ("status TEXT NOT NULL DEFAULT 'pending'", 30),
            ("progress INTEGER DEFAULT 0", 30),
            ("current_step TEXT", 30),
            ("executive_summary TEXT", 30),
            ("team_score REAL", 30),
            ("team_reasoning TEXT", 30),
            ("team_criteria_scores TEXT", 30),
            ("agent_reports TEXT", 30),
            ("total_runs_analyzed INTEGER DEFAULT 0", 30),
            ("total_agents_analyzed INTEGER DEFAULT 0", 30),
            ("generation_duration_seconds REAL", 30),
            ("generation_started_at TIMESTAMP", 30),
            ("generation_completed_at TIMESTAMP", 30),
            ("total_llm_tokens INTEGER DEFAULT 0", 30),
            ("total_llm_cost REAL DEFAULT 0.0", 30),
            ("judge_model TEXT DEFAULT 'gpt-4o-mini'", 30),
            ("error_message TEXT", 30),
            (now!("created_at TIMESTAMP"), 30),
            (now!("updated_at TIMESTAMP"), 30),
            ("performance_trends TEXT", 35),
            ("comparative_analysis TEXT", 35),
            ("evidence_summary TEXT", 35),
            ("proof_methodology TEXT", 35),
            ("executive_insights TEXT", 35),
            ("filter_model TEXT", 36),
        ],
        constraints: &[],
    },
    Table {
        name: "agent_report_details",
        since: 30,
        columns: &[
            ("id INTEGER PRIMARY KEY AUTOINCREMENT", 30),
            (
                "report_id INTEGER NOT NULL REFERENCES reports(id) ON DELETE CASCADE",
                30,
            ),
            (
                "agent_id INTEGER NOT NULL REFERENCES agents(id) ON DELETE CASCADE",
                30,
            ),
            ("agent_name TEXT NOT NULL", 30),
            ("score REAL NOT NULL", 30),
            ("passed BOOLEAN NOT NULL DEFAULT 0", 30),
            ("reasoning TEXT", 30),
            ("criteria_scores TEXT", 30),
            ("runs_analyzed INTEGER DEFAULT 0", 30),
            ("run_ids TEXT", 30),
            ("avg_duration_seconds REAL", 30),
            ("avg_tokens INTEGER", 30),
            ("avg_cost REAL", 30),
            ("success_rate REAL", 30),
            ("strengths TEXT", 30),
            ("weaknesses TEXT", 30),
            ("recommendations TEXT", 30),
            ("telemetry_summary TEXT", 30),
            (now!("created_at TIMESTAMP"), 30),
            ("best_run_example TEXT", 35),
            ("worst_run_example TEXT", 35),
            ("tool_usage_analysis TEXT", 35),
            ("failure_patterns TEXT", 35),
            ("improvement_plan TEXT", 35),
            ("quality_metrics TEXT", 37),
        ],
        constraints: &[],
    },
    Table {
        name: "agent_agents",
        since: 31,
        columns: &[
            ("id INTEGER PRIMARY KEY AUTOINCREMENT", 31),
            (
                "parent_agent_id INTEGER NOT NULL REFERENCES agents(id) ON DELETE CASCADE",
                31,
            ),
            (
                "child_agent_id INTEGER NOT NULL REFERENCES agents(id) ON DELETE CASCADE",
                31,
            ),
            (now!("created_at TIMESTAMP"), 31),
        ],
        constraints: &[
            "UNIQUE (parent_agent_id, child_agent_id)",
            "CHECK (parent_agent_id != child_agent_id)",
        ],
    },
    Table {
        name: "benchmark_tasks",
        since: 34,
        columns: &[
            ("id INTEGER PRIMARY KEY AUTOINCREMENT", 34),
            ("name TEXT NOT NULL", 34),
            ("description TEXT NOT NULL", 34),
            ("category TEXT NOT NULL", 34),
            ("success_criteria TEXT NOT NULL", 34),
            ("weight REAL NOT NULL DEFAULT 1.0", 34),
            (
                "environment_id INTEGER REFERENCES environments(id) ON DELETE CASCADE",
                34,
            ),
            ("is_active BOOLEAN NOT NULL DEFAULT 1", 34),
            (now!("created_at TIMESTAMP"), 34),
            (now!("updated_at TIMESTAMP"), 34),
        ],
        constraints: &[],
    },
    Table {
        name: "benchmark_metrics",
        since: 34,
        columns: &[
            ("id INTEGER PRIMARY KEY AUTOINCREMENT", 34),
            (
                "run_id INTEGER NOT NULL REFERENCES agent_runs(id) ON DELETE CASCADE",
                34,
            ),
            ("metric_type TEXT NOT NULL", 34),
            ("score REAL NOT NULL", 34),
            ("threshold REAL NOT NULL", 34),
            ("passed BOOLEAN NOT NULL", 34),
            ("reason TEXT", 34),
            ("verdicts TEXT", 34),
            ("evidence TEXT", 34),
            ("judge_model TEXT DEFAULT 'gpt-4o-mini'", 34),
            ("judge_tokens INTEGER DEFAULT 0", 34),
            ("judge_cost REAL DEFAULT 0.0", 34),
            ("evaluation_duration_ms INTEGER", 34),
            (now!("created_at TIMESTAMP"), 34),
        ],
        constraints: &[],
    },
    Table {
        name: "task_evaluations",
        since: 34,
        columns: &[
            ("id INTEGER PRIMARY KEY AUTOINCREMENT", 34),
            (
                "task_id INTEGER NOT NULL REFERENCES benchmark_tasks(id) ON DELETE CASCADE",
                34,
            ),
            (
                "agent_id INTEGER NOT NULL REFERENCES agents(id) ON DELETE CASCADE",
                34,
            ),
            (
                "report_id INTEGER REFERENCES reports(id) ON DELETE CASCADE",
                34,
            ),
            ("task_score REAL NOT NULL", 34),
            ("completed BOOLEAN NOT NULL DEFAULT 0", 34),
            ("criteria_results TEXT", 34),
            ("avg_hallucination REAL", 34),
            ("avg_relevancy REAL", 34),
            ("avg_task_completion REAL", 34),
            ("avg_faithfulness REAL", 34),
            ("avg_toxicity REAL", 34),
            ("avg_bias REAL", 34),
            ("runs_analyzed INTEGER NOT NULL DEFAULT 0", 34),
            ("run_ids TEXT", 34),
            ("trace_ids TEXT", 34),
            ("avg_duration_seconds REAL", 34),
            ("avg_tokens INTEGER", 34),
            ("avg_cost REAL", 34),
            ("tool_calls_count INTEGER DEFAULT 0", 34),
            ("strengths TEXT", 34),
            ("weaknesses TEXT", 34),
            ("rank INTEGER", 34),
            ("is_champion BOOLEAN DEFAULT 0", 34),
            (now!("created_at TIMESTAMP"), 34),
            (now!("updated_at TIMESTAMP"), 34),
        ],
        constraints: &[],
    },
    Table {
        name: "production_readiness",
        since: 34,
        columns: &[
            ("id INTEGER PRIMARY KEY AUTOINCREMENT", 34),
            (
                "report_id INTEGER NOT NULL REFERENCES reports(id) ON DELETE CASCADE",
                34,
            ),
            ("task_completion_score REAL NOT NULL", 34),
            ("quality_score REAL NOT NULL", 34),
            ("production_readiness_score REAL NOT NULL", 34),
            ("avg_hallucination REAL", 34),
            ("avg_relevancy REAL", 34),
            ("avg_task_completion REAL", 34),
            ("avg_faithfulness REAL", 34),
            ("avg_toxicity REAL", 34),
            ("avg_bias REAL", 34),
            ("hallucination_pass_rate REAL", 34),
            ("relevancy_pass_rate REAL", 34),
            ("task_completion_pass_rate REAL", 34),
            ("faithfulness_pass_rate REAL", 34),
            ("toxicity_pass_rate REAL", 34),
            ("bias_pass_rate REAL", 34),
            ("recommendation TEXT NOT NULL", 34),
            ("risk_level TEXT NOT NULL", 34),
            ("required_actions TEXT", 34),
            ("blockers TEXT", 34),
            ("champion_agents TEXT", 34),
            ("underperforming_agents TEXT", 34),
            (now!("created_at TIMESTAMP"), 34),
            (now!("updated_at TIMESTAMP"), 34),
        ],
        constraints: &[],
    },
    Table {
        name: "report_comparisons",
        since: 35,
        columns: &[
            ("id INTEGER PRIMARY KEY AUTOINCREMENT", 35),
            (
                "baseline_report_id INTEGER NOT NULL REFERENCES reports(id) ON DELETE CASCADE",
                35,
            ),
            (
                "comparison_report_id INTEGER NOT NULL REFERENCES reports(id) ON DELETE CASCADE",
                35,
            ),
            ("score_delta REAL", 35),
            ("summary TEXT", 35),
            ("agent_score_changes TEXT", 35),
            ("criteria_changes TEXT", 35),
            ("performance_changes TEXT", 35),
            ("evidence_runs TEXT", 35),
            (now!("created_at DATETIME"), 35),
        ],
        constraints: &[],
    },
    Table {
        name: "report_run_snapshots",
        since: 35,
        columns: &[
            ("id INTEGER PRIMARY KEY AUTOINCREMENT", 35),
            (
                "report_id INTEGER NOT NULL REFERENCES reports(id) ON DELETE CASCADE",
                35,
            ),
            (
                "run_id INTEGER NOT NULL REFERENCES agent_runs(id) ON DELETE SET NULL",
                35,
            ),
            (
                "agent_id INTEGER NOT NULL REFERENCES agents(id) ON DELETE CASCADE",
                35,
            ),
            ("task TEXT NOT NULL", 35),
            ("final_response TEXT NOT NULL", 35),
            ("tool_calls TEXT", 35),
            ("execution_steps TEXT", 35),
            ("status TEXT NOT NULL", 35),
            ("duration_seconds REAL", 35),
            ("input_tokens INTEGER", 35),
            ("output_tokens INTEGER", 35),
            ("total_tokens INTEGER", 35),
            ("inclusion_reason TEXT", 35),
            ("run_started_at DATETIME", 35),
            ("run_completed_at DATETIME", 35),
            (now!("snapshot_created_at DATETIME"), 35),
        ],
        constraints: &[],
    },
    Table {
        name: "workflows",
        since: 44,
        columns: &[
            ("id INTEGER PRIMARY KEY AUTOINCREMENT", 44),
            ("workflow_id TEXT NOT NULL", 44),
            ("name TEXT NOT NULL", 44),
            ("description TEXT", 44),
            ("version INTEGER NOT NULL", 44),
            ("definition TEXT NOT NULL", 44),
            ("status TEXT NOT NULL DEFAULT 'active'", 44),
            (now!("created_at DATETIME"), 44),
            (now!("updated_at DATETIME"), 44),
        ],
        constraints: &["UNIQUE (workflow_id, version)"],
    },
    Table {
        name: "workflow_runs",
        since: 44,
        columns: &[
            ("id INTEGER PRIMARY KEY AUTOINCREMENT", 44),
            ("run_id TEXT NOT NULL UNIQUE", 44),
            ("workflow_id TEXT NOT NULL", 44),
            ("workflow_version INTEGER NOT NULL", 44),
            ("status TEXT NOT NULL", 44),
            ("current_step TEXT", 44),
            ("input TEXT", 44),
            ("context TEXT", 44),
            ("result TEXT", 44),
            ("error TEXT", 44),
            ("summary TEXT", 44),
            ("options TEXT", 44),
            ("last_signal TEXT", 44),
            (now!("created_at DATETIME"), 44),
            (now!("updated_at DATETIME"), 44),
            (now!("started_at DATETIME"), 44),
            ("completed_at DATETIME", 44),
        ],
        constraints: &[],
    },
    Table {
        name: "workflow_run_steps",
        since: 44,
        columns: &[
            ("id INTEGER PRIMARY KEY AUTOINCREMENT", 44),
            (
                "run_id TEXT NOT NULL REFERENCES workflow_runs(run_id) ON DELETE CASCADE",
                44,
            ),
            ("step_id TEXT NOT NULL", 44),
            ("attempt INTEGER NOT NULL DEFAULT 1", 44),
            ("status TEXT NOT NULL", 44),
            ("input TEXT", 44),
            ("output TEXT", 44),
            ("error TEXT", 44),
            ("metadata TEXT", 44),
            (now!("started_at DATETIME"), 44),
            ("completed_at DATETIME", 44),
        ],
        constraints: &["UNIQUE (run_id, step_id, attempt)"],
    },
    Table {
        name: "workflow_run_events",
        since: 44,
        columns: &[
            ("id INTEGER PRIMARY KEY AUTOINCREMENT", 44),
            (
                "run_id TEXT NOT NULL REFERENCES workflow_runs(run_id) ON DELETE CASCADE",
                44,
            ),
            ("seq INTEGER NOT NULL", 44),
            ("event_type TEXT NOT NULL", 44),
            ("step_id TEXT", 44),
            ("payload TEXT", 44),
            ("actor TEXT", 44),
            (now!("created_at DATETIME"), 44),
        ],
        constraints: &["UNIQUE (run_id, seq)"],
    },
    Table {
        name: "workflow_approvals",
        since: 44,
        columns: &[
            ("id INTEGER PRIMARY KEY AUTOINCREMENT", 44),
            ("approval_id TEXT NOT NULL UNIQUE", 44),
            (
                "run_id TEXT NOT NULL REFERENCES workflow_runs(run_id) ON DELETE CASCADE",
                44,
            ),
            ("step_id TEXT NOT NULL", 44),
            ("message TEXT NOT NULL", 44),
            ("summary_path TEXT", 44),
            ("approvers TEXT", 44),
            ("status TEXT NOT NULL DEFAULT 'pending'", 44),
            ("decided_by TEXT", 44),
            ("decided_at DATETIME", 44),
            ("decision_reason TEXT", 44),
            ("timeout_at DATETIME", 44),
            (now!("created_at DATETIME"), 44),
            (now!("updated_at DATETIME"), 44),
        ],
        constraints: &[],
    },
    Table {
        name: "workflow_schedules",
        since: 45,
        columns: &[
            ("id INTEGER PRIMARY KEY AUTOINCREMENT", 45),
            ("workflow_id TEXT NOT NULL", 45),
            ("workflow_version INTEGER NOT NULL", 45),
            ("cron_expression TEXT NOT NULL", 45),
            ("timezone TEXT NOT NULL DEFAULT 'UTC'", 45),
            ("enabled INTEGER NOT NULL DEFAULT 1", 45),
            ("input TEXT", 45),
            ("last_run_at DATETIME", 45),
            ("next_run_at DATETIME", 45),
            (now!("created_at DATETIME"), 45),
            (now!("updated_at DATETIME"), 45),
        ],
        constraints: &[
            "UNIQUE (workflow_id, workflow_version)",
            "FOREIGN KEY (workflow_id, workflow_version) REFERENCES workflows(workflow_id, version) ON DELETE CASCADE",
        ],
    },
    Table {
        name: "notification_logs",
        since: 47,
        columns: &[
            ("id INTEGER PRIMARY KEY AUTOINCREMENT", 47),
            ("log_id TEXT NOT NULL UNIQUE", 47),
            (
                "approval_id TEXT NOT NULL REFERENCES workflow_approvals(approval_id) ON DELETE CASCADE",
                47,
            ),
            ("event_type TEXT NOT NULL", 47),
            ("webhook_url TEXT", 47),
            ("request_payload TEXT", 47),
            ("response_status INTEGER", 47),
            ("response_body TEXT", 47),
            ("error_message TEXT", 47),
            ("attempt_number INTEGER DEFAULT 1", 47),
            ("duration_ms INTEGER", 47),
            (now!("created_at DATETIME"), 47),
        ],
        constraints: &[],
    },
];

/// `CREATE TABLE` for `table` as release `version` had it; `None` before it existed.
pub fn create_table(table: &Table, version: u32) -> Option<String> {
    if table.since > version {
        return None;
    }
    let mut parts: Vec<&str> = table
        .columns
        .iter()
        .filter(|(_, since)| *since <= version)
        .map(|(def, _)| *def)
        .collect();
    parts.extend(table.constraints.iter().copied());
    Some(format!(
        "CREATE TABLE {} ({})",
        table.name,
        parts.join(", ")
    ))
}

/// The column names of `table` in release `version`.
pub fn columns(table: &Table, version: u32) -> Vec<&'static str> {
    table
        .columns
        .iter()
        .filter(|(_, since)| *since <= version)
        .map(|(def, _)| def.split_whitespace().next().unwrap_or_default())
        .collect()
}
