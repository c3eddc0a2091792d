//! Crash suite: `stn serve` is SIGKILLed at a random moment while eight
//! clients create environments through the API as fast as they can. The
//! replica is then restored and held against what the clients were told:
//!
//! - the restored database passes `PRAGMA integrity_check`;
//! - its rows are a prefix of the committed transactions: row for row the
//!   first k rows of the database the killed server left behind (whose
//!   AUTOINCREMENT ids, under SQLite's single writer, follow commit order
//!   without a gap during the load), with the content the client sent;
//! - in durable mode (`--durability sync`) every acknowledged write is in
//!   it; in async mode the acknowledged writes it lacks are counted (the
//!   replica trails by up to the 1 s sync interval).
//!
//! The database the killed server left behind must pass the same checks,
//! and in every other trial `stn serve` restarts on it, takes new writes,
//! and brings the replica up to date, crash-era tail included.
//!
//! Each test prints its base seed; `STN_CRASH_SEED=N` replays the random
//! choices (kill moment, payload size). The interleaving of the writers
//! is up to the scheduler and cannot be replayed.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{Server, Stn, log_file, s3_url, tail, unique, wait_exit, with_s3_keys};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use stn_replicate::Durability;

/// Concurrent API clients per trial.
const WRITERS: usize = 8;
/// Writes made after a restart, to see the restarted server replicate.
const WRITES_AFTER_RESTART: usize = 5;
/// Bound on any one request; above the server's 10 s durable timeout, so a
/// write the replica does not confirm is answered (503), not cut off here.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ReplicaKind {
    File,
    S3,
}

#[test]
fn durable_file_replica_a() {
    suite(
        "durable_file_replica_a",
        Durability::Sync,
        ReplicaKind::File,
        10,
    );
}

#[test]
fn durable_file_replica_b() {
    suite(
        "durable_file_replica_b",
        Durability::Sync,
        ReplicaKind::File,
        10,
    );
}

#[test]
fn durable_s3_replica() {
    suite("durable_s3_replica", Durability::Sync, ReplicaKind::S3, 4);
}

#[test]
fn async_file_replica_a() {
    suite(
        "async_file_replica_a",
        Durability::Async,
        ReplicaKind::File,
        10,
    );
}

#[test]
fn async_file_replica_b() {
    suite(
        "async_file_replica_b",
        Durability::Async,
        ReplicaKind::File,
        10,
    );
}

#[test]
fn async_s3_replica() {
    suite("async_s3_replica", Durability::Async, ReplicaKind::S3, 4);
}

/// Runs `trials` trials and prints one summary line.
fn suite(test: &str, mode: Durability, kind: ReplicaKind, trials: u64) {
    if kind == ReplicaKind::S3 && s3_url("crash").is_none() {
        return;
    }
    let base_seed: u64 = match std::env::var("STN_CRASH_SEED") {
        Ok(text) => text.parse().expect("STN_CRASH_SEED is a u64"),
        Err(_) => rand::random(),
    };
    eprintln!("{test}: base seed {base_seed} (replay with STN_CRASH_SEED={base_seed})");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let started = Instant::now();
    let reports: Vec<Report> = (0..trials)
        .map(|i| {
            let trial = Trial {
                mode,
                kind,
                seed: base_seed.wrapping_add(i),
                restart: i % 2 == 1,
            };
            trial.run(&runtime)
        })
        .collect();
    let sum = |f: fn(&Report) -> usize| reports.iter().map(f).sum::<usize>();
    eprintln!(
        "{test} summary: mode={} replica={kind:?} trials={trials} restarts={} acked={} restored_writes={} lost_acked={} worst_lost_window_ms={} wall={:.1}s",
        mode.as_str(),
        reports.iter().filter(|r| r.restarted).count(),
        sum(|r| r.acked),
        sum(|r| r.restored),
        sum(|r| r.lost_acked),
        reports
            .iter()
            .filter_map(|r| r.lost_window)
            .max()
            .map_or("-".to_owned(), |w| w.as_millis().to_string()),
        started.elapsed().as_secs_f64()
    );
}

