//! The fault suite: replication to moto (S3) and Azurite (Azure) through a
//! fault-injecting TCP proxy while the application keeps writing: added
//! latency, connection resets, stalled connections, connections cut after
//! N bytes, and a 60 s outage.
//!
//! After every fault, replication catches up within a stated bound, every
//! object in the replica is a valid LTX file (read through the verifying
//! reader), the TXIDs have no gap, and our restore (and, for S3, the real
//! `litestream restore`) equals the source and passes `integrity_check`.
//! Checks and restores talk to the services directly, not through the proxy.

mod write_support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::Connection;
use stn_replicate::LEASE_FILE;
use stn_replicate::SNAPSHOT_LEVEL;
use stn_replicate::{IntegrityCheck, RestoreOptions, RestoreOutcome, restore};
use stn_replicate::{LtxFileInfo, ReplicaClient};
use stn_replicate::{ReplicationOptions, Replicator, ReplicatorHandle};
use stn_testkit::FaultProxy;
use stn_testkit::sqlite::integrity_check;
use write_support::*;

#[derive(Clone, Copy, Debug)]
enum Backend {
    S3,
    Azure,
}

/// The port of a service URL such as `http://127.0.0.1:19000`.
fn port_of(endpoint: &str) -> u16 {
    endpoint
        .trim_end_matches('/')
        .rsplit(':')
        .next()
        .and_then(|port| port.parse().ok())
        .unwrap_or_else(|| panic!("no port in {endpoint}"))
}

/// Commits `rows` rows of `size` random bytes every `every` on its own
/// connection, as another thread of the application would; the
/// replicator's WAL monitor notices the commits. Stops when dropped.
struct Writer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<u64>>,
}

