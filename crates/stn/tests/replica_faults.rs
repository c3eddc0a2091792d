//! A replica that cannot be written — directory full or read-only, bucket
//! missing, wrong credentials — never stops `stn serve`: the API keeps
//! answering, the error is in the log and in /metrics, and once the replica
//! is fixed it catches up with every write in between.
//!
//! Full and read-only directories need a small filesystem: a tmpfs mounted
//! for the test (root only; skipped with a message elsewhere).

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{Server, Stn, Tmpfs, agent_names, with_s3_keys};

/// The well-known Azurite development account.
const AZURITE_ACCOUNT: &str = "devstoreaccount1";
const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// `stn serve --replica REPLICA`, logging at info level (the tests read
/// the log), with `env` added.
fn serve(stn: &Stn, replica: &str, env: &[(&str, &str)]) -> Server {
    let log = stn
        .config_dir()
        .join(format!("serve-{}.log", stn_testkit::free_port()));
    let mut env = env.to_vec();
    env.push(("STN_LOG", "info"));
    Server::start(stn, &["--replica", replica], &env, &log)
}

/// What these tests do with a server: write through the API, read /metrics.
impl Server {
    /// Creates agent `name` with an incompressible prompt of `size` bytes.
    async fn create_agent(&self, name: &str, size: usize) {
        let prompt: String = (0..size)
            .map(|_| char::from(b'a' + rand::random::<u8>() % 26))
            .collect();
        let response = reqwest::Client::new()
            .post(format!("http://127.0.0.1:{}/api/v1/agents", self.port))
            .json(&serde_json::json!({"name": name, "prompt": prompt, "description": "d"}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            201,
            "the API must keep working: {}",
            response.text().await.unwrap()
        );
    }

    async fn metric(&self, name: &str) -> f64 {
        let text = reqwest::get(format!("http://127.0.0.1:{}/metrics", self.port))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find(|line| line.starts_with(&format!("{name}{{")))
            .and_then(|line| line.rsplit(' ').next())
            .and_then(|value| value.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in\n{text}"))
    }

    /// Waits (replication is asynchronous) until `probe`
    /// holds for metric `name`.
    async fn wait_metric(&self, name: &str, within: Duration, probe: impl Fn(f64) -> bool) {
        let deadline = Instant::now() + within;
        loop {
            let value = self.metric(name).await;
            if probe(value) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{name} = {value} after {within:?}; log:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits until the replica holds every write made so far.
    async fn wait_caught_up(&self, within: Duration) {
        // A commit becomes a TXID at the next sync, within the sync interval
        // (1 s); only then does the TXID lag count it.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        self.wait_metric("stn_replica_error", within, |v| v == 0.0)
            .await;
        self.wait_metric("stn_replica_lag_txids", within, |v| v == 0.0)
            .await;
    }
}

/// Restores `replica` with `stn restore` and checks it equals `db`.
fn assert_restores(stn: &Stn, replica: &str, db: &Path, env: &[(&str, &str)]) {
    let out = stn.config_dir().join("restored.db");
    let mut cmd = stn.command(&["restore", "-o", out.to_str().unwrap(), replica]);
    with_s3_keys(&mut cmd);
    for (name, value) in env {
        cmd.env(name, value);
    }
    let restored = cmd.output().unwrap();
    assert!(
        restored.status.success(),
        "{}",
        String::from_utf8_lossy(&restored.stderr)
    );
    assert_eq!(stn_testkit::sqlite::integrity_check(&out), "ok");
    assert_eq!(
        stn_testkit::sqlite::dump(&out),
        stn_testkit::sqlite::dump(db)
    );
}

/// Once the replica is fixed, it catches up with every write, and a
/// restore equals the server's database.
async fn assert_catches_up(mut server: Server, stn: &Stn, replica: &str, env: &[(&str, &str)]) {
    server.wait_caught_up(Duration::from_secs(60)).await;
    server.kill9();
    assert_restores(stn, replica, &stn.config_dir().join("station.db"), env);
}

#[tokio::test(flavor = "multi_thread")]
async fn full_replica_directory_then_space_freed() {
    let Some(fs) = Tmpfs::mount("384k") else {
        return;
    };
    let replica = fs.replica_url();
    let stn = Stn::local();
    let server = serve(&stn, &replica, &[]);
    // About 1.5 MB of incompressible prompts: far more than fits.
    for i in 0..48 {
        server.create_agent(&format!("full-{i}"), 32 * 1024).await;
    }
    server
        .wait_metric("stn_replica_errors_total", Duration::from_secs(20), |v| {
            v > 0.0
        })
        .await;
    assert!(
        server.log_text().contains("No space left on device"),
        "{}",
        server.log_text()
    );
    server.create_agent("while-full", 100).await;

    fs.remount("size=64m");
    assert_catches_up(server, &stn, &replica, &[]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn read_only_replica_directory_then_writable() {
    let Some(fs) = Tmpfs::mount("64m") else {
        return;
    };
    let replica = fs.replica_url();
    let stn = Stn::local();
    let server = serve(&stn, &replica, &[]);
    server.create_agent("before", 1000).await;
    server.wait_caught_up(Duration::from_secs(20)).await;

    fs.remount("ro");
    for i in 0..10 {
        server.create_agent(&format!("read-only-{i}"), 1000).await;
    }
    server
        .wait_metric("stn_replica_error", Duration::from_secs(20), |v| v == 1.0)
        .await;
    assert!(
        server.log_text().contains("Read-only file system"),
        "{}",
        server.log_text()
    );

    fs.remount("rw");
    assert_catches_up(server, &stn, &replica, &[]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn durable_write_is_not_acknowledged_while_the_replica_is_read_only() {
    let Some(fs) = Tmpfs::mount("64m") else {
        return;
    };
    let replica = fs.replica_url();
    let stn = Stn::local();
    let mut server = serve(&stn, &replica, &[("STN_DURABILITY", "sync")]);
    server.create_agent("before", 1000).await;

    fs.remount("ro");
    let started = Instant::now();
    let response = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{}/api/v1/agents", server.port))
        .json(&serde_json::json!({"name": "unconfirmed", "prompt": "p", "description": "d"}))
        .send()
        .await
        .unwrap();
    let waited = started.elapsed();
    assert_eq!(response.status(), 503);
    let body = response.text().await.unwrap();
    assert!(
        body.contains("committed locally but is not confirmed in the replica"),
        "{body}"
    );
    assert!(waited < Duration::from_secs(15), "gave up after {waited:?}");

    // Not acknowledged is not lost: once the replica is writable again it
    // gets the write, and new writes are acknowledged again.
    fs.remount("rw");
    server.create_agent("after", 1000).await;
    server.kill9();
    let db = stn.config_dir().join("station.db");
    assert_restores(&stn, &replica, &db, &[]);
    assert_eq!(agent_names(&db), ["before", "unconfirmed", "after"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_bucket_then_created() {
    let Some(endpoint) = stn_testkit::service("STN_TEST_S3_ENDPOINT") else {
        return;
    };
    let bucket = format!("stn-missing-{:08x}", rand::random::<u32>());
    let replica =
        format!("s3://{bucket}/db?endpoint={endpoint}&region=us-east-1&force-path-style=true");
    let stn = Stn::local();
    // With no local database, serve would restore first, and refuses to
    // start when the replica cannot be read.
    stn.ok(&["db", "migrate"]);
    let server = serve(&stn, &replica, &[]);
    for i in 0..5 {
        server.create_agent(&format!("no-bucket-{i}"), 1000).await;
    }
    server
        .wait_metric("stn_replica_error", Duration::from_secs(20), |v| v == 1.0)
        .await;
    assert!(
        server.log_text().contains(&bucket),
        "the error names the bucket: {}",
        server.log_text()
    );

    // moto creates a bucket on an unsigned PUT.
    let created = reqwest::Client::new()
        .put(format!("{endpoint}/{bucket}"))
        .send()
        .await
        .unwrap();
    assert!(created.status().is_success(), "{created:?}");
    server.create_agent("after", 1000).await;
    assert_catches_up(server, &stn, &replica, &[]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_credentials_then_fixed() {
    let (Some(endpoint), Some(container)) = (
        stn_testkit::service("STN_TEST_AZURE_ENDPOINT"),
        stn_testkit::service("STN_TEST_BUCKET"),
    ) else {
        return;
    };
    let prefix = format!("wrong-key-{:08x}", rand::random::<u32>());
    let replica = format!(
        "abs://{AZURITE_ACCOUNT}@{container}/{prefix}?endpoint={endpoint}/{AZURITE_ACCOUNT}"
    );
    // A well-formed key that is not the account's.
    let wrong = "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXktd3Jvbmcta2V5LXdyb25nLWtleQ==";
    let stn = Stn::local();
    stn.ok(&["db", "migrate"]);
    let mut server = serve(&stn, &replica, &[("AZURE_STORAGE_ACCOUNT_KEY", wrong)]);
    for i in 0..5 {
        server.create_agent(&format!("wrong-key-{i}"), 1000).await;
    }
    server
        .wait_metric("stn_replica_errors_total", Duration::from_secs(20), |v| {
            v > 0.0
        })
        .await;
    let log = server.log_text();
    assert!(log.contains("403") || log.contains("uthenticat"), "{log}");
    assert!(!log.contains(wrong), "the key must never be logged");

    // Fixed by restarting with the right key: the writes made meanwhile
    // waited in the local L0 files.
    server.kill9();
    let right = [("AZURE_STORAGE_ACCOUNT_KEY", AZURITE_KEY)];
    let server = serve(&stn, &replica, &right);
    server.create_agent("after", 1000).await;
    assert_catches_up(server, &stn, &replica, &right).await;
}

/// Issue 9 item 5: the durable-mode 503 says to retry with an
/// `Idempotency-Key`, and a retry with the key gets the create's original
/// answer once the replica has it, never 409.
#[tokio::test(flavor = "multi_thread")]
async fn durable_write_retried_with_its_idempotency_key_gets_the_original_answer() {
    let Some(fs) = Tmpfs::mount("64m") else {
        return;
    };
    let replica = fs.replica_url();
    let stn = Stn::local();
    let mut server = serve(&stn, &replica, &[("STN_DURABILITY", "sync")]);
    server.create_agent("before", 1000).await;

    fs.remount("ro");
    let create = || {
        reqwest::Client::new()
            .post(format!("http://127.0.0.1:{}/api/v1/agents", server.port))
            .header("Idempotency-Key", "create-unconfirmed-1")
            .json(&serde_json::json!({"name": "unconfirmed", "prompt": "p", "description": "d"}))
            .send()
    };
    let response = create().await.unwrap();
    assert_eq!(response.status(), 503);
    let body = response.text().await.unwrap();
    assert!(
        body.contains("Idempotency-Key"),
        "the 503 names the header: {body}"
    );
    // Still not confirmed: the same answer, not "already exists".
    let response = create().await.unwrap();
    let status = response.status();
    let body = response.text().await.unwrap();
    assert_eq!(status, 503, "{body}");

    fs.remount("rw");
    let response = create().await.unwrap();
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(status, 201, "the create's own answer: {body}");
    assert_eq!(body["name"], "unconfirmed");
    server.kill9();
    let db = stn.config_dir().join("station.db");
    assert_restores(&stn, &replica, &db, &[]);
    assert_eq!(agent_names(&db), ["before", "unconfirmed"]);
}
