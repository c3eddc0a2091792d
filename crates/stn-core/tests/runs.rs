//! Run persistence: a run's row, its append-only steps and counters, its end
//! written once, and runs of dead processes marked interrupted.

use stn_core::model::{AgentSpec, RunStatus, RunStep, StepKind};
use stn_core::store::{INTERRUPTED, QueuedRun, RunEnd};
use stn_core::{Layout, Station};
use stn_db::{Database, DatabaseUrl};

async fn station(dir: &tempfile::TempDir) -> Station {
    let url = DatabaseUrl::parse(dir.path().join("s.db").to_str().unwrap()).unwrap();
    let station = Station::new(Database::open(&url).await.unwrap(), Layout::new(dir.path()));
    station.migrate().await.unwrap();
    station
}

async fn agent(station: &Station) -> i64 {
    let spec = AgentSpec {
        name: "helper".into(),
        prompt: "Help.".into(),
        max_steps: 5,
        ..AgentSpec::default()
    };
    station
        .store()
        .create_agent("default", &spec)
        .await
        .unwrap()
        .id
}

fn queued(agent_id: i64, owner: &str) -> QueuedRun {
    QueuedRun {
        agent_id,
        task: "do it".into(),
        variables: Some(serde_json::json!({"region": "eu"})),
        parent_run_id: None,
        owner: owner.into(),
        origin: "cli".into(),
    }
}

fn step(run_id: i64, seq: i64, kind: StepKind, tokens: Option<i64>) -> RunStep {
    RunStep {
        run_id,
        seq,
        kind,
        name: if kind == StepKind::Model {
            "gpt-4o-mini".into()
        } else {
            "read_file".into()
        },
        input: Some(serde_json::json!({"path": "/tmp/x"})),
        output: Some("ok".into()),
        is_error: false,
        input_tokens: tokens,
        output_tokens: tokens.map(|t| t * 2),
        total_tokens: tokens.map(|t| t * 3),
        child_run_id: None,
        started_at: "2026-12-03T10:00:00.000Z".into(),
        duration_ms: 7,
        state: stn_core::model::StepState::Finished,
        call_id: None,
        server: None,
    }
}

#[tokio::test]
async fn steps_are_appended_and_counted_and_the_end_is_written_once() {
    let dir = tempfile::tempdir().unwrap();
    let station = station(&dir).await;
    let store = station.store();
    let agent_id = agent(&station).await;
    let id = store.queue_run(&queued(agent_id, "me")).await.unwrap();
    assert_eq!(store.run(id).await.unwrap().status, RunStatus::Queued);
    assert!(store.start_run(id, Some("gpt-4o-mini")).await.unwrap());
    assert!(
        !store.start_run(id, Some("gpt-4o-mini")).await.unwrap(),
        "only a queued run starts"
    );

    store
        .append_run_step(&step(id, 1, StepKind::Model, Some(10)))
        .await
        .unwrap();
    // Concurrent tool calls may be stored out of order.
    store
        .append_run_step(&step(id, 3, StepKind::Tool, None))
        .await
        .unwrap();
    store
        .append_run_step(&step(id, 2, StepKind::Tool, None))
        .await
        .unwrap();
    store
        .append_run_step(&step(id, 4, StepKind::Model, Some(5)))
        .await
        .unwrap();
    assert!(
        store
            .append_run_step(&step(id, 4, StepKind::Model, Some(5)))
            .await
            .is_err(),
        "seq is unique per run"
    );

    let run = store.run(id).await.unwrap();
    assert_eq!((run.steps_taken, run.tools_used), (2, 2));
    assert_eq!(
        (run.input_tokens, run.output_tokens, run.total_tokens),
        (Some(15), Some(30), Some(45))
    );
    assert_eq!(run.status, RunStatus::Running);
    assert_eq!(run.variables, Some(serde_json::json!({"region": "eu"})));
    let steps = store.run_steps(id).await.unwrap();
    assert_eq!(
        steps.iter().map(|s| s.seq).collect::<Vec<_>>(),
        vec![1, 2, 3, 4]
    );
    assert_eq!(steps[0], step(id, 1, StepKind::Model, Some(10)));

    let done = RunEnd {
        status: RunStatus::Completed,
        final_response: Some("done".into()),
        error: None,
    };
    assert!(store.finish_run(id, &done).await.unwrap());
    let late_cancel = RunEnd {
        status: RunStatus::Cancelled,
        final_response: None,
        error: Some("cancelled".into()),
    };
    assert!(
        !store.finish_run(id, &late_cancel).await.unwrap(),
        "the first end wins"
    );
    let run = store.run(id).await.unwrap();
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(run.final_response.as_deref(), Some("done"));
    assert!(run.completed_at.is_some() && run.duration_seconds.is_some());
}

#[tokio::test]
async fn only_runs_of_gone_owners_are_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    let station = station(&dir).await;
    let store = station.store();
    let agent_id = agent(&station).await;
    let dead = store.queue_run(&queued(agent_id, "dead")).await.unwrap();
    store.start_run(dead, None).await.unwrap();
    store
        .append_run_step(&step(dead, 1, StepKind::Model, Some(1)))
        .await
        .unwrap();
    let dead_queued = store.queue_run(&queued(agent_id, "dead")).await.unwrap();
    let alive = store.queue_run(&queued(agent_id, "alive")).await.unwrap();
    store.start_run(alive, None).await.unwrap();

    let gone = |owner: Option<&str>| owner == Some("dead");
    let mut marked = store.interrupt_orphaned_runs(&gone).await.unwrap();
    marked.sort();
    assert_eq!(marked, vec![dead, dead_queued]);
    let run = store.run(dead).await.unwrap();
    assert_eq!(run.status, RunStatus::Failed);
    assert_eq!(run.error.as_deref(), Some(INTERRUPTED));
    assert_eq!(
        store.run_steps(dead).await.unwrap().len(),
        1,
        "the transcript is kept"
    );
    assert_eq!(store.run(alive).await.unwrap().status, RunStatus::Running);
    assert!(
        store
            .interrupt_orphaned_runs(&gone)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_schedule_slot_is_claimed_once() {
    let dir = tempfile::tempdir().unwrap();
    let station = station(&dir).await;
    let store = station.store();
    let spec = AgentSpec {
        name: "nightly".into(),
        prompt: "Report.".into(),
        max_steps: 5,
        cron_schedule: Some("0 3 * * *".into()),
        schedule_enabled: true,
        ..AgentSpec::default()
    };
    let id = store.create_agent("default", &spec).await.unwrap().id;
    let listed = store.scheduled_agents().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].next_run, None);
    assert!(
        store
            .plan_schedule(id, "2026-12-04T03:00:00Z")
            .await
            .unwrap()
    );
    assert!(
        !store
            .plan_schedule(id, "2026-12-05T03:00:00Z")
            .await
            .unwrap()
    );
    let slot = "2026-12-04T03:00:00Z";
    assert!(
        store
            .claim_schedule_slot(id, slot, "2026-12-05T03:00:00Z")
            .await
            .unwrap()
    );
    assert!(
        !store
            .claim_schedule_slot(id, slot, "2026-12-05T03:00:00Z")
            .await
            .unwrap(),
        "a slot runs once"
    );
    // A new cron expression forgets the planned slot.
    let spec = AgentSpec {
        cron_schedule: Some("0 4 * * *".into()),
        ..spec
    };
    store.update_agent("default", &spec).await.unwrap();
    assert_eq!(store.scheduled_agents().await.unwrap()[0].next_run, None);
}
