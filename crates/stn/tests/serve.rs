//! `stn serve` as a user runs it: a real process, real HTTP, real signals.

mod common;

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::Stn;

struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(stn: &Stn) -> Server {
        let port = stn_testkit::free_port();
        let addr = format!("127.0.0.1:{port}");
        let child = stn
            .command(&["serve", "--addr", &addr])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start stn serve");
        assert!(
            stn_testkit::wait_for_http_ok(port, "/health", Duration::from_secs(20)),
            "stn serve did not answer /health"
        );
        Server {
            child,
            base: format!("http://{addr}"),
        }
    }

    /// SIGTERM, then the exit status (bounded wait).
    fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "stn serve did not stop within 10 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn serves_the_api_and_stops_cleanly_on_sigterm() {
    let stn = Stn::local();
    let server = Server::start(&stn);
    let http = reqwest::Client::new();
    let health: serde_json::Value = http
        .get(format!("{}/health", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    let created = http
        .post(format!("{}/api/v1/agents", server.base))
        .json(&serde_json::json!({"name": "helper", "prompt": "You help.", "description": "d"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    // The CLI sees what the API wrote, and the .prompt file exists.
    let listed = stn.json(&["agent", "list", "--json"]);
    assert_eq!(listed[0]["name"], "helper");
    assert!(stn.agent_file("default", "helper").is_file());
    let status = server.terminate();
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
    let server = Server::start(&stn);
    let http = reqwest::Client::new();
    let url = format!("{}/api/v1/agents", server.base);
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
        http.get(format!("{}/health", server.base))
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