impl Writer {
    fn start(db_path: &Path, every: Duration, rows: usize, size: usize) -> Writer {
        let conn = Connection::open(db_path).unwrap();
        conn.busy_timeout(Duration::from_secs(5)).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut commits = 0;
            while !stopped.load(Ordering::SeqCst) {
                insert(&conn, rows, size);
                commits += 1;
                std::thread::sleep(every);
            }
            commits
        });
        Writer {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops writing; returns the number of commits.
    fn stop(mut self) -> u64 {
        self.halt().expect("writer thread")
    }

    fn halt(&mut self) -> std::thread::Result<u64> {
        self.stop.store(true, Ordering::SeqCst);
        match self.thread.take() {
            Some(thread) => thread.join(),
            None => Ok(0),
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Already failing if it panicked: a second panic would abort.
        let _ = self.halt();
    }
}

/// One scenario: an app database written continuously, replicated through
/// a fault proxy to one replica.
struct Run {
    name: String,
    dir: tempfile::TempDir,
    db_path: PathBuf,
    proxy: FaultProxy,
    handle: ReplicatorHandle,
    /// The same replica, reached without the proxy, for the checks.
    direct: ReplicaClient,
    /// The replica's URL for `litestream restore` (S3 only).
    litestream_url: Option<String>,
    writer: Writer,
    started: Instant,
}

impl Run {
    /// Starts the replicator with [`options`] (through a new proxy, with no
    /// fault on yet) and a writer committing `rows` × `size` bytes every
    /// `every`; `None` when the backend's service is not available.
    async fn start(
        backend: Backend,
        name: &str,
        every: Duration,
        rows: usize,
        size: usize,
    ) -> Option<Run> {
        Run::start_with(backend, name, options(), every, rows, size).await
    }

    async fn start_with(
        backend: Backend,
        name: &str,
        options: ReplicationOptions,
        every: Duration,
        rows: usize,
        size: usize,
    ) -> Option<Run> {
        let name = format!("{name}-{backend:?}").to_lowercase();
        let prefix = unique_prefix(&name);
        let (proxy, client, direct, litestream_url) = match backend {
            Backend::S3 => {
                let moto = stn_testkit::service("STN_TEST_S3_ENDPOINT")?;
                let proxy = FaultProxy::start(port_of(&moto));
                let endpoint = format!("http://127.0.0.1:{}", proxy.port());
                let (client, _) = s3_replica(&prefix, Some(endpoint))?;
                let (direct, url) = s3_replica(&prefix, None)?;
                (proxy, client, direct, Some(url))
            }
            Backend::Azure => {
                let azurite = stn_testkit::service("STN_TEST_AZURE_ENDPOINT")?;
                let proxy = FaultProxy::start(port_of(&azurite));
                let endpoint = format!("http://127.0.0.1:{}", proxy.port());
                let client = azure_replica(&prefix, Some(endpoint))?;
                let direct = azure_replica(&prefix, None)?;
                (proxy, client, direct, None)
            }
        };
        let dir = tempfile::tempdir().unwrap();
        let (db_path, conn) = app_db(dir.path(), 4096, true);
        insert(&conn, 50, 500);
        drop(conn);
        let handle = Replicator::start(db_path.clone(), vec![client], options)
            .await
            .unwrap();
        let writer = Writer::start(&db_path, every, rows, size);
        Some(Run {
            name,
            dir,
            db_path,
            proxy,
            handle,
            direct,
            litestream_url,
            writer,
            started: Instant::now(),
        })
    }

    /// See [`catch_up`].
    async fn catch_up(&self, bound: Duration) -> (u64, Duration) {
        catch_up(&self.handle, &self.name, bound).await
    }

    /// Commits one row and waits (at most 15 s) until the replica holds it;
    /// returns how long that took.
    async fn commit_to_replica(&self) -> Duration {
        let conn = Connection::open(&self.db_path).unwrap();
        conn.busy_timeout(Duration::from_secs(5)).unwrap();
        let started = Instant::now();
        insert(&conn, 1, 100);
        self.handle.notify_commit();
        self.catch_up(Duration::from_secs(15)).await;
        started.elapsed()
    }

    /// Stops writing, waits (at most `bound`) for the replica to hold
    /// everything, shuts down, and checks the replica object by object and
    /// by restoring it.
    async fn finish(self, bound: Duration) {
        let Run {
            name,
            dir,
            db_path,
            proxy,
            handle,
            direct,
            litestream_url,
            writer,
            started,
        } = self;
        let commits = writer.stop();
        let (txid, took) = catch_up(&handle, &name, bound).await;
        let status = handle.status();
        handle.shutdown().await.unwrap();
        let stats = proxy.stats();
        let objects = verify_replica(&direct, txid).await;
        restore_matches(&direct, dir.path(), &db_path, txid).await;
        if let Some(url) = &litestream_url {
            assert_litestream_restores(url, dir.path(), &db_path);
        }
        eprintln!(
            "{name}: {commits} commits, TXID {txid}, last catch-up {took:?}, \
             {objects} LTX files verified, {:?} in all; replica {:?}; proxy {stats:?}",
            started.elapsed(),
            status.replicas[0],
        );
    }
}

/// Fast replication (see `fast_options`) that gives up a final sync after 10 s.
fn options() -> ReplicationOptions {
    let mut options = fast_options();
    options.shutdown_sync_timeout = Duration::from_secs(10);
    options
}

/// Syncs what is committed now and waits (at most `bound`) until the
/// replica holds it; returns its TXID and how long that took.
async fn catch_up(handle: &ReplicatorHandle, name: &str, bound: Duration) -> (u64, Duration) {
    let started = Instant::now();
    let txid = tokio::time::timeout(bound, handle.sync_now())
        .await
        .unwrap_or_else(|_| {
            panic!(
                "{name}: not replicated within {bound:?}: {:?}",
                handle.status()
            )
        })
        .unwrap();
    (txid, started.elapsed())
}

/// Checks that every object under the replica's prefix (but the lease) is a
/// valid LTX file that its name describes, that each level's files follow
/// each other without a gap, and that together they cover 1..=`txid`.
/// Returns how many LTX files there are.
async fn verify_replica(client: &ReplicaClient, txid: u64) -> usize {
    let objects = client.list_objects("").await.unwrap();
    let mut files: Vec<LtxFileInfo> = Vec::new();
    for level in 0..=SNAPSHOT_LEVEL {
        files.extend(client.list_ltx(level).await.unwrap());
    }
    let others: Vec<_> = objects
        .iter()
        .map(|object| &object.name)
        .filter(|name| *name != LEASE_FILE)
        .collect();
    assert_eq!(
        others.len(),
        files.len(),
        "objects that are not LTX files among {others:?}"
    );
    for file in &files {
        let name = format!("{file:?}");
        let bytes = client.get_ltx(file, None).await.unwrap();
        assert_eq!(bytes.len() as u64, file.size, "{name}");
        let mut reader = stn_ltx::Reader::new(&bytes[..])
            .unwrap_or_else(|e| panic!("{name}: bad LTX header: {e}"));
        let header = *reader.header();
        assert_eq!(
            (header.min_txid, header.max_txid),
            (file.min_txid, file.max_txid),
            "{name}"
        );
        while reader
            .next_page()
            .unwrap_or_else(|e| panic!("{name}: corrupt: {e}"))
            .is_some()
        {}
    }
    for level in 0..SNAPSHOT_LEVEL {
        let in_level: Vec<_> = files.iter().filter(|f| f.level == level).collect();
        for pair in in_level.windows(2) {
            assert_eq!(
                pair[1].min_txid,
                pair[0].max_txid + 1,
                "gap in level {level}: {:?} then {:?}",
                pair[0],
                pair[1]
            );
        }
    }
    let mut by_start: Vec<_> = files.iter().collect();
    by_start.sort_by_key(|f| f.min_txid);
    let mut covered = 0;
    for file in by_start {
        assert!(
            file.min_txid <= covered + 1,
            "TXIDs {}..{} are in no file",
            covered + 1,
            file.min_txid
        );
        covered = covered.max(file.max_txid);
    }
    assert_eq!(covered, txid, "the replica ends at {covered}, not {txid}");
    files.len()
}

/// Restores the replica with our restore (full integrity check) and
/// compares it with the source, table by table.
async fn restore_matches(client: &ReplicaClient, dir: &Path, source: &Path, txid: u64) {
    let output = dir.join("restored.db");
    let mut options = RestoreOptions::new(&output);
    options.integrity_check = IntegrityCheck::Full;
    match restore(client, &options).await.unwrap() {
        RestoreOutcome::Restored { txid: restored, .. } => assert_eq!(restored, txid),
        other => panic!("expected a restore from LTX files, got {other:?}"),
    }
    assert_eq!(integrity_check(&output), "ok");
    assert!(
        dump(&output) == dump(source),
        "restored rows differ from the source"
    );
}

/// This process's resident set size in bytes.
fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status");
    kib * 1024
}

