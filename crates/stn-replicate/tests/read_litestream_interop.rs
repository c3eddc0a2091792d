//! The real `litestream replicate` (0.5.17) writes a replica; our restore
//! reads it back: latest, by TXID and by timestamp, for page sizes 1024,
//! 4096 and 65536, to a file replica and to S3 on moto.
//!
//! The workload has several WAL restarts (Litestream checkpoints once the
//! WAL holds 1000 pages), a 20 MB transaction, BLOBs, updates and deletes.

mod read_support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use stn_replicate::Config;
use stn_replicate::ReplicaClient;
use stn_replicate::{
    IntegrityCheck, RestoreOptions, RestoreOutcome, latest_txid, list_files, restore,
};
use time::OffsetDateTime;

use read_support::*;

/// `litestream replicate`, stopped with SIGTERM, or killed if a test fails.
struct Litestream {
    child: Child,
}

impl Litestream {
    fn start(bin: &str, config: &Path, log: &Path) -> Litestream {
        let log = std::fs::File::create(log).unwrap();
        let child = Command::new(bin)
            // Litestream 0.5.17 fails on this machine's AWS_CA_BUNDLE.
            .env_remove("AWS_CA_BUNDLE")
            .args(["replicate", "-config"])
            .arg(config)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .expect("start litestream");
        Litestream { child }
    }

    /// SIGTERM: Litestream syncs what is left, then exits.
    fn stop(mut self) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success());
        let exited = wait_until(Duration::from_secs(20), || {
            matches!(self.child.try_wait(), Ok(Some(_)))
        });
        assert!(exited, "litestream did not exit after SIGTERM");
    }
}

impl Drop for Litestream {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// One recorded state: the TXID Litestream reached, when, and the tables.
struct Checkpoint {
    txid: u64,
    at: OffsetDateTime,
    tables: Vec<(String, Vec<u64>)>,
}

fn open_source(db: &Path, page_size: u32) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn.execute_batch(&format!(
        "PRAGMA page_size = {page_size};
         PRAGMA journal_mode = WAL;
         PRAGMA synchronous = NORMAL;
         PRAGMA wal_autocheckpoint = 0;
         CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, n INTEGER, payload BLOB);
         CREATE TABLE IF NOT EXISTS big (id INTEGER PRIMARY KEY, data BLOB NOT NULL);"
    ))
    .unwrap();
    conn
}

/// A compressible but not constant BLOB.
fn blob(seed: u64, len: usize) -> Vec<u8> {
    let pattern: Vec<u8> = (0..16)
        .map(|i| (seed.wrapping_mul(31).wrapping_add(i * 7) % 251) as u8)
        .collect();
    pattern.iter().copied().cycle().take(len).collect()
}

/// Many small transactions: each writes one or two pages.
fn small_transactions(conn: &rusqlite::Connection, from: u64, count: u64, page_size: u32) {
    // Small enough that the 64 KiB-page database stays quick to restore
    // in a debug build; each transaction still writes whole pages.
    let len = (page_size as usize / 4).min(4096);
    for id in from..from + count {
        conn.execute(
            "INSERT INTO items (id, name, n, payload) VALUES (?1, ?2, ?3, ?4)",
            rusqlite::params![
                id as i64,
                format!("item {id}"),
                (id * id) as i64,
                blob(id, len)
            ],
        )
        .unwrap();
    }
}

/// Waits until the replica's newest TXID has not moved for 2.5 s.
fn quiesce(rt: &tokio::runtime::Runtime, client: &ReplicaClient) -> u64 {
    let mut last = (0, Instant::now());
    let settled = wait_until(Duration::from_secs(30), || {
        let txid = rt.block_on(latest_txid(client)).unwrap().unwrap_or(0);
        if txid != last.0 {
            last = (txid, Instant::now());
        }
        txid > 0 && last.1.elapsed() > Duration::from_millis(2500)
    });
    assert!(settled, "litestream kept writing");
    last.0
}

fn record(
    rt: &tokio::runtime::Runtime,
    client: &ReplicaClient,
    conn: &rusqlite::Connection,
) -> Checkpoint {
    let txid = quiesce(rt, client);
    Checkpoint {
        txid,
        at: OffsetDateTime::now_utc(),
        tables: dump_conn(conn),
    }
}