/// One crash: the choices a seed makes, and what a trial does with them.
struct Trial {
    mode: Durability,
    kind: ReplicaKind,
    seed: u64,
    restart: bool,
}

/// What one trial saw.
struct Report {
    acked: usize,
    /// Restored rows the writers made (`default` not counted).
    restored: usize,
    lost_acked: usize,
    /// How long before the kill the oldest lost acknowledged write was
    /// acknowledged (async mode, when writes were lost).
    lost_window: Option<Duration>,
    restarted: bool,
}

impl Trial {
    fn run(&self, runtime: &tokio::runtime::Runtime) -> Report {
        let mut rng = StdRng::seed_from_u64(self.seed);
        // Up to 2.5 s, so that async trials also crash after one or two
        // interval syncs (every 1 s), not only before the first.
        let kill_at = Duration::from_millis(rng.random_range(300..=2500));
        let payload = rng.random_range(16..=2048);
        let label = format!(
            "mode={} replica={:?} seed={} kill_at_ms={} payload={payload}",
            self.mode.as_str(),
            self.kind,
            self.seed,
            kill_at.as_millis()
        );
        let work = tempfile::tempdir().unwrap();
        let replica = match self.kind {
            ReplicaKind::File => format!("file://{}", work.path().join("replica").display()),
            ReplicaKind::S3 => s3_url(&unique("crash")).expect("checked by the suite"),
        };
        let stn = Stn::local();
        let log = work.path().join("serve.log");
        let mut server = start_server(&stn, &replica, self.mode, &log);
        let (writes, killed_at) =
            runtime.block_on(load(server.port, payload, kill_at, || server.kill9()));

        let failed_early: Vec<String> = writes
            .iter()
            .filter_map(|w| match &w.outcome {
                Outcome::Unanswered {
                    before_kill: true,
                    error,
                } => Some(format!("{}: {error}", w.name)),
                _ => None,
            })
            .collect();
        assert!(
            failed_early.is_empty(),
            "{label}: requests failed while the server was alive: {failed_early:?}\n{}",
            tail(&log)
        );

        // Inspect a copy: opening the original would checkpoint its WAL on
        // close, and the restart below must start from what the crash left.
        let local_copy = work.path().join("local.db");
        copy_database(&stn.config_dir().join("station.db"), &local_copy);
        assert_eq!(
            stn_testkit::sqlite::integrity_check(&local_copy),
            "ok",
            "{label}: the killed server's database"
        );
        let committed = rows(&local_copy);
        check_rows(&label, "local", &committed, &writes, payload);

        let restored_path = work.path().join("restored.db");
        restore(
            &stn,
            &replica,
            &restored_path,
            &work.path().join("restore.log"),
        );
        assert_eq!(
            stn_testkit::sqlite::integrity_check(&restored_path),
            "ok",
            "{label}: the restored database"
        );
        let restored = rows(&restored_path);
        check_rows(&label, "restored", &restored, &writes, payload);
        assert_prefix(&label, &restored, &committed);

        let (acked, lost) = acknowledged(&label, &writes, &committed, &restored);
        let lost_window = lost
            .iter()
            .map(|ack| killed_at.saturating_duration_since(ack.at))
            .max();
        if self.mode == Durability::Sync {
            assert!(
                lost.is_empty(),
                "{label}: {} acknowledged writes are not in the restored database \
                 ({} rows restored, {} committed locally); the first: {:?}, acknowledged {:?} before the kill\n{}",
                lost.len(),
                restored.len(),
                committed.len(),
                lost.iter()
                    .take(5)
                    .map(|ack| (ack.name, ack.id))
                    .collect::<Vec<_>>(),
                lost_window,
                tail(&log)
            );
        }

        if self.restart {
            restart_and_resume(
                &label,
                runtime,
                &stn,
                &replica,
                self.mode,
                work.path(),
                &committed,
            );
        }
        // Error statuses by count, e.g. {503: 2}: not acknowledged, so allowed.
        let mut refused: BTreeMap<u16, usize> = BTreeMap::new();
        let mut in_flight = 0;
        for write in &writes {
            match write.outcome {
                Outcome::Refused(status) => *refused.entry(status).or_default() += 1,
                Outcome::Unanswered { .. } => in_flight += 1,
                Outcome::Acked { .. } => {}
            }
        }
        eprintln!(
            "crash trial: {label} acked={} refused={refused:?} in_flight={in_flight} committed_writes={} restored_writes={} lost_acked={} lost_window_ms={} restart={}",
            acked.len(),
            committed.len() - 1,
            restored.len() - 1,
            lost.len(),
            lost_window.map_or("-".to_owned(), |w| w.as_millis().to_string()),
            if self.restart { "resumed" } else { "no" }
        );
        Report {
            acked: acked.len(),
            restored: restored.len() - 1,
            lost_acked: lost.len(),
            lost_window,
            restarted: self.restart,
        }
    }
}

