//! Issue 15 defect 16: deleting runs (with their steps, never a live one)
//! and pricing them from the `models` catalog.

use stn_core::model::{AgentSpec, RunStatus, RunStep, StepKind};
use stn_core::store::{QueuedRun, RunEnd};
use stn_core::{Layout, Station};
use stn_db::{Database, DatabaseUrl, params};

async fn station(dir: &tempfile::TempDir) -> Station {
    let url = DatabaseUrl::parse(dir.path().join("s.db").to_str().unwrap()).unwrap();
    let station = Station::new(Database::open(&url).await.unwrap(), Layout::new(dir.path()));
    station.migrate().await.unwrap();
    station
}

/// A run of a new agent, started with `model` and given one model step.
async fn started_run(station: &Station, model: &str) -> i64 {
    let store = station.store();
    let agent_id = match store.agent("default", "helper").await {
        Ok(agent) => agent.id,
        Err(_) => {
            let spec = AgentSpec {
                name: "helper".into(),
                prompt: "Help.".into(),
                max_steps: 5,
                ..AgentSpec::default()
            };
            store.create_agent("default", &spec).await.unwrap().id
        }
    };
    let id = store
        .queue_run(&QueuedRun {
            agent_id,
            task: "do it".into(),
            variables: None,
            parent_run_id: None,
            owner: "me".into(),
            origin: "cli".into(),
        })
        .await
        .unwrap();
    store.start_run(id, Some(model)).await.unwrap();
    store
        .append_run_step(&RunStep {
            run_id: id,
            seq: 1,
            kind: StepKind::Model,
            name: model.into(),
            input: None,
            output: Some("ok".into()),
            is_error: false,
            input_tokens: Some(1_000),
            output_tokens: Some(500),
            total_tokens: Some(1_500),
            child_run_id: None,
            started_at: "2026-12-03T10:00:00.000Z".into(),
            duration_ms: 7,
            state: stn_core::model::StepState::Finished,
            call_id: None,
            server: None,
        })
        .await
        .unwrap();
    id
}

async fn finish(station: &Station, id: i64) {
    let end = RunEnd {
        status: RunStatus::Completed,
        final_response: Some("done".into()),
        error: None,
    };
    assert!(station.store().finish_run(id, &end).await.unwrap());
}

#[tokio::test]
async fn finished_runs_are_deleted_with_their_steps_and_live_ones_refused() {
    let dir = tempfile::tempdir().unwrap();
    let station = station(&dir).await;
    let store = station.store();
    let done = started_run(&station, "m").await;
    finish(&station, done).await;
    let live = started_run(&station, "m").await;

    let e = store.delete_runs(&[done, live]).await.unwrap_err();
    assert!(
        e.to_string().contains(&format!("run {live} is running")),
        "{e}"
    );
    assert!(
        store.run(done).await.is_ok(),
        "nothing is deleted when one is refused"
    );

    let deleted = store.delete_runs(&[done]).await.unwrap();
    assert_eq!(deleted.len(), 1);
    assert!(store.run(done).await.is_err());
    assert!(store.run_steps(done).await.unwrap().is_empty());
    assert_eq!(store.run_steps(live).await.unwrap().len(), 1);
    let e = store.delete_runs(&[done]).await.unwrap_err();
    assert!(e.to_string().contains("not found"), "{e}");
}

#[tokio::test]
async fn a_run_is_priced_when_its_model_has_a_price() {
    let dir = tempfile::tempdir().unwrap();
    let station = station(&dir).await;
    let db = station.store().db();
    db.execute(
        "INSERT INTO model_providers (name) VALUES ('openai')",
        params![],
    )
    .await
    .unwrap();
    db.execute(
        "INSERT INTO models (provider_id, model_id, name, input_cost, output_cost) \
         VALUES (1, 'priced', 'Priced', 2.0, 8.0), (1, 'free-form', 'No price', NULL, NULL)",
        params![],
    )
    .await
    .unwrap();
    let priced = started_run(&station, "priced").await;
    finish(&station, priced).await;
    let prices = station.store().model_prices().await.unwrap();
    assert!(!prices.contains_key("free-form"));
    let run = station.store().run(priced).await.unwrap();
    let cost = prices["priced"].cost_of(&run).unwrap();
    // 1000 in at $2/M plus 500 out at $8/M.
    assert!((cost - 0.006).abs() < 1e-9, "{cost}");
}
