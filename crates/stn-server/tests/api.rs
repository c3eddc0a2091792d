//! The HTTP API end to end: the real router on 127.0.0.1 port 0, a temp config
//! dir and database, and reqwest as the client.

use std::path::PathBuf;

use reqwest::StatusCode;
use serde_json::{Value, json};
use stn_core::model::RunStatus;
use stn_core::store::NewRun;
use stn_core::{Layout, Station};
use stn_db::{Database, DatabaseUrl};
use stn_server::{ServeOptions, serve};
use stn_testkit::send_json as send;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A running server, its Station and the temp dir holding both.
struct Server {
    base: String,
    client: reqwest::Client,
    station: Station,
    dir: tempfile::TempDir,
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Server {
    /// A migrated Station with a local database in a fresh temp dir.
    async fn start(options: ServeOptions) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("station.db");
        let url = DatabaseUrl::parse(path.to_str().expect("UTF-8 temp path")).expect("db url");
        Server::start_on(dir, &url, options, true).await
    }

    async fn start_on(
        dir: tempfile::TempDir,
        url: &DatabaseUrl,
        options: ServeOptions,
        migrate: bool,
    ) -> Server {
        let db = Database::open(url).await.expect("open database");
        let station = Station::new(db, Layout::new(dir.path()));
        if migrate {
            station.migrate().await.expect("migrate");
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind port 0");
        let base = format!("http://{}", listener.local_addr().expect("local addr"));
        let (shutdown, signal) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(station.clone(), listener, options, async move {
            let _ = signal.await;
        }));
        Server {
            base,
            client: reqwest::Client::new(),
            station,
            dir,
            shutdown,
            task,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        send(self.client.get(self.url(path))).await
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        send(self.client.post(self.url(path)).json(&body)).await
    }

    async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        send(self.client.put(self.url(path)).json(&body)).await
    }

    async fn delete(&self, path: &str) -> (StatusCode, Value) {
        send(self.client.delete(self.url(path))).await
    }

    fn prompt_file(&self, env: &str, agent: &str) -> PathBuf {
        self.dir
            .path()
            .join("environments")
            .join(env)
            .join("agents")
            .join(format!("{agent}.prompt"))
    }

    /// Stops the server and checks that `serve` returned `Ok`.
    async fn stop(self) {
        self.shutdown.send(()).expect("server still running");
        let served = self.task.await.expect("serve task did not panic");
        assert!(served.is_ok(), "serve failed: {served:?}");
    }
}

/// A loopback server: keyless while no API key exists.
fn local() -> ServeOptions {
    ServeOptions {
        allow_keyless: true,
        ..ServeOptions::default()
    }
}

