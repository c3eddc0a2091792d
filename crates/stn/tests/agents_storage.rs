//! The same agent run on the other databases Station runs on: a remote sqld
//! (every step over Hrana), and a replicated local file restored elsewhere
//! with every step.

mod agents_support;
mod common;

use std::time::Duration;

use agents_support::{model_env, script_boss_run, setup, with_model};
use common::{Server, Stn};
use serde_json::Value;
use stn_testkit::scripted_model::ScriptedModel;
use stn_testkit::{Sqld, SqldOptions};

/// The boss run's transcript as `runs show --json` prints it, checked.
fn assert_transcript(stn: &Stn, database: Option<&str>, id: i64) {
    let id = id.to_string();
    let mut args = vec!["runs", "show", id.as_str(), "--json"];
    if let Some(db) = database {
        args.extend(["--database", db]);
    }
    let run: Value = stn.json(&args);
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["final_response"], "The code is 4711.");
    let steps = run["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 3);
    let child = steps[1]["child_run_id"].as_i64().unwrap().to_string();
    let mut args = vec!["runs", "show", child.as_str(), "--json"];
    if let Some(db) = database {
        args.extend(["--database", db]);
    }
    let child: Value = stn.json(&args);
    let child_steps = child["steps"].as_array().unwrap();
    assert_eq!(child_steps.len(), 3);
    assert!(
        child_steps[1]["output"]
            .as_str()
            .unwrap()
            .contains("the launch code is 4711")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_on_a_remote_sqld_database_keeps_every_step() {
    let Some(fs_bin) = stn_testkit::service("STN_TEST_MCP_FILESYSTEM") else {
        return;
    };
    let Some(sqld) = Sqld::start(SqldOptions::default()) else {
        return;
    };
    let stn = Stn::remote(&sqld.url());
    let files = setup(&stn, &fs_bin);
    let model = ScriptedModel::start().await;
    script_boss_run(&model, &files, Duration::ZERO);
    let mut cmd = stn.command(&["agent", "run", "boss", "What is the launch code?"]);
    let out = with_model(&mut cmd, &model).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_transcript(&stn, None, agents_support::run_id(&stdout));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_on_a_replicated_database_is_restored_elsewhere_with_every_step() {
    let Some(fs_bin) = stn_testkit::service("STN_TEST_MCP_FILESYSTEM") else {
        return;
    };
    let stn = Stn::local();
    let files = setup(&stn, &fs_bin);
    let model = ScriptedModel::start().await;
    script_boss_run(&model, &files, Duration::ZERO);
    let replica_dir = tempfile::tempdir().unwrap();
    let replica = format!("file://{}", replica_dir.path().display());
    let env = model_env(&model);
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut server = Server::start(
        &stn,
        &["--replica", &replica],
        &pairs,
        &stn.config_dir().join("serve.log"),
    );
    let base = server.base();
    let http = reqwest::Client::new();
    let agents = stn_testkit::get_json(&format!("{base}/api/v1/agents")).await;
    let boss = agents
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "boss")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let started: Value = http
        .post(format!("{base}/api/v1/agents/{boss}/runs"))
        .json(&serde_json::json!({"task": "What is the launch code?"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = started["run_id"].as_i64().unwrap();
    let done = stn_testkit::wait_until(Duration::from_secs(30), || {
        let run: Value = stn.json(&["runs", "show", &id.to_string(), "--json"]);
        run["status"] == "completed"
    });
    assert!(done, "{}", server.log_text());
    assert!(
        server.stop().success(),
        "the server stops after its final sync"
    );

    let restored = tempfile::tempdir().unwrap();
    let restored_db = restored.path().join("restored.db");
    stn.ok(&["restore", "-o", restored_db.to_str().unwrap(), &replica]);
    assert_transcript(&stn, Some(restored_db.to_str().unwrap()), id);
}
