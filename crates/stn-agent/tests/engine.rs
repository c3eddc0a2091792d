//! The engine end to end: `.prompt` agents synced into a real database, the
//! scripted model server, the real filesystem MCP server.

mod common;

use std::time::{Duration, Instant};

use common::World;
use serde_json::json;
use stn_agent::EngineOptions;
use stn_core::model::{RunStatus, StepKind};
use stn_testkit::scripted_model::Turn;

const READER: &str = "---\nmodel: openai/scripted-reader\nmax_steps: 4\ntools: [\"__read_text_file\"]\nmetadata:\n  description: Reads files\n---\n{{role \"system\"}}You read files.\n{{role \"user\"}}{{userInput}}\n";
const BOSS: &str = "---\nmax_steps: 4\nagents: [\"file reader\"]\nmetadata:\n  description: Delegates\n---\n{{role \"system\"}}You delegate.\n{{role \"user\"}}{{userInput}}\n";

async fn with_filesystem(world: &World) -> Option<std::path::PathBuf> {
    let bin = common::filesystem_server()?;
    let files = world.files();
    world.mcp_config(
        "fs",
        json!({"mcpServers": {"filesystem": {"command": bin, "args": [files.to_str().unwrap()]}}}),
    );
    Some(files)
}

#[tokio::test]
async fn a_filesystem_tool_and_a_sub_agent_run_with_every_step_recorded() {
    let world = World::new().await;
    let Some(files) = with_filesystem(&world).await else {
        return;
    };
    world.prompt("file reader", READER);
    world.prompt("boss", BOSS);
    world.sync().await;
    let notes = files.join("notes.txt");
    world
        .model
        .push(
            Turn::tool_call(
                "c1",
                "__agent_file_reader",
                json!({"task": "read notes.txt"}),
            )
            .usage(10, 5),
        )
        .push(Turn::tool_call("c2", "__read_text_file", json!({"path": notes})).usage(7, 3))
        .push(Turn::text("notes: the launch code is 4711").usage(9, 4))
        .push(Turn::chunks(["The code ", "is 4711."]).usage(20, 6));

    let outcome = world.run("boss", "What is the launch code?").await;
    assert_eq!(outcome.status, RunStatus::Completed, "{:?}", outcome.error);
    assert_eq!(outcome.final_response.as_deref(), Some("The code is 4711."));

    let store = world.station.store();
    let run = store.run(outcome.run_id).await.unwrap();
    assert_eq!((run.steps_taken, run.tools_used), (2, 1));
    assert_eq!(
        (run.input_tokens, run.output_tokens, run.total_tokens),
        (Some(30), Some(11), Some(41))
    );
    assert_eq!(run.model_name.as_deref(), Some("scripted-1"));
    let steps = store.run_steps(outcome.run_id).await.unwrap();
    let kinds: Vec<StepKind> = steps.iter().map(|s| s.kind).collect();
    assert_eq!(kinds, [StepKind::Model, StepKind::Agent, StepKind::Model]);
    assert_eq!(steps[1].name, "__agent_file_reader");
    assert_eq!(
        steps[1].output.as_deref(),
        Some("notes: the launch code is 4711")
    );

    let child_id = steps[1]
        .child_run_id
        .expect("the sub-agent call has its run");
    let child = store.run(child_id).await.unwrap();
    assert_eq!(child.parent_run_id, Some(outcome.run_id));
    assert_eq!(child.status, RunStatus::Completed);
    assert_eq!(child.agent, "file reader");
    assert_eq!(
        child.model_name.as_deref(),
        Some("scripted-reader"),
        "the agent's `model:` wins"
    );
    let child_steps = store.run_steps(child_id).await.unwrap();
    assert_eq!(child_steps.len(), 3);
    assert_eq!(child_steps[1].kind, StepKind::Tool);
    assert!(!child_steps[1].is_error);
    assert!(
        child_steps[1]
            .output
            .as_deref()
            .unwrap()
            .contains("the launch code is 4711")
    );

    // The model saw the tool result under the id it gave the call.
    let requests = world.model.requests();
    assert_eq!(requests.len(), 4);
    assert_eq!(requests[2].tool_results()[0].0, "c2");
    assert!(
        requests[1]
            .tool_names()
            .contains(&"__read_text_file".to_owned())
    );
    world.manager.shutdown().await;
    assert!(
        world.manager.engine().pool().child_pids().is_empty(),
        "no MCP server left after shutdown"
    );
}