/// Asserts the stable error shape and code.
fn assert_error(response: &(StatusCode, Value), status: StatusCode, code: &str) {
    assert_eq!(response.0, status, "body: {}", response.1);
    assert_eq!(response.1["error"]["code"], code, "body: {}", response.1);
    assert!(
        response.1["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "body: {}",
        response.1
    );
}

fn id_of(body: &Value) -> i64 {
    body["id"].as_i64().expect("an id")
}

async fn record_run(station: &Station, agent_id: i64, task: &str, status: RunStatus) -> i64 {
    station
        .store()
        .record_run(&NewRun {
            agent_id,
            task: task.to_owned(),
            status,
            final_response: None,
            steps_taken: 1,
            model_name: None,
            error: None,
        })
        .await
        .expect("record run")
}

#[tokio::test]
async fn health_is_ok_with_a_working_database() {
    let server = Server::start(local()).await;
    let response = server.get("/health").await;
    assert_eq!(response.0, StatusCode::OK);
    assert_eq!(response.1, json!({"status": "ok", "database": "ok"}));
    server.stop().await;
}

#[tokio::test]
async fn environments_crud() -> TestResult {
    let server = Server::start(local()).await;

    let (status, list) = server.get("/api/v1/environments").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list[0]["name"], "default");

    let (status, env) = server
        .post(
            "/api/v1/environments",
            json!({"name": "prod", "description": "production"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{env}");
    assert_eq!(env["name"], "prod");
    assert_eq!(env["description"], "production");
    assert_eq!(env["agent_count"], 0);
    assert!(server.dir.path().join("environments/prod/agents").is_dir());

    let (status, env) = server.get("/api/v1/environments/prod").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(env["name"], "prod");
    let (_, list) = server.get("/api/v1/environments").await;
    assert_eq!(list.as_array().map(Vec::len), Some(2));

    let duplicate = server
        .post("/api/v1/environments", json!({"name": "prod"}))
        .await;
    assert_error(&duplicate, StatusCode::CONFLICT, "already_exists");
    let bad_name = server
        .post("/api/v1/environments", json!({"name": "../etc"}))
        .await;
    assert_error(&bad_name, StatusCode::BAD_REQUEST, "invalid_request");
    let no_name = server
        .post("/api/v1/environments", json!({"description": "x"}))
        .await;
    assert_error(&no_name, StatusCode::BAD_REQUEST, "invalid_request");

    let (status, body) = server.delete("/api/v1/environments/prod").await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert!(!server.dir.path().join("environments/prod").exists());
    let gone = server.get("/api/v1/environments/prod").await;
    assert_error(&gone, StatusCode::NOT_FOUND, "not_found");
    let gone = server.delete("/api/v1/environments/prod").await;
    assert_error(&gone, StatusCode::NOT_FOUND, "not_found");

    server.stop().await;
    Ok(())
}

#[tokio::test]
async fn malformed_requests_get_json_errors() {
    let server = Server::start(local()).await;

    let broken = send(
        server
            .client
            .post(server.url("/api/v1/environments"))
            .header("content-type", "application/json")
            .body("{\"name\": "),
    )
    .await;
    assert_error(&broken, StatusCode::BAD_REQUEST, "invalid_request");

    let wrong_type = server
        .post(
            "/api/v1/agents",
            json!({"name": "a", "prompt": "p", "max_steps": "many"}),
        )
        .await;
    assert_error(&wrong_type, StatusCode::BAD_REQUEST, "invalid_request");
    let message = wrong_type.1["error"]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(message.contains("max_steps"), "{message}");

    let not_an_id = server.get("/api/v1/agents/abc").await;
    assert_error(&not_an_id, StatusCode::BAD_REQUEST, "invalid_request");
    let bad_query = server.get("/api/v1/runs?limit=lots").await;
    assert_error(&bad_query, StatusCode::BAD_REQUEST, "invalid_request");

    let no_route = server.get("/api/v1/nothing-here").await;
    assert_error(&no_route, StatusCode::NOT_FOUND, "not_found");
    let no_route = server.get("/nothing-here").await;
    assert_error(&no_route, StatusCode::NOT_FOUND, "not_found");
    let wrong_method = send(server.client.patch(server.url("/api/v1/environments"))).await;
    assert_error(
        &wrong_method,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    );

    server.stop().await;
}

#[tokio::test]
async fn agents_crud() -> TestResult {
    let server = Server::start(local()).await;

    let (status, agent) = server
        .post(
            "/api/v1/agents",
            json!({"name": "helper", "prompt": "You help.", "tools": ["__read_text_file"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{agent}");
    assert_eq!(agent["environment"], "default");
    assert_eq!(agent["name"], "helper");
    assert_eq!(agent["max_steps"], stn_core::model::DEFAULT_MAX_STEPS);
    assert_eq!(agent["tools"], json!(["__read_text_file"]));
    let id = id_of(&agent);
    let file = server.prompt_file("default", "helper");
    assert!(file.is_file(), "{} missing", file.display());

    let (status, fetched) = server.get(&format!("/api/v1/agents/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fetched, agent);

    // Partial update: only the given fields change; `null` clears a nullable field.
    let (status, updated) = server
        .put(
            &format!("/api/v1/agents/{id}"),
            json!({"description": "Helps a lot", "model": "gpt-4o-mini", "max_steps": 8}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["description"], "Helps a lot");
    assert_eq!(updated["model"], "gpt-4o-mini");
    assert_eq!(updated["max_steps"], 8);
    assert_eq!(updated["prompt"], "You help.");
    assert_eq!(updated["tools"], json!(["__read_text_file"]));
    assert!(std::fs::read_to_string(&file)?.contains("Helps a lot"));
    let (_, cleared) = server
        .put(&format!("/api/v1/agents/{id}"), json!({"model": null}))
        .await;
    assert_eq!(cleared["model"], Value::Null);
    assert_eq!(cleared["max_steps"], 8);
    // Repeating the current name is fine; changing it is not.
    let (status, _) = server
        .put(&format!("/api/v1/agents/{id}"), json!({"name": "helper"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let rename = server
        .put(&format!("/api/v1/agents/{id}"), json!({"name": "other"}))
        .await;
    assert_error(&rename, StatusCode::BAD_REQUEST, "invalid_request");
    let zero_steps = server
        .put(&format!("/api/v1/agents/{id}"), json!({"max_steps": 0}))
        .await;
    assert_error(&zero_steps, StatusCode::BAD_REQUEST, "invalid_request");

    let (status, list) = server.get("/api/v1/agents?environment=default").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    let (_, all) = server.get("/api/v1/agents").await;
    assert_eq!(all.as_array().map(Vec::len), Some(1));
    let missing_env = server.get("/api/v1/agents?environment=nope").await;
    assert_error(&missing_env, StatusCode::NOT_FOUND, "not_found");

    let duplicate = server
        .post(
            "/api/v1/agents",
            json!({"name": "helper", "prompt": "Again."}),
        )
        .await;
    assert_error(&duplicate, StatusCode::CONFLICT, "already_exists");
    let no_prompt = server.post("/api/v1/agents", json!({"name": "x"})).await;
    assert_error(&no_prompt, StatusCode::BAD_REQUEST, "invalid_request");
    let no_name = server.post("/api/v1/agents", json!({"prompt": "x"})).await;
    assert_error(&no_name, StatusCode::BAD_REQUEST, "invalid_request");
    let typo = server
        .post(
            "/api/v1/agents",
            json!({"name": "x", "prompt": "x", "maxSteps": 3}),
        )
        .await;
    assert_error(&typo, StatusCode::BAD_REQUEST, "invalid_request");
    let no_env = server
        .post(
            "/api/v1/agents",
            json!({"name": "x", "prompt": "x", "environment": "nope"}),
        )
        .await;
    assert_error(&no_env, StatusCode::NOT_FOUND, "not_found");

    let (status, body) = server.delete(&format!("/api/v1/agents/{id}")).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert!(!file.exists());
    let gone = server.get(&format!("/api/v1/agents/{id}")).await;
    assert_error(&gone, StatusCode::NOT_FOUND, "not_found");
    let gone = server
        .put(&format!("/api/v1/agents/{id}"), json!({"description": "x"}))
        .await;
    assert_error(&gone, StatusCode::NOT_FOUND, "not_found");

    server.stop().await;
    Ok(())
}

#[tokio::test]
async fn deleting_an_environment_cascades() {
    let server = Server::start(local()).await;
    let (status, _) = server
        .post("/api/v1/environments", json!({"name": "staging"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, agent) = server
        .post(
            "/api/v1/agents",
            json!({"name": "worker", "prompt": "Work.", "environment": "staging"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{agent}");
    let id = id_of(&agent);
    let run = record_run(&server.station, id, "do it", RunStatus::Completed).await;
    assert!(server.prompt_file("staging", "worker").is_file());

    let (status, _) = server.delete("/api/v1/environments/staging").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let agent_gone = server.get(&format!("/api/v1/agents/{id}")).await;
    assert_error(&agent_gone, StatusCode::NOT_FOUND, "not_found");
    let run_gone = server.get(&format!("/api/v1/runs/{run}")).await;
    assert_error(&run_gone, StatusCode::NOT_FOUND, "not_found");
    assert!(!server.prompt_file("staging", "worker").exists());

    server.stop().await;
}

#[tokio::test]
async fn runs_list_and_get() {
    let server = Server::start(local()).await;
    let (_, agent) = server
        .post(
            "/api/v1/agents",
            json!({"name": "helper", "prompt": "Help."}),
        )
        .await;
    let id = id_of(&agent);
    let first = record_run(&server.station, id, "one", RunStatus::Completed).await;
    record_run(&server.station, id, "two", RunStatus::Failed).await;
    let last = record_run(&server.station, id, "three", RunStatus::Running).await;

    let (status, runs) = server.get("/api/v1/runs").await;
    assert_eq!(status, StatusCode::OK);
    let tasks: Vec<&str> = runs
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["task"].as_str())
        .collect();
    assert_eq!(tasks, ["three", "two", "one"]);
    assert_eq!(runs[0]["id"], last);
    assert_eq!(runs[0]["status"], "running");

    let (_, failed) = server.get("/api/v1/runs?status=failed").await;
    assert_eq!(failed.as_array().map(Vec::len), Some(1));
    assert_eq!(failed[0]["task"], "two");
    let (_, limited) = server.get("/api/v1/runs?limit=2").await;
    assert_eq!(limited.as_array().map(Vec::len), Some(2));
    let (_, by_agent) = server
        .get("/api/v1/runs?environment=default&agent=helper")
        .await;
    assert_eq!(by_agent.as_array().map(Vec::len), Some(3));
    let (_, other_agent) = server.get("/api/v1/runs?agent=nobody").await;
    assert_eq!(other_agent, json!([]));

    let too_many = server.get("/api/v1/runs?limit=5000").await;
    assert_error(&too_many, StatusCode::BAD_REQUEST, "invalid_request");
    let zero = server.get("/api/v1/runs?limit=0").await;
    assert_error(&zero, StatusCode::BAD_REQUEST, "invalid_request");
    let bad_status = server.get("/api/v1/runs?status=finished").await;
    assert_error(&bad_status, StatusCode::BAD_REQUEST, "invalid_request");

    let (status, run) = server.get(&format!("/api/v1/runs/{first}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(run["task"], "one");
    assert_eq!(run["agent"], "helper");
    assert_eq!(run["environment"], "default");
    let missing = server.get("/api/v1/runs/999999").await;
    assert_error(&missing, StatusCode::NOT_FOUND, "not_found");

    server.stop().await;
}

#[tokio::test]
async fn api_keys_are_required_when_asked() -> TestResult {
    // As on a non-loopback address: a key is always required.
    let server = Server::start(ServeOptions::default()).await;
    let store = server.station.store();
    store.create_user("alice", true).await?;
    let (record, key) = store.create_api_key("alice", "test").await?;
    let envs = server.url("/api/v1/environments");

    let (status, health) = server.get("/health").await;
    assert_eq!(status, StatusCode::OK, "{health}");

    let response = server.client.get(&envs).send().await?;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response
            .headers()
            .get("www-authenticate")
            .map(|v| v.as_bytes()),
        Some(&b"Bearer"[..])
    );
    let body: Value = response.json().await?;
    assert_eq!(body["error"]["code"], "unauthorized");

    let wrong_key = format!("{key}0");
    let wrong = send(server.client.get(&envs).bearer_auth(&wrong_key)).await;
    assert_error(&wrong, StatusCode::UNAUTHORIZED, "unauthorized");
    assert!(!wrong.1.to_string().contains(&wrong_key), "key echoed");
    let basic = send(server.client.get(&envs).basic_auth("alice", Some(&key))).await;
    assert_error(&basic, StatusCode::UNAUTHORIZED, "unauthorized");
    let unknown_path = server.get("/api/v1/nothing-here").await;
    assert_error(&unknown_path, StatusCode::UNAUTHORIZED, "unauthorized");

    let (status, list) = send(server.client.get(&envs).bearer_auth(&key)).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list[0]["name"], "default");
    let (status, _) = send(
        server
            .client
            .post(&envs)
            .bearer_auth(&key)
            .json(&json!({"name": "keyed"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);

    // Keys are checked on every request, so revocation takes effect at once.
    store.revoke_api_key(&record.prefix).await?;
    let revoked = send(server.client.get(&envs).bearer_auth(&key)).await;
    assert_error(&revoked, StatusCode::UNAUTHORIZED, "unauthorized");

    server.stop().await;
    Ok(())
}

#[tokio::test]
async fn unreachable_database_gives_503() -> TestResult {
    // A remote database URL where nothing listens: every query fails to connect.
    let port = stn_testkit::free_port();
    let url = DatabaseUrl::parse(&format!("http://127.0.0.1:{port}"))?;
    let server = Server::start_on(tempfile::tempdir()?, &url, local(), false).await;

    // Whether the caller may see details cannot be decided without the
    // database: the answer names no URL, path or error.
    let (status, health) = server.get("/health").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(health, json!({"status": "unavailable"}));
    let envs = server.get("/api/v1/environments").await;
    assert_error(
        &envs,
        StatusCode::SERVICE_UNAVAILABLE,
        "database_unavailable",
    );

    server.stop().await;
    Ok(())
}

#[tokio::test]
async fn graceful_shutdown_returns_ok_and_stops_listening() {
    let server = Server::start(local()).await;
    let (status, _) = server.get("/health").await;
    assert_eq!(status, StatusCode::OK);
    let base = server.base.clone();
    server.stop().await;
    let after = reqwest::Client::new()
        .get(format!("{base}/health"))
        .send()
        .await;
    assert!(after.is_err(), "still answering after shutdown");
}

#[tokio::test]
async fn agents_and_cascade_on_real_sqld() -> TestResult {
    let Some(sqld) = stn_testkit::Sqld::start(stn_testkit::SqldOptions::default()) else {
        return Ok(());
    };
    let url = DatabaseUrl::parse(&sqld.url())?;
    let server = Server::start_on(tempfile::tempdir()?, &url, local(), true).await;

    let (status, health) = server.get("/health").await;
    assert_eq!(status, StatusCode::OK, "{health}");
    let (status, _) = server
        .post("/api/v1/environments", json!({"name": "remote"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, agent) = server
        .post(
            "/api/v1/agents",
            json!({"name": "worker", "prompt": "Work.", "environment": "remote"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{agent}");
    let id = id_of(&agent);
    assert!(server.prompt_file("remote", "worker").is_file());
    let run = record_run(&server.station, id, "remote task", RunStatus::Completed).await;

    let (status, _) = server.delete("/api/v1/environments/remote").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let agent_gone = server.get(&format!("/api/v1/agents/{id}")).await;
    assert_error(&agent_gone, StatusCode::NOT_FOUND, "not_found");
    let run_gone = server.get(&format!("/api/v1/runs/{run}")).await;
    assert_error(&run_gone, StatusCode::NOT_FOUND, "not_found");
    assert!(!server.dir.path().join("environments/remote").exists());

    server.stop().await;
    Ok(())
}

#[tokio::test]
async fn metrics_in_prometheus_text_format() {
    let extra: stn_server::MetricsFn = std::sync::Arc::new(|| "stn_test_metric 7\n".to_owned());
    let server = Server::start(ServeOptions {
        metrics: Some(extra),
        ..local()
    })
    .await;
    let response = reqwest::get(format!("{}/metrics", server.base))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = response.text().await.unwrap();
    assert!(text.contains("stn_database_up 1"), "{text}");
    assert!(text.contains("stn_database_size_bytes "), "{text}");
    assert!(text.contains("stn_test_metric 7"), "{text}");
}

#[tokio::test]
async fn keyless_requests_need_a_loopback_server_and_no_keys() -> TestResult {
    // As on 0.0.0.0 after every key was revoked: nobody gets in without one.
    let server = Server::start(ServeOptions::default()).await;
    let envs = server.get("/api/v1/environments").await;
    assert_error(&envs, StatusCode::UNAUTHORIZED, "unauthorized");
    let message = envs.1["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("apikey create"), "{message}");
    server.stop().await;

    // Loopback: keyless until the first key exists, decided per request.
    let server = Server::start(local()).await;
    let (status, _) = server.get("/api/v1/environments").await;
    assert_eq!(status, StatusCode::OK);
    server.station.store().create_user("ops", true).await?;
    let (_, key) = server.station.store().create_api_key("ops", "k").await?;
    let envs = server.get("/api/v1/environments").await;
    assert_error(&envs, StatusCode::UNAUTHORIZED, "unauthorized");
    let (status, health) = server.get("/health").await;
    assert_eq!((status, health), (StatusCode::OK, json!({"status": "ok"})));
    let (status, health) = send(server.client.get(server.url("/health")).bearer_auth(&key)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(health, json!({"status": "ok", "database": "ok"}));
    server.stop().await;
    Ok(())
}

/// Issue 9 item 4: when the `.prompt` file or the environment's directory
/// cannot be written, the API answers an error and creates nothing (a retry
/// after fixing the disk succeeds instead of saying "already exists").
#[tokio::test]
async fn agents_and_environments_whose_files_fail_are_not_created() -> TestResult {
    let server = Server::start(local()).await;
    let envs = server.dir.path().join("environments");
    // Regular files where directories must go (root ignores permissions).
    std::fs::create_dir_all(envs.join("default"))?;
    std::fs::write(envs.join("blocked"), "a file")?;
    std::fs::write(envs.join("default").join("agents"), "a file")?;

    let response = server
        .post("/api/v1/environments", json!({"name": "blocked"}))
        .await;
    assert_error(&response, StatusCode::INTERNAL_SERVER_ERROR, "internal");
    assert_error(
        &server.get("/api/v1/environments/blocked").await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let response = server
        .post("/api/v1/agents", json!({"name": "half", "prompt": "p"}))
        .await;
    assert_error(&response, StatusCode::INTERNAL_SERVER_ERROR, "internal");
    assert_eq!(server.get("/api/v1/agents").await.1, json!([]));

    std::fs::remove_file(envs.join("blocked"))?;
    std::fs::remove_file(envs.join("default").join("agents"))?;
    let (status, body) = server
        .post("/api/v1/environments", json!({"name": "blocked"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = server
        .post("/api/v1/agents", json!({"name": "half", "prompt": "p"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(server.prompt_file("default", "half").is_file());
    server.stop().await;
    Ok(())
}

/// Issue 9 item 4: the `.prompt` file is staged, the row committed, and
/// only then is the file renamed into place. When that last step fails the
/// row is taken back out: no agent, no file, an error answer, and a retry
/// once the obstacle is gone succeeds.
#[tokio::test]
async fn an_agent_whose_file_cannot_be_put_in_place_is_not_created() -> TestResult {
    let server = Server::start(local()).await;
    // A non-empty directory where the file goes: staging beside it works,
    // the rename over it fails (also for root).
    let target = server.prompt_file("default", "late");
    std::fs::create_dir_all(target.join("occupied"))?;

    let response = server
        .post("/api/v1/agents", json!({"name": "late", "prompt": "p"}))
        .await;
    assert_error(&response, StatusCode::INTERNAL_SERVER_ERROR, "internal");
    assert_eq!(server.get("/api/v1/agents").await.1, json!([]));
    assert!(
        server
            .station
            .store()
            .agent("default", "late")
            .await
            .is_err(),
        "the row was taken back out"
    );
    let agents_dir = target.parent().ok_or("no parent")?;
    let mut left: Vec<String> = std::fs::read_dir(agents_dir)?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_, _>>()?;
    left.sort();
    assert_eq!(left, ["late.prompt"], "no staged file left behind");
    assert!(target.is_dir(), "the obstacle is untouched");

    std::fs::remove_dir_all(&target)?;
    let (status, body) = server
        .post("/api/v1/agents", json!({"name": "late", "prompt": "p"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(target.is_file());
    server.stop().await;
    Ok(())
}

/// A body over the API's limit is 413 with the usual JSON error, with or
/// without an `Idempotency-Key` (which reads the body first).
#[tokio::test]
async fn a_body_over_the_limit_gets_413_as_json() {
    let server = Server::start(local()).await;
    // The documented limit is 2 MiB.
    let big = json!({"name": "big", "prompt": "x".repeat(2 * 1024 * 1024)});
    let plain = send(server.client.post(server.url("/api/v1/agents")).json(&big)).await;
    assert_error(&plain, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    let keyed = send(
        server
            .client
            .post(server.url("/api/v1/agents"))
            .header("Idempotency-Key", "big-1")
            .json(&big),
    )
    .await;
    assert_error(&keyed, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    let message = keyed.1["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("MiB"), "{message}");
    assert_eq!(server.get("/api/v1/agents").await.1, json!([]));
    server.stop().await;
}

#[tokio::test]
async fn a_foreign_host_gets_421_on_every_route() {
    let server = Server::start(local()).await;
    for path in ["/health", "/metrics", "/api/v1/environments", "/nowhere"] {
        let request = server
            .client
            .get(server.url(path))
            .header("host", "rebound.example");
        let response = send(request).await;
        assert_error(
            &response,
            StatusCode::MISDIRECTED_REQUEST,
            "host_not_allowed",
        );
    }
    let (status, _) = send(
        server
            .client
            .get(server.url("/health"))
            .header("host", "localhost:1"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    server.stop().await;
}

/// Opens a connection and sends half a request's headers.
async fn half_request(base: &str) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt as _;
    let addr = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: app")
        .await
        .expect("send half a request");
    stream
}

fn limits(max_connections: usize) -> stn_server::Limits {
    stn_server::Limits {
        max_connections,
        header_read_timeout: std::time::Duration::from_millis(500),
        shutdown_grace: std::time::Duration::from_millis(500),
    }
}

#[tokio::test]
async fn slow_clients_are_cut_off_and_connections_are_limited() {
    use tokio::io::AsyncReadExt as _;
    let server = Server::start(ServeOptions {
        limits: limits(1),
        ..local()
    })
    .await;
    let mut slow = half_request(&server.base).await;
    // The one connection is taken: another client waits…
    let waiting = tokio::time::timeout(
        std::time::Duration::from_millis(300),
        server.client.get(server.url("/health")).send(),
    )
    .await;
    assert!(waiting.is_err(), "served beyond the connection limit");
    // …until the slow one is cut off after the header timeout.
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(
        std::time::Duration::from_secs(3),
        slow.read_to_end(&mut rest),
    )
    .await;
    assert!(closed.is_ok(), "the half-sent request was not cut off");
    let (status, _) = server.get("/health").await;
    assert_eq!(status, StatusCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn shutdown_ends_within_the_grace_period_whatever_clients_do() {
    let server = Server::start(ServeOptions {
        limits: stn_server::Limits {
            header_read_timeout: std::time::Duration::from_secs(60),
            ..limits(8)
        },
        ..local()
    })
    .await;
    let _slow = half_request(&server.base).await;
    let _idle = tokio::net::TcpStream::connect(server.base.trim_start_matches("http://"))
        .await
        .expect("connect");
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let started = std::time::Instant::now();
    server.stop().await;
    let took = started.elapsed();
    assert!(
        took < std::time::Duration::from_secs(2),
        "shutdown took {took:?}"
    );
}

/// Issue 9 item 5: a write retried with the same `Idempotency-Key` gets the
/// first answer instead of running again; the key reused for another request
/// is 422.
#[tokio::test]
async fn idempotency_key_replays_the_first_answer() -> TestResult {
    let server = Server::start(local()).await;
    let keyed = |key: &str, body: Value| {
        server
            .client
            .post(server.url("/api/v1/agents"))
            .header("Idempotency-Key", key)
            .json(&body)
    };
    let first = send(keyed("k-1", json!({"name": "once", "prompt": "p"}))).await;
    assert_eq!(first.0, StatusCode::CREATED, "{}", first.1);
    let retry = keyed("k-1", json!({"name": "once", "prompt": "p"}))
        .send()
        .await?;
    assert_eq!(retry.status(), StatusCode::CREATED);
    assert_eq!(retry.headers()["idempotent-replayed"], "true");
    assert_eq!(retry.json::<Value>().await?, first.1, "the same body");
    assert_eq!(
        server
            .get("/api/v1/agents")
            .await
            .1
            .as_array()
            .map(Vec::len),
        Some(1)
    );

    let reused = send(keyed("k-1", json!({"name": "other", "prompt": "p"}))).await;
    assert_error(
        &reused,
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency_key_reused",
    );
    // Without a key a retry is a new request, as before.
    assert_error(
        &server
            .post("/api/v1/agents", json!({"name": "once", "prompt": "p"}))
            .await,
        StatusCode::CONFLICT,
        "already_exists",
    );
    // A delete retried with its key answers as the first time, not 404.
    let id = id_of(&first.1);
    for _ in 0..2 {
        let deleted = server
            .client
            .delete(server.url(&format!("/api/v1/agents/{id}")))
            .header("Idempotency-Key", "k-2")
            .send()
            .await?;
        assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    }
    // Stored answers expire.
    let expires: Vec<String> = server
        .station
        .store()
        .db()
        .query(
            "SELECT expires_at > strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '+23 hours') FROM idempotency_keys",
            vec![],
        )
        .await?
        .rows
        .iter()
        .map(|r| r.get::<i64>(0).map(|v| v.to_string()))
        .collect::<Result<_, _>>()?;
    assert_eq!(expires, ["1", "1"]);
    server.stop().await;
    Ok(())
}

#[tokio::test]
async fn a_run_s_steps_come_in_pages_of_bounded_size() -> TestResult {
    let server = Server::start(local()).await;
    let (_, agent) = server
        .post("/api/v1/agents", json!({"name": "long", "prompt": "Go."}))
        .await;
    let run = record_run(&server.station, id_of(&agent), "t", RunStatus::Completed).await;
    // Five steps of 1 MiB each (the most a stored tool result keeps).
    let big = "x".repeat(1024 * 1024);
    for seq in 1..=5 {
        let step = stn_core::model::RunStep {
            run_id: run,
            seq,
            kind: stn_core::model::StepKind::Tool,
            name: "__read".to_owned(),
            input: None,
            output: Some(big.clone()),
            is_error: false,
            input_tokens: None,
            output_tokens: None,
            total_tokens: None,
            child_run_id: None,
            started_at: "2026-12-07T00:00:00.000Z".to_owned(),
            duration_ms: 1,
            state: stn_core::model::StepState::Finished,
            call_id: None,
            server: None,
        };
        server.station.store().append_run_step(&step).await?;
    }
    let seqs = |page: &Value| -> Vec<i64> {
        page["steps"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["seq"].as_i64())
            .collect()
    };
    // The page ends before the step that would pass 4 MiB.
    let (status, first) = server.get(&format!("/api/v1/runs/{run}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(seqs(&first), [1, 2, 3, 4]);
    assert_eq!(first["next_steps_after"], 4);
    let (_, rest) = server
        .get(&format!("/api/v1/runs/{run}?steps_after=4"))
        .await;
    assert_eq!(seqs(&rest), [5]);
    assert!(
        rest.get("next_steps_after").is_none(),
        "{}",
        rest["next_steps_after"]
    );
    let (_, two) = server
        .get(&format!("/api/v1/runs/{run}?steps_after=1&limit=2"))
        .await;
    assert_eq!(seqs(&two), [2, 3]);
    assert_eq!(two["next_steps_after"], 3);
    let bad = server.get(&format!("/api/v1/runs/{run}?limit=0")).await;
    assert_error(&bad, StatusCode::BAD_REQUEST, "invalid_request");
    server.stop().await;
    Ok(())
}
