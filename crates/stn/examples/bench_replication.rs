//! Replication benchmark, run by `bench/replication.sh`: `stn replicate`
//! against Litestream 0.5.17 (the peer) on the same workloads, with file
//! replicas and a 1 s sync interval, the two tools taking turns on identical
//! data. Prints a Markdown table (stn, litestream, ratio) and the methods.
//! - A: 100 tx/s of small rows for 20 s, then 30 s idle;
//! - B: as many tx/s as one writer manages for 10 s;
//! - C: a 256 MB database (half random bytes), 10 tx/s for 10 s, restores.
//!
//! usage: bench_replication PATH_TO_STN PATH_TO_LITESTREAM
//! `STN_BENCH_SCALE` (default 1) scales every duration and the size of C.

mod support;

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime};

use rusqlite::Connection;

use support::percentile;

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
    workload_a(&bench, secs(20.0), secs(30.0));
    workload_b(&bench, secs(10.0));
    workload_c(&bench, secs(10.0), (256.0 * scale).max(16.0) as u64);
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
- Peak RSS: max VmHWM of /proc/<pid>/status, sampled every 100 ms and before SIGTERM.
- Objects / bytes written: every distinct `*.ltx` file (path, size, mtime) seen under the replica \
directory (polled every 100 ms), including files later removed by retention; a file replica's \
files stand in for object-store PUTs.
- Commit -> replica lag: the replica's ltx/0 is listed every 5 ms and each new L0 file gets the time \
it first appeared; each L0 file is then restored at its max TXID (each tool restoring its own \
replica) to read the highest row sequence it contains; a commit's lag is the appearance time of \
the first L0 file containing its row minus the time its COMMIT returned (all commits, not a sample).
- Idle: after the last commit and a 3 s settle, files created / changed / removed under the \
replica during the idle window (file-system changes approximate object-store write requests; \
LIST/GET requests are not visible on a file replica).
- Restore: wall time of `restore -o OUT --integrity-check none file://REPLICA` (Litestream: \
`-integrity-check none`), MB/s = restored file size / wall time; row counts checked after.";

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
        let started = Instant::now();
        let proc = Replicator::start(bench, tool, &db, &replica);
        let watch = Watcher::start(&replica, proc.pid);
        watch.wait_first_l0(&proc, Duration::from_secs(600));
        let snapshot_s = started.elapsed().as_secs_f64();
        let load = write_load(&db, Some(10.0), duration);
        watch.sample_rss();
        let cpu = proc.stop(bench.ticks);
        let seen = watch.stop();
        let final_bytes = dir_ltx_bytes(&replica);
        results.insert(tool.name(), (load, cpu, seen, snapshot_s, final_bytes));
        paths.insert(tool.name(), (db, replica));
    }
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

// ------------------------------------------------------------ the writer

/// What one writer run did.
struct Load {
    /// When each COMMIT returned; the row of commit `i` has `seq = i + 1`.
    commits: Vec<Instant>,
    latencies: Vec<Duration>,
    errors: u64,
    done: u64,
    elapsed: Duration,
}

impl Load {
    fn latencies_ms(&self) -> Vec<f64> {
        self.latencies
            .iter()
            .map(|d| d.as_secs_f64() * 1000.0)
            .collect()
    }

    fn tx_per_s(&self) -> f64 {
        self.done as f64 / self.elapsed.as_secs_f64()
    }
}

fn open(db: &Path) -> Connection {
    let conn = Connection::open(db).expect("open the database");
    conn.busy_timeout(Duration::from_secs(5))
        .expect("busy_timeout");
    conn.pragma_update(None, "journal_mode", "WAL")
        .expect("WAL mode");
    conn.pragma_update(None, "synchronous", "NORMAL")
        .expect("synchronous");
    conn
}

fn create_db(db: &Path) {
    open(db).execute_batch(SCHEMA).expect("create the schema");
}

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, seq INTEGER NOT NULL, body TEXT NOT NULL)";

