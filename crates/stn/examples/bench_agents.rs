//! The run engine's own cost, measured in process against the scripted model
//! (0 ms per answer unless said) and server-everything's `echo` tool (stdio).
//! Usage: bench_agents MCP_SERVER_EVERYTHING_BIN [ITERATIONS]
//!
//! - time per step: a run is model → echo → model (3 steps); stn's time is the
//!   run's wall time minus the same three calls made directly (model client and
//!   MCP pool, no engine), divided by 3;
//! - start: submit → first model call, for the first run (spawns the MCP
//!   server) and the second (pooled);
//! - transactions per step: commits counted by the database's commit hook;
//! - peak RSS (VmHWM) after 50 concurrent runs, and 50 concurrent runs vs one
//!   with the model taking 200 ms per turn.

#[path = "support/mod.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use stn_agent::{Engine, EngineOptions, Models, Origin, RunEvent, RunManager, RunRequest};
use stn_core::model::RunStatus;
use stn_core::{Layout, Station};
use stn_db::{Database, DatabaseUrl, OpenOptions};
use stn_llm::{AiSettings, ApiKey, ChatRequest, Message, ModelClient};
use stn_mcp::{Pool, ServerSpec};
use stn_testkit::scripted_model::{ScriptedModel, echo_tool_loop};
use support::percentile;

const PROMPT: &str = "---\nmax_steps: 4\ntools: [\"echo\"]\n---\n{{userInput}}\n";

struct Bench {
    station: Station,
    manager: RunManager,
    commits: Arc<AtomicU64>,
    model: ScriptedModel,
    _dir: tempfile::TempDir,
}

async fn bench(everything: &str, turn_latency: Duration, max_concurrent: usize) -> Bench {
    let dir = tempfile::tempdir().expect("temp dir");
    let commits = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&commits);
    let options = OpenOptions {
        on_commit: Some(Arc::new(move || {
            counter.fetch_add(1, Ordering::Relaxed);
            Box::pin(async { Ok(()) })
        })),
        ..OpenOptions::default()
    };
    let url = DatabaseUrl::parse(dir.path().join("station.db").to_str().unwrap()).unwrap();
    let station = Station::new(
        Database::open_with(&url, &options).await.unwrap(),
        Layout::new(dir.path()),
    );
    station.migrate().await.unwrap();
    station.store().ensure_environment("default").await.unwrap();
    std::fs::create_dir_all(station.layout().agents_dir("default")).unwrap();
    std::fs::write(station.layout().agent_file("default", "echoer"), PROMPT).unwrap();
    let config = serde_json::json!({"mcpServers": {"everything": {"command": everything, "args": ["stdio"]}}});
    std::fs::write(
        station.layout().mcp_file("default", "everything"),
        config.to_string(),
    )
    .unwrap();
    station.sync_environment("default", false).await.unwrap();

    let model = ScriptedModel::start().await;
    let echo = echo_tool_loop("echo");
    model.set_fallback(move |req| echo(req).first_byte_after(turn_latency));
    let ai = ai_settings(&model);
    let resolve: stn_agent::Resolve = Arc::new(move |m| stn_llm::resolve(m, &ai, &|_| None));
    let engine = Engine::new(
        station.clone(),
        Pool::new(),
        Models::new(resolve),
        EngineOptions::default(),
    );
    Bench {
        station,
        manager: RunManager::new(engine, max_concurrent),
        commits,
        model,
        _dir: dir,
    }
}

fn ai_settings(model: &ScriptedModel) -> AiSettings {
    AiSettings {
        ai_provider: Some("openai".into()),
        ai_model: Some("scripted".into()),
        ai_base_url: Some(model.base_url()),
        ai_api_key: Some(ApiKey::new("bench")),
        ai_auth_type: None,
    }
}

