//! The web UI in a real browser: `ui/browser_scenarios.py` drives Debian's
//! Chromium with Playwright against real `stn serve` processes — the scripted
//! model, the real filesystem MCP server, a replica on disk — and checks
//! sign-in, live runs, cancel, hostile text, cross-origin forms, the Data
//! page, both widths and axe-core. Screenshots go to target/ui-screenshots/.

mod agents_support;
mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use agents_support::{model_env, setup, write_prompt};
use common::{Server, Stn};
use serde_json::{Value, json};
use stn_testkit::scripted_model::{ScriptedModel, Turn};

/// Text that would run script if any page inserted it as HTML.
const HOSTILE: &str = "<script>alert('task')</script><img src=x onerror=alert('img')> <a href=\"javascript:alert('link')\">javascript:alert(1)</a>";
const HOSTILE_DESCRIPTION: &str = "Reads <img src=x onerror=alert('desc')> javascript:alert(2)";

/// Where the screenshots go: `target/ui-screenshots/`, beside the build.
fn screenshot_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/ui-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir.canonicalize().unwrap()
}

/// The browser tools, or `None` (skipped locally, a failure under CI).
fn browser_tools() -> Option<(String, String, String)> {
    let python = stn_testkit::service("STN_TEST_PLAYWRIGHT_PYTHON")?;
    let chromium = stn_testkit::service("STN_TEST_CHROMIUM")?;
    let axe = stn_testkit::service("STN_TEST_AXE_JS")?;
    Some((python, chromium, axe))
}

fn agent_id(stn: &Stn, name: &str) -> i64 {
    let agents = stn.json(&["agent", "list", "--json"]);
    agents
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == name)
        .and_then(|a| a["id"].as_i64())
        .unwrap_or_else(|| panic!("no agent {name} in {agents}"))
}

/// The highest TXID `stn ltx` lists for the replica.
fn ltx_latest(stn: &Stn, replica: &str) -> u64 {
    let files = stn.json(&["ltx", replica, "--json"]);
    files
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["max_txid"].as_str())
        .filter_map(|hex| u64::from_str_radix(hex, 16).ok())
        .max()
        .expect("the replica holds LTX files")
}

#[test]
fn the_web_ui_in_a_real_browser() {
    let Some(fs_bin) = stn_testkit::service("STN_TEST_MCP_FILESYSTEM") else {
        return;
    };
    let Some((python, chromium, axe)) = browser_tools() else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let model = runtime.block_on(ScriptedModel::start());

    // Server 1: agents, an API key (so sign-in is required), the MCP server.
    let stn = Stn::local();
    let files = setup(&stn, &fs_bin);
    std::fs::write(files.join("evil.txt"), HOSTILE).unwrap();
    write_prompt(
        &stn,
        "hostile",
        &format!(
            "---\nmetadata:\n  description: \"{HOSTILE_DESCRIPTION}\"\n---\n{{{{userInput}}}}\n"
        ),
    );
    write_prompt(&stn, "slow", "---\n---\n{{userInput}}\n");
    stn.ok(&["sync"]);
    stn.ok(&["user", "create", "alice", "--admin"]);
    let key = stn.json(&["apikey", "create", "alice", "--json"])["key"]
        .as_str()
        .unwrap()
        .to_owned();
    // The run from the page: a tool call at once, then the answer after a
    // delay (the page must show the tool step before it); then a slow run.
    model
        .push(Turn::tool_call(
            "c1",
            "__read_text_file",
            json!({"path": files.join("evil.txt")}),
        ))
        .push(Turn::text(format!("I read it: {HOSTILE}")).first_byte_after(Duration::from_secs(3)))
        .push(Turn::text("late").first_byte_after(Duration::from_secs(60)));
    let env = model_env(&model);
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let server = Server::start(&stn, &[], &pairs, &stn.config_dir().join("ui.log"));

    // Server 2: keyless loopback, replicated to a directory.
    let replicated = Stn::local();
    replicated.ok(&["init"]);
    let replica_dir = replicated.config_dir().join("replica");
    let replica = format!("file://{}", replica_dir.display());
    let replicated_server = Server::start(
        &replicated,
        &["--replica", &replica],
        &[],
        &replicated.config_dir().join("replicated.log"),
    );

    let out_dir = screenshot_dir();
    let result = stn.config_dir().join("result.json");
    let config = json!({
        "base": server.base(),
        "key": key,
        "user": "alice",
        "reader_id": agent_id(&stn, "file reader"),
        "slow_id": agent_id(&stn, "slow"),
        "hostile_task": HOSTILE,
        "hostile_description": HOSTILE_DESCRIPTION,
        "out_dir": out_dir,
        "axe_js": axe,
        "chromium": chromium,
        "replicated_base": replicated_server.base(),
        "result": result,
    });
    let config_path = stn.config_dir().join("browser.json");
    std::fs::write(&config_path, config.to_string()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ui/browser_scenarios.py");
    let mut child = std::process::Command::new(&python)
        .arg(&script)
        .arg(&config_path)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start the browser script");
    // Bounded: the script's own waits are shorter than this.
    let deadline = std::time::Instant::now() + Duration::from_secs(240);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "browser scenarios failed:\n{stdout}\n{stderr}\nserver log:\n{}",
        common::tail(&server.log)
    );

    // The Data page showed what `stn ltx` lists.
    let facts: Value = serde_json::from_str(&std::fs::read_to_string(&result).unwrap()).unwrap();
    assert_eq!(
        facts["durability"].as_str().map(str::trim),
        Some("async (a write is acknowledged once local; the replica follows)")
    );
    assert_eq!(facts["replica_url"], replica.as_str());
    let after = facts["txid_after"].as_u64().unwrap();
    assert!(after > facts["txid"].as_u64().unwrap(), "{facts}");
    assert_eq!(after, ltx_latest(&replicated, &replica), "{facts}");
    for page in [
        "overview",
        "agents",
        "agent",
        "runs",
        "run",
        "environments",
        "data",
        "keys",
    ] {
        for width in [390, 1440] {
            assert!(
                out_dir.join(format!("{page}-{width}.png")).is_file(),
                "{page}-{width}.png"
            );
        }
    }
    drop(replicated_server);
    drop(server);
}