/// An acknowledged write.
#[derive(Clone, Copy)]
struct Ack<'a> {
    name: &'a str,
    /// The row id the API returned.
    id: Option<i64>,
    at: Instant,
}

/// The acknowledged writes, and those of them `restored` lacks. Checks on
/// the way that each one is in the killed server's database (acknowledged
/// means committed, in both modes) under the id the API returned.
fn acknowledged<'a>(
    label: &str,
    writes: &'a [Write],
    committed: &[Row],
    restored: &[Row],
) -> (Vec<Ack<'a>>, Vec<Ack<'a>>) {
    let committed_ids: HashMap<&str, i64> =
        committed.iter().map(|r| (r.name.as_str(), r.id)).collect();
    let acked: Vec<Ack> = writes
        .iter()
        .filter_map(|w| match w.outcome {
            Outcome::Acked { id, at } => Some(Ack {
                name: &w.name,
                id,
                at,
            }),
            _ => None,
        })
        .collect();
    for ack in &acked {
        let local_id = committed_ids.get(ack.name).copied();
        assert!(
            local_id.is_some() && (ack.id.is_none() || ack.id == local_id),
            "{label}: `{}` was acknowledged with id {:?} but the local database has {local_id:?}",
            ack.name,
            ack.id
        );
    }
    let restored_names: HashSet<&str> = restored.iter().map(|r| r.name.as_str()).collect();
    let lost = acked
        .iter()
        .copied()
        .filter(|ack| !restored_names.contains(ack.name))
        .collect();
    (acked, lost)
}

/// Restarts `stn serve` on the database the crash left, writes a little,
/// stops it, and checks the replica now holds everything: the rows the
/// killed server committed but had not uploaded, and the new ones.
fn restart_and_resume(
    label: &str,
    runtime: &tokio::runtime::Runtime,
    stn: &Stn,
    replica: &str,
    mode: Durability,
    work: &Path,
    committed: &[Row],
) {
    let log = work.join("serve-restarted.log");
    let mut server = start_server(stn, replica, mode, &log);
    let names: Vec<String> = (0..WRITES_AFTER_RESTART)
        .map(|i| format!("after-{i}"))
        .collect();
    runtime.block_on(async {
        let http = client();
        for name in &names {
            let response = post(&http, server.port, name, name)
                .await
                .unwrap_or_else(|e| panic!("{label}: write after restart: {e}\n{}", tail(&log)));
            assert_eq!(
                response.status(),
                201,
                "{label}: write after restart\n{}",
                tail(&log)
            );
        }
    });
    let status = server.stop();
    assert!(
        status.success(),
        "{label}: restarted serve exit: {status:?}\n{}",
        tail(&log)
    );

    let db = stn.config_dir().join("station.db");
    assert_eq!(
        stn_testkit::sqlite::integrity_check(&db),
        "ok",
        "{label}: the database after the restart"
    );
    let after = rows(&db);
    assert_eq!(
        after.len(),
        committed.len() + WRITES_AFTER_RESTART,
        "{label}: the restarted server keeps every committed row and adds the new ones"
    );
    assert_prefix(&format!("{label}: after restart"), committed, &after);
    let new_names: Vec<&str> = after[committed.len()..]
        .iter()
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(new_names, names, "{label}: the writes after the restart");

    let restored = work.join("restored-after-restart.db");
    restore(
        stn,
        replica,
        &restored,
        &work.join("restore-after-restart.log"),
    );
    assert_eq!(
        stn_testkit::sqlite::integrity_check(&restored),
        "ok",
        "{label}: restored after the restart"
    );
    let restored_rows = rows(&restored);
    assert_eq!(
        restored_rows.len(),
        after.len(),
        "{label}: the replica caught up after the restart\n{}",
        tail(&log)
    );
    assert_prefix(
        &format!("{label}: restored after the restart"),
        &restored_rows,
        &after,
    );
}

