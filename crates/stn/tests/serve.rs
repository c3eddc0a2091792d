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