#[tokio::test]
async fn bad_input_fails_the_run_with_a_clear_error() {
    let world = World::new().await;
    // A prompt that is not valid Handlebars no longer gets this far: sync
    // refuses it (stn-core's `validation` tests).
    world.prompt(
        "unknown tool",
        "---\ntools: [\"__no_such_tool\"]\n---\n{{userInput}}\n",
    );
    world.prompt("typed", "---\ninput:\n  schema:\n    type: object\n    properties:\n      region: {type: string}\n    required: [region]\n---\n{{userInput}} in {{region}}\n");
    world.mcp_config(
        "bad",
        json!({"mcpServers": {"ghost": {"command": "/nonexistent/mcp-server"}}}),
    );
    world.prompt(
        "ghost user",
        "---\ntools: [\"__haunt\"]\n---\n{{userInput}}\n",
    );
    world.prompt("plain", "---\nmax_steps: 2\n---\n{{userInput}}\n");
    world.sync().await;

    let typed = world.run("typed", "x").await;
    assert!(
        typed.error.as_deref().unwrap().contains("input schema"),
        "{typed:?}"
    );

    let ghost = world.run("ghost user", "x").await;
    assert_eq!(ghost.status, RunStatus::Failed);
    assert!(
        ghost.error.as_deref().unwrap().contains("ghost"),
        "names the server: {ghost:?}"
    );

    assert!(
        world.model.requests().is_empty(),
        "no model call before these errors"
    );

    world.model.push(Turn::unauthorized());
    let denied = world.run("plain", "x").await;
    assert_eq!(denied.status, RunStatus::Failed);
    let error = denied.error.unwrap();
    assert!(
        error.contains("401") || error.to_lowercase().contains("unauthorized"),
        "{error}"
    );
    assert!(
        !error.contains("sk-test-not-a-real-key"),
        "no key in errors"
    );
    let steps = world
        .station
        .store()
        .run_steps(denied.run_id)
        .await
        .unwrap();
    assert!(steps[0].is_error, "the failed model call is a step");
}

#[tokio::test]
async fn an_unknown_tool_stops_the_run_before_the_model_is_called() {
    let world = World::new().await;
    let Some(_) = with_filesystem(&world).await else {
        return;
    };
    world.prompt(
        "unknown tool",
        "---\ntools: [\"__read_text_file\", \"__no_such_tool\"]\n---\n{{userInput}}\n",
    );
    world.sync().await;
    let outcome = world.run("unknown tool", "x").await;
    assert_eq!(outcome.status, RunStatus::Failed);
    let error = outcome.error.unwrap();
    assert!(
        error.contains("`__no_such_tool`") && error.contains("read_text_file"),
        "{error}"
    );
    assert!(world.model.requests().is_empty());
}

#[tokio::test]
async fn max_steps_ends_the_run_and_keeps_the_transcript() {
    let world = World::new().await;
    world.prompt(
        "looper",
        "---\nmax_steps: 2\nagents: [\"helper\"]\n---\n{{userInput}}\n",
    );
    world.prompt("helper", "---\nmax_steps: 1\n---\n{{userInput}}\n");
    world.sync().await;
    world
        .model
        .push(Turn::chunks(["thinking"]).and_tool_call("a", "__agent_helper", json!({"task": "1"})))
        .push(Turn::text("helped"))
        .push(Turn::tool_call("b", "__agent_helper", json!({"task": "2"})));
    let outcome = world.run("looper", "go").await;
    assert_eq!(outcome.status, RunStatus::Failed);
    assert!(
        outcome
            .error
            .as_deref()
            .unwrap()
            .starts_with("max_steps (2) reached"),
        "{outcome:?}"
    );
    assert_eq!(
        outcome.final_response.as_deref(),
        Some("thinking"),
        "the last text is kept"
    );
    let steps = world
        .station
        .store()
        .run_steps(outcome.run_id)
        .await
        .unwrap();
    assert_eq!(steps.len(), 3, "model, agent, model");
}

#[tokio::test]
async fn a_cycle_and_the_depth_limit_are_refused() {
    let options = EngineOptions {
        max_depth: 1,
        ..EngineOptions::default()
    };
    let world = World::with(options, 8).await;
    world.prompt("c", "---\n---\n{{userInput}}\n");
    world.prompt("b", "---\nagents: [\"c\"]\n---\n{{userInput}}\n");
    world.prompt("a", "---\nagents: [\"b\"]\n---\n{{userInput}}\n");
    world.sync().await;
    // Sync refuses cycles in files; one made in the database (b -> a) is refused at run time.
    let (a, b) = (world.agent_id("a").await, world.agent_id("b").await);
    world
        .station
        .store()
        .db()
        .execute(
            "INSERT INTO agent_agents (parent_agent_id, child_agent_id) VALUES (?1, ?2)",
            vec![b.into(), a.into()],
        )
        .await
        .unwrap();
    world
        .model
        .push(Turn::tool_call("1", "__agent_b", json!({"task": "go"})))
        .push(
            Turn::tool_call("2", "__agent_a", json!({"task": "again"})).and_tool_call(
                "3",
                "__agent_c",
                json!({"task": "deep"}),
            ),
        )
        .push(Turn::text("b gave up"))
        .push(Turn::text("a done"));
    let outcome = world.run("a", "start").await;
    assert_eq!(outcome.status, RunStatus::Completed, "{outcome:?}");
    let store = world.station.store();
    let steps = store.run_steps(outcome.run_id).await.unwrap();
    let child = steps[1].child_run_id.unwrap();
    let child_steps = store.run_steps(child).await.unwrap();
    let by_name = |name: &str| child_steps.iter().find(|s| s.name == name).unwrap().clone();
    let cycle = by_name("__agent_a");
    assert!(
        cycle.is_error && cycle.output.as_deref().unwrap().contains("cycle"),
        "{cycle:?}"
    );
    let deep = by_name("__agent_c");
    assert!(
        deep.is_error && deep.output.as_deref().unwrap().contains("nest 1 deep"),
        "{deep:?}"
    );
}