/// Runs the workload under Litestream with `replica_yaml` as the replica
/// block, then restores and compares.
fn replicate_and_restore(page_size: u32, replica_yaml: impl FnOnce(&Path) -> String) {
    let started = Instant::now();
    let Some(bin) = stn_testkit::service("STN_TEST_LITESTREAM_BIN") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("source.db");
    let config_path = dir.path().join("litestream.yml");
    let replica = replica_yaml(dir.path());
    let config = format!("dbs:\n  - path: {}\n    replica:\n{replica}", db.display());
    std::fs::write(&config_path, config).unwrap();

    // Our parser reads the same file Litestream does.
    let parsed = Config::load(&config_path).unwrap();
    let client = ReplicaClient::from_config(&parsed.dbs[0].replicas[0]).unwrap();
    let rt = runtime();

    let conn = open_source(&db, page_size);
    let litestream = Litestream::start(&bin, &config_path, &dir.path().join("litestream.log"));

    // Bursts of more than 1000 pages with a pause, so Litestream (which
    // looks once a second) checkpoints and the WAL restarts between them.
    for burst in 0..3 {
        small_transactions(&conn, 1 + burst * 1100, 1100, page_size);
        std::thread::sleep(Duration::from_millis(1500));
    }
    let after_small = record(&rt, &client, &conn);

    // One 20 MB transaction, plus updates and deletes.
    conn.execute_batch("BEGIN").unwrap();
    for id in 0..20 {
        conn.execute(
            "INSERT INTO big (id, data) VALUES (?1, ?2)",
            rusqlite::params![id, blob(id as u64 + 1000, 1024 * 1024)],
        )
        .unwrap();
    }
    conn.execute_batch("COMMIT").unwrap();
    conn.execute_batch(
        "UPDATE items SET n = -n, payload = zeroblob(100) WHERE id % 7 = 0;
         DELETE FROM items WHERE id % 10 = 0;",
    )
    .unwrap();
    let after_big = record(&rt, &client, &conn);

    small_transactions(&conn, 4000, 300, page_size);
    conn.execute_batch("DELETE FROM big WHERE id < 10; CREATE TABLE late (x TEXT); INSERT INTO late VALUES ('last');")
        .unwrap();
    let final_tables = dump_conn(&conn);
    quiesce(&rt, &client);
    litestream.stop();

    let files = rt.block_on(list_files(&client, None)).unwrap();
    let l0_salts: std::collections::BTreeSet<u32> = files
        .iter()
        .filter(|f| f.level == 0)
        .map(|f| {
            let header = rt.block_on(client.get_ltx(f, Some(0..100))).unwrap();
            u32::from_be_bytes([header[64], header[65], header[66], header[67]])
        })
        .collect();
    assert!(
        l0_salts.len() >= 3,
        "expected several WAL restarts, saw salts {l0_salts:?}"
    );
    let replica_bytes: u64 = files.iter().map(|f| f.size).sum();

    let restore_to = |name: &str,
                      configure: &dyn Fn(&mut RestoreOptions)|
     -> (PathBuf, RestoreOutcome, Duration) {
        let output = dir.path().join(name);
        let mut options = RestoreOptions::new(&output);
        options.integrity_check = IntegrityCheck::Full;
        configure(&mut options);
        let begun = Instant::now();
        let outcome = rt.block_on(restore(&client, &options)).unwrap();
        assert_eq!(integrity_check(&output), "ok", "{name}");
        (output, outcome, begun.elapsed())
    };

    let (latest, outcome, took) = restore_to("latest.db", &|_| {});
    assert_eq!(dump(&latest), final_tables, "latest restore");
    eprintln!(
        "page size {page_size}: {} files, {replica_bytes} bytes in the replica, {} WAL salts; latest restore {outcome:?} in {took:?}",
        files.len(),
        l0_salts.len()
    );

    for (name, checkpoint) in [("small", &after_small), ("big", &after_big)] {
        let (by_txid, outcome, _) = restore_to(&format!("txid-{name}.db"), &|o| {
            o.txid = Some(checkpoint.txid)
        });
        assert!(
            matches!(outcome, RestoreOutcome::Restored { txid, .. } if txid == checkpoint.txid)
        );
        assert_eq!(
            dump(&by_txid),
            checkpoint.tables,
            "restore to TXID {:#x} ({name})",
            checkpoint.txid
        );
    }
    // By time: the state before the 20 MB transaction.
    let (by_time, _, _) = restore_to("time-small.db", &|o| o.timestamp = Some(after_small.at));
    assert_eq!(
        dump(&by_time),
        after_small.tables,
        "restore to {}",
        after_small.at
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
}

fn file_replica(dir: &Path) -> String {
    format!(
        "      type: file\n      path: {}\n      sync-interval: 1s\n",
        dir.join("replica").display()
    )
}

fn s3_replica_yaml(prefix: &str) -> Option<impl FnOnce(&Path) -> String + use<>> {
    let endpoint = stn_testkit::service("STN_TEST_S3_ENDPOINT")?;
    let bucket = stn_testkit::service("STN_TEST_BUCKET")?;
    let prefix = prefix.to_owned();
    Some(move |_: &Path| {
        format!(
            "      type: s3\n      bucket: {bucket}\n      path: {prefix}\n      endpoint: {endpoint}\n      region: us-east-1\n      force-path-style: true\n      access-key-id: test\n      secret-access-key: test\n      sync-interval: 1s\n"
        )
    })
}

#[test]
fn file_replica_page_size_1024() {
    replicate_and_restore(1024, file_replica);
}

#[test]
fn file_replica_page_size_4096() {
    replicate_and_restore(4096, file_replica);
}

#[test]
fn file_replica_page_size_65536() {
    replicate_and_restore(65536, file_replica);
}

#[test]
fn s3_replica_page_size_4096() {
    let Some(yaml) = s3_replica_yaml(&unique_prefix("interop-4096")) else {
        return;
    };
    replicate_and_restore(4096, yaml);
}

#[test]
fn s3_replica_page_size_65536() {
    let Some(yaml) = s3_replica_yaml(&unique_prefix("interop-65536")) else {
        return;
    };
    replicate_and_restore(65536, yaml);
}

#[test]
fn litestream_accepts_the_init_config() {
    let Some(bin) = stn_testkit::service("STN_TEST_LITESTREAM_BIN") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("station.db");
    let config = dir.path().join("litestream.yml");
    std::fs::write(
        &config,
        stn_replicate::init_config_text(&db.display().to_string()),
    )
    .unwrap();
    let output = Command::new(bin)
        .env_remove("AWS_CA_BUNDLE")
        .env("LITESTREAM_S3_BUCKET", "station-backups")
        .args(["databases", "-config"])
        .arg(&config)
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{listing} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line = listing
        .lines()
        .find(|line| line.contains(&db.display().to_string()));
    assert!(line.is_some_and(|line| line.contains("s3")), "{listing}");
}
