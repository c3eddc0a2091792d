//! Issue 15 defect 16 on the real binary: `runs list` with duration, tokens
//! and error, `runs rerun`, `runs delete`, `mcp tools`, and "1 tool call".

mod agents_support;
mod common;

use std::process::Output;

use agents_support::{run_id, setup, with_model};
use common::Stn;
use serde_json::json;
use stn_testkit::scripted_model::{ScriptedModel, Turn};

fn read_turns(model: &ScriptedModel, files: &std::path::Path) {
    model
        .push(
            Turn::tool_call(
                "c1",
                "__read_text_file",
                json!({"path": files.join("notes.txt")}),
            )
            .usage(7, 3),
        )
        .push(Turn::text("The notes say 4711.").usage(9, 4));
}

fn run_with_model(stn: &Stn, model: &ScriptedModel, args: &[&str]) -> Output {
    let mut cmd = stn.command(args);
    with_model(&mut cmd, model).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_can_be_listed_with_their_numbers_rerun_and_deleted() {
    let Some(fs_bin) = stn_testkit::service("STN_TEST_MCP_FILESYSTEM") else {
        return;
    };
    let stn = Stn::local();
    let files = setup(&stn, &fs_bin);
    let model = ScriptedModel::start().await;

    read_turns(&model, &files);
    let out = run_with_model(
        &stn,
        &model,
        &[
            "agent",
            "run",
            "file reader",
            "read the notes",
            "--var",
            "region=eu",
        ],
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(stdout.contains("2 model turns, 1 tool call\n"), "{stdout}");
    let first = run_id(&stdout);

    model.push(Turn::unauthorized());
    let out = run_with_model(&stn, &model, &["agent", "run", "file reader", "again"]);
    assert!(!out.status.success());
    let failed = run_id(&text(&out.stdout));
    let error = stn.json(&["runs", "show", &failed.to_string(), "--json"])["error"]
        .as_str()
        .unwrap()
        .to_owned();

    let list = stn.ok(&["runs", "list"]);
    let header = list.lines().next().unwrap();
    for column in ["DURATION", "TOKENS IN/OUT", "TASK", "ERROR"] {
        assert!(header.contains(column), "{list}");
    }
    assert!(!header.contains("COST"), "no model has a price:\n{list}");
    let row = |id: i64| {
        list.lines()
            .find(|l| l.starts_with(&format!("{id} ")))
            .unwrap_or_else(|| panic!("no run {id} in:\n{list}"))
            .to_owned()
    };
    assert!(row(first).contains("16/7"), "{list}");
    assert!(row(first).contains("read the notes"), "{list}");
    let start: String = error.chars().take(30).collect();
    assert!(row(failed).contains(&start), "`{start}` not in:\n{list}");

    read_turns(&model, &files);
    let out = run_with_model(
        &stn,
        &model,
        &["runs", "rerun", &first.to_string(), "--json"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let rerun: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let again = rerun["id"].as_i64().unwrap();
    assert_ne!(again, first);
    assert_eq!(rerun["status"], "completed");
    assert_eq!(rerun["task"], "read the notes");
    assert_eq!(rerun["variables"], json!({"region": "eu"}));
    assert!(
        text(&out.stderr).contains(&format!("run {again}: a rerun of run {first}")),
        "{}",
        text(&out.stderr)
    );

    let deleted = stn.json(&[
        "runs",
        "delete",
        &first.to_string(),
        &again.to_string(),
        "--yes",
        "--json",
    ]);
    assert_eq!(deleted, json!({"deleted": [first, again]}));
    stn.fails(&["runs", "show", &first.to_string()], 1);
    let left = stn.json(&["runs", "list", "--json"]);
    assert_eq!(left.as_array().unwrap().len(), 1, "{left}");
    assert!(left[0].get("cost_usd").is_none(), "{left}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_tools_lists_each_tool_with_its_description() {
    let Some(fs_bin) = stn_testkit::service("STN_TEST_MCP_FILESYSTEM") else {
        return;
    };
    let stn = Stn::local();
    setup(&stn, &fs_bin);
    let tools = stn.json(&["mcp", "tools", "-e", "default", "--json"]);
    let read = tools
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "read_text_file")
        .unwrap_or_else(|| panic!("{tools}"));
    assert_eq!(read["server"], "filesystem");
    let description = read["description"].as_str().unwrap();
    assert!(!description.is_empty());
    assert_eq!(read["input_schema"]["type"], "object");

    let table = stn.ok(&["mcp", "tools", "--server", "filesystem"]);
    assert!(table.starts_with("ENVIRONMENT  SERVER"), "{table}");
    let line = table
        .lines()
        .find(|l| l.contains("read_text_file"))
        .unwrap();
    let shown: String = description
        .lines()
        .next()
        .unwrap()
        .chars()
        .take(20)
        .collect();
    assert!(line.contains(&shown), "{table}");
    let e = stn.fails(&["mcp", "tools", "--server", "nope"], 1);
    assert!(e.contains("no MCP server `nope`"), "{e}");
}