/// One transaction per row, paced at `rate` per second (or unpaced).
fn write_load(db: &Path, rate: Option<f64>, duration: Duration) -> Load {
    let conn = open(db);
    let body = "x".repeat(100);
    let mut load = Load {
        commits: Vec::new(),
        latencies: Vec::new(),
        errors: 0,
        done: 0,
        elapsed: Duration::ZERO,
    };
    let started = Instant::now();
    let mut seq = 0i64;
    while started.elapsed() < duration {
        if let Some(rate) = rate {
            let at = started + Duration::from_secs_f64(seq as f64 / rate);
            if let Some(wait) = at.checked_duration_since(Instant::now()) {
                thread::sleep(wait);
            }
        }
        let began = Instant::now();
        let result = (|| -> rusqlite::Result<()> {
            conn.execute_batch("BEGIN IMMEDIATE")?;
            conn.prepare_cached("INSERT INTO t (seq, body) VALUES (?1, ?2)")?
                .execute(rusqlite::params![seq + 1, body])?;
            conn.execute_batch("COMMIT")
        })();
        let ended = Instant::now();
        match result {
            Ok(()) => {
                seq += 1;
                load.done += 1;
                load.commits.push(ended);
                load.latencies.push(ended - began);
            }
            Err(e) => {
                if load.errors == 0 {
                    eprintln!("bench: writer error: {e}");
                }
                load.errors += 1;
                let _ = conn.execute_batch("ROLLBACK");
            }
        }
    }
    load.elapsed = started.elapsed();
    load
}

/// A database of about `megabytes` MB: one 4000-byte row per 4 KB page,
/// half random bytes and half zeros.
fn preload(db: &Path, megabytes: u64) {
    let conn = Connection::open(db).expect("open the database");
    conn.execute_batch(
        "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;
         CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB NOT NULL);",
    )
    .expect("create blobs");
    conn.execute_batch(SCHEMA).expect("create t");
    conn.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
         INSERT INTO blobs (data) SELECT randomblob(2000) || zeroblob(2000) FROM n",
        [megabytes as i64 * 256],
    )
    .expect("fill blobs");
    conn.pragma_update(None, "journal_mode", "WAL")
        .expect("WAL mode");
}

fn count(db: &Path, sql: &str) -> i64 {
    let Ok(conn) = Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        return -1;
    };
    conn.query_row(sql, [], |r| r.get(0)).unwrap_or(-1)
}

// ------------------------------------------------------- the replicators

/// A running replicator; dropped without `stop` (a panic), it is killed.
struct Replicator {
    child: Option<Child>,
    pid: u32,
    tool: Tool,
    log: PathBuf,
}

impl Replicator {
    fn start(bench: &Bench, tool: Tool, db: &Path, replica: &Path) -> Replicator {
        let dir = db.parent().expect("db dir");
        let log = dir.join(format!("{}.log", tool.name()));
        let out = File::create(&log).expect("log file");
        let mut cmd = match tool {
            Tool::Stn => {
                let mut cmd = Command::new(&bench.stn);
                cmd.arg("replicate")
                    .arg(db)
                    .arg(format!("file://{}", replica.display()))
                    .env("STATION_CONFIG_DIR", dir.join("stn-config"));
                cmd
            }
            Tool::Litestream => {
                let config = dir.join("litestream.yml");
                std::fs::write(
                    &config,
                    format!(
                        "dbs:\n  - path: {}\n    replica:\n      type: file\n      path: {}\n      sync-interval: 1s\n",
                        db.display(),
                        replica.display()
                    ),
                )
                .expect("write the litestream config");
                let mut cmd = Command::new(&bench.litestream);
                cmd.args(["replicate", "-config"]).arg(config);
                cmd
            }
        };
        let child = cmd
            .env_remove("AWS_CA_BUNDLE")
            .env_remove("LITESTREAM_CONFIG")
            .env_remove("DATABASE_URL")
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log file"))
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", tool.name()));
        Replicator {
            pid: child.id(),
            child: Some(child),
            tool,
            log,
        }
    }

    fn cpu_seconds(&self, ticks: f64) -> f64 {
        proc_stat(self.pid).map_or(0.0, |(_, cpu)| cpu as f64 / ticks)
    }

    fn alive(&self) -> bool {
        proc_stat(self.pid).is_some_and(|(state, _)| state != 'Z')
    }

