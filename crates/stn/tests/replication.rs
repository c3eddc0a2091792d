//! Replication as users run it: `stn serve --replica`, `stn replicate`,
//! `stn restore`, with the real Litestream 0.5.17 on the other side.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Server, Stn, s3_url, unique, wait_exit, with_s3_keys};

fn serve(stn: &Stn, replica: &str) -> Server {
    serve_with(stn, replica, &[])
}

fn serve_with(stn: &Stn, replica: &str, extra: &[&str]) -> Server {
    let mut args = vec!["--replica", replica];
    args.extend(extra);
    Server::start(stn, &args, &[], &stn.config_dir().join("serve.log"))
}

fn kill9(mut child: Child) {
    child.kill().expect("SIGKILL");
    child.wait().expect("wait");
}

/// What a write's acknowledgement promises.
#[derive(Clone, Copy, PartialEq)]
enum Durability {
    /// In the replica within the sync interval (1 s).
    Async,
    /// In the replica once acknowledged.
    Sync,
}

async fn disaster_recovery(replica: &str, durability: Durability) {
    let stn = Stn::local();
    let extra: &[&str] = match durability {
        Durability::Async => &[],
        Durability::Sync => &["--durability", "sync"],
    };
    let mut server = serve_with(&stn, replica, extra);
    let port = server.port;
    let http = reqwest::Client::new();
    // Concurrent writers, as an API server sees them.
    let writes = (0..12).map(|i| {
        let http = http.clone();
        async move {
            http.post(format!("http://127.0.0.1:{port}/api/v1/agents"))
                .json(&serde_json::json!({"name": format!("agent-{i}"), "prompt": "p", "description": "d"}))
                .send()
                .await
                .unwrap()
                .status()
        }
    });
    for status in futures::future::join_all(writes).await {
        assert_eq!(status, 201);
    }
    if durability == Durability::Async {
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    // Durable mode: killed the moment the last write was acknowledged.
    server.kill9();

    // The machine is lost: the database and everything next to it is gone.
    for entry in std::fs::read_dir(stn.config_dir()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name.starts_with("station.db") || name.starts_with(".station.db") {
            if path.is_dir() {
                std::fs::remove_dir_all(&path).unwrap()
            } else {
                std::fs::remove_file(&path).unwrap()
            }
        }
    }
    assert!(!stn.config_dir().join("station.db").exists());

    let mut server = serve(&stn, replica);
    let agents = stn.json(&["agent", "list", "--json"]);
    let names: Vec<&str> = agents
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 12, "every agent is back: {names:?}");
    server.kill9();
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_restores_a_lost_database_from_a_file_replica() {
    let replica_dir = tempfile::tempdir().unwrap();
    disaster_recovery(
        &format!("file://{}", replica_dir.path().display()),
        Durability::Async,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_restores_a_lost_database_from_s3() {
    let Some(url) = s3_url(&unique("dr")) else {
        return;
    };
    disaster_recovery(&url, Durability::Async).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn durable_writes_survive_a_crash_right_after_their_acknowledgement() {
    let Some(url) = s3_url(&unique("durable")) else {
        return;
    };
    disaster_recovery(&url, Durability::Sync).await;
}

#[test]
fn durable_mode_without_a_replica_is_refused() {
    let stn = Stn::local();
    let err = stn.fails(&["serve", "--durability", "sync"], 1);
    assert!(err.contains("durability `sync` needs a replica"), "{err}");
    let err = stn.fails(&["serve", "--durability", "always"], 2);
    assert!(err.contains("unknown durability `always`"), "{err}");
    std::fs::write(
        stn.config_dir().join("config.yaml"),
        "durability: eventually\n",
    )
    .unwrap();
    let err = stn.fails(&["serve"], 1);
    assert!(
        err.contains("config.yaml: durability: unknown durability `eventually`"),
        "{err}"
    );
}

/// An application's connection: WAL mode and a busy timeout, as apps sharing
/// a database with a replicator need (checkpoints take the write lock briefly).
fn app_connection(db: &std::path::Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn
}

/// The first row of `sql`, columns joined by `|`.
fn query_text(db: &std::path::Path, sql: &str) -> String {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row(sql, [], |row| {
        let n = row.as_ref().column_count();
        let values: Vec<String> = (0..n)
            .map(|i| match row.get_ref(i).unwrap() {
                rusqlite::types::ValueRef::Null => "NULL".to_owned(),
                rusqlite::types::ValueRef::Integer(v) => v.to_string(),
                rusqlite::types::ValueRef::Real(v) => v.to_string(),
                rusqlite::types::ValueRef::Text(v) => String::from_utf8_lossy(v).into_owned(),
                rusqlite::types::ValueRef::Blob(v) => format!("{} bytes", v.len()),
            })
            .collect();
        Ok(values.join("|"))
    })
    .unwrap()
}

#[test]
fn stn_replicate_to_s3_restores_with_litestream() {
    let (Some(url), Some(litestream)) = (
        s3_url(&unique("interop")),
        stn_testkit::service("STN_TEST_LITESTREAM_BIN"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.db");
    let app = app_connection(&db);
    app.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, b BLOB);")
        .unwrap();
    let stn = Stn::local();
    let mut cmd = stn.command(&["replicate", db.to_str().unwrap(), &url]);
    let replicator = with_s3_keys(&mut cmd)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    for batch in 0..20 {
        app.execute_batch(&format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200) \
             INSERT INTO t (v, b) SELECT 'batch {batch} row ' || i, randomblob(300) FROM n;"
        ))
        .unwrap();
    }
    std::thread::sleep(Duration::from_millis(1500));
    Command::new("kill")
        .args(["-TERM", &replicator.id().to_string()])
        .status()
        .unwrap();
    let status = wait_exit(replicator, Duration::from_secs(40));
    assert!(status.success(), "stn replicate exit: {status:?}");

    let restored = dir.path().join("restored.db");
    let mut restore = Command::new(&litestream);
    restore.args(["restore", "-o", restored.to_str().unwrap(), &url]);
    let out = with_s3_keys(&mut restore).output().unwrap();
    assert!(
        out.status.success(),
        "litestream restore: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(query_text(&restored, "PRAGMA integrity_check"), "ok");
    let digest = "SELECT count(*), group_concat(v), group_concat(hex(b)), max(id) FROM (SELECT * FROM t ORDER BY id)";
    assert_eq!(query_text(&restored, digest), query_text(&db, digest));
    assert_eq!(query_text(&restored, "SELECT count(*) FROM t"), "4000");
}

#[test]
fn litestream_replica_restores_with_stn_restore() {
    let Some(litestream) = stn_testkit::service("STN_TEST_LITESTREAM_BIN") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.db");
    let replica = dir.path().join("replica");
    let app = app_connection(&db);
    app.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);")
        .unwrap();
    let config = dir.path().join("litestream.yml");
    std::fs::write(
        &config,
        format!("dbs:\n  - path: {}\n    replica:\n      type: file\n      path: {}\n      sync-interval: 1s\n", db.display(), replica.display()),
    )
    .unwrap();
    let child = Command::new(&litestream)
        .args(["replicate", "-config", config.to_str().unwrap()])
        .env_remove("AWS_CA_BUNDLE")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    for i in 0..50 {
        app.execute("INSERT INTO t (v) VALUES (?1)", [format!("row {i}")])
            .unwrap();
    }
    std::thread::sleep(Duration::from_millis(2500));
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    wait_exit(child, Duration::from_secs(40));

    // By database path through the same config file, like `litestream restore -config`.
    let stn = Stn::local();
    let out_path = dir.path().join("out.db");
    stn.ok(&[
        "restore",
        "--config",
        config.to_str().unwrap(),
        "-o",
        out_path.to_str().unwrap(),
        db.to_str().unwrap(),
    ]);
    assert_eq!(query_text(&out_path, "PRAGMA integrity_check"), "ok");
    assert_eq!(query_text(&out_path, "SELECT count(*) FROM t"), "50");
    // An existing output is never overwritten without --force, and is left untouched.
    let before = std::fs::read(&out_path).unwrap();
    let err = stn.fails(
        &[
            "restore",
            "-o",
            out_path.to_str().unwrap(),
            &format!("file://{}", replica.display()),
        ],
        1,
    );
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(std::fs::read(&out_path).unwrap(), before);
    // `stn ltx` lists what Litestream wrote.
    let files = stn.json(&["ltx", &format!("file://{}", replica.display()), "--json"]);
    assert!(!files.as_array().unwrap().is_empty());
}

#[test]
fn replicate_once_and_exec_pass_results_through() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.db");
    let app = app_connection(&db);
    app.execute_batch("CREATE TABLE t (v); INSERT INTO t VALUES (1);")
        .unwrap();
    let replica = format!("file://{}", dir.path().join("replica").display());
    let stn = Stn::local();
    let out = stn.ok(&["replicate", db.to_str().unwrap(), &replica, "--once"]);
    assert!(out.contains("synced TXID 0000000000000001"), "{out}");
    // --exec runs the command while replicating and passes its exit code on.
    let out = stn.output(&[
        "replicate",
        db.to_str().unwrap(),
        &replica,
        "--exec",
        "exit 3",
    ]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let restored = dir.path().join("restored.db");
    stn.ok(&["restore", "-o", restored.to_str().unwrap(), &replica]);
    assert_eq!(query_text(&restored, "SELECT count(*) FROM t"), "1");
}

#[test]
fn init_replicate_writes_a_config_serve_accepts() {
    let stn = Stn::local();
    stn.ok(&["init", "--replicate"]);
    let config = std::fs::read_to_string(stn.config_dir().join("litestream.yml")).unwrap();
    assert!(
        config.contains("type: s3") && config.contains("${LITESTREAM_S3_BUCKET}"),
        "{config}"
    );
    assert!(config.contains(&stn.config_dir().join("station.db").display().to_string()));
    // Without a bucket the config names what is missing instead of starting half-configured.
    let err = stn.fails(&["serve", "--replicate", "--addr", "127.0.0.1:1"], 1);
    assert!(
        err.contains("bucket") || err.contains("LITESTREAM_S3_BUCKET"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_exposes_replication_metrics() {
    let replica_dir = tempfile::tempdir().unwrap();
    let replica = format!("file://{}", replica_dir.path().display());
    let stn = Stn::local();
    let mut server = serve(&stn, &replica);
    let port = server.port;
    let http = reqwest::Client::new();
    let created = http
        .post(format!("http://127.0.0.1:{port}/api/v1/agents"))
        .json(&serde_json::json!({"name": "m", "prompt": "p", "description": "d"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    // The commit reaches the replica within the sync interval (1 s).
    let deadline = Instant::now() + Duration::from_secs(10);
    let text = loop {
        let text = http
            .get(format!("http://127.0.0.1:{port}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let caught_up = text
            .lines()
            .any(|l| l.starts_with("stn_replica_lag_txids{") && l.ends_with(" 0"));
        let synced = text
            .lines()
            .any(|l| l.starts_with("stn_replication_txid{") && !l.ends_with(" 0"));
        if (caught_up && synced) || Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(text.contains("stn_database_up 1"), "{text}");
    assert!(text.contains(&format!("replica=\"{replica}\"")), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("stn_replica_lag_txids{") && l.ends_with(" 0")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("stn_replica_uploads_total{") && !l.ends_with(" 0")),
        "{text}"
    );
    server.kill9();
}

#[test]
fn replicate_serves_metrics_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.db");
    let app = app_connection(&db);
    app.execute_batch("CREATE TABLE t (v); INSERT INTO t VALUES (1);")
        .unwrap();
    let replica = format!("file://{}", dir.path().join("replica").display());
    let port = stn_testkit::free_port();
    let stn = Stn::local();
    let child = stn
        .command(&[
            "replicate",
            db.to_str().unwrap(),
            &replica,
            "--metrics-addr",
            &format!("127.0.0.1:{port}"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(
        stn_testkit::wait_for_http_ok(port, "/metrics", Duration::from_secs(20)),
        "metrics did not come up"
    );
    let fetch = || {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            .unwrap();
        let mut text = String::new();
        stream.read_to_string(&mut text).unwrap();
        text
    };
    let synced = stn_testkit::wait_until(Duration::from_secs(10), || {
        fetch()
            .lines()
            .any(|l| l.starts_with("stn_replica_txid{") && !l.ends_with(" 0"))
    });
    let text = fetch();
    assert!(synced, "{text}");
    assert!(text.contains(&format!("db=\"{}\"", db.display())), "{text}");
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(wait_exit(child, Duration::from_secs(40)).success());
}

/// The app keeps writing with SQLite's default autocheckpoint while `stn
/// replicate` is SIGKILLed and started again: every committed row reaches
/// the replica, none missing from the middle (Litestream 0.5.17 silently
/// drops the rows checkpointed while it was down).
#[test]
fn killed_replicator_loses_no_row_the_app_checkpointed_meanwhile() {
    let litestream = stn_testkit::service("STN_TEST_LITESTREAM_BIN");
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.db");
    let app = app_connection(&db);
    app.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, b BLOB);")
        .unwrap();
    let replica = format!("file://{}", dir.path().join("replica").display());
    let stn = Stn::local();
    let start = || {
        stn.command(&["replicate", db.to_str().unwrap(), &replica])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    // 100 rows of 4 KB a transaction: 1000 pages (an autocheckpoint) every 10.
    let write = |from: usize, to: usize| {
        for batch in from..to {
            app.execute_batch(&format!(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100) \
                 INSERT INTO t (v, b) SELECT 'batch {batch} row ' || i, randomblob(4000) FROM n;"
            ))
            .unwrap();
        }
    };
    let wal_salts = || std::fs::read(db.with_extension("db-wal")).unwrap()[16..24].to_vec();

    let replicator = start();
    write(0, 10);
    std::thread::sleep(Duration::from_millis(1500));
    kill9(replicator);
    let salts = wal_salts();
    write(10, 40);
    assert_ne!(
        salts,
        wal_salts(),
        "the app's autocheckpoint restarted the WAL"
    );

    let replicator = start();
    write(40, 50);
    std::thread::sleep(Duration::from_millis(1500));
    Command::new("kill")
        .args(["-TERM", &replicator.id().to_string()])
        .status()
        .unwrap();
    assert!(wait_exit(replicator, Duration::from_secs(40)).success());

    let digest = "SELECT count(*), max(id), group_concat(v), group_concat(hex(b)) FROM (SELECT * FROM t ORDER BY id)";
    let restored = dir.path().join("restored.db");
    stn.ok(&["restore", "-o", restored.to_str().unwrap(), &replica]);
    assert_eq!(query_text(&restored, "PRAGMA integrity_check"), "ok");
    assert_eq!(
        query_text(&restored, "SELECT count(*), max(id) FROM t"),
        "5000|5000"
    );
    assert_eq!(query_text(&restored, digest), query_text(&db, digest));
    if let Some(litestream) = litestream {
        let by_litestream = dir.path().join("by-litestream.db");
        let out = Command::new(litestream)
            .args(["restore", "-o", by_litestream.to_str().unwrap(), &replica])
            .env_remove("AWS_CA_BUNDLE")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(query_text(&by_litestream, digest), query_text(&db, digest));
    }
}