impl Bench {
    /// Runs once; returns (wall time, time to the first model call).
    async fn run(&self, task: &str) -> (Duration, Duration) {
        let agent_id = self
            .station
            .store()
            .agent("default", "echoer")
            .await
            .unwrap()
            .id;
        let began = Instant::now();
        let mut started = self
            .manager
            .submit(RunRequest {
                agent_id,
                task: task.into(),
                variables: serde_json::Map::new(),
                origin: Origin::Cli,
            })
            .await
            .unwrap();
        let mut first_call = None;
        while let Ok(event) = started.events.recv().await {
            if first_call.is_none() && matches!(event, RunEvent::StepStarted { .. }) {
                first_call = Some(began.elapsed());
            }
            if event.is_final() {
                break;
            }
        }
        let outcome = started.outcome.await.unwrap();
        assert_eq!(outcome.status, RunStatus::Completed, "{:?}", outcome.error);
        (began.elapsed(), first_call.unwrap_or_default())
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let everything = args
        .next()
        .expect("usage: bench_agents MCP_SERVER_EVERYTHING_BIN [ITERATIONS]");
    let iterations: usize = args
        .next()
        .map_or(200, |n| n.parse().expect("ITERATIONS is a number"));

    // Start: first run spawns the MCP server, the second finds it pooled.
    let b = bench(&everything, Duration::ZERO, 8).await;
    let (_, first_start) = b.run("first").await;
    let (_, second_start) = b.run("second").await;

    // The same three calls without the engine, for the baseline.
    let client = ModelClient::new(
        stn_llm::resolve(None, &ai_settings(&b.model), &|_| None)
            .unwrap()
            .0,
    )
    .unwrap();
    let pool = Pool::new();
    let spec = ServerSpec::stdio("everything", &everything, &["stdio"]);
    pool.tools("bench", std::slice::from_ref(&spec))
        .await
        .unwrap();
    let mut overhead = Vec::new();
    let commits_before = b.commits.load(Ordering::Relaxed);
    for i in 0..iterations {
        let task = format!("run {i}");
        let (wall, _) = b.run(&task).await;
        let direct = Instant::now();
        let req = ChatRequest {
            model: "scripted".into(),
            messages: vec![Message::user(task.clone())],
            ..Default::default()
        };
        let turn = client.chat(&req, &|_| {}).await.unwrap();
        pool.call(
            "bench",
            "everything",
            "echo",
            serde_json::json!({"message": task}),
        )
        .await
        .unwrap();
        let mut req2 = req.clone();
        req2.messages
            .push(Message::assistant("", turn.tool_calls.clone()));
        req2.messages.push(Message::tool_result(
            turn.tool_calls[0].id.clone(),
            "Echo: x",
        ));
        client.chat(&req2, &|_| {}).await.unwrap();
        let baseline = direct.elapsed();
        overhead.push(ms(wall.saturating_sub(baseline)) / 3.0);
    }
    let commits = b.commits.load(Ordering::Relaxed) - commits_before;
    let steps = (iterations * 3) as f64;
    pool.shutdown().await;
    b.manager.shutdown().await;

    println!("| measure | stn | target |");
    println!("|---|---|---|");
    println!(
        "| stn time per step, p50 | {:.2} ms | ≤ 2 ms |",
        percentile(&overhead, 0.5)
    );
    println!(
        "| stn time per step, p99 | {:.2} ms | — |",
        percentile(&overhead, 0.99)
    );
    println!(
        "| first run's start (spawns the MCP server) | {:.1} ms | — |",
        ms(first_start)
    );
    println!(
        "| second run's start (pooled) | {:.1} ms | ≤ 10 ms |",
        ms(second_start)
    );
    println!(
        "| SQLite transactions per step | {:.2} ({:.2} with the run's own 3: queued, running, end) | ≤ 1 |",
        (commits as f64 - 3.0 * iterations as f64) / steps,
        commits as f64 / steps
    );

    // 50 at once vs one, the model taking 200 ms per turn.
    let slow = bench(&everything, Duration::from_millis(200), 50).await;
    slow.run("warm-up").await;
    let (one, _) = slow.run("alone").await;
    let began = Instant::now();
    let runs = (0..50).map(|i| {
        let slow = &slow;
        async move { slow.run(&format!("concurrent {i}")).await }
    });
    futures::future::join_all(runs).await;
    let fifty = began.elapsed();
    let rss = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l.trim_start_matches("VmHWM:").trim().to_owned())
        })
        .unwrap_or_else(|| "?".into());
    slow.manager.shutdown().await;
    println!(
        "| peak RSS of the process with 50 concurrent runs (includes the in-process model server) | {rss} | — |"
    );
    println!(
        "| 50 concurrent runs vs one (200 ms per model turn) | {:.0} ms vs {:.0} ms = {:.2}× | ≤ 1.5× |",
        ms(fifty),
        ms(one),
        fifty.as_secs_f64() / one.as_secs_f64()
    );
}
