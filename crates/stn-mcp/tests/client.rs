//! Client side against real MCP servers from the registries (stdio).

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::json;
use stn_mcp::{McpError, Pool, ServerSpec, Transport, discover};

fn everything() -> Option<ServerSpec> {
    let bin = common::service("STN_TEST_MCP_EVERYTHING")?;
    Some(ServerSpec::stdio("everything", &bin, &[]))
}

#[tokio::test]
async fn discover_lists_every_tool_and_leaves_no_child() {
    let Some(spec) = everything() else { return };
    let tools = discover(&spec, Duration::from_secs(30)).await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
    assert!(names.contains(&"echo"), "{names:?}");
    assert!(names.contains(&"get-sum"), "{names:?}");
    let echo = tools.iter().find(|t| t.name == "echo").unwrap();
    assert_eq!(echo.server, "everything");
    assert_eq!(echo.description, "Echoes back the input string");
    assert_eq!(echo.input_schema["properties"]["message"]["type"], "string");
    assert!(
        common::our_children().is_empty(),
        "children left: {:?}",
        common::our_children()
    );
}

#[tokio::test]
async fn pool_calls_tools_and_reuses_the_connection() {
    let Some(spec) = everything() else { return };
    let pool = Pool::new();
    let started = Instant::now();
    let tools = pool
        .tools("env", std::slice::from_ref(&spec))
        .await
        .unwrap();
    let first = started.elapsed();
    let pids = pool.child_pids();
    assert_eq!(pids.len(), 1);

    let started = Instant::now();
    let again = pool
        .tools("env", std::slice::from_ref(&spec))
        .await
        .unwrap();
    let second = started.elapsed();
    println!(
        "tools(): first {} ms, pooled {} ms",
        first.as_millis(),
        second.as_millis()
    );
    assert_eq!(tools, again);
    assert_eq!(pool.child_pids(), pids, "no respawn");
    assert!(
        second < Duration::from_millis(10),
        "pooled tools() took {second:?}"
    );

    let out = pool
        .call("env", "everything", "echo", json!({"message": "hi there"}))
        .await
        .unwrap();
    assert_eq!(out.text, "Echo: hi there");
    assert!(!out.is_error);
    let sum = pool
        .call("env", "everything", "get-sum", json!({"a": 2, "b": 40}))
        .await
        .unwrap();
    assert!(sum.text.contains("42"), "{}", sum.text);

    pool.shutdown().await;
    assert!(pool.child_pids().is_empty());
    assert!(common::group_members(pids[0]).is_empty());
}

#[tokio::test]
async fn calls_of_one_turn_run_concurrently_on_one_connection() {
    let Some(spec) = everything() else { return };
    let pool = Pool::new();
    pool.tools("env", &[spec]).await.unwrap();
    let started = Instant::now();
    let calls = (0..4).map(|_| {
        pool.call(
            "env",
            "everything",
            "trigger-long-running-operation",
            json!({"duration": 1, "steps": 2}),
        )
    });
    let results = futures::future::join_all(calls).await;
    let took = started.elapsed();
    println!("4 concurrent 1 s calls took {} ms", took.as_millis());
    for result in results {
        let out = result.unwrap();
        assert!(!out.is_error, "{}", out.text);
        assert!(out.text.contains("completed"), "{}", out.text);
    }
    assert!(
        took < Duration::from_millis(2500),
        "calls ran one after another: {took:?}"
    );
    assert_eq!(pool.child_pids().len(), 1);
    pool.shutdown().await;
}

