//! `stn db copy` round-trips every row of every table: local → sqld → local.

mod common;

use common::Stn;
use stn_core::migrations::TABLES;
use stn_db::{Database, DatabaseUrl};
use stn_testkit::{Sqld, SqldOptions};

async fn dump(url: &str) -> Vec<(String, Vec<Vec<stn_db::Value>>)> {
    let db = Database::open(&DatabaseUrl::parse(url).unwrap())
        .await
        .unwrap();
    let mut tables = Vec::new();
    for table in TABLES {
        let rs = db
            .query(&format!("SELECT * FROM {table} ORDER BY id"), vec![])
            .await
            .unwrap();
        tables.push((
            table.to_string(),
            rs.rows.iter().map(|r| r.values().to_vec()).collect(),
        ));
    }
    tables
}

/// A database with rows in every table the CLI can fill, plus runs, logs and settings.
async fn populated() -> Stn {
    let stn = Stn::local();
    stn.ok(&["init"]);
    stn.ok(&["env", "create", "ops"]);
    for i in 0..30 {
        let name = format!("a{i}");
        stn.ok(&[
            "agent",
            "create",
            &name,
            "-p",
            "it's a \"quoted\" prompt\nwith lines",
            "-d",
            "d",
            "-e",
            "ops",
            "--tools",
            "t1,t2",
        ]);
    }
    std::fs::write(
        stn.config_dir().join("environments/ops/fs.json"),
        r#"{"name":"fs","mcpServers":{"fs":{"command":"npx","args":["-y","server-fs"],"env":{"K":"v"}}}}"#,
    )
    .unwrap();
    stn.ok(&["sync", "ops", "--no-discover"]);
    stn.ok(&["user", "create", "alice", "--admin"]);
    stn.ok(&["apikey", "create", "alice"]);
    let db = Database::open(
        &DatabaseUrl::parse(stn.config_dir().join("station.db").to_str().unwrap()).unwrap(),
    )
    .await
    .unwrap();
    for i in 0..1200 {
        db.execute(
            "INSERT INTO agent_runs (agent_id, task, status, final_response, duration_seconds) \
             VALUES ((SELECT id FROM agents WHERE name = 'a1'), ?1, 'completed', ?2, ?3)",
            vec![
                format!("task {i}").into(),
                "done \u{2713}".into(),
                (i as f64 / 7.0).into(),
            ],
        )
        .await
        .unwrap();
    }
    db.execute(
        "INSERT INTO agent_run_logs (run_id, message) VALUES (1, 'log line')",
        vec![],
    )
    .await
    .unwrap();
    db.execute(
        "INSERT INTO mcp_tools (mcp_server_id, name, description, input_schema) \
         VALUES ((SELECT id FROM mcp_servers WHERE name = 'fs'), 't1', 'reads', '{\"type\":\"object\"}')",
        vec![],
    )
    .await
    .unwrap();
    db.execute(
        "INSERT INTO agent_agents (parent_agent_id, child_agent_id) \
         VALUES ((SELECT id FROM agents WHERE name = 'a0'), (SELECT id FROM agents WHERE name = 'a1'))",
        vec![],
    )
    .await
    .unwrap();
    db.execute(
        "INSERT INTO settings (key, value) VALUES ('theme', 'dark')",
        vec![],
    )
    .await
    .unwrap();
    db.execute(
        "INSERT INTO model_providers (name, api_key_env) VALUES ('openai', 'OPENAI_API_KEY')",
        vec![],
    )
    .await
    .unwrap();
    db.execute(
        "INSERT INTO models (provider_id, model_id, name, input_cost) VALUES (1, 'gpt-4o', 'GPT-4o', 2.5)",
        vec![],
    )
    .await
    .unwrap();
    stn
}

#[tokio::test(flavor = "multi_thread")]
async fn local_to_sqld_to_local_round_trips_every_row() {
    let Some(server) = Sqld::start(SqldOptions::default()) else {
        return;
    };
    let src = populated().await;
    let src_path = src.config_dir().join("station.db");
    let back = tempfile::tempdir().unwrap();
    let back_path = back.path().join("back.db");

    let out = src.ok(&[
        "db",
        "copy",
        src_path.to_str().unwrap(),
        &server.url(),
        "--json",
    ]);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let runs = report
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == "agent_runs")
        .unwrap();
    assert_eq!(runs["destination_rows"], 1200);

    // A destination with data is refused, and left alone.
    let err = src.fails(
        &["db", "copy", src_path.to_str().unwrap(), &server.url()],
        1,
    );
    assert!(
        err.contains("already holds Station data") && err.contains("--force"),
        "{err}"
    );

    src.ok(&["db", "copy", &server.url(), back_path.to_str().unwrap()]);
    let original = dump(src_path.to_str().unwrap()).await;
    let round_trip = dump(back_path.to_str().unwrap()).await;
    for ((table, a), (_, b)) in original.iter().zip(&round_trip) {
        assert_eq!(a.len(), b.len(), "row count of {table}");
        if let Some((x, y)) = a.iter().zip(b).find(|(x, y)| x != y) {
            panic!("table {table} differs after local → sqld → local:\n  {x:?}\n  {y:?}");
        }
    }
    assert!(
        original.iter().all(|(_, rows)| !rows.is_empty()),
        "every table had rows to copy"
    );

    // --force replaces.
    src.ok(&[
        "db",
        "copy",
        src_path.to_str().unwrap(),
        &server.url(),
        "--force",
    ]);
}
