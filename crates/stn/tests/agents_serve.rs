//! `stn serve` running agents: the HTTP API with live server-sent events,
//! cancel, `kill -9` mid-run, schedules across a restart, and `/mcp` plus
//! `stn stdio` called by the official Python MCP client.

mod agents_support;
mod common;

use std::time::{Duration, Instant};

use agents_support::{
    model_env, processes_with, script_boss_run, script_read_then_stall, setup, slow_agent,
    write_prompt,
};
use common::{Server, Stn};
use serde_json::{Value, json};
use stn_testkit::scripted_model::{ScriptedModel, Turn};

fn start(stn: &Stn, model: &ScriptedModel, name: &str) -> Server {
    let env = model_env(model);
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Server::start(
        stn,
        &[],
        &pairs,
        &stn.config_dir().join(format!("{name}.log")),
    )
}

async fn agent_id(base: &str, name: &str) -> i64 {
    let agents: Value = reqwest::get(format!("{base}/api/v1/agents"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    agents
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == name)
        .and_then(|a| a["id"].as_i64())
        .unwrap()
}

async fn start_run(base: &str, agent: i64, task: &str) -> i64 {
    let response = reqwest::Client::new()
        .post(format!("{base}/api/v1/agents/{agent}/runs"))
        .json(&json!({"task": task}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.unwrap();
    body["run_id"].as_i64().unwrap()
}

async fn get_run(base: &str, id: i64) -> Value {
    reqwest::get(format!("{base}/api/v1/runs/{id}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Reads server-sent events until the stream ends; returns (event, data) pairs.
async fn read_events(base: &str, id: i64) -> Vec<(String, Value)> {
    let mut response = reqwest::get(format!("{base}/api/v1/runs/{id}/events"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut text = String::new();
    while let Some(chunk) = tokio::time::timeout(Duration::from_secs(30), response.chunk())
        .await
        .expect("events keep coming")
        .unwrap()
    {
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    text.split("\n\n")
        .filter_map(|block| {
            let event = block.lines().find_map(|l| l.strip_prefix("event: "))?;
            let data = block.lines().find_map(|l| l.strip_prefix("data: "))?;
            Some((event.to_owned(), serde_json::from_str(data).unwrap()))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_runs_an_agent_and_streams_its_steps_live() {
    let Some(fs_bin) = stn_testkit::service("STN_TEST_MCP_FILESYSTEM") else {
        return;
    };
    let stn = Stn::local();
    let files = setup(&stn, &fs_bin);
    let model = ScriptedModel::start().await;
    // The first turn waits, so the events are followed live, not replayed.
    script_boss_run(&model, &files, Duration::from_millis(700));
    let server = start(&stn, &model, "api");
    let base = format!("http://127.0.0.1:{}", server.port);
    let boss = agent_id(&base, "boss").await;
    let id = start_run(&base, boss, "What is the launch code?").await;
    let events = read_events(&base, id).await;
    let names: Vec<&str> = events.iter().map(|(e, _)| e.as_str()).collect();
    assert_eq!(names.last(), Some(&"status"));
    let (_, last) = events.last().unwrap();
    assert_eq!(last["status"], "completed");
    assert_eq!(last["final_response"], "The code is 4711.");
    let finished: Vec<i64> = events
        .iter()
        .filter(|(e, _)| e == "step_finished")
        .map(|(_, d)| d["step"]["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(finished, [1, 2, 3], "every step once, in order");
    assert!(names.contains(&"text_delta"), "live text deltas: {names:?}");
    assert!(names.contains(&"step_started"), "{names:?}");

    let run = get_run(&base, id).await;
    assert_eq!(run["status"], "completed");
    assert_eq!(run["steps"].as_array().unwrap().len(), 3);
    assert_eq!(run["total_tokens"], 41);
    // A late reader gets the same transcript replayed, ending with the status.
    let replay = read_events(&base, id).await;
    assert_eq!(
        replay.iter().filter(|(e, _)| e == "step_finished").count(),
        3
    );
    assert_eq!(replay.last().unwrap().1["status"], "completed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_through_the_api_ends_the_run_within_a_second() {
    let stn = Stn::local();
    let model = slow_agent(&stn).await;
    let server = start(&stn, &model, "cancel");
    let base = format!("http://127.0.0.1:{}", server.port);
    let id = start_run(&base, agent_id(&base, "slow").await, "x").await;
    assert!(stn_testkit::wait_until(Duration::from_secs(10), || model
        .requests()
        .len()
        == 1));
    let asked = Instant::now();
    let response = reqwest::Client::new()
        .post(format!("{base}/api/v1/runs/{id}/cancel"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    loop {
        if get_run(&base, id).await["status"] == "cancelled" {
            break;
        }
        assert!(
            asked.elapsed() < Duration::from_secs(1),
            "not cancelled within 1 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let again = reqwest::Client::new()
        .post(format!("{base}/api/v1/runs/{id}/cancel"))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 409, "an ended run cannot be cancelled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_run_leaves_an_interrupted_run_and_no_mcp_process() {
    let Some(fs_bin) = stn_testkit::service("STN_TEST_MCP_FILESYSTEM") else {
        return;
    };
    let stn = Stn::local();
    let files = setup(&stn, &fs_bin);
    let model = ScriptedModel::start().await;
    script_read_then_stall(&model, &files);
    let mut server = start(&stn, &model, "crash");
    let base = format!("http://127.0.0.1:{}", server.port);
    let reader = agent_id(&base, "file reader").await;
    let id = start_run(&base, reader, "read it").await;
    assert!(stn_testkit::wait_until(Duration::from_secs(30), || model
        .requests()
        .len()
        == 2));
    assert!(processes_with(&files) > 0, "the filesystem server runs");
    server.kill9();

    let server = start(&stn, &model, "restart");
    let base = format!("http://127.0.0.1:{}", server.port);
    let run = get_run(&base, id).await;
    assert_eq!(run["status"], "failed");
    assert!(
        run["error"].as_str().unwrap().starts_with("interrupted"),
        "{run}"
    );
    assert_eq!(
        run["steps"].as_array().unwrap().len(),
        2,
        "the steps before the crash are kept"
    );
    assert!(
        stn_testkit::wait_until(Duration::from_secs(5), || processes_with(&files) == 0),
        "the killed server's MCP server was stopped at restart"
    );
    model.push(Turn::text("fine now"));
    let next = start_run(&base, reader, "again").await;
    let events = read_events(&base, next).await;
    assert_eq!(events.last().unwrap().1["status"], "completed");
}

/// Both schedule servers' logs, for a failure message.
fn server_logs(stn: &Stn) -> String {
    ["sched1", "sched2"]
        .iter()
        .map(|name| {
            let log = std::fs::read_to_string(stn.config_dir().join(format!("{name}.log")));
            format!("--- {name}.log\n{}", log.unwrap_or_default())
        })
        .collect()
}

fn parse_time(text: &str) -> time::OffsetDateTime {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_fires_on_time_and_a_restart_never_runs_a_slot_twice() {
    let stn = Stn::local();
    stn.ok(&["init"]);
    write_prompt(
        &stn,
        "ticker",
        "---\nschedule:\n  cron: \"*/2 * * * * *\"\n  enabled: true\n  variables:\n    region: eu\n---\nTick for {{region}}: {{userInput}}\n",
    );
    stn.ok(&["sync"]);
    let model = ScriptedModel::start().await;
    model.set_fallback(|_| Turn::text("tick"));
    let first_start = time::OffsetDateTime::now_utc();
    let mut server = start(&stn, &model, "sched1");
    std::thread::sleep(Duration::from_millis(4500));
    server.stop();
    let stopped = time::OffsetDateTime::now_utc();
    // Down long enough to miss at least one slot.
    std::thread::sleep(Duration::from_millis(4500));
    let restart = time::OffsetDateTime::now_utc();
    let mut server = start(&stn, &model, "sched2");
    std::thread::sleep(Duration::from_millis(3000));
    server.stop();

    let runs = stn.json(&[
        "runs", "list", "--agent", "ticker", "--json", "--limit", "100",
    ]);
    let runs = runs.as_array().unwrap();
    // A run in flight when the server stopped ends cancelled; the rest completed.
    assert!(
        runs.iter()
            .all(|r| r["status"] == "completed" || r["status"] == "cancelled"),
        "{runs:?}"
    );
    // (slot, started) of every run; the task names the slot.
    let slots: Vec<(time::OffsetDateTime, time::OffsetDateTime)> = runs
        .iter()
        .map(|r| {
            let task = r["task"].as_str().unwrap();
            let slot = task
                .strip_prefix("Scheduled run (")
                .and_then(|t| t.strip_suffix(')'))
                .unwrap();
            (
                parse_time(slot),
                parse_time(r["started_at"].as_str().unwrap()),
            )
        })
        .collect();
    let unique: std::collections::BTreeSet<_> = slots.iter().map(|(slot, _)| *slot).collect();
    assert_eq!(unique.len(), slots.len(), "no slot ran twice: {slots:?}");
    assert!(slots.len() >= 3, "the schedule fired: {slots:?}");
    for (slot, started) in &slots {
        // Slots while the first server ran started on time.
        if *slot > first_start && *slot < stopped {
            assert!(
                *started - *slot < time::Duration::milliseconds(1500),
                "on time: {slot} started {started}; first server from {first_start} to {stopped}, runs {runs:?}\n{}",
                server_logs(&stn)
            );
        }
    }
    let missed_run_at_start = slots
        .iter()
        .filter(|(slot, started)| *started >= restart && *slot < restart)
        .count();
    assert_eq!(
        missed_run_at_start, 1,
        "the slots missed while down ran once: {slots:?}"
    );
    let first = &model.requests()[0];
    assert!(
        first.last_user_text().contains("Tick for eu"),
        "schedule variables reach the prompt"
    );
}

/// Lists the tools and calls `agent_boss` with the official Python MCP client.
const CLIENT: &str = r#"
import asyncio, json, sys
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

async def use(streams):
    async with ClientSession(streams[0], streams[1]) as session:
        await session.initialize()
        tools = await session.list_tools()
        result = await session.call_tool("agent_boss", {"task": "What is the launch code?"})
        dump = lambda r: r.model_dump(by_alias=True, mode="json")
        print(json.dumps({"tools": [t.name for t in tools.tools], "result": dump(result)}))

async def main():
    kind, target = sys.argv[1], sys.argv[2]
    if kind == "http":
        async with streamable_http_client(target) as streams:
            await use(streams)
    else:
        args = json.loads(sys.argv[3])
        env = json.loads(sys.argv[4])
        async with stdio_client(StdioServerParameters(command=target, args=args, env=env)) as streams:
            await use(streams)

asyncio.run(main())
"#;

fn python_client(python: &str, args: &[&str]) -> Value {
    let out = std::process::Command::new(python)
        .arg("-c")
        .arg(CLIENT)
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "python client failed\nstdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap_or_default()).unwrap()
}

fn assert_boss_answer(got: &Value) {
    let tools: Vec<&str> = got["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert_eq!(tools, ["agent_boss", "agent_file_reader"]);
    assert_ne!(got["result"]["isError"], true, "{got}");
    assert_eq!(got["result"]["content"][0]["text"], "The code is 4711.");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_clients_call_agents_over_http_and_stdio() {
    let Some(fs_bin) = stn_testkit::service("STN_TEST_MCP_FILESYSTEM") else {
        return;
    };
    let Some(python) = stn_testkit::service("STN_TEST_PYTHON_MCP") else {
        return;
    };
    let stn = Stn::local();
    let files = setup(&stn, &fs_bin);
    let model = ScriptedModel::start().await;

    script_boss_run(&model, &files, Duration::ZERO);
    let mut server = start(&stn, &model, "mcp");
    let url = format!("http://127.0.0.1:{}/mcp", server.port);
    assert_boss_answer(&python_client(&python, &["http", &url]));
    assert!(server.stop().success());

    script_boss_run(&model, &files, Duration::ZERO);
    let mut env = serde_json::Map::new();
    env.insert("STATION_CONFIG_DIR".into(), json!(stn.config_dir()));
    for (k, v) in model_env(&model) {
        env.insert(k.into(), json!(v));
    }
    env.insert(
        "PATH".into(),
        json!(std::env::var("PATH").unwrap_or_default()),
    );
    let got = python_client(
        &python,
        &[
            "stdio",
            env!("CARGO_BIN_EXE_stn"),
            r#"["stdio"]"#,
            &Value::Object(env).to_string(),
        ],
    );
    assert_boss_answer(&got);
    assert_eq!(
        processes_with(&files),
        0,
        "`stn stdio` stopped its MCP servers"
    );
    let runs = stn.json(&["runs", "list", "--agent", "boss", "--json"]);
    assert_eq!(runs.as_array().unwrap().len(), 2, "one run per MCP call");
}
