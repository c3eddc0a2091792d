//! Agents for the `stn` binary's agent tests: `.prompt` files and an MCP
//! config in a config dir, the scripted model server's address in the
//! environment, and counting the MCP server processes a test started.

#![allow(dead_code)] // each test binary uses a different part of this module

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;
use stn_testkit::scripted_model::ScriptedModel;

use crate::common::Stn;

/// Reads files with the filesystem MCP server.
pub const READER: &str = "---\nmax_steps: 4\ntools: [\"__read_text_file\"]\nmetadata:\n  description: Reads files\n---\n{{role \"system\"}}You read files.\n{{role \"user\"}}{{userInput}}\n";
/// Delegates to `file reader`.
pub const BOSS: &str = "---\nmax_steps: 4\nagents: [\"file reader\"]\nmetadata:\n  description: Delegates to the file reader\n---\n{{role \"system\"}}You delegate.\n{{role \"user\"}}{{userInput}}\n";

/// `stn init` plus the reader and boss agents, the filesystem server over a
/// directory holding `notes.txt`; returns that directory.
pub fn setup(stn: &Stn, fs_bin: &str) -> PathBuf {
    stn.ok(&["init"]);
    let files = stn.config_dir().join("files");
    std::fs::create_dir_all(&files).unwrap();
    std::fs::write(files.join("notes.txt"), "the launch code is 4711").unwrap();
    let files = files.canonicalize().unwrap();
    let env = stn.config_dir().join("environments").join("default");
    std::fs::write(
        env.join("fs.json"),
        json!({"mcpServers": {"filesystem": {"command": fs_bin, "args": [files.to_str().unwrap()]}}})
            .to_string(),
    )
    .unwrap();
    write_prompt(stn, "file reader", READER);
    write_prompt(stn, "boss", BOSS);
    stn.ok(&["sync"]);
    files
}

pub fn write_prompt(stn: &Stn, name: &str, text: &str) {
    std::fs::write(stn.agent_file("default", name), text).unwrap();
}

/// The model turns of one boss run: delegate, read, answer, answer; the first
/// answer comes after `first_delay`.
pub fn script_boss_run(model: &ScriptedModel, files: &Path, first_delay: std::time::Duration) {
    use stn_testkit::scripted_model::Turn;
    model
        .push(
            Turn::tool_call(
                "c1",
                "__agent_file_reader",
                json!({"task": "read notes.txt"}),
            )
            .usage(10, 5)
            .first_byte_after(first_delay),
        )
        .push(
            Turn::tool_call(
                "c2",
                "__read_text_file",
                json!({"path": files.join("notes.txt")}),
            )
            .usage(7, 3),
        )
        .push(Turn::text("notes: the launch code is 4711").usage(9, 4))
        .push(Turn::chunks(["The code ", "is 4711."]).usage(20, 6));
}

/// A file reader run that reads notes.txt, then waits a minute for its
/// answer: a run in progress with its MCP server running.
pub fn script_read_then_stall(model: &ScriptedModel, files: &Path) {
    use stn_testkit::scripted_model::Turn;
    model
        .push(Turn::tool_call(
            "c1",
            "__read_text_file",
            json!({"path": files.join("notes.txt")}),
        ))
        .push(Turn::text("late").first_byte_after(std::time::Duration::from_secs(60)));
}

/// `stn init` plus an agent `slow` without tools, and a model whose first
/// answer takes a minute: a run that stays in its model call.
pub async fn slow_agent(stn: &Stn) -> ScriptedModel {
    use stn_testkit::scripted_model::Turn;
    stn.ok(&["init"]);
    write_prompt(stn, "slow", "---\n---\n{{userInput}}\n");
    stn.ok(&["sync"]);
    let model = ScriptedModel::start().await;
    model.push(Turn::text("late").first_byte_after(std::time::Duration::from_secs(60)));
    model
}

/// Points `stn` at the scripted model (the same variables a real provider uses).
pub fn with_model<'a>(cmd: &'a mut Command, model: &ScriptedModel) -> &'a mut Command {
    cmd.env("STN_AI_PROVIDER", "openai")
        .env("STN_AI_BASE_URL", model.base_url())
        .env("STN_AI_MODEL", "scripted-1")
        .env("STN_AI_API_KEY", "sk-test-not-a-real-key")
}

/// The model settings as `(name, value)` pairs, for `Server::start`.
pub fn model_env(model: &ScriptedModel) -> Vec<(&'static str, String)> {
    vec![
        ("STN_AI_PROVIDER", "openai".to_owned()),
        ("STN_AI_BASE_URL", model.base_url()),
        ("STN_AI_MODEL", "scripted-1".to_owned()),
        ("STN_AI_API_KEY", "sk-test-not-a-real-key".to_owned()),
    ]
}

/// Processes whose command line mentions `marker` (a test's unique temp path).
pub fn processes_with(marker: &Path) -> usize {
    let marker = marker.to_str().unwrap();
    let mut count = 0;
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let is_pid = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.chars().all(|c| c.is_ascii_digit()));
        if !is_pid {
            continue;
        }
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(marker) && !cmdline.contains("cargo") {
            count += 1;
        }
    }
    count
}

/// The run id from the transcript's `run:` line.
pub fn run_id(transcript: &str) -> i64 {
    transcript
        .lines()
        .find_map(|l| l.strip_prefix("run:"))
        .and_then(|id| id.trim().parse().ok())
        .unwrap_or_else(|| panic!("no run id in:\n{transcript}"))
}
