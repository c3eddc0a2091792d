//! Replication benchmark, run by `bench/replication.sh`: `stn replicate`
//! against Litestream 0.5.17 (the peer) on the same workloads, with file
//! replicas and a 1 s sync interval, the two tools taking turns on identical
//! data. Prints a Markdown table (stn, litestream, ratio) and the methods.
//! - A: 100 tx/s of small rows for 20 s, then 30 s idle;
//! - B: as many tx/s as one writer manages for 10 s;
//! - C: a 256 MB database (half random bytes): 100 tx/s while the first
//!   image is made, then 10 tx/s for 10 s, restores (from the file replicas,
//!   and from S3 on moto when it runs).
//!
//! usage: bench_replication PATH_TO_STN PATH_TO_LITESTREAM
//! `STN_BENCH_SCALE` (default 1) scales every duration and the size of C;
//! `STN_BENCH_WORKLOADS` (default `ABC`) picks the workloads to run.

mod s3;
#[path = "../support/mod.rs"]
mod support;
mod tools;
mod watch;
mod writer;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use support::percentile;
use tools::{Replicator, clock_ticks, restore, restore_url};
use watch::{Watcher, commit_lag, dir_ltx_bytes};
use writer::{count, create_db, preload, write_load, write_while};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Tool {
    Stn,
    Litestream,
}

impl Tool {
    fn name(self) -> &'static str {
        match self {
            Tool::Stn => "stn",
            Tool::Litestream => "litestream",
        }
    }
}

struct Bench {
    stn: PathBuf,
    litestream: PathBuf,
    /// Clock ticks per second of /proc/<pid>/stat.
    ticks: f64,
    root: tempfile::TempDir,
}

fn main() {
    let mut args = std::env::args().skip(1);
    let usage = "usage: bench_replication PATH_TO_STN PATH_TO_LITESTREAM";
    let stn = PathBuf::from(args.next().expect(usage));
    let litestream = PathBuf::from(args.next().expect(usage));
    let scale: f64 = std::env::var("STN_BENCH_SCALE")
        .ok()
        .map_or(1.0, |s| s.parse().expect("STN_BENCH_SCALE is a number"));
    let bench = Bench {
        stn: std::path::absolute(stn).expect("stn path"),
        litestream: std::path::absolute(litestream).expect("litestream path"),
        ticks: clock_ticks(),
        root: tempfile::tempdir().expect("temp dir"),
    };
    let secs = |s: f64| Duration::from_secs_f64(s * scale);

    println!("| measurement | stn | litestream | stn/litestream |");
    println!("|---|---|---|---|");
    let workloads = std::env::var("STN_BENCH_WORKLOADS").unwrap_or_else(|_| "ABC".to_owned());
    if workloads.contains('A') {
        workload_a(&bench, secs(20.0), secs(30.0));
    }
    if workloads.contains('B') {
        workload_b(&bench, secs(10.0));
    }
    if workloads.contains('C') {
        workload_c(&bench, secs(10.0), (256.0 * scale).max(16.0) as u64);
    }
    println!();
    println!("{METHODS}");
}