#[tokio::test]
async fn a_call_over_its_timeout_fails_and_the_server_stays_usable() {
    let Some(mut spec) = everything() else { return };
    spec.call_timeout = Duration::from_millis(500);
    let pool = Pool::new();
    pool.tools("env", &[spec]).await.unwrap();
    let started = Instant::now();
    let err = pool
        .call(
            "env",
            "everything",
            "trigger-long-running-operation",
            json!({"duration": 5, "steps": 1}),
        )
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(matches!(err, McpError::Timeout { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "MCP server `everything`: tools/call `trigger-long-running-operation` timed out after 0.5s"
    );
    let out = pool
        .call(
            "env",
            "everything",
            "echo",
            json!({"message": "still here"}),
        )
        .await
        .unwrap();
    assert_eq!(out.text, "Echo: still here");
    pool.shutdown().await;
}

#[tokio::test]
async fn a_killed_server_is_named_and_restarted_on_next_use() {
    let Some(spec) = everything() else { return };
    let pool = Pool::new();
    pool.tools("env", &[spec]).await.unwrap();
    let old = pool.child_pids()[0];

    // In flight when it dies: the call fails naming the server and the signal.
    let pending = pool.call(
        "env",
        "everything",
        "trigger-long-running-operation",
        json!({"duration": 5, "steps": 1}),
    );
    let killer = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        std::process::Command::new("kill")
            .args(["-9", &old.to_string()])
            .status()
            .unwrap();
    };
    let (result, ()) = tokio::join!(pending, killer);
    let err = result.unwrap_err();
    assert!(matches!(err, McpError::Died { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.starts_with("MCP server `everything` stopped: "),
        "{message}"
    );
    assert!(message.contains("killed by signal 9"), "{message}");

    // Next use: a new process.
    let out = pool
        .call("env", "everything", "echo", json!({"message": "back"}))
        .await
        .unwrap();
    assert_eq!(out.text, "Echo: back");
    let new = pool.child_pids();
    assert_eq!(new.len(), 1);
    assert_ne!(new[0], old);
    assert!(common::group_members(old).is_empty());
    pool.shutdown().await;
}

#[tokio::test]
async fn filesystem_server_reads_a_file_and_reports_a_missing_one_as_tool_error() {
    let Some(bin) = common::service("STN_TEST_MCP_FILESYSTEM") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    std::fs::write(root.join("note.txt"), "hello from a file\n").unwrap();
    let spec = ServerSpec::stdio("fs", &bin, &[root.to_str().unwrap()]);
    let pool = Pool::new();
    let tools = pool.tools("env", &[spec]).await.unwrap();
    assert!(tools.iter().any(|t| t.name == "read_text_file"));

    let path = root.join("note.txt");
    let out = pool
        .call("env", "fs", "read_text_file", json!({"path": path}))
        .await
        .unwrap();
    assert!(!out.is_error);
    assert_eq!(out.text.trim_end(), "hello from a file");

    // isError goes back as a result (for the model), not as an error.
    let missing = root.join("missing.txt");
    let out = pool
        .call("env", "fs", "read_text_file", json!({"path": missing}))
        .await
        .unwrap();
    assert!(out.is_error, "{}", out.text);
    assert!(out.text.contains("missing.txt"), "{}", out.text);
    pool.shutdown().await;
}

#[tokio::test]
async fn time_server_from_pypi_answers() {
    let Some(bin) = common::service("STN_TEST_MCP_TIME") else {
        return;
    };
    let spec = ServerSpec::stdio("time", &bin, &["--local-timezone", "UTC"]);
    let tools = discover(&spec, Duration::from_secs(30)).await.unwrap();
    assert!(
        tools.iter().any(|t| t.name == "get_current_time"),
        "{tools:?}"
    );
    let pool = Pool::new();
    pool.tools("env", &[spec]).await.unwrap();
    let out = pool
        .call(
            "env",
            "time",
            "get_current_time",
            json!({"timezone": "UTC"}),
        )
        .await
        .unwrap();
    assert!(!out.is_error, "{}", out.text);
    let answer: serde_json::Value = serde_json::from_str(&out.text).unwrap();
    assert_eq!(answer["timezone"], "UTC");
    let year = &answer["datetime"].as_str().unwrap()[..2];
    assert_eq!(year, "20");
    pool.shutdown().await;
}

#[tokio::test]
async fn an_unknown_tool_is_an_error_naming_the_server() {
    let Some(spec) = everything() else { return };
    let pool = Pool::new();
    pool.tools("env", &[spec]).await.unwrap();
    let result = pool
        .call("env", "everything", "no-such-tool", json!({}))
        .await;
    match result {
        // The TypeScript SDK answers an unknown tool either way, depending on version.
        Ok(out) => assert!(out.is_error && out.text.contains("no-such-tool"), "{out:?}"),
        Err(e) => assert!(e.to_string().contains("`everything`"), "{e}"),
    }
    let err = pool
        .call("env", "nobody", "echo", json!({}))
        .await
        .unwrap_err();
    assert!(matches!(err, McpError::UnknownServer { .. }), "{err}");
    pool.shutdown().await;
}

fn sh(name: &str, script: &str) -> ServerSpec {
    ServerSpec::stdio(name, "sh", &["-c", script])
}

#[tokio::test]
async fn a_command_that_does_not_exist_is_named() {
    let err = discover(
        &ServerSpec::stdio("ghost", "/nonexistent/stn-mcp-server", &[]),
        Duration::from_secs(5),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "MCP server `ghost` failed to start: command `/nonexistent/stn-mcp-server` not found"
    );
    assert!(err.hint().is_some());
}

#[tokio::test]
async fn a_server_that_exits_at_once_is_named_with_status_and_stderr() {
    let started = Instant::now();
    let err = discover(
        &sh("quitter", "echo 'cannot open config' >&2; exit 3"),
        Duration::from_secs(20),
    )
    .await
    .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    // The exit explains it: no SDK "broken pipe" noise in front.
    assert_eq!(
        err.to_string(),
        "MCP server `quitter` failed to start: it exited with status 3; stderr: cannot open config"
    );
}

/// A server that writes only non-JSON-RPC lines and never answers fails at
/// the start-up timeout, and the error shows what it wrote.
#[tokio::test]
async fn a_server_writing_garbage_is_named_with_what_it_wrote() {
    let started = Instant::now();
    let err = discover(
        &sh("noisy", "echo 'Welcome to my server!'; exec sleep 60"),
        Duration::from_secs(3),
    )
    .await
    .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    let message = err.to_string();
    assert!(
        message.starts_with("MCP server `noisy` failed to start: "),
        "{message}"
    );
    assert!(
        message.contains("non-JSON-RPC output to stdout: `Welcome to my server!`"),
        "{message}"
    );
    assert!(common::wait_until(Duration::from_secs(3), || {
        common::our_children().is_empty()
    }));
}

/// Issue 15 defect 8: a real server behind a wrapper that prints a banner,
/// a JSON log line that is not JSON-RPC and then takes a few seconds to
/// start (as `npx` does on a first run) is used, not failed after 2 s.
#[tokio::test]
async fn a_server_printing_a_banner_and_starting_slowly_works() {
    let Some(bin) = common::service("STN_TEST_MCP_EVERYTHING") else {
        return;
    };
    let script = "echo 'Everything server v1 starting...'; \
                  echo '{\"level\":\"info\",\"msg\":\"booting\"}'; \
                  sleep 3; exec \"$0\"";
    let spec = ServerSpec::stdio("bannered", "sh", &["-c", script, bin.as_str()]);
    let tools = discover(&spec, Duration::from_secs(60)).await.unwrap();
    assert!(tools.iter().any(|t| t.name == "echo"), "{tools:?}");
    assert!(common::wait_until(Duration::from_secs(3), || {
        common::our_children().is_empty()
    }));
}

#[tokio::test]
async fn one_failing_server_does_not_hide_the_others() {
    let Some(spec) = everything() else { return };
    let pool = Pool::new();
    let bad = sh("broken", "exit 7");
    let err = pool.tools("env", &[spec, bad]).await.unwrap_err();
    assert_eq!(err.servers(), vec!["broken"]);
    assert!(err.to_string().contains("exited with status 7"), "{err}");
    // The good one is connected and usable.
    let out = pool
        .call("env", "everything", "echo", json!({"message": "ok"}))
        .await
        .unwrap();
    assert_eq!(out.text, "Echo: ok");
    pool.shutdown().await;
}

#[tokio::test]
async fn stdio_env_and_cwd_reach_the_server() {
    let Some(bin) = common::service("STN_TEST_MCP_EVERYTHING") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let spec = ServerSpec {
        name: "everything".to_owned(),
        transport: Transport::Stdio {
            command: bin,
            args: Vec::new(),
            env: BTreeMap::from([("STN_MCP_TEST_VALUE".to_owned(), "42-secret".to_owned())]),
            cwd: Some(dir.path().to_owned()),
        },
        call_timeout: Duration::from_secs(10),
    };
    assert!(
        !format!("{spec:?}").contains("42-secret"),
        "Debug shows env values"
    );
    let pool = Pool::new();
    pool.tools("env", &[spec]).await.unwrap();
    let out = pool
        .call("env", "everything", "get-env", json!({}))
        .await
        .unwrap();
    assert!(out.text.contains("42-secret"), "{}", out.text);
    // What the server needs to run is inherited; the rest of our
    // environment (tokens, keys; here cargo's variables) is not.
    assert!(out.text.contains("\"PATH\""), "{}", out.text);
    assert!(std::env::var_os("CARGO_MANIFEST_DIR").is_some());
    assert!(!out.text.contains("CARGO_MANIFEST_DIR"), "{}", out.text);
    pool.shutdown().await;
}
