//! `stn serve` as a user runs it: a real process, real HTTP, real signals.

mod common;

use std::time::Duration;

use common::{Server, Stn};

/// `stn serve` on a free port, its output in the config dir's serve.log.
fn start(stn: &Stn) -> Server {
    Server::start(stn, &[], &[], &stn.config_dir().join("serve.log"))
}

#[tokio::test]
async fn serves_the_api_and_stops_cleanly_on_sigterm() {
    let stn = Stn::local();
    let mut server = start(&stn);
    let health = stn_testkit::get_json(&format!("{}/health", server.base())).await;
    assert_eq!(health["status"], "ok");
    let http = reqwest::Client::new();
    let created = http
        .post(format!("{}/api/v1/agents", server.base()))
        .json(&serde_json::json!({"name": "helper", "prompt": "You help.", "description": "d"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    // The CLI sees what the API wrote, and the .prompt file exists.
    let listed = stn.json(&["agent", "list", "--json"]);
    assert_eq!(listed[0]["name"], "helper");
    assert!(stn.agent_file("default", "helper").is_file());
    let status = server.stop_within(Duration::from_secs(10));
    assert!(status.success(), "exit status after SIGTERM: {status:?}");
}

#[tokio::test]
async fn requires_a_key_once_one_exists() {
    let stn = Stn::local();
    stn.ok(&["init"]);
    stn.ok(&["user", "create", "ops", "--admin"]);
    let key = stn.json(&["apikey", "create", "ops", "--json"])["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let server = start(&stn);
    let http = reqwest::Client::new();
    let url = format!("{}/api/v1/agents", server.base());
    assert_eq!(http.get(&url).send().await.unwrap().status(), 401);
    assert_eq!(
        http.get(&url)
            .bearer_auth("stn_wrong")
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        http.get(&url)
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        http.get(format!("{}/health", server.base()))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[test]
fn refuses_a_public_address_without_keys() {
    let stn = Stn::local();
    let err = stn.fails(&["serve", "--addr", "0.0.0.0:1"], 1);
    assert!(
        err.contains("refusing to serve on 0.0.0.0:1 without authentication"),
        "{err}"
    );
    assert!(err.contains("apikey create"), "{err}");
    let err = stn.fails(&["serve", "--addr", "localhost:x"], 1);
    assert!(err.contains("not HOST:PORT"), "{err}");
}

/// Requests per minute an idle `stn serve` may send its remote database:
/// one look at the schedules per `IDLE_POLL` (10 s).
const IDLE_REQUESTS_PER_MINUTE: usize = 6;

#[tokio::test]
async fn an_idle_server_leaves_the_remote_database_alone() {
    let Some(sqld) = stn_testkit::Sqld::start(stn_testkit::SqldOptions::default()) else {
        return;
    };
    let proxy = stn_testkit::CountingProxy::start(sqld.port());
    let stn = Stn::remote(&format!("http://127.0.0.1:{}", proxy.port()));
    stn.ok(&["init"]);
    // A schedule far away must not make the server look more often.
    std::fs::write(
        stn.agent_file("default", "nightly"),
        "---\nschedule:\n  cron: \"0 3 * * *\"\n  enabled: true\n---\nReport.\n",
    )
    .unwrap();
    stn.ok(&["sync"]);
    let mut server = start(&stn);
    // Let start-up (migrations check, orphaned runs, the first plan) finish.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = proxy.requests();
    let window = Duration::from_secs(20);
    tokio::time::sleep(window).await;
    let idle = proxy.requests() - before;
    let status = server.stop_within(Duration::from_secs(10));
    assert!(status.success(), "exit status after SIGTERM: {status:?}");
    let per_minute = idle * 60 / window.as_secs() as usize;
    println!("idle stn serve: {idle} requests in {window:?} = {per_minute} per minute");
    // Ticks at 2+10 and 2+20 s may both fall into the window, plus one of slack.
    assert!(
        idle <= 3,
        "an idle server sent {idle} requests in {window:?} (at most {IDLE_REQUESTS_PER_MINUTE}/min expected)\n{}",
        server.log_text()
    );
}