const METHODS: &str = "\
Methods (same machine, tools run one after the other on identical fresh databases; \
writer: one rusqlite connection, WAL, synchronous=NORMAL, busy_timeout 5000, one \
`BEGIN IMMEDIATE; INSERT ~100 B row; COMMIT` per transaction; both tools with file replicas, \
sync-interval 1 s, monitor-interval 1 s, everything else default):
- CPU: utime+stime of the replicator from /proc/<pid>/stat, read at the window's start and end \
(\"whole life\": read from the zombie after SIGTERM, so start-up snapshot and final sync count).
- Peak RSS: max VmHWM of /proc/<pid>/status of the replicator process itself (each tool is \
started directly, no shell), sampled every 100 ms and before SIGTERM; not `ru_maxrss` of a \
parent, which Linux carries over from the parent into the child.
- Objects / bytes written: every distinct `*.ltx` file (path, size, mtime) seen under the replica \
directory (polled every 100 ms), including files later removed by retention; a file replica's \
files stand in for object-store PUTs (and copies); bytes exclude a new name hard-linked to a file \
already there, which is how a server-side copy (S3 CopyObject: no upload) looks on a file replica.
- Commit -> replica lag: the replica's ltx/0 is listed every 5 ms and each new L0 file gets the time \
it first appeared; each L0 file is then restored at its max TXID (each tool restoring its own \
replica) to read the highest row sequence it contains; a commit's lag is the appearance time of \
the first L0 file containing its row minus the time its COMMIT returned (all commits, not a sample).
- Idle: after the last commit and a 3 s settle, files created / changed / removed under the \
replica during the idle window (file-system changes approximate object-store write requests; \
LIST/GET requests are not visible on a file replica).
- C: app commit latency during the first image: the writer starts 200 ms before the replicator \
(its first commit creates the WAL) and runs at 100 tx/s until the first L0 file appears in the \
replica (image made and uploaded); the commits begun after the replicator's start are counted.
- Restore: wall time of `restore -o OUT --integrity-check none file://REPLICA` (Litestream: \
`-integrity-check none`), MB/s = restored file size / wall time; row counts checked after. \
From S3: each tool's file replica of C uploaded unchanged to moto (127.0.0.1, S3 key layout \
`<prefix>/<level %04x>/<min>-<max>.ltx`), then restored from its s3:// URL the same way. \
Copy+fsync: the preloaded database copied with `std::fs::copy` into a new file on the same \
disk, then `fsync` of the file and its directory, timed together, just before the restores: the \
rate a restore that writes the same bytes could reach at best.";

// ---------------------------------------------------------------- workloads

fn workload_a(bench: &Bench, duration: Duration, idle: Duration) {
    let rate = 100.0;
    let base = bench.fresh_dir("a-none");
    let db = base.join("db.sqlite");
    create_db(&db);
    let baseline = write_load(&db, Some(rate), duration);

    let mut results = Vec::new();
    for tool in [Tool::Stn, Tool::Litestream] {
        let dir = bench.fresh_dir(&format!("a-{}", tool.name()));
        let db = dir.join("db.sqlite");
        let replica = dir.join("replica");
        create_db(&db);
        let proc = Replicator::start(bench, tool, &db, &replica);
        let watch = Watcher::start(&replica, proc.pid);
        watch.wait_first_l0(&proc, Duration::from_secs(60));
        let cpu0 = proc.cpu_seconds(bench.ticks);
        let load = write_load(&db, Some(rate), duration);
        let cpu_load = proc.cpu_seconds(bench.ticks) - cpu0;
        thread::sleep(Duration::from_secs(3));
        let idle_start = Instant::now();
        let cpu1 = proc.cpu_seconds(bench.ticks);
        thread::sleep(idle);
        let idle_end = Instant::now();
        let cpu_idle = proc.cpu_seconds(bench.ticks) - cpu1;
        watch.sample_rss();
        proc.stop(bench.ticks);
        let seen = watch.stop();
        let lag = commit_lag(bench, tool, &replica, &seen.l0, &load.commits);
        let idle_changes = seen
            .events
            .iter()
            .filter(|(at, _)| *at >= idle_start && *at <= idle_end)
            .count();
        results.push((load, cpu_load, cpu_idle, seen, lag, idle_changes));
    }
    let [s, l] = [&results[0], &results[1]];
    let d = duration.as_secs_f64();
    row(
        &format!("A ({rate} tx/s, {d:.0} s): replicator CPU s during the workload"),
        s.1,
        l.1,
        2,
    );
    row(
        "A: replicator peak RSS, MB",
        s.3.peak_rss_mb(),
        l.3.peak_rss_mb(),
        1,
    );
    row(
        "A: objects written to the replica (incl. start-up snapshot)",
        s.3.objects() as f64,
        l.3.objects() as f64,
        0,
    );
    row(
        "A: bytes written to the replica, KB",
        s.3.bytes_kb(),
        l.3.bytes_kb(),
        1,
    );
    for (what, at) in [("p50", 0.5), ("p99", 0.99)] {
        match (&s.4, &l.4) {
            (Ok(sl), Ok(ll)) => row(
                &format!("A: commit -> replica lag {what}, ms"),
                percentile(sl, at),
                percentile(ll, at),
                0,
            ),
            (sl, ll) => println!(
                "| A: commit -> replica lag {what}, ms | {} | {} | |",
                sl.as_ref()
                    .map_or_else(Clone::clone, |v| format!("{:.0}", percentile(v, at))),
                ll.as_ref()
                    .map_or_else(Clone::clone, |v| format!("{:.0}", percentile(v, at))),
            ),
        }
    }
    for (what, at) in [("p50", 0.5), ("p99", 0.99)] {
        let none = percentile(&baseline.latencies_ms(), at);
        row(
            &format!("A: app commit latency {what}, ms (no replicator: {none:.3})"),
            percentile(&s.0.latencies_ms(), at),
            percentile(&l.0.latencies_ms(), at),
            3,
        );
    }
    let errors = [baseline.errors, s.0.errors, l.0.errors];
    if errors.iter().any(|e| *e > 0) {
        println!(
            "| A: writer errors (none / stn / litestream: {errors:?}) | {} | {} | |",
            s.0.errors, l.0.errors
        );
    }
    let i = idle.as_secs_f64();
    row(
        &format!("A: idle {i:.0} s after A: replica files created/changed/removed"),
        s.5 as f64,
        l.5 as f64,
        0,
    );
    row(
        "A: idle: file-system changes per minute (~ object writes/min)",
        s.5 as f64 * 60.0 / i,
        l.5 as f64 * 60.0 / i,
        1,
    );
    row(&format!("A: idle {i:.0} s: replicator CPU s"), s.2, l.2, 3);
}

