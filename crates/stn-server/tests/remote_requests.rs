//! What the API costs a remote database, counted in HTTP requests by a proxy
//! in front of a real sqld: each write is one Hrana pipeline request, and a
//! failing statement inside one leaves nothing of it behind.

use reqwest::StatusCode;
use serde_json::{Value, json};
use stn_core::model::{RunStep, StepKind};
use stn_core::store::QueuedRun;
use stn_core::{Layout, Station};
use stn_db::{Database, DatabaseUrl};
use stn_server::{ServeOptions, serve};
use stn_testkit::{CountingProxy, Sqld, SqldOptions, send_json};
use tokio::sync::oneshot;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// `stn serve`'s router on loopback over sqld behind a counting proxy.
struct Remote {
    base: String,
    client: reqwest::Client,
    station: Station,
    proxy: CountingProxy,
    _dir: tempfile::TempDir,
    _sqld: Sqld,
    shutdown: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Remote {
    async fn start() -> Option<Remote> {
        let sqld = Sqld::start(SqldOptions::default())?;
        let proxy = CountingProxy::start(sqld.port());
        let dir = tempfile::tempdir().expect("temp dir");
        let url = DatabaseUrl::parse(&format!("http://127.0.0.1:{}", proxy.port())).expect("url");
        let db = Database::open(&url).await.expect("open");
        let station = Station::new(db, Layout::new(dir.path()));
        station.migrate().await.expect("migrate");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let (shutdown, signal) = oneshot::channel::<()>();
        let options = ServeOptions {
            allow_keyless: true,
            ..ServeOptions::default()
        };
        let task = tokio::spawn(serve(station.clone(), listener, options, async move {
            let _ = signal.await;
        }));
        Some(Remote {
            base,
            client: reqwest::Client::new(),
            station,
            proxy,
            _dir: dir,
            _sqld: sqld,
            shutdown,
            task,
        })
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        send_json(self.client.post(format!("{}{path}", self.base)).json(&body)).await
    }

    /// Requests the database saw while `f` ran.
    async fn requests_of<T>(&self, f: impl std::future::Future<Output = T>) -> (usize, T) {
        let before = self.proxy.requests();
        let out = f.await;
        (self.proxy.requests() - before, out)
    }

    async fn count(&self, sql: &str) -> i64 {
        let row = self.station.store().db().query_opt(sql, vec![]).await;
        row.expect("count")
            .expect("a row")
            .get(0)
            .expect("an integer")
    }

    async fn stop(self) {
        self.shutdown.send(()).expect("server running");
        let served = self.task.await.expect("serve task");
        assert!(served.is_ok(), "serve failed: {served:?}");
    }
}

#[tokio::test]
async fn creating_an_agent_is_one_write_request_after_two_reads() -> TestResult {
    let Some(server) = Remote::start().await else {
        return Ok(());
    };
    let (requests, (status, agent)) = server
        .requests_of(server.post(
            "/api/v1/agents",
            json!({"name": "worker", "prompt": "Work.", "tools": ["__read_file"]}),
        ))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{agent}");
    assert_eq!(agent["name"], "worker");
    assert_eq!(agent["tools"], json!(["__read_file"]));
    // One read decides who is calling (keys are never cached, so a revoked
    // key counts from the next request), one read gives the name and tool
    // checks what they compare against (lookalike names, offered tools), and
    // the create itself is one request. Issue 17 wants 1 in all: open.
    assert_eq!(
        requests, 3,
        "POST /api/v1/agents: the caller check, the checks' read, one write"
    );
    server.stop().await;
    Ok(())
}

#[tokio::test]
async fn a_failing_statement_mid_transaction_leaves_nothing() -> TestResult {
    let Some(server) = Remote::start().await else {
        return Ok(());
    };
    // The tool links are written before the missing child's link fails.
    let (requests, (status, body)) = server
        .requests_of(server.post(
            "/api/v1/agents",
            json!({"name": "parent", "prompt": "Lead.", "tools": ["__a", "__b"], "agents": ["ghost"]}),
        ))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("ghost"), "names the missing child: {body}");
    // The caller check, one read for the name and tool checks, the write that
    // failed, then reads naming what is missing.
    assert_eq!(requests, 6, "requests of the failure path");
    assert_eq!(server.count("SELECT count(*) FROM agents").await, 0);
    assert_eq!(server.count("SELECT count(*) FROM agent_tools").await, 0);
    assert_eq!(server.count("SELECT count(*) FROM agent_agents").await, 0);
    // A missing environment fails the same single write.
    let (status, body) = server
        .post(
            "/api/v1/agents",
            json!({"name": "lost", "prompt": "x", "environment": "nowhere", "tools": ["__a"]}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("nowhere")
    );
    assert_eq!(server.count("SELECT count(*) FROM agent_tools").await, 0);
    server.stop().await;
    Ok(())
}

#[tokio::test]
async fn a_step_write_is_one_request() -> TestResult {
    let Some(server) = Remote::start().await else {
        return Ok(());
    };
    let (status, agent) = server
        .post("/api/v1/agents", json!({"name": "w", "prompt": "Work."}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{agent}");
    let store = server.station.store();
    let run = store
        .queue_run(&QueuedRun {
            agent_id: agent["id"].as_i64().expect("id"),
            task: "t".to_owned(),
            variables: None,
            parent_run_id: None,
            owner: "test".to_owned(),
            origin: "api".to_owned(),
        })
        .await?;
    let step = RunStep {
        run_id: run,
        seq: 1,
        kind: StepKind::Model,
        name: "model".to_owned(),
        input: None,
        output: Some("hello".to_owned()),
        is_error: false,
        input_tokens: Some(3),
        output_tokens: Some(4),
        total_tokens: Some(7),
        child_run_id: None,
        started_at: "2026-12-07T00:00:00.000Z".to_owned(),
        duration_ms: 5,
        state: stn_core::model::StepState::Finished,
        call_id: None,
        server: None,
    };
    let (requests, written) = server.requests_of(store.append_run_step(&step)).await;
    written?;
    assert_eq!(
        requests, 1,
        "the step row and the run's counters in one request"
    );
    assert_eq!(server.count("SELECT total_tokens FROM agent_runs").await, 7);
    server.stop().await;
    Ok(())
}
