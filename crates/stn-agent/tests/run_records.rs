//! What a run's record may hold: tool results bounded for the model and for
//! the database, and never a secret value from the environment.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::World;
use serde_json::json;
use stn_core::model::{RunStatus, StepKind};
use stn_testkit::scripted_model::Turn;

const READER: &str =
    "---\nmax_steps: 4\ntools: [\"__read_text_file\"]\n---\n{{role \"user\"}}{{userInput}}\n";

#[tokio::test]
async fn a_5_mb_tool_result_reaches_the_model_and_the_database_cut_and_marked() {
    let world = World::new().await;
    let Some(bin) = common::filesystem_server() else {
        return;
    };
    let files = world.files();
    let big = files.join("big.txt");
    let line = "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz\n";
    std::fs::write(&big, line.repeat(5 * 1024 * 1024 / line.len() + 1)).unwrap();
    world.mcp_config(
        "fs",
        json!({"mcpServers": {"filesystem": {"command": bin, "args": [files.to_str().unwrap()]}}}),
    );
    world.prompt("reader", READER);
    world.sync().await;
    world
        .model
        .push(Turn::tool_call(
            "c1",
            "__read_text_file",
            json!({"path": big}),
        ))
        .push(Turn::text("It is long."));

    let outcome = world.run("reader", "Read big.txt").await;
    assert_eq!(outcome.status, RunStatus::Completed, "{:?}", outcome.error);

    let requests = world.model.requests();
    assert_eq!(requests.len(), 2);
    let sent = requests[1].body.to_string().len();
    assert!(
        sent < 100 * 1024,
        "the request after the tool call is {sent} bytes"
    );
    let (id, result) = requests[1].tool_results().remove(0);
    assert_eq!(id, "c1");
    assert!(
        result.contains("[truncated by Station: the tool returned")
            && result.contains("(max_tool_result_bytes)"),
        "the model is told that the result was cut: …{}",
        &result[result.len().saturating_sub(200)..]
    );

    let steps = world
        .station
        .store()
        .run_steps(outcome.run_id)
        .await
        .unwrap();
    let tool = steps.iter().find(|s| s.kind == StepKind::Tool).unwrap();
    let stored = tool.output.as_deref().unwrap();
    assert!(
        stored.len() <= 1024 * 1024 + 300,
        "stored {} bytes",
        stored.len()
    );
    assert!(stored.contains("(max_stored_tool_result_bytes)"));
    assert!(
        stored.starts_with(line),
        "the kept part is the result's start"
    );
    world.manager.shutdown().await;
}

/// The log lines written while a test runs, as text.
#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_variable_echoed_to_stderr_is_redacted_from_the_run_and_the_log() {
    const SECRET: &str = "s3cr3t-value-from-variables";
    let log = LogBuffer::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let world = World::new().await;
    let env_dir = world.station.layout().env_dir("default");
    std::fs::write(
        env_dir.join("variables.yml"),
        format!("LEAKY_TOKEN: \"{SECRET}\"\nPORT: 8080\n"),
    )
    .unwrap();
    // A server that prints its secret and dies before it speaks MCP.
    world.mcp_config(
        "leaky",
        json!({"mcpServers": {"leaky": {
            "command": "sh",
            "args": ["-c", "echo \"starting with token $LEAKY_TOKEN\" >&2; exit 3"],
            "env": {"LEAKY_TOKEN": "{{.LEAKY_TOKEN}}"}
        }}}),
    );
    world.prompt(
        "leaker",
        "---\nmax_steps: 2\ntools: [\"__anything\"]\n---\n{{role \"user\"}}{{userInput}}\n",
    );
    // The sync reports the dead server; the run then starts it again.
    let _ = world.station.sync_environment("default", false).await;

    let outcome = world.run("leaker", "Go").await;
    assert_eq!(outcome.status, RunStatus::Failed);
    let error = outcome.error.unwrap_or_default();
    assert!(
        error.contains("starting with token [redacted]"),
        "the stderr line is kept, its secret masked: {error}"
    );
    let stored = world.station.store().run(outcome.run_id).await.unwrap();
    let stored_error = stored.error.unwrap_or_default();
    assert!(!stored_error.contains(SECRET), "stored: {stored_error}");
    assert!(
        stored_error.contains("[redacted]"),
        "stored: {stored_error}"
    );
    let logged = String::from_utf8_lossy(&log.0.lock().unwrap()).into_owned();
    assert!(
        logged.contains("run ended"),
        "the log was captured: {logged}"
    );
    assert!(
        !logged.contains(SECRET),
        "the log holds the secret: {logged}"
    );
    world.manager.shutdown().await;
}