/// One API write and what its client learned.
#[derive(Debug)]
struct Write {
    name: String,
    outcome: Outcome,
}

#[derive(Debug)]
enum Outcome {
    /// A 2xx answer: acknowledged; `id` is the row id the API returned
    /// (unknown only if the body was cut off after the status line).
    Acked { id: Option<i64>, at: Instant },
    /// An error status: not acknowledged (a 503 in durable mode is a write
    /// committed locally that the replica did not confirm in time).
    Refused(u16),
    /// No answer: the connection failed, normally because the server was
    /// killed with the request in flight.
    Unanswered { before_kill: bool, error: String },
}

/// Runs `WRITERS` clients against `port`, calls `kill` `kill_at` into the
/// load, and returns every write once all clients have seen the server die,
/// with the moment of the kill.
async fn load(
    port: u16,
    payload: usize,
    kill_at: Duration,
    kill: impl FnOnce(),
) -> (Vec<Write>, Instant) {
    let http = client();
    let killed = Arc::new(AtomicBool::new(false));
    // A server that somehow survives the kill must not keep the writers busy forever.
    let give_up = Instant::now() + kill_at + Duration::from_secs(30);
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let http = http.clone();
            let killed = Arc::clone(&killed);
            tokio::spawn(async move {
                let mut writes = Vec::new();
                for seq in 0.. {
                    if Instant::now() > give_up {
                        break;
                    }
                    let name = format!("w{writer}-{seq}");
                    let sent = post(&http, port, &name, &description(&name, payload)).await;
                    let outcome = match sent {
                        Ok(response) if response.status().is_success() => {
                            let at = Instant::now();
                            let id = response
                                .json::<serde_json::Value>()
                                .await
                                .ok()
                                .and_then(|body| body["id"].as_i64());
                            Outcome::Acked { id, at }
                        }
                        Ok(response) => Outcome::Refused(response.status().as_u16()),
                        Err(error) => Outcome::Unanswered {
                            before_kill: !killed.load(Ordering::SeqCst),
                            error: error.to_string(),
                        },
                    };
                    let stop = matches!(outcome, Outcome::Unanswered { .. });
                    writes.push(Write { name, outcome });
                    if stop {
                        break;
                    }
                }
                writes
            })
        })
        .collect();
    tokio::time::sleep(kill_at).await;
    // Set before the kill, so every failure it causes counts as expected.
    killed.store(true, Ordering::SeqCst);
    let killed_at = Instant::now();
    kill();
    let mut writes = Vec::new();
    for writer in writers {
        let done = tokio::time::timeout(REQUEST_TIMEOUT + Duration::from_secs(5), writer)
            .await
            .expect("a writer did not finish after the kill");
        writes.extend(done.expect("writer task"));
    }
    (writes, killed_at)
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .no_proxy()
        .build()
        .unwrap()
}

async fn post(
    http: &reqwest::Client,
    port: u16,
    name: &str,
    description: &str,
) -> reqwest::Result<reqwest::Response> {
    http.post(format!("http://127.0.0.1:{port}/api/v1/environments"))
        .json(&serde_json::json!({"name": name, "description": description}))
        .send()
        .await
}

/// The description a writer sends with `name`: `size` bytes derived from
/// the name, so a row's content can be checked from its name alone.
fn description(name: &str, size: usize) -> String {
    name.chars().chain([' ']).cycle().take(size).collect()
}

/// `w{writer}-{seq}` back into its parts.
fn writer_and_seq(name: &str) -> Option<(usize, u64)> {
    let (writer, seq) = name.strip_prefix('w')?.split_once('-')?;
    Some((writer.parse().ok()?, seq.parse().ok()?))
}

