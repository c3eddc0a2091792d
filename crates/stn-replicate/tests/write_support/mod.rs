//! Shared by the write-side integration tests: app databases, fast
//! replication options, replica URLs on the loopback services, the real
//! `litestream restore`, and table dumps to compare.

#![allow(dead_code, unused_imports)] // each test binary uses a different part

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rusqlite::Connection;
use stn_replicate::ReplicaClient;
use stn_replicate::ReplicationOptions;
use stn_replicate::{ReplicaConfig, ReplicaKind};
pub use stn_testkit::sqlite::dump;
pub use stn_testkit::wait_until;

/// A key prefix no other test (or earlier run) uses.
pub fn unique_prefix(test: &str) -> String {
    format!("stn-write-tests/{test}-{:016x}", rand::random::<u64>())
}

/// A WAL-mode database with `page_size` and a table `t(id, v)`, as an app
/// would open it. `autocheckpoint` false turns SQLite's own off.
pub fn app_db(dir: &Path, page_size: u32, autocheckpoint: bool) -> (PathBuf, Connection) {
    let path = dir.join("app.db");
    let conn = Connection::open(&path).unwrap();
    conn.pragma_update(None, "page_size", page_size).unwrap();
    conn.pragma_update(None, "journal_mode", "wal").unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    if !autocheckpoint {
        conn.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
    }
    conn.execute_batch("CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB, note TEXT)")
        .unwrap();
    (path, conn)
}

/// Inserts `rows` rows with `size`-byte random BLOBs in one transaction.
pub fn insert(conn: &Connection, rows: usize, size: usize) {
    let tx = conn.unchecked_transaction().unwrap();
    for i in 0..rows {
        tx.execute(
            "INSERT INTO t(v, note) VALUES (randomblob(?1), ?2)",
            rusqlite::params![size as i64, format!("row {i}")],
        )
        .unwrap();
    }
    tx.commit().unwrap();
}

/// Options that make tests quick: syncs and monitor ticks every 50 ms,
/// compaction levels of 1 s and 2 s.
pub fn fast_options() -> ReplicationOptions {
    let mut options = ReplicationOptions {
        sync_interval: Duration::from_millis(50),
        monitor_interval: Duration::from_millis(50),
        ..ReplicationOptions::default()
    };
    options.compaction.levels = vec![Duration::from_secs(1), Duration::from_secs(2)];
    options.compaction.l0_retention = Duration::from_secs(1);
    options.compaction.l0_retention_check_interval = Duration::from_millis(200);
    options
}

/// A file replica in `dir` and its URL.
pub fn file_replica(dir: &Path) -> (ReplicaClient, String) {
    let url = format!("file://{}", dir.display());
    (ReplicaClient::from_url(&url).unwrap(), url)
}

/// An S3 replica on moto (through `endpoint`, e.g. a counting proxy, when
/// given) and the URL `litestream restore` takes; `None` without moto.
pub fn s3_replica(prefix: &str, endpoint: Option<String>) -> Option<(ReplicaClient, String)> {
    let moto = stn_testkit::service("STN_TEST_S3_ENDPOINT")?;
    let bucket = stn_testkit::service("STN_TEST_BUCKET")?;
    let mut replica = ReplicaConfig::new(ReplicaKind::S3);
    replica.bucket = Some(bucket.clone());
    replica.path = Some(prefix.to_owned());
    replica.endpoint = Some(endpoint.unwrap_or_else(|| moto.clone()));
    replica.region = Some("us-east-1".to_owned());
    replica.force_path_style = Some(true);
    replica.access_key_id = Some("test".to_owned());
    replica.secret_access_key = Some("test".to_owned());
    let client = ReplicaClient::from_config(&replica).unwrap();
    let url =
        format!("s3://{bucket}/{prefix}?endpoint={moto}&region=us-east-1&force-path-style=true");
    Some((client, url))
}

/// Azurite's documented development account and key.
pub const AZURITE_ACCOUNT: &str = "devstoreaccount1";
pub const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// An Azure replica on Azurite (through `endpoint`, e.g. a proxy's
/// `http://127.0.0.1:PORT`, when given); `None` without Azurite.
pub fn azure_replica(prefix: &str, endpoint: Option<String>) -> Option<ReplicaClient> {
    let azurite = stn_testkit::service("STN_TEST_AZURE_ENDPOINT")?;
    let bucket = stn_testkit::service("STN_TEST_BUCKET")?;
    let endpoint = endpoint.unwrap_or(azurite);
    let url =
        format!("abs://{AZURITE_ACCOUNT}@{bucket}/{prefix}?endpoint={endpoint}/{AZURITE_ACCOUNT}");
    let mut replica = ReplicaConfig::from_url(&url).unwrap();
    replica.account_key = Some(AZURITE_KEY.to_owned());
    Some(ReplicaClient::from_config(&replica).unwrap())
}

/// Runs the real `litestream restore -o out url` (bounded to 60 s);
/// `None` when the binary is not available.
pub fn litestream_restore(url: &str, out: &Path) -> Option<()> {
    let bin = stn_testkit::service("STN_TEST_LITESTREAM_BIN")?;
    let mut child = Command::new(bin)
        .args(["restore", "-o"])
        .arg(out)
        .arg(url)
        // This machine's AWS_CA_BUNDLE makes litestream refuse to start.
        .env_remove("AWS_CA_BUNDLE")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start litestream");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let output = child.wait_with_output().unwrap();
            assert!(
                status.success(),
                "litestream restore {url} failed: {}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            return Some(());
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("litestream restore {url} took over 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Restores `url` with litestream into `dir/restored.db` and checks it
/// equals `source` table by table and passes `integrity_check`. Returns
/// false (test skipped) without litestream.
pub fn assert_litestream_restores(url: &str, dir: &Path, source: &Path) -> bool {
    let out = dir.join(format!("restored-{:08x}.db", rand::random::<u32>()));
    if litestream_restore(url, &out).is_none() {
        return false;
    }
    let conn = Connection::open(&out).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    drop(conn);
    let restored = dump(&out);
    let expected = dump(source);
    assert_eq!(
        restored
            .iter()
            .map(|(t, r)| (t, r.len()))
            .collect::<Vec<_>>(),
        expected
            .iter()
            .map(|(t, r)| (t, r.len()))
            .collect::<Vec<_>>(),
        "row counts"
    );
    assert!(restored == expected, "restored rows differ from the source");
    true
}

/// Total size and count of the files under `dir`.
pub fn dir_usage(dir: &Path) -> (u64, usize) {
    let mut total = (0, 0);
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            let (size, count) = dir_usage(&path);
            total = (total.0 + size, total.1 + count);
        } else {
            total = (
                total.0 + entry.metadata().map_or(0, |m| m.len()),
                total.1 + 1,
            );
        }
    }
    total
}