fn workload_b(bench: &Bench, duration: Duration) {
    let base = bench.fresh_dir("b-none");
    let db = base.join("db.sqlite");
    create_db(&db);
    let baseline = write_load(&db, None, duration);
    let mut results = HashMap::new();
    // Litestream first this time, so neither tool always runs on a warmer machine.
    for tool in [Tool::Litestream, Tool::Stn] {
        let dir = bench.fresh_dir(&format!("b-{}", tool.name()));
        let db = dir.join("db.sqlite");
        let replica = dir.join("replica");
        create_db(&db);
        let proc = Replicator::start(bench, tool, &db, &replica);
        let watch = Watcher::start(&replica, proc.pid);
        watch.wait_first_l0(&proc, Duration::from_secs(60));
        let load = write_load(&db, None, duration);
        watch.sample_rss();
        let cpu = proc.stop(bench.ticks);
        let seen = watch.stop();
        let rows = count(&db, "SELECT count(*) FROM t");
        let restored = bench
            .root
            .path()
            .join(format!("b-{}.restored", tool.name()));
        let (_, ok) = restore(bench, tool, &replica, &restored, None);
        let complete = ok && count(&restored, "SELECT count(*) FROM t") == rows;
        let _ = std::fs::remove_file(&restored);
        results.insert(tool.name(), (load, cpu, seen, complete));
    }
    let [s, l] = [&results["stn"], &results["litestream"]];
    let d = duration.as_secs_f64();
    row(
        &format!(
            "B (max rate, {d:.0} s): tx/s achieved (no replicator: {:.0})",
            baseline.tx_per_s()
        ),
        s.0.tx_per_s(),
        l.0.tx_per_s(),
        0,
    );
    row(
        "B: replicator CPU s, whole life (start, workload, final sync)",
        s.1,
        l.1,
        2,
    );
    row(
        "B: CPU ms per 1000 tx",
        s.1 * 1e6 / s.0.done as f64,
        l.1 * 1e6 / l.0.done as f64,
        2,
    );
    row(
        "B: replicator peak RSS, MB",
        s.2.peak_rss_mb(),
        l.2.peak_rss_mb(),
        1,
    );
    row(
        "B: objects written to the replica",
        s.2.objects() as f64,
        l.2.objects() as f64,
        0,
    );
    row(
        "B: bytes written to the replica, MB",
        s.2.bytes_kb() / 1024.0,
        l.2.bytes_kb() / 1024.0,
        2,
    );
    println!(
        "| B: own restore after stop has every committed row | {} | {} | |",
        yes(s.3),
        yes(l.3)
    );
}

