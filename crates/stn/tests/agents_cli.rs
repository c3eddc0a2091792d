//! `stn agent run` and `stn runs show` on the real binary: an agent in
//! `.prompt` form using a filesystem tool (the real MCP server) and a
//! sub-agent, with the scripted model server; Ctrl-C; bad input.

mod agents_support;
mod common;

use std::time::{Duration, Instant};

use agents_support::{
    processes_with, run_id, script_boss_run, script_read_then_stall, setup, slow_agent, with_model,
    write_prompt,
};
use common::Stn;
use stn_testkit::scripted_model::{ScriptedModel, Turn};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_run_streams_every_step_and_runs_show_prints_them() {
    let Some(fs_bin) = stn_testkit::service("STN_TEST_MCP_FILESYSTEM") else {
        return;
    };
    let stn = Stn::local();
    let files = setup(&stn, &fs_bin);
    let model = ScriptedModel::start().await;
    script_boss_run(&model, &files, Duration::ZERO);

    let mut cmd = stn.command(&["agent", "run", "boss", "What is the launch code?"]);
    let out = with_model(&mut cmd, &model).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for expected in [
        "[1] model scripted-1",
        "[2] agent __agent_file_reader",
        "[3] model",
        "status:    completed",
        "The code is 4711.",
    ] {
        assert!(
            stdout.contains(expected),
            "missing `{expected}` in:\n{stdout}"
        );
    }
    assert!(!stdout.contains("sk-test-not-a-real-key"));
    let id = run_id(&stdout);
    assert_eq!(
        processes_with(&files),
        0,
        "the MCP server stopped with the command"
    );

    let shown = stn.ok(&["runs", "show", &id.to_string()]);
    assert!(shown.contains("[2] agent __agent_file_reader"), "{shown}");
    assert!(
        shown.contains("tokens:    30 in, 11 out, 41 total"),
        "summed over both model turns:\n{shown}"
    );
    let json = stn.json(&["runs", "show", &id.to_string(), "--json"]);
    assert_eq!(json["status"], "completed");
    assert_eq!(json["steps"].as_array().unwrap().len(), 3);
    let child = json["steps"][1]["child_run_id"].as_i64().unwrap();
    let child_json = stn.json(&["runs", "show", &child.to_string(), "--json"]);
    assert_eq!(child_json["parent_run_id"], id);
    let steps = child_json["steps"].as_array().unwrap();
    assert_eq!(steps[1]["kind"], "tool");
    assert!(
        steps[1]["output"]
            .as_str()
            .unwrap()
            .contains("the launch code is 4711")
    );
    let child_text = stn.ok(&["runs", "show", &child.to_string()]);
    assert!(
        child_text.contains("[2] tool __read_text_file"),
        "{child_text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_cancels_the_run_within_a_second_and_leaves_no_process() {
    let Some(fs_bin) = stn_testkit::service("STN_TEST_MCP_FILESYSTEM") else {
        return;
    };
    let stn = Stn::local();
    let files = setup(&stn, &fs_bin);
    let model = ScriptedModel::start().await;
    script_read_then_stall(&model, &files);
    let mut cmd = stn.command(&["agent", "run", "file reader", "read it"]);
    let child = with_model(&mut cmd, &model)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    assert!(
        stn_testkit::wait_until(Duration::from_secs(30), || model.requests().len() == 2),
        "the run reaches its second model turn"
    );
    assert!(processes_with(&files) > 0, "the filesystem server runs");
    let asked = Instant::now();
    std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let took = asked.elapsed();
    assert_eq!(
        out.status.code(),
        Some(3),
        "exit code 3 for cancelled\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(took < Duration::from_secs(1), "cancel took {took:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("status:    cancelled"), "{stdout}");
    let json = stn.json(&["runs", "show", &run_id(&stdout).to_string(), "--json"]);
    assert_eq!(json["status"], "cancelled");
    assert_eq!(
        json["steps"].as_array().unwrap().len(),
        2,
        "the steps before the cancel are kept"
    );
    assert_eq!(processes_with(&files), 0, "no MCP server left");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_a_clear_error_at_the_cli() {
    let stn = Stn::local();
    stn.ok(&["init"]);
    write_prompt(
        &stn,
        "broken",
        "---\nmax_steps: 2\n---\n{{#if userInput}}unclosed\n",
    );
    write_prompt(
        &stn,
        "unknown tool",
        "---\ntools: [\"__nope\"]\n---\n{{userInput}}\n",
    );
    write_prompt(&stn, "plain", "---\n---\n{{userInput}}\n");
    // Broken Handlebars is refused at sync, naming the file; the others load.
    let synced = stn.fails(&["sync"], 1);
    assert!(
        synced.contains("broken.prompt") && synced.contains("not valid Handlebars"),
        "{synced}"
    );
    let model = ScriptedModel::start().await;
    let run = |agent: &str| {
        let mut cmd = stn.command(&["agent", "run", agent, "x"]);
        with_model(&mut cmd, &model).output().unwrap()
    };
    let unknown = run("unknown tool");
    assert_eq!(unknown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown.stdout).contains("`__nope`"));

    model.push(Turn::unauthorized());
    let denied = run("plain");
    assert_eq!(denied.status.code(), Some(1));
    let text = String::from_utf8_lossy(&denied.stdout);
    assert!(
        text.contains("401") || text.to_lowercase().contains("unauthorized"),
        "{text}"
    );

    let missing = stn.fails(&["agent", "run", "nobody", "x"], 1);
    assert!(missing.contains("agent `nobody` not found"), "{missing}");
    let bad_var = stn.fails(&["agent", "run", "plain", "x", "--var", "novalue"], 1);
    assert!(bad_var.contains("KEY=VALUE"), "{bad_var}");
}

/// Issue 15 defect 12: a `kill -9` of `stn agent run` left its run
/// `running` until some later `stn serve`; the commands that read runs
/// settle it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_agent_run_is_settled_by_the_next_command_that_reads_runs() {
    let stn = Stn::local();
    let model = slow_agent(&stn).await;
    let mut cmd = stn.command(&["agent", "run", "slow", "x"]);
    let mut child = with_model(&mut cmd, &model)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let asked = stn_testkit::wait_until(Duration::from_secs(30), || model.requests().len() == 1);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(asked, "the run reached its model call");

    let runs = stn.json(&["runs", "list", "--json"]);
    let run = &runs.as_array().unwrap()[0];
    assert_eq!(run["status"], "failed", "{run}");
    assert!(
        run["error"].as_str().unwrap().starts_with("interrupted"),
        "{run}"
    );
    let id = run["id"].as_i64().unwrap().to_string();
    assert_eq!(
        stn.json(&["runs", "show", &id, "--json"])["status"],
        "failed"
    );
}