    /// SIGTERM, waits for the exit; returns the CPU seconds of its whole life.
    fn stop(mut self, ticks: f64) -> f64 {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut cpu = 0.0;
        // Read the times from the zombie, before `wait` reaps it.
        while let Some((state, ticks_used)) = proc_stat(self.pid) {
            cpu = ticks_used as f64 / ticks;
            if state == 'Z' {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not exit within 120 s of SIGTERM",
                self.tool.name()
            );
            thread::sleep(Duration::from_millis(5));
        }
        let mut child = self.child.take().expect("running");
        let status = child.wait().expect("wait for the replicator");
        if !status.success() {
            eprintln!(
                "bench: {} exited with {status}; log: {}",
                self.tool.name(),
                self.log.display()
            );
        }
        cpu
    }
}

impl Drop for Replicator {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            eprintln!(
                "bench: killed {}; its log:\n{}",
                self.tool.name(),
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
        }
    }
}

/// Process state and utime+stime in clock ticks, from /proc/<pid>/stat.
fn proc_stat(pid: u32) -> Option<(char, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((state, utime + stime))
}

fn vm_hwm_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// Restores `replica` with `tool` into `out`: (wall seconds, success).
fn restore(
    bench: &Bench,
    tool: Tool,
    replica: &Path,
    out: &Path,
    txid: Option<u64>,
) -> (f64, bool) {
    let _ = std::fs::remove_file(out);
    let url = format!("file://{}", replica.display());
    let mut cmd = match tool {
        Tool::Stn => {
            let mut cmd = Command::new(&bench.stn);
            cmd.args(["restore", "--integrity-check", "none", "-o"])
                .arg(out)
                .env("STATION_CONFIG_DIR", bench.root.path().join("stn-config"));
            if let Some(txid) = txid {
                cmd.arg("--txid").arg(format!("{txid:016x}"));
            }
            cmd
        }
        Tool::Litestream => {
            let mut cmd = Command::new(&bench.litestream);
            cmd.args(["restore", "-integrity-check", "none", "-o"])
                .arg(out);
            if let Some(txid) = txid {
                cmd.arg("-txid").arg(format!("{txid:016x}"));
            }
            cmd
        }
    };
    let started = Instant::now();
    let output = cmd
        .arg(&url)
        .env_remove("AWS_CA_BUNDLE")
        .env_remove("LITESTREAM_CONFIG")
        .output()
        .expect("run restore");
    let secs = started.elapsed().as_secs_f64();
    if !output.status.success() {
        eprintln!(
            "bench: {} restore of {url} failed: {}",
            tool.name(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    (secs, output.status.success())
}

// ----------------------------------------------------- watching a replica

/// What was seen under a replica directory.
#[derive(Default)]
struct Seen {
    /// Every L0 file: when it first appeared, min and max TXID.
    l0: Vec<(Instant, u64, u64)>,
    /// Current `*.ltx` files: size and mtime.
    files: HashMap<PathBuf, (u64, SystemTime)>,
    /// Created, changed or removed `*.ltx` files, when noticed.
    events: Vec<(Instant, PathBuf)>,
    /// Every distinct file version seen.
    objects_written: u64,
    bytes_written: u64,
    peak_rss_kb: u64,
}

impl Seen {
    fn objects(&self) -> u64 {
        self.objects_written
    }

    fn bytes_kb(&self) -> f64 {
        self.bytes_written as f64 / 1024.0
    }

    fn peak_rss_mb(&self) -> f64 {
        self.peak_rss_kb as f64 / 1024.0
    }

    fn scan(&mut self, replica: &Path) {
        let now = Instant::now();
        let mut current = HashMap::new();
        list_ltx(replica, &mut current);
        for (path, meta) in &current {
            if self.files.get(path) != Some(meta) {
                self.objects_written += 1;
                self.bytes_written += meta.0;
                self.events.push((now, path.clone()));
            }
        }
        for path in self.files.keys() {
            if !current.contains_key(path) {
                self.events.push((now, path.clone()));
            }
        }
        self.files = current;
    }
}

fn list_ltx(dir: &Path, out: &mut HashMap<PathBuf, (u64, SystemTime)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let Ok(meta) = entry.metadata() else { continue };
        let path = entry.path();
        if meta.is_dir() {
            list_ltx(&path, out);
        } else if path.extension().is_some_and(|e| e == "ltx") {
            let mtime = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            out.insert(path, (meta.len(), mtime));
        }
    }
}

/// Polls a replica directory (ltx/0 every 5 ms, everything every 100 ms)
/// and the replicator's VmHWM (every 100 ms) on its own thread.
struct Watcher {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Seen>>,
    pid: u32,
    thread: Option<JoinHandle<()>>,
}

impl Watcher {
    fn start(replica: &Path, pid: u32) -> Watcher {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Seen::default()));
        let (flag, shared, replica) = (stop.clone(), seen.clone(), replica.to_path_buf());
        let thread = thread::spawn(move || {
            let l0_dir = replica.join("ltx").join("0");
            let mut known = std::collections::HashSet::new();
            let mut tick = 0u64;
            while !flag.load(Ordering::Relaxed) {
                let now = Instant::now();
                let mut new = Vec::new();
                if let Ok(entries) = std::fs::read_dir(&l0_dir) {
                    for entry in entries.flatten() {
                        let name = entry.file_name().to_string_lossy().into_owned();
                        if let Some(range) = parse_ltx_name(&name)
                            && known.insert(range)
                        {
                            new.push((now, range.0, range.1));
                        }
                    }
                }
                let mut seen = shared.lock().expect("lock");
                seen.l0.extend(new);
                if tick.is_multiple_of(20) {
                    seen.scan(&replica);
                    let rss = vm_hwm_kb(pid).unwrap_or(0);
                    seen.peak_rss_kb = seen.peak_rss_kb.max(rss);
                }
                drop(seen);
                tick += 1;
                thread::sleep(Duration::from_millis(5));
            }
        });
        Watcher {
            stop,
            seen,
            pid,
            thread: Some(thread),
        }
    }

    fn sample_rss(&self) {
        let rss = vm_hwm_kb(self.pid).unwrap_or(0);
        let mut seen = self.seen.lock().expect("lock");
        seen.peak_rss_kb = seen.peak_rss_kb.max(rss);
    }

    /// Waits for the start-up snapshot to show up in the replica.
    fn wait_first_l0(&self, proc: &Replicator, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.seen.lock().expect("lock").l0.is_empty() {
            assert!(
                proc.alive(),
                "{} exited early; log:\n{}",
                proc.tool.name(),
                std::fs::read_to_string(&proc.log).unwrap_or_default()
            );
            assert!(
                Instant::now() < deadline,
                "{}: no L0 file in the replica after {timeout:?}",
                proc.tool.name()
            );
            thread::sleep(Duration::from_millis(5));
        }
    }

    fn stop(mut self) -> Seen {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.join().expect("watcher thread");
        }
        std::mem::take(&mut *self.seen.lock().expect("lock"))
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// `<min %016x>-<max %016x>.ltx`.
fn parse_ltx_name(name: &str) -> Option<(u64, u64)> {
    let (min, max) = name.strip_suffix(".ltx")?.split_once('-')?;
    Some((
        u64::from_str_radix(min, 16).ok()?,
        u64::from_str_radix(max, 16).ok()?,
    ))
}

fn dir_ltx_bytes(replica: &Path) -> u64 {
    let mut files = HashMap::new();
    list_ltx(replica, &mut files);
    files.values().map(|(len, _)| len).sum()
}

/// Lag of every commit in ms (see METHODS), or why it could not be measured.
fn commit_lag(
    bench: &Bench,
    tool: Tool,
    replica: &Path,
    l0: &[(Instant, u64, u64)],
    commits: &[Instant],
) -> Result<Vec<f64>, String> {
    let mut files = l0.to_vec();
    files.sort_by_key(|f| f.2);
    let out = bench.root.path().join("lag.restored");
    let mut lags = Vec::with_capacity(commits.len());
    for (appeared, _, max_txid) in files {
        if lags.len() == commits.len() {
            break;
        }
        let (_, ok) = restore(bench, tool, replica, &out, Some(max_txid));
        if !ok {
            return Err(format!("restore --txid {max_txid:x} failed"));
        }
        let max_seq = count(&out, "SELECT coalesce(max(seq), 0) FROM t");
        let _ = std::fs::remove_file(&out);
        while lags.len() < commits.len() && (lags.len() as i64) < max_seq {
            let committed = commits[lags.len()];
            lags.push(appeared.saturating_duration_since(committed).as_secs_f64() * 1000.0);
        }
    }
    if lags.len() < commits.len() {
        return Err(format!(
            "{} of {} commits in no L0 file",
            commits.len() - lags.len(),
            commits.len()
        ));
    }
    Ok(lags)
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