fn workload_c(bench: &Bench, duration: Duration, megabytes: u64) {
    let source = bench.root.path().join("c-source.sqlite");
    let started = Instant::now();
    preload(&source, megabytes);
    eprintln!(
        "bench: preloaded {megabytes} MB in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let mut results = HashMap::new();
    let mut paths = HashMap::new();
    for tool in [Tool::Stn, Tool::Litestream] {
        let dir = bench.fresh_dir(&format!("c-{}", tool.name()));
        let db = dir.join("db.sqlite");
        let replica = dir.join("replica");
        std::fs::copy(&source, &db).expect("copy the preloaded database");
        // The application keeps committing while the first image is made
        // and uploaded. It is already running when replication starts: its
        // first commit creates the WAL and pays that file's fsync (1-2 ms
        // here), which is no replicator's doing, so only commits begun after
        // the replicator's start are counted.
        let first_image_done = AtomicBool::new(false);
        let (started, proc, watch, during) = thread::scope(|scope| {
            let writer = scope.spawn(|| {
                write_while(&db, Some(100.0), || {
                    !first_image_done.load(Ordering::Relaxed)
                })
            });
            thread::sleep(Duration::from_millis(200));
            let started = Instant::now();
            let proc = Replicator::start(bench, tool, &db, &replica);
            let watch = Watcher::start(&replica, proc.pid);
            watch.wait_first_l0(&proc, Duration::from_secs(600));
            first_image_done.store(true, Ordering::Relaxed);
            let during = writer.join().expect("writer thread");
            (started, proc, watch, during.latencies_ms_since(started))
        });
        let snapshot_s = started.elapsed().as_secs_f64();
        let load = write_load(&db, Some(10.0), duration);
        watch.sample_rss();
        let cpu = proc.stop(bench.ticks);
        let seen = watch.stop();
        let final_bytes = dir_ltx_bytes(&replica);
        results.insert(
            tool.name(),
            (load, cpu, seen, snapshot_s, final_bytes, during),
        );
        paths.insert(tool.name(), (db, replica));
    }
    // The ceiling for a restore from a file replica: this machine copying
    // a file of the same size and making it durable, right before the restores.
    let copy_fsync = copy_fsync_mb_s(&source, &bench.root.path().join("c-copy.sqlite"));
    let _ = std::fs::remove_file(&source);

    // Restores: each tool its own replica, then each the other's.
    let mut restores = HashMap::new();
    for (tool, of) in [
        (Tool::Stn, Tool::Stn),
        (Tool::Litestream, Tool::Litestream),
        (Tool::Stn, Tool::Litestream),
        (Tool::Litestream, Tool::Stn),
    ] {
        let (db, replica) = &paths[of.name()];
        let out = bench
            .root
            .path()
            .join(format!("c-{}-of-{}.restored", tool.name(), of.name()));
        let (secs, ok) = restore(bench, tool, replica, &out, None);
        let size = std::fs::metadata(&out).map_or(0, |m| m.len());
        let matches = ok
            && ["SELECT count(*) FROM t", "SELECT count(*) FROM blobs"]
                .iter()
                .all(|sql| count(&out, sql) == count(db, sql));
        let _ = std::fs::remove_file(&out);
        restores.insert((tool.name(), of.name()), (secs, size, matches));
    }
    // The same replicas again, from S3.
    let mut s3_restores = HashMap::new();
    for tool in [Tool::Stn, Tool::Litestream] {
        let (db, replica) = &paths[tool.name()];
        let prefix = format!(
            "bench-replication/{}-{:016x}",
            tool.name(),
            rand::random::<u64>()
        );
        let Some((url, uploaded)) = s3::upload_replica(replica, &prefix) else {
            break;
        };
        let out = bench
            .root
            .path()
            .join(format!("c-{}-s3.restored", tool.name()));
        let (secs, ok) = restore_url(bench, tool, &url, &out, None);
        let size = std::fs::metadata(&out).map_or(0, |m| m.len());
        let matches = ok
            && count(&out, "SELECT count(*) FROM blobs") == count(db, "SELECT count(*) FROM blobs");
        let _ = std::fs::remove_file(&out);
        s3::delete_replica(&uploaded);
        s3_restores.insert(tool.name(), (secs, size, matches));
    }
    let [s, l] = [&results["stn"], &results["litestream"]];
    let d = duration.as_secs_f64();
    row(
        &format!(
            "C ({megabytes} MB db, 10 tx/s for {d:.0} s): time to first snapshot in the replica, s"
        ),
        s.3,
        l.3,
        2,
    );
    for (what, at) in [("p50", 0.5), ("p99", 0.99), ("max", 1.0)] {
        row(
            &format!("C: app commit latency {what} during the first image (100 tx/s), ms"),
            percentile(&s.5, at),
            percentile(&l.5, at),
            3,
        );
    }
    row(
        "C: replicator CPU s, whole life (snapshot, workload, final sync)",
        s.1,
        l.1,
        2,
    );
    row(
        "C: replicator peak RSS, MB",
        s.2.peak_rss_mb(),
        l.2.peak_rss_mb(),
        1,
    );
    row(
        "C: bytes written to the replica (uploaded), MB",
        s.2.bytes_kb() / 1024.0,
        l.2.bytes_kb() / 1024.0,
        1,
    );
    row(
        "C: replica size at the end, MB",
        s.4 as f64 / 1048576.0,
        l.4 as f64 / 1048576.0,
        1,
    );
    row(
        "C: objects written to the replica",
        s.2.objects() as f64,
        l.2.objects() as f64,
        0,
    );
    let own_s = restores[&("stn", "stn")];
    let own_l = restores[&("litestream", "litestream")];
    row("C: restore of its own replica, wall s", own_s.0, own_l.0, 2);
    row(
        "C: restore of its own replica, MB/s",
        own_s.1 as f64 / 1048576.0 / own_s.0,
        own_l.1 as f64 / 1048576.0 / own_l.0,
        0,
    );
    println!(
        "| C: this machine's copy+fsync of a file of the same size, MB/s (beside the restore MB/s) | {copy_fsync:.0} | {copy_fsync:.0} | |"
    );
    row(
        "C: restore from its own file replica as a share of copy+fsync, %",
        own_s.1 as f64 / 1048576.0 / own_s.0 / copy_fsync * 100.0,
        own_l.1 as f64 / 1048576.0 / own_l.0 / copy_fsync * 100.0,
        0,
    );
    if let (Some(own_s), Some(own_l)) = (s3_restores.get("stn"), s3_restores.get("litestream")) {
        row(
            "C: restore of its own replica from S3 (moto), wall s",
            own_s.0,
            own_l.0,
            2,
        );
        row(
            "C: restore of its own replica from S3 (moto), MB/s",
            own_s.1 as f64 / 1048576.0 / own_s.0,
            own_l.1 as f64 / 1048576.0 / own_l.0,
            0,
        );
        println!(
            "| C: S3 restore row counts match the source | {} | {} | |",
            yes(own_s.2),
            yes(own_l.2)
        );
    }
    let cross_s = restores[&("stn", "litestream")];
    let cross_l = restores[&("litestream", "stn")];
    row(
        "C: restore of the OTHER tool's replica, wall s (stn: Litestream's; litestream: stn's)",
        cross_s.0,
        cross_l.0,
        2,
    );
    println!(
        "| C: restored row counts match the source (own / other's replica) | {} / {} | {} / {} | |",
        yes(own_s.2),
        yes(cross_s.2),
        yes(own_l.2),
        yes(cross_l.2)
    );
}

// ------------------------------------------------------------- helpers

impl Bench {
    fn fresh_dir(&self, name: &str) -> PathBuf {
        let dir = self.root.path().join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create a work dir");
        dir
    }
}

/// Copies `from` to `to`, fsyncs the copy and its directory and removes it:
/// MB/s of the whole, what a restore writing the same bytes could reach at best.
fn copy_fsync_mb_s(from: &std::path::Path, to: &std::path::Path) -> f64 {
    let started = Instant::now();
    let bytes = std::fs::copy(from, to).expect("copy the preloaded database");
    std::fs::File::open(to)
        .and_then(|f| f.sync_all())
        .expect("fsync the copy");
    let dir = to.parent().expect("copy dir");
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .expect("fsync the copy's directory");
    let secs = started.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(to);
    bytes as f64 / 1048576.0 / secs
}

fn row(what: &str, ours: f64, peer: f64, decimals: usize) {
    let ratio = if peer == 0.0 {
        "–".to_owned()
    } else {
        format!("{:.2}", ours / peer)
    };
    println!("| {what} | {ours:.decimals$} | {peer:.decimals$} | {ratio} |");
}

fn yes(ok: bool) -> &'static str {
    if ok { "yes" } else { "NO" }
}
