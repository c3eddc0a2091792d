//! Moving from the Go original: `station.db` files of three Go Station
//! releases (goose versions 33, 40 and 48, every table and view, rows in
//! each; built by `go_import_support` from the Go migrations' facts) are
//! converted in place by `stn db migrate`, nothing lost without being named.

mod common;
mod go_import_support;

use std::path::Path;

use common::{Server, Stn};
use go_import_support::{ALICE_KEY, BOB_KEY, RELEASES, TOOL_CALLS, table_rows};
use rusqlite::Connection;

/// Writes the current Go release's database, then runs `extra_sql` on it.
fn go_database(path: &Path, extra_sql: &str) {
    go_import_support::write(path, 48);
    Connection::open(path)
        .unwrap()
        .execute_batch(extra_sql)
        .unwrap();
}

fn counts(report: &serde_json::Value) -> Vec<(String, u64, u64)> {
    report["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["table"].as_str().unwrap().to_owned(),
                t["go_rows"].as_u64().unwrap(),
                t["stn_rows"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn a_go_station_database_is_upgraded_in_place_with_every_row() {
    let stn = Stn::local();
    let db = stn.config_dir().join("station.db");
    go_database(&db, "");
    let original = std::fs::read(&db).unwrap();

    // Before the upgrade, other commands refuse and leave the file alone.
    let err = stn.fails(&["agent", "list"], 1);
    assert!(
        err.contains("Go original") && err.contains("stn db migrate"),
        "{err}"
    );
    assert_eq!(std::fs::read(&db).unwrap(), original);

    let out = stn.output(&["db", "migrate", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let go = &report["go_import"];
    assert_eq!(go["goose_version"], 48);
    let expected = [
        ("users", 3),
        ("environments", 3),
        ("file_mcp_configs", 1),
        ("mcp_servers", 2),
        ("mcp_tools", 3),
        ("model_providers", 1),
        ("models", 2),
        ("agents", 5),
        ("agent_tools", 4),
        ("agent_agents", 2),
        ("agent_runs", 6),
        ("settings", 2),
        ("api_keys", 2),
    ];
    let got = counts(go);
    for (table, n) in expected {
        assert!(got.contains(&(table.to_owned(), n, n)), "{table}: {got:?}");
    }
    let dropped: Vec<&str> = go["not_carried_over"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["table"].as_str().unwrap())
        .collect();
    assert_eq!(
        dropped,
        [
            "agent_report_details",
            "benchmark_metrics",
            "benchmark_tasks",
            "faker_events",
            "faker_sessions",
            "faker_tool_cache",
            "goose_db_version",
            "notification_logs",
            "production_readiness",
            "report_comparisons",
            "report_run_snapshots",
            "reports",
            "task_evaluations",
            "workflow_approvals",
            "workflow_run_events",
            "workflow_run_steps",
            "workflow_runs",
            "workflow_schedules",
            "workflows",
        ]
    );

    // The backup is the original, byte for byte.
    let backup = go["backup"].as_str().unwrap();
    assert!(
        backup.starts_with(&format!("{}.go-backup-", db.display())),
        "{backup}"
    );
    assert_eq!(std::fs::read(backup).unwrap(), original);

    // Values map.
    let conn = Connection::open(&db).unwrap();
    let (tool_calls, started, completed, tokens, model, duration): (String, String, String, (i64, i64, i64), String, f64) = conn
        .query_row(
            "SELECT tool_calls, started_at, completed_at, input_tokens, output_tokens, total_tokens, model_name, duration_seconds FROM agent_runs WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, (r.get(3)?, r.get(4)?, r.get(5)?), r.get(6)?, r.get(7)?)),
        )
        .unwrap();
    assert_eq!(tool_calls, TOOL_CALLS);
    assert_eq!(started, "2025-03-01T12:00:00.500Z");
    assert_eq!(completed, "2025-03-01T12:00:07.250Z");
    assert_eq!(tokens, (1200, 340, 1540));
    assert_eq!(model, "gpt-4o-mini");
    assert_eq!(duration, 6.75);
    let bob_created: String = conn
        .query_row(
            "SELECT created_at FROM users WHERE username = 'bob'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        bob_created, "2025-01-04T06:30:00.000Z",
        "offsets become UTC"
    );
    let (parent, user): (Option<i64>, Option<i64>) = conn
        .query_row(
            "SELECT parent_run_id, user_id FROM agent_runs WHERE id = 2",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((parent, user), (Some(1), Some(2)));
    let tools: Vec<(String, i64)> = conn
        .prepare("SELECT tool_name, tool_id FROM agent_tools WHERE agent_id = 1 ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        tools,
        [
            ("__read_text_file".to_owned(), 1),
            ("__list_directory".to_owned(), 2)
        ]
    );
    let (url, command, auto_restart): (Option<String>, Option<String>, i64) = conn
        .query_row(
            "SELECT url, command, auto_restart FROM mcp_servers WHERE name = 'remote'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(
        (url.as_deref(), command.as_deref(), auto_restart),
        (Some("https://mcp.example.com/mcp"), Some(""), 0)
    );
    let provider_key: Option<String> = conn
        .query_row("SELECT api_key_env FROM model_providers", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        provider_key, None,
        "the provider's clear-text key is not carried over"
    );
    let no_goose: i64 = conn.query_row("SELECT count(*) FROM sqlite_master WHERE name IN ('goose_db_version', 'v_run_quality_metrics') OR name LIKE 'go_%'", [], |r| r.get(0)).unwrap();
    assert_eq!(no_goose, 0);
    let stored_keys: String = conn
        .query_row(
            "SELECT group_concat(key_hash || prefix) FROM api_keys",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        !stored_keys.contains(ALICE_KEY) && !stored_keys.contains(BOB_KEY),
        "keys are stored hashed"
    );
    drop(conn);

    // The upgraded database works with the CLI.
    let agents = stn.json(&["agent", "list", "--json"]);
    assert_eq!(agents.as_array().unwrap().len(), 5);
    let triage = stn.json(&["agent", "show", "triage", "-e", "production", "--json"]);
    assert_eq!(triage["model"], "gpt-4o-mini");
    assert_eq!(triage["max_steps"], 12);
    assert_eq!(
        triage["tools"],
        serde_json::json!(["__read_text_file", "__list_directory"])
    );
    let mut children: Vec<String> = serde_json::from_value(triage["agents"].clone()).unwrap();
    children.sort();
    assert_eq!(children, ["helper", "reporter"]);
    let runs = stn.json(&["runs", "list", "--json"]);
    assert_eq!(runs.as_array().unwrap().len(), 6);
    let run1 = runs
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == 1)
        .unwrap();
    assert_eq!(run1["input_tokens"], 1200);
    assert_eq!(run1["status"], "completed");
    stn.ok(&["sync"]);
    assert!(stn.ok(&["db", "migrate"]).contains("up to date"));

    // Alice's key from the Go database still opens the API.
    let log = stn.config_dir().join("serve.log");
    let server = Server::start(&stn, &[], &[], &log);
    let get = |key: &str| {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
        write!(s, "GET /api/v1/agents HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\nConnection: close\r\n\r\n").unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        text
    };
    assert!(
        get(ALICE_KEY).starts_with("HTTP/1.1 200"),
        "{}",
        get(ALICE_KEY)
    );
    assert!(get("sk-alice-wrong").starts_with("HTTP/1.1 401"));
}

/// The three releases convert; every Go table is either carried over with
/// every row or named with its row count, and so is every view and column.
#[test]
fn every_release_converts_and_names_what_it_does_not_carry_over() {
    for version in RELEASES {
        let stn = Stn::local();
        let db = stn.config_dir().join("station.db");
        go_import_support::write(&db, version);
        let before = table_rows(&db);
        for (table, rows) in &before {
            assert!(
                *rows > 0,
                "release {version}: the fixture has rows in {table}"
            );
        }
        let out = stn.output(&["db", "migrate", "--json"]);
        assert!(
            out.status.success(),
            "release {version}: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let go = &report["go_import"];
        assert_eq!(go["goose_version"], version);
        let carried = counts(go);
        let after = table_rows(&db);
        let mut summary = vec![format!("goose {version}:")];
        for (table, rows) in &before {
            let not_carried = go["not_carried_over"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["table"] == table.as_str());
            if let Some(t) = not_carried {
                assert_eq!(t["go_rows"], *rows, "release {version}: {table}");
                assert!(
                    !after.iter().any(|(name, _)| name == table),
                    "release {version}: {table} is gone"
                );
                summary.push(format!("  {table:<24} {rows:>3} -> not carried over"));
                continue;
            }
            let (_, go_rows, stn_rows) = carried
                .iter()
                .find(|(name, _, _)| name == table)
                .unwrap_or_else(|| {
                    panic!("release {version}: {table} is neither carried over nor listed")
                });
            assert_eq!(
                (*go_rows, *stn_rows),
                (*rows, *rows),
                "release {version}: {table}"
            );
            let now = after.iter().find(|(name, _)| name == table).unwrap().1;
            assert_eq!(now, *rows, "release {version}: {table} in the file");
            summary.push(format!("  {table:<24} {rows:>3} -> {now}"));
        }
        let views: Vec<&str> = go["views_not_carried_over"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let mut expected_views: Vec<&str> = go_import_support::schema::VIEWS
            .iter()
            .filter(|(_, since, _)| *since <= version)
            .map(|(name, _, _)| *name)
            .collect();
        expected_views.sort_unstable();
        assert_eq!(views, expected_views, "release {version}");
        let columns: Vec<String> = go["columns_not_carried_over"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                format!(
                    "{}.{}",
                    c["table"].as_str().unwrap(),
                    c["column"].as_str().unwrap()
                )
            })
            .collect();
        for column in [
            "file_mcp_configs.template_specific_vars_path",
            "file_mcp_configs.template_vars_hash",
            "model_providers.api_key",
            "agents.is_scheduled",
        ] {
            assert!(
                columns.contains(&column.to_owned()),
                "release {version}: {column} in {columns:?}"
            );
        }
        assert_eq!(
            columns.iter().any(|c| c == "agent_runs.work_id"),
            version >= 48,
            "release {version}: {columns:?}"
        );
        // The human summary names the same things.
        let stderr = String::from_utf8_lossy(&out.stderr);
        for name in ["benchmark_tasks", "template_vars_hash", "v_agent_rankings"] {
            let listed = stderr.contains(name);
            let exists = version >= 34 || name == "template_vars_hash";
            assert_eq!(listed, exists, "release {version}: {name} in\n{stderr}");
        }
        summary.push(format!("  history: {}", go["history"]));
        eprintln!("{}", summary.join("\n"));
        // The converted database works and a second migrate is a no-op.
        assert_eq!(
            stn.json(&["agent", "list", "--json"])
                .as_array()
                .unwrap()
                .len(),
            5
        );
        assert!(stn.ok(&["db", "migrate"]).contains("up to date"));
    }
}

/// An imported run shows its model turns and tool calls, with arguments,
/// results and tokens, in `runs show --json` and the API; its Go debug log
/// lines are its log.
#[test]
fn imported_runs_show_their_tool_calls_and_logs() {
    let stn = Stn::local();
    let db = stn.config_dir().join("station.db");
    go_database(&db, "");
    let report = stn.json(&["db", "migrate", "--json"]);
    let history = &report["go_import"]["history"];
    assert_eq!(history["tool_calls"], 4, "{history}");
    assert_eq!(history["logs"], 2, "{history}");
    assert_eq!(
        history["unreadable"],
        serde_json::json!([{"run_id": 6, "column": "tool_calls"}])
    );

    let run = stn.json(&["runs", "show", "1", "--json"]);
    eprintln!("{}", serde_json::to_string_pretty(&run).unwrap());
    let steps = run["steps"].as_array().unwrap();
    let shape: Vec<(i64, &str, &str)> = steps
        .iter()
        .map(|s| {
            (
                s["seq"].as_i64().unwrap(),
                s["kind"].as_str().unwrap(),
                s["name"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        shape,
        [
            (1, "model", "gpt-4o-mini"),
            (2, "tool", "__read_text_file"),
            (3, "agent", "__agent_helper"),
            (4, "model", "gpt-4o-mini"),
        ]
    );
    assert_eq!(
        steps[0]["input"],
        serde_json::json!([
            {"id": "call_1", "name": "__read_text_file", "arguments": {"path": "/srv/log.txt"}},
            {"id": "call_2", "name": "__agent_helper", "arguments": {"task": "Help triage"}}
        ])
    );
    assert_eq!(
        steps[1]["input"],
        serde_json::json!({"path": "/srv/log.txt"})
    );
    assert_eq!(steps[1]["output"], "ok: 3 lines");
    assert_eq!(steps[1]["is_error"], false);
    assert_eq!(
        steps[2]["child_run_id"], 2,
        "the sub-agent call links its run"
    );
    assert_eq!(steps[3]["output"], "All good");
    assert_eq!(
        (
            &steps[3]["input_tokens"],
            &steps[3]["output_tokens"],
            &steps[3]["total_tokens"]
        ),
        (
            &serde_json::json!(1200),
            &serde_json::json!(340),
            &serde_json::json!(1540)
        )
    );
    assert_eq!(steps[1]["started_at"], "2025-03-01T12:00:00.500Z");
    assert_eq!(run["input_tokens"], 1200, "the run's own counters are Go's");

    // Go's older shape: `result` and `success: false` make an error step.
    let failed = stn.json(&["runs", "show", "3", "--json"]);
    let call = &failed["steps"][1];
    assert_eq!(
        (&call["name"], &call["is_error"]),
        (
            &serde_json::json!("__list_directory"),
            &serde_json::json!(true)
        )
    );
    assert_eq!(call["output"], r#"{"error":"denied"}"#);
    assert_eq!(call["duration_ms"], 42);
    // A run without tool calls is one model turn with the answer.
    let child = stn.json(&["runs", "show", "2", "--json"]);
    assert_eq!(child["steps"].as_array().unwrap().len(), 1);
    assert_eq!(child["steps"][0]["output"], "Helped");
    // `execution_steps` naming a tool become calls.
    let hello = stn.json(&["runs", "show", "4", "--json"]);
    assert_eq!(hello["steps"][1]["name"], "__read_text_file");

    let conn = Connection::open(&db).unwrap();
    let logs: Vec<(String, String, Option<String>, String)> = conn
        .prepare("SELECT level, message, details, created_at FROM agent_run_logs WHERE run_id = 1 ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        logs,
        [
            (
                "info".to_owned(),
                "Starting execution for agent triage".to_owned(),
                Some(r#"{"agent_id":1}"#.to_owned()),
                "2025-03-01T12:00:00.000Z".to_owned()
            ),
            (
                "debug".to_owned(),
                "OpenAI call done".to_owned(),
                None,
                "2025-03-01T12:00:07.000Z".to_owned()
            ),
        ]
    );
    drop(conn);

    // The API shows the same steps.
    let log = stn.config_dir().join("serve.log");
    let server = Server::start(&stn, &[], &[], &log);
    let body = http_get(server.port, "/api/v1/runs/1", ALICE_KEY);
    let api: serde_json::Value =
        serde_json::from_str(body.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(api["steps"], run["steps"], "{body}");
}

/// An imported agent's cron schedule does not run the slots Go had planned
/// before the import: the first `stn serve` creates no run at start and
/// plans the next slot after it.
#[test]
fn an_imported_schedule_starts_at_its_next_slot() {
    let stn = Stn::local();
    let db = stn.config_dir().join("station.db");
    go_database(&db, "");
    let report = stn.json(&["db", "migrate", "--json"]);
    assert_eq!(report["go_import"]["scheduled_agents"], 1);
    let imported_at = now_rfc3339();
    let runs_before = stn
        .json(&["runs", "list", "--json"])
        .as_array()
        .unwrap()
        .len();

    let log = stn.config_dir().join("serve.log");
    let mut server = Server::start(&stn, &[], &[], &log);
    // The scheduler checks every quarter second: give it many checks.
    let mut next = None;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        let conn = Connection::open(&db).unwrap();
        next = conn
            .query_row(
                "SELECT next_scheduled_run FROM agents WHERE name = 'triage'",
                [],
                |r| r.get::<_, Option<String>>(0),
            )
            .unwrap();
        if next.is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    std::thread::sleep(std::time::Duration::from_secs(2));
    let runs = stn.json(&["runs", "list", "--json"]);
    server.stop();
    assert_eq!(
        runs.as_array().unwrap().len(),
        runs_before,
        "no run at start: {runs}\n{}",
        server.log_text()
    );
    let next = next.expect("the scheduler planned the next slot");
    assert!(
        next > imported_at,
        "next slot {next} is after the import at {imported_at}"
    );
}

fn now_rfc3339() -> String {
    let out = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn http_get(port: u16, path: &str, key: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\nConnection: close\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    text
}

#[test]
fn a_row_our_schema_refuses_stops_the_upgrade_and_changes_nothing() {
    let stn = Stn::local();
    let db = stn.config_dir().join("station.db");
    go_database(
        &db,
        "INSERT INTO agent_runs (id, agent_id, user_id, task, final_response, status) VALUES (42, 1, 2, 't', '', 'exploded');",
    );
    let original = std::fs::read(&db).unwrap();
    let err = stn.fails(&["db", "migrate"], 1);
    assert!(
        err.contains("agent_runs") && err.contains("row id 42") && err.contains("status"),
        "{err}"
    );
    assert!(err.contains("Nothing was changed"), "{err}");
    // With --json the failure is a JSON object naming the table and row.
    let out = stn.output(&["db", "migrate", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let error: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    assert_eq!(error["error"]["table"], "agent_runs", "{error}");
    assert_eq!(error["error"]["row"], 42, "{error}");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("status"),
        "{error}"
    );
    let backup = error["error"]["backup"].as_str().unwrap().to_owned();
    assert!(
        error["error"]["hint"].as_str().unwrap().contains(&backup),
        "{error}"
    );
    // Two failed attempts on the same bytes: one backup.
    let backups: Vec<_> = std::fs::read_dir(stn.config_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("station.db.go-backup-"))
        .collect();
    assert_eq!(backups.len(), 1, "{backups:?}");
    assert_eq!(std::fs::read(&backup).unwrap(), original);
    assert_eq!(
        std::fs::read(&db).unwrap(),
        original,
        "the original is untouched"
    );
    for side in ["station.db-wal", "station.db-shm"] {
        assert!(!stn.config_dir().join(side).exists(), "{side} left behind");
    }
    // Fixing the row makes the upgrade go through.
    Connection::open(&db)
        .unwrap()
        .execute("UPDATE agent_runs SET status = 'failed' WHERE id = 42", [])
        .unwrap();
    stn.ok(&["db", "migrate"]);
    assert_eq!(
        stn.json(&["runs", "list", "--json"])
            .as_array()
            .unwrap()
            .len(),
        7
    );
}

#[test]
fn a_failure_inside_the_transaction_rolls_back_and_names_the_table() {
    // A user without a name (a hand-edited database; Go's schema says NOT
    // NULL) is no rule the pre-checks know: our NOT NULL stops it inside the
    // transaction, which rolls back whole.
    let stn = Stn::local();
    let db = stn.config_dir().join("station.db");
    go_database(&db, "");
    {
        let conn = Connection::open(&db).unwrap();
        conn.execute_batch(
            "PRAGMA foreign_keys = OFF; PRAGMA legacy_alter_table = ON; \
             CREATE TABLE users_new (id INTEGER PRIMARY KEY AUTOINCREMENT, username TEXT UNIQUE, public_key TEXT, created_at TIMESTAMP, api_key TEXT, is_admin BOOLEAN, updated_at TIMESTAMP); \
             INSERT INTO users_new SELECT id, username, public_key, created_at, api_key, is_admin, updated_at FROM users; \
             DROP TABLE users; ALTER TABLE users_new RENAME TO users; \
             INSERT INTO users (id, username) VALUES (9, NULL);",
        )
        .unwrap();
    }
    let original = std::fs::read(&db).unwrap();
    let err = stn.fails(&["db", "migrate"], 1);
    assert!(
        err.contains("rolled back") && err.contains("users.username"),
        "{err}"
    );
    assert_eq!(std::fs::read(&db).unwrap(), original);
}
