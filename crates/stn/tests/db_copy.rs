//! `stn db copy` round-trips every row of every table: local → sqld → local.

mod common;

use common::Stn;
use stn_core::migrations::TABLES;
use stn_db::{Database, DatabaseUrl};
use stn_testkit::{FaultProxy, Sqld, SqldOptions};

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
        "INSERT INTO agent_run_steps (run_id, seq, kind, name, input, output, started_at, duration_ms) \
         VALUES (1, 1, 'tool', 'read_file', '{\"path\":\"a\"}', 'contents', '2026-12-03T10:00:00Z', 12)",
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
        "INSERT INTO idempotency_keys (key_hash, request_hash, status, response_body, expires_at) \
         VALUES ('k', 'r', 201, '{}', '2999-01-01T00:00:00Z')",
        vec![],
    )
    .await
    .unwrap();
    db.execute(
        "INSERT INTO ui_sessions (token_hash, api_key_id, expires_at) \
         SELECT 'session-hash', id, '2999-01-01T00:00:00Z' FROM api_keys LIMIT 1",
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

/// A populated local database, already copied to a fresh sqld.
async fn copied_to_sqld() -> Option<(Sqld, Stn, std::path::PathBuf)> {
    let server = Sqld::start(SqldOptions::default())?;
    let src = populated().await;
    let src_path = src.config_dir().join("station.db");
    src.ok(&["db", "copy", src_path.to_str().unwrap(), &server.url()]);
    Some((server, src, src_path))
}

/// Issue 9 item 1: the same server, however its URL is spelled, is refused
/// as a destination and keeps its rows.
#[tokio::test(flavor = "multi_thread")]
async fn db_copy_onto_the_same_server_is_refused() {
    let Some((server, src, _)) = copied_to_sqld().await else {
        return;
    };
    let before = dump(&server.url()).await;
    let port = server.port();
    for dst in [
        server.url(),
        format!("http://127.0.0.1:{port}/"),
        format!("HTTP://127.0.0.1:{port}"),
    ] {
        let err = src.fails(&["db", "copy", &server.url(), &dst, "--force"], 1);
        assert!(err.contains("the same database"), "{dst}: {err}");
    }
    assert_eq!(dump(&server.url()).await, before, "nothing deleted");
}

/// Issue 9 item 1: a forced copy to a server that fails part-way says
/// exactly which tables the destination holds, and how to finish.
#[tokio::test(flavor = "multi_thread")]
async fn interrupted_remote_copy_names_the_state_it_left() {
    let Some((server, src, src_path)) = copied_to_sqld().await else {
        return;
    };
    let proxy = FaultProxy::start(server.port());
    let through_proxy = DatabaseUrl::parse(&format!("http://127.0.0.1:{}", proxy.port())).unwrap();
    let source = Database::open_existing(&DatabaseUrl::parse(src_path.to_str().unwrap()).unwrap())
        .await
        .unwrap();

    // The network fails once the first chunk of agent_runs (500 of 1200) is in.
    let mut on_progress = |p: stn_core::copy::CopyProgress<'_>| {
        if p.table == "agent_runs" {
            proxy.set_outage(true);
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    };
    let err = stn_core::copy::copy_database(
        &source,
        &through_proxy,
        &stn_db::OpenOptions::default(),
        true,
        &mut on_progress,
    )
    .await
    .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("was cleared and holds part of the copy"),
        "{text}"
    );
    assert!(
        text.contains("complete: users, api_keys, ui_sessions, environments, file_mcp_configs, mcp_servers, mcp_tools, model_providers, models, agents, agent_tools, agent_agents;"),
        "{text}"
    );
    assert!(
        text.contains("partly copied: agent_runs (at least 500 of 1200 rows)"),
        "{text}"
    );
    assert!(text.contains("--force"), "{text}");

    // That is what the server holds.
    let direct = Database::open(&DatabaseUrl::parse(&server.url()).unwrap())
        .await
        .unwrap();
    let count = |table: &'static str| {
        let direct = direct.clone();
        async move {
            direct
                .query_opt(&format!("SELECT count(*) FROM {table}"), vec![])
                .await
                .unwrap()
                .unwrap()
                .get::<u64>(0)
                .unwrap()
        }
    };
    assert_eq!(count("agent_runs").await, 500);
    assert_eq!(count("agent_run_logs").await, 0);
    assert_eq!(count("agents").await, 30);

    // Running the copy again finishes it.
    proxy.set_outage(false);
    src.ok(&[
        "db",
        "copy",
        src_path.to_str().unwrap(),
        &server.url(),
        "--force",
    ]);
    assert_eq!(
        dump(&server.url()).await,
        dump(src_path.to_str().unwrap()).await
    );
}
