//! `stn sync` starts each MCP server of an environment, records its tools
//! and links the agents' `tools:` to them (real servers from the registries).

mod common;

use common::Stn;

fn tool_links(stn: &Stn) -> Vec<(String, Option<String>)> {
    let db = rusqlite::Connection::open(stn.config_dir().join("station.db")).unwrap();
    let mut stmt = db
        .prepare(
            "SELECT at.tool_name, t.name FROM agent_tools at LEFT JOIN mcp_tools t ON t.id = at.tool_id \
             ORDER BY at.tool_name",
        )
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn sync_records_tools_links_agents_and_names_a_failing_server() {
    let Some(time) = stn_testkit::service("STN_TEST_MCP_TIME") else {
        return;
    };
    let stn = Stn::local();
    stn.ok(&["init", "--yes"]);
    let env = stn.config_dir().join("environments/default");
    std::fs::create_dir_all(env.join("agents")).unwrap();
    std::fs::write(
        env.join("agents/clock.prompt"),
        "---\nmetadata:\n  name: clock\n  description: tells the time\ntools:\n  - __get_current_time\n  - convert_time\n  - __nowhere\n---\n\nWhat time is it? {{userInput}}\n",
    )
    .unwrap();
    let config = serde_json::json!({
        "name": "tools",
        "mcpServers": {
            "time": {"command": time, "args": ["--local-timezone", "UTC"]},
            "broken": {"command": "sh", "args": ["-c", "echo 'missing API token' >&2; exit 4"]},
        }
    });
    std::fs::write(env.join("tools.json"), config.to_string()).unwrap();

    // The broken server is named with its reason; the rest is recorded.
    let out = stn.output(&["sync", "default"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("mcp server time: 2 tools recorded"),
        "{stdout}"
    );
    assert!(
        stderr.contains("MCP server `broken` failed to start: it exited with status 4; stderr: missing API token"),
        "{stderr}"
    );
    assert!(stderr.contains("--no-discover"), "{stderr}");

    let servers = stn.json(&["mcp", "list", "-e", "default", "--json"]);
    let time_server = servers
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "time")
        .unwrap();
    assert_eq!(
        time_server["tools"],
        serde_json::json!(["convert_time", "get_current_time"])
    );
    assert_eq!(
        tool_links(&stn),
        [
            (
                "__get_current_time".to_owned(),
                Some("get_current_time".to_owned())
            ),
            ("__nowhere".to_owned(), None),
            ("convert_time".to_owned(), Some("convert_time".to_owned())),
        ]
    );

    // Without the broken server: success, and a second sync changes nothing.
    let config = serde_json::json!({
        "name": "tools",
        "mcpServers": {"time": {"command": time, "args": ["--local-timezone", "UTC"]}}
    });
    std::fs::write(env.join("tools.json"), config.to_string()).unwrap();
    stn.ok(&["sync", "default"]);
    let again = stn.ok(&["sync", "default"]);
    assert!(
        again.contains("mcp server time: 2 tools unchanged") && again.contains("up to date"),
        "{again}"
    );
    let report = stn.json(&["sync", "default", "--json"]);
    assert_eq!(report[0]["mcp_tools"]["time"]["changed"], false);

    // Offline: nothing is started, nothing recorded is lost.
    std::fs::write(
        env.join("tools.json"),
        serde_json::json!({"name": "tools", "mcpServers": {
            "time": {"command": time, "args": ["--local-timezone", "UTC"]},
            "broken": {"command": "sh", "args": ["-c", "exit 4"]},
        }})
        .to_string(),
    )
    .unwrap();
    let offline = stn.ok(&["sync", "default", "--no-discover"]);
    assert!(!offline.contains("mcp server"), "{offline}");
    assert_eq!(tool_links(&stn)[0].1.as_deref(), Some("get_current_time"));
}
