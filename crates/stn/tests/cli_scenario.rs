//! The end-to-end CLI scenario, on a local file and on a real sqld with JWT auth.

mod common;

use common::Stn;
use stn_testkit::{Sqld, SqldOptions, mint_jwt};

fn scenario(stn: &Stn) {
    stn.ok(&["init", "--yes"]);
    assert!(stn.config_dir().join("config.yaml").is_file());
    // Making sure `default` exists (every sync and serve does) uses up no id.
    stn.ok(&["sync"]);
    stn.ok(&["sync"]);
    stn.ok(&["env", "create", "production", "--description", "prod"]);
    let envs = stn.json(&["env", "list", "--json"]);
    let ids: Vec<i64> = envs
        .as_array()
        .unwrap()
        .iter()
        .map(|env| env["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [1, 2]);

    // 42 agents across 2 environments.
    for i in 0..42 {
        let env = if i % 2 == 0 { "default" } else { "production" };
        let name = format!("agent-{i:02}");
        let prompt = format!("You are agent {i}.");
        stn.ok(&[
            "agent",
            "create",
            &name,
            "--prompt",
            &prompt,
            "--description",
            "test agent",
            "-e",
            env,
            "--model",
            "gpt-4o-mini",
            "--max-steps",
            "7",
            "--tools",
            "__read_file,__list_dir",
        ]);
    }
    let all = stn.json(&["agent", "list", "--json"]);
    assert_eq!(all.as_array().unwrap().len(), 42);
    let prod = stn.json(&["agent", "list", "--env", "production", "--json"]);
    assert_eq!(prod.as_array().unwrap().len(), 21);
    assert!(
        prod.as_array()
            .unwrap()
            .iter()
            .all(|a| a["environment"] == "production")
    );
    assert!(stn.ok(&["agent", "list"]).contains("agent-41"));

    // show
    let shown = stn.json(&["agent", "show", "agent-03", "-e", "production", "--json"]);
    assert_eq!(shown["name"], "agent-03");
    assert_eq!(shown["max_steps"], 7);
    assert_eq!(
        shown["tools"],
        serde_json::json!(["__read_file", "__list_dir"])
    );
    assert!(stn.agent_file("production", "agent-03").is_file());
    let err = stn.fails(&["agent", "show", "agent-03"], 1);
    assert!(
        err.contains("agent `agent-03` not found in environment `default`"),
        "{err}"
    );
    assert!(err.contains("hint:"), "{err}");

    // update: the file follows
    stn.ok(&[
        "agent",
        "update",
        "agent-03",
        "-e",
        "production",
        "--prompt",
        "New prompt.",
        "--max-steps",
        "9",
    ]);
    let shown = stn.json(&["agent", "show", "agent-03", "-e", "production", "--json"]);
    assert_eq!(shown["prompt"], "New prompt.");
    assert_eq!(shown["max_steps"], 9);
    assert_eq!(shown["description"], "test agent");
    let file = std::fs::read_to_string(stn.agent_file("production", "agent-03")).unwrap();
    assert!(
        file.contains("New prompt.") && file.contains("max_steps: 9"),
        "{file}"
    );

    // delete: refused without --yes when nobody can answer, done with it
    stn.fails(&["agent", "delete", "agent-05", "-e", "production"], 1);
    stn.ok(&["agent", "delete", "agent-05", "-e", "production", "--yes"]);
    assert!(!stn.agent_file("production", "agent-05").exists());
    assert_eq!(
        stn.json(&["agent", "list", "--json"])
            .as_array()
            .unwrap()
            .len(),
        41
    );

    // environment delete cascades to its agents
    stn.ok(&["env", "delete", "production", "--yes"]);
    let all = stn.json(&["agent", "list", "--json"]);
    assert_eq!(all.as_array().unwrap().len(), 21);
    let envs = stn.json(&["env", "list", "--json"]);
    assert_eq!(envs.as_array().unwrap().len(), 1);
    stn.fails(&["agent", "list", "-e", "production"], 1);

    // sync from files: a hand-written agent, an MCP config with a variable
    let staging = stn.config_dir().join("environments/staging");
    std::fs::create_dir_all(staging.join("agents")).unwrap();
    std::fs::write(
        staging.join("agents/from-file.prompt"),
        "---\nmetadata:\n  name: from-file\n  description: written by hand\nmodel: gpt-4o\nmax_steps: 3\ntools:\n  - __fetch\nconfig:\n  temperature: 0.1\n---\n\nHello {{userInput}}\n",
    )
    .unwrap();
    std::fs::write(
        staging.join("web.json"),
        r#"{"name": "web", "mcpServers": {"fetch": {"command": "uvx", "args": ["mcp-server-fetch", "--root={{.ROOT}}"]}}}"#,
    )
    .unwrap();
    // A file that cannot load is named; the rest of the environment is still applied.
    let out = stn.output(&["sync", "staging", "--no-discover"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ROOT") && err.contains("web.json"),
        "missing variable is named: {err}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("agent from-file: created"));
    std::fs::write(staging.join("variables.yml"), "ROOT: /srv\n").unwrap();
    let out = stn.ok(&["sync", "staging", "--no-discover"]);
    assert!(
        out.contains("mcp config web: created") && out.contains("agent from-file: unchanged"),
        "{out}"
    );
    let again = stn.ok(&["sync", "staging", "--no-discover"]);
    assert!(again.contains("up to date"), "sync is idempotent: {again}");
    let agent = stn.json(&["agent", "show", "from-file", "-e", "staging", "--json"]);
    assert_eq!(agent["model"], "gpt-4o");
    assert_eq!(agent["tools"], serde_json::json!(["__fetch"]));
    let servers = stn.json(&["mcp", "list", "-e", "staging", "--json"]);
    // The database keeps the reference; the value is filled in when the server starts.
    assert_eq!(
        servers[0]["args"],
        serde_json::json!(["mcp-server-fetch", "--root={{.ROOT}}"])
    );
    // a change in the file is picked up
    std::fs::write(
        staging.join("agents/from-file.prompt"),
        "---\nmetadata:\n  name: from-file\n  description: changed\nmax_steps: 4\n---\n\nHi\n",
    )
    .unwrap();
    assert!(
        stn.ok(&["sync", "staging", "--no-discover"])
            .contains("agent from-file: updated")
    );
    assert_eq!(
        stn.json(&["agent", "show", "from-file", "-e", "staging", "--json"])["max_steps"],
        4
    );

    let status = stn.json(&["db", "status", "--json"]);
    assert_eq!(status["pending"], serde_json::json!([]));
}

#[test]
fn scenario_on_local_file() {
    let stn = Stn::local();
    scenario(&stn);
    assert!(stn.config_dir().join("station.db").is_file());
}

#[test]
fn scenario_on_sqld_with_jwt() {
    let Some(server) = Sqld::start(SqldOptions {
        jwt: true,
        ..Default::default()
    }) else {
        return;
    };
    let token = mint_jwt(&serde_json::json!({"a": "rw"}));
    let stn = Stn::remote(&format!("{}?authToken={token}", server.url()));
    scenario(&stn);
    let status = stn.json(&["db", "status", "--json"]);
    assert_eq!(status["kind"], "remote");
    assert!(!status.to_string().contains(&token));
    assert!(
        !stn.config_dir().join("station.db").exists(),
        "no local database is created"
    );
}

#[test]
fn sqld_read_only_and_wrong_tokens_are_refused_clearly() {
    let Some(server) = Sqld::start(SqldOptions {
        jwt: true,
        ..Default::default()
    }) else {
        return;
    };
    let rw = mint_jwt(&serde_json::json!({"a": "rw"}));
    let ro = mint_jwt(&serde_json::json!({"a": "ro"}));
    let writer = Stn::remote(&format!("{}?authToken={rw}", server.url()));
    writer.ok(&["init"]);

    // The token may also come from DATABASE_AUTH_TOKEN.
    let reader = Stn::remote(&server.url());
    let mut cmd = reader.command(&[
        "agent",
        "create",
        "x",
        "--prompt",
        "p",
        "--description",
        "d",
    ]);
    let out = cmd.env("DATABASE_AUTH_TOKEN", &ro).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("refused the operation for this token") && err.contains("read-only"),
        "{err}"
    );
    assert!(!err.contains(&ro));
    let out = reader
        .command(&["agent", "list", "--json"])
        .env("TURSO_AUTH_TOKEN", &ro)
        .output()
        .unwrap();
    assert!(out.status.success(), "reads work with a read-only token");

    let wrong = format!("{}AAAA", &rw[..rw.len() - 4]);
    let bad = Stn::remote(&format!("{}?authToken={wrong}", server.url()));
    let err = bad.fails(&["agent", "list"], 1);
    assert!(
        err.contains("rejected the auth token") && err.contains("hint:"),
        "{err}"
    );
    assert!(
        !err.contains(&wrong),
        "the token must not be printed: {err}"
    );
}

#[test]
fn bad_input_is_named_with_exit_codes() {
    let stn = Stn::local();
    let err = stn.fails(&["--database", "postgres://x", "agent", "list"], 1);
    assert!(err.contains("unsupported scheme `postgres`"), "{err}");
    let err = stn.fails(&["agent", "list"], 1);
    assert!(
        err.contains("does not exist") && err.contains("stn init"),
        "a missing database is named: {err}"
    );
    rusqlite::Connection::open(stn.config_dir().join("station.db")).unwrap();
    let err = stn.fails(&["agent", "list"], 1);
    assert!(
        err.contains("pending migration"),
        "an uninitialised database is named: {err}"
    );
    stn.fails(&["agent", "create"], 2);
    std::fs::write(stn.config_dir().join("config.yaml"), "databse_url: x\n").unwrap();
    let err = stn.fails(&["init"], 1);
    assert!(
        err.contains("unknown key `databse_url`") && err.contains("config.yaml"),
        "{err}"
    );
}