#[tokio::test]
async fn an_output_schema_gets_one_repair_then_fails() {
    let world = World::new().await;
    world.prompt("typed", "---\noutput:\n  schema:\n    type: object\n    properties:\n      answer: {type: integer}\n    required: [answer]\n---\n{{userInput}}\n");
    world.sync().await;
    world
        .model
        .push(Turn::text("not json"))
        .push(Turn::text("{\"answer\": 42}"));
    let repaired = world.run("typed", "x").await;
    assert_eq!(repaired.status, RunStatus::Completed, "{repaired:?}");
    assert_eq!(repaired.final_response.as_deref(), Some("{\"answer\": 42}"));
    let first = &world.model.requests()[0];
    assert!(
        first.last_user_text().contains("JSON Schema"),
        "the model is asked for JSON"
    );

    world
        .model
        .push(Turn::text("{\"answer\": \"x\"}"))
        .push(Turn::text("{}"));
    let failed = world.run("typed", "x").await;
    assert_eq!(failed.status, RunStatus::Failed);
    assert!(
        failed.error.as_deref().unwrap().contains("output schema"),
        "{failed:?}"
    );
}

#[tokio::test]
async fn cancel_ends_a_run_within_a_second() {
    let world = World::new().await;
    world.prompt("slow", "---\n---\n{{userInput}}\n");
    world.sync().await;
    world
        .model
        .push(Turn::text("late").first_byte_after(Duration::from_secs(30)));
    let started = world.start("slow", "x").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let asked = Instant::now();
    assert!(world.manager.cancel(started.run_id));
    let outcome = started.outcome.await.unwrap();
    assert!(
        asked.elapsed() < Duration::from_secs(1),
        "{:?}",
        asked.elapsed()
    );
    assert_eq!(outcome.status, RunStatus::Cancelled);
    let run = world.station.store().run(started.run_id).await.unwrap();
    assert_eq!(run.status, RunStatus::Cancelled);
    assert!(stn_testkit::wait_until(Duration::from_secs(2), || world
        .model
        .open_streams()
        == 0));
}

#[tokio::test]
async fn a_timeout_ends_the_run_as_timeout() {
    let options = EngineOptions {
        run_timeout: Duration::from_millis(500),
        ..EngineOptions::default()
    };
    let world = World::with(options, 8).await;
    world.prompt("slow", "---\n---\n{{userInput}}\n");
    world.sync().await;
    world
        .model
        .push(Turn::text("late").first_byte_after(Duration::from_secs(30)));
    let outcome = world.run("slow", "x").await;
    assert_eq!(outcome.status, RunStatus::Timeout);
}

#[tokio::test]
async fn runs_beyond_the_limit_wait_queued() {
    let world = World::with(EngineOptions::default(), 1).await;
    world.prompt("slow", "---\n---\n{{userInput}}\n");
    world.sync().await;
    world
        .model
        .push(Turn::text("first").first_byte_after(Duration::from_millis(800)))
        .push(Turn::text("second"));
    let first = world.start("slow", "1").await;
    let second = world.start("slow", "2").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let store = world.station.store();
    assert_eq!(
        store.run(first.run_id).await.unwrap().status,
        RunStatus::Running
    );
    assert_eq!(
        store.run(second.run_id).await.unwrap().status,
        RunStatus::Queued
    );
    assert_eq!(
        first.outcome.await.unwrap().final_response.as_deref(),
        Some("first")
    );
    assert_eq!(
        second.outcome.await.unwrap().final_response.as_deref(),
        Some("second")
    );
}

#[tokio::test]
async fn an_agent_deleted_during_its_run_fails_it_cleanly() {
    let world = World::new().await;
    world.prompt("doomed", "---\n---\n{{userInput}}\n");
    world.sync().await;
    world
        .model
        .push(Turn::text("too late").first_byte_after(Duration::from_millis(800)));
    let started = world.start("doomed", "x").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    world
        .station
        .delete_agent("default", "doomed")
        .await
        .unwrap();
    let outcome = started.outcome.await.unwrap();
    assert_eq!(outcome.status, RunStatus::Failed);
    assert!(
        outcome.error.as_deref().unwrap().contains("was deleted"),
        "{outcome:?}"
    );
    assert!(
        world.station.store().run(started.run_id).await.is_err(),
        "nothing half-written"
    );
}