/// How often the writer commits, but in the latency and outage tests.
const WRITE_EVERY: Duration = Duration::from_millis(50);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_slows_replication_but_loses_nothing() {
    let every = Duration::from_millis(200);
    let Some(run) = Run::start(Backend::S3, "latency", every, 5, 500).await else {
        return;
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    // Each chunk, each way: a request and its answer cost at least 100 ms.
    run.proxy.set_latency(Duration::from_millis(50));
    let mut max_lag = 0;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let status = run.handle.status();
        max_lag = max_lag.max(status.txid.saturating_sub(status.replicas[0].txid));
    }
    let slow = run.commit_to_replica().await;
    run.proxy.set_latency(Duration::ZERO);
    let fast = run.commit_to_replica().await;
    eprintln!(
        "latency: lag up to {max_lag} TXIDs; a commit reached the replica in {slow:?} slowed, \
         {fast:?} after"
    );
    assert!(slow >= Duration::from_millis(100), "{slow:?}");
    run.finish(Duration::from_secs(10)).await;
}

/// Resets open connections every 100 ms, and for half of the time every
/// new one as well, for 4 s.
async fn resets(backend: Backend) {
    let Some(run) = Run::start(backend, "resets", WRITE_EVERY, 5, 500).await else {
        return;
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    for tick in 0..40 {
        run.proxy.set_reset_new(tick % 2 == 0);
        run.proxy.reset_existing();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    run.proxy.set_reset_new(false);
    let stats = run.proxy.stats();
    assert!(stats.resets >= 5, "{stats:?}");
    run.finish(Duration::from_secs(45)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_connection_resets() {
    resets(Backend::S3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_connection_resets() {
    resets(Backend::Azure).await;
}

/// Cuts every connection after 3000 bytes upstream (mid-body for the L0
/// uploads, whose requests are larger) for 3 s.
async fn cuts(backend: Backend) {
    let Some(run) = Run::start(backend, "cuts", WRITE_EVERY, 5, 1000).await else {
        return;
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    run.proxy.set_cut_after(Some(3000));
    tokio::time::sleep(Duration::from_secs(3)).await;
    run.proxy.set_cut_after(None);
    let stats = run.proxy.stats();
    assert!(stats.cuts >= 1, "{stats:?}");
    run.finish(Duration::from_secs(45)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_connections_cut_mid_request() {
    cuts(Backend::S3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_connections_cut_mid_request() {
    cuts(Backend::Azure).await;
}

/// Connections that carry bytes during a 2 s window become black holes;
/// the client's 60 s read timeout has to notice and retry elsewhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_stalled_connections_time_out_and_are_retried() {
    let Some(run) = Run::start(Backend::S3, "stall", WRITE_EVERY, 5, 500).await else {
        return;
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    run.proxy.set_stall(true);
    tokio::time::sleep(Duration::from_secs(2)).await;
    run.proxy.set_stall(false);
    let stats = run.proxy.stats();
    assert!(stats.stalled >= 1, "{stats:?}");
    // The read timeout (60 s) from the start of the stalled request, then
    // a retry at once and the backlog.
    run.finish(Duration::from_secs(90)).await;
}

/// The service is unreachable for 60 s while the application commits
/// every 100 ms; replication holds still, memory stays flat, and once the
/// service is back the backlog is uploaded in order and the lag is gone.
async fn outage(backend: Backend) {
    let Some(run) = Run::start(backend, "outage", Duration::from_millis(100), 5, 1000).await else {
        return;
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    run.catch_up(Duration::from_secs(10)).await;
    let rss_before = rss_bytes();
    let attempts_before = run.proxy.stats().connections;
    run.proxy.set_outage(true);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let held = run.handle.status().replicas[0].txid;
    let mut rss_max = rss_before;
    let outage_end = Instant::now() + Duration::from_secs(59);
    while Instant::now() < outage_end {
        tokio::time::sleep(Duration::from_millis(500)).await;
        rss_max = rss_max.max(rss_bytes());
    }
    let status = run.handle.status();
    assert_eq!(status.replicas[0].txid, held, "{status:?}");
    let behind = status.txid - held;
    assert!(behind >= 300, "commits during the outage: {status:?}");
    let attempts = run.proxy.stats().connections - attempts_before;
    run.proxy.set_outage(false);
    let back = Instant::now();

    // Recovery: the object store client's backoff (at most 15 s) or the
    // replica task's (at most 30 s), then the backlog of L0 uploads.
    let (_, recovered) = run.catch_up(Duration::from_secs(60)).await;
    // Lag back to normal under the same load: a commit reaches the replica
    // within a second again. Compacting and deleting the backlog runs in
    // the same task as the uploads, so that takes a little longer.
    let normal = loop {
        let lag = run.commit_to_replica().await;
        if lag < Duration::from_secs(1) {
            break back.elapsed();
        }
        let since = back.elapsed();
        assert!(
            since < Duration::from_secs(60),
            "lag {lag:?} {since:?} later"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let growth = rss_max.saturating_sub(rss_before);
    eprintln!(
        "outage {backend:?}: {behind} TXIDs behind after 60 s, {attempts} connections tried \
         meanwhile, caught up {recovered:?} after the service came back, lag normal after \
         {normal:?}; RSS {} MiB before, growth {} KiB; last error {:?}",
        rss_before >> 20,
        growth >> 10,
        status.replicas[0].last_error,
    );
    assert!(growth < 64 << 20, "RSS grew by {growth} bytes");
    run.finish(Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_outage_of_a_minute() {
    outage(Backend::S3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_outage_of_a_minute() {
    outage(Backend::Azure).await;
}

/// A lease renewal that reaches the service but whose answer is lost (the
/// connection stalls on the way back, then is reset) must not count as the
/// lease being taken over: the replica's lease still names this process.
async fn lost_renewal_answer(backend: Backend) {
    let mut options = options();
    options.lease.renew_every = Duration::from_millis(500);
    let Some(run) = Run::start_with(backend, "lease", options, WRITE_EVERY, 5, 500).await else {
        return;
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    run.proxy.set_stall_responses(true);
    tokio::time::sleep(Duration::from_secs(1)).await;
    run.proxy.reset_existing();
    run.proxy.set_stall_responses(false);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let status = run.handle.status();
    assert_eq!(status.last_error, None, "{status:?}");
    run.finish(Duration::from_secs(30)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_lost_lease_renewal_answer() {
    lost_renewal_answer(Backend::S3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_lost_lease_renewal_answer() {
    lost_renewal_answer(Backend::Azure).await;
}
