//! Durable runs: tool calls written ahead of their execution.

mod common;

use std::time::Duration;

use common::World;
use serde_json::json;
use stn_core::model::{RunStatus, StepKind, StepState};
use stn_testkit::scripted_model::Turn;

const HELPER: &str = "---\nmax_steps: 2\nmetadata:\n  description: Helps\n---\n{{userInput}}\n";
const LEAD: &str = "---\nmax_steps: 4\nagents: [\"helper\"]\nmetadata:\n  description: Leads\n---\n{{userInput}}\n";

#[tokio::test]
async fn a_tool_call_is_stored_as_started_with_its_model_turn_then_finished() {
    let world = World::new().await;
    world.prompt("helper", HELPER);
    world.prompt("lead", LEAD);
    world.sync().await;
    world
        .model
        .push(
            Turn::tool_call("call-7", "__agent_helper", json!({"task": "help"})).and_tool_call(
                "call-8",
                "__nope",
                json!({}),
            ),
        )
        .push(Turn::text("helped").first_byte_after(Duration::from_millis(800)))
        .push(Turn::text("done"));
    let started = world.start("lead", "go").await;
    let run_id = started.run_id;
    let store = world.station.store();

    // While the sub-agent's model is slow, the call is in the database as
    // started, with its arguments, call id and child run.
    let mut during = Vec::new();
    for _ in 0..100 {
        during = store.run_steps(run_id).await.unwrap();
        if during.len() == 3 && during[1].child_run_id.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(during.len(), 3, "the model turn and both calls: {during:?}");
    assert_eq!(during[0].kind, StepKind::Model);
    assert_eq!(during[0].state, StepState::Finished);
    let call = &during[1];
    assert_eq!(
        (call.kind, call.state, call.seq),
        (StepKind::Agent, StepState::Started, 2)
    );
    assert_eq!(call.call_id.as_deref(), Some("call-7"));
    assert_eq!(call.input, Some(json!({"task": "help"})));
    assert_eq!(call.output, None);
    assert!(
        call.child_run_id.is_some(),
        "the child run is noted at once"
    );
    let run = store.run(run_id).await.unwrap();
    assert_eq!(run.tools_used, 1, "only finished calls count: {run:?}");

    let outcome = tokio::time::timeout(Duration::from_secs(30), started.outcome)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(outcome.status, RunStatus::Completed, "{outcome:?}");
    let steps = store.run_steps(run_id).await.unwrap();
    assert_eq!(steps.len(), 4);
    assert!(
        steps.iter().all(|s| s.state == StepState::Finished),
        "{steps:?}"
    );
    assert_eq!(steps[1].output.as_deref(), Some("helped"));
    assert_eq!(steps[1].started_at, call.started_at, "finished in place");
    assert_eq!(steps[2].call_id.as_deref(), Some("call-8"));
    assert!(steps[2].is_error);
    let run = store.run(run_id).await.unwrap();
    assert_eq!((run.steps_taken, run.tools_used), (2, 2));
}