/// An `environments` row.
#[derive(Debug, PartialEq)]
struct Row {
    id: i64,
    name: String,
    description: Option<String>,
    created_at: String,
}

fn rows(db: &Path) -> Vec<Row> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut statement = conn
        .prepare("SELECT id, name, description, created_at FROM environments ORDER BY id")
        .unwrap();
    statement
        .query_map([], |r| {
            Ok(Row {
                id: r.get(0)?,
                name: r.get(1)?,
                description: r.get(2)?,
                created_at: r.get(3)?,
            })
        })
        .and_then(|rows| rows.collect())
        .unwrap()
}

/// The rows of one database: `default` (made by the migration) first with
/// id 1, then only writes a client sent, under consecutive ids, with the
/// content it sent, each client's writes in the order it sent them.
///
/// The writers' ids do not start at 2: every `stn serve` start runs an
/// `INSERT ... ON CONFLICT DO NOTHING` for `default`, and SQLite advances
/// an AUTOINCREMENT counter even when the upsert inserts nothing. Plain
/// inserts either commit with the next id or roll the counter back, so
/// among the writes of one server a gap means a lost transaction.
fn check_rows(label: &str, which: &str, rows: &[Row], writes: &[Write], payload: usize) {
    let sent: HashSet<&str> = writes.iter().map(|w| w.name.as_str()).collect();
    let mut last_seq: HashMap<usize, u64> = HashMap::new();
    let Some((first, written)) = rows.split_first() else {
        panic!("{label}: {which} database has no `default` environment");
    };
    assert_eq!(
        (first.id, first.name.as_str()),
        (1, "default"),
        "{label}: {which} first row"
    );
    for (at, row) in written.iter().enumerate() {
        assert_eq!(
            row.id,
            written[0].id + at as i64,
            "{label}: {which} ids of the writes have a gap before {row:?}"
        );
        assert!(
            sent.contains(row.name.as_str()),
            "{label}: {which} row no client sent: {row:?}"
        );
        assert_eq!(
            row.description.as_deref(),
            Some(description(&row.name, payload).as_str()),
            "{label}: {which} row {} has other content than was sent",
            row.id
        );
        let (writer, seq) = writer_and_seq(&row.name).expect("a writer's name");
        if let Some(previous) = last_seq.insert(writer, seq) {
            assert!(
                previous < seq,
                "{label}: {which} writer {writer}'s write {seq} committed before its write {previous}"
            );
        }
    }
}

/// `prefix` is the first rows of `all`, row for row.
fn assert_prefix(label: &str, prefix: &[Row], all: &[Row]) {
    assert!(
        prefix.len() <= all.len(),
        "{label}: {} rows where at most {} were committed",
        prefix.len(),
        all.len()
    );
    if let Some((a, b)) = prefix.iter().zip(all).find(|(a, b)| a != b) {
        panic!("{label}: not a prefix of the committed rows: {a:?} where {b:?} was committed");
    }
}

/// Copies a database that no process has open, WAL included.
fn copy_database(from: &Path, to: &Path) {
    std::fs::copy(from, to).unwrap();
    let wal = |p: &Path| PathBuf::from(format!("{}-wal", p.display()));
    if wal(from).exists() {
        std::fs::copy(wal(from), wal(to)).unwrap();
    }
}

/// `stn restore -o out replica`, bounded.
fn restore(stn: &Stn, replica: &str, out: &Path, log: &Path) {
    let mut cmd = stn.command(&["restore", "-o", out.to_str().unwrap(), replica]);
    let child = with_s3_keys(&mut cmd)
        .stdout(log_file(log))
        .stderr(log_file(log))
        .spawn()
        .expect("start stn restore");
    let status = wait_exit(child, Duration::from_secs(60));
    assert!(status.success(), "stn restore: {status:?}\n{}", tail(log));
}

/// `stn serve` on `replica` in durability `mode`.
fn start_server(stn: &Stn, replica: &str, mode: Durability, log: &Path) -> Server {
    let args = ["--replica", replica, "--durability", mode.as_str()];
    Server::start(stn, &args, &[], log)
}
