//! Benchmark for the database layer, run by `bench/db.sh`:
//! - cold `stn agent list --json` with 42 agents, local file and remote sqld
//!   on loopback, against `sqlite3 -json` running the same query (the peer);
//! - `stn db migrate` from scratch on sqld: HTTP requests and wall time,
//!   against the naive client pattern of one request per statement.
//!
//! usage: bench_db PATH_TO_STN [RUNS]

use std::process::Command;
use std::time::{Duration, Instant};

use stn_testkit::{CountingProxy, Sqld, SqldOptions};

fn main() {
    let mut args = std::env::args().skip(1);
    let stn = args.next().expect("usage: bench_db PATH_TO_STN [RUNS]");
    let runs: usize = args
        .next()
        .map_or(20, |r| r.parse().expect("RUNS is a number"));
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");

    println!("| measurement | stn | peer | stn/peer |");
    println!("|---|---|---|---|");

    // Local file.
    let local = tempfile::tempdir().expect("temp dir");
    let run_local = |args: &[&str]| stn_cmd(&stn, local.path(), None, args);
    run_local(&["init"]);
    create_agents(&run_local);
    let ours = median(runs, || run_local(&["agent", "list", "--json"]));
    let db = local.path().join("station.db");
    let peer = median(runs, || {
        let out = Command::new("sqlite3")
            .args(["-json", db.to_str().unwrap_or_default(), LIST_SQL])
            .output()
            .expect("run sqlite3");
        assert!(out.status.success(), "sqlite3 failed");
    });
    row(
        "cold `agent list --json`, 42 agents, local file (median ms; peer: sqlite3 -json, same query)",
        ours,
        peer,
    );

    // Remote sqld on loopback.
    let Some(server) = Sqld::start(SqldOptions::default()) else {
        eprintln!("sqld not available: remote rows skipped");
        return;
    };
    let proxy = CountingProxy::start(server.port());
    let url = format!("http://127.0.0.1:{}", proxy.port());
    let remote = tempfile::tempdir().expect("temp dir");
    let run_remote = |args: &[&str]| stn_cmd(&stn, remote.path(), Some(&url), args);
    let before = proxy.requests();
    let started = Instant::now();
    run_remote(&["db", "migrate"]);
    let migrate_ms = started.elapsed().as_secs_f64() * 1000.0;
    let migrate_requests = proxy.requests() - before;
    run_remote(&["init"]);
    create_agents(&run_remote);
    let before = proxy.requests();
    let ours = median(runs, || run_remote(&["agent", "list", "--json"]));
    // `median` makes one warm-up call before the measured ones.
    let list_requests = (proxy.requests() - before) as f64 / (runs + 1) as f64;
    row(
        "cold `agent list --json`, 42 agents, sqld on loopback (median ms; peer: sqlite3 -json on the local file)",
        ours,
        peer,
    );
    println!(
        "| HTTP requests per remote `agent list` (schema check + query) | {list_requests:.1} | | |"
    );

    // Migration from scratch: ours vs one request per statement, fresh sqld each.
    let naive = Sqld::start(SqldOptions::default()).expect("second sqld");
    let naive_proxy = CountingProxy::start(naive.port());
    let (naive_ms, naive_requests) = runtime.block_on(async {
        let url = stn_db::DatabaseUrl::parse(&format!("http://127.0.0.1:{}", naive_proxy.port()))
            .expect("url");
        let db = stn_db::Database::open(&url).await.expect("open");
        let started = Instant::now();
        for migration in stn_core::migrations::MIGRATIONS {
            for sql in stn_db::split_statements(migration.sql) {
                db.execute(&sql, vec![]).await.expect("statement");
            }
        }
        (
            started.elapsed().as_secs_f64() * 1000.0,
            naive_proxy.requests(),
        )
    });
    println!(
        "| `stn db migrate` from scratch on sqld: HTTP requests | {migrate_requests} | {naive_requests} | {:.3} |",
        migrate_requests as f64 / naive_requests as f64
    );
    println!(
        "| `stn db migrate` from scratch on sqld: wall ms (stn: whole process; peer: statements only) | {migrate_ms:.1} | {naive_ms:.1} | {:.2} |",
        migrate_ms / naive_ms
    );
}

const LIST_SQL: &str = "SELECT a.*, e.name AS environment FROM agents a JOIN environments e ON e.id = a.environment_id ORDER BY e.name, a.name";

fn stn_cmd(stn: &str, dir: &std::path::Path, url: Option<&str>, args: &[&str]) {
    let mut cmd = Command::new(stn);
    cmd.args(args)
        .env("STATION_CONFIG_DIR", dir)
        .env_remove("DATABASE_URL")
        .env_remove("DATABASE_AUTH_TOKEN");
    if let Some(url) = url {
        cmd.env("DATABASE_URL", url);
    }
    let out = cmd.output().expect("run stn");
    assert!(
        out.status.success(),
        "stn {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn create_agents(run: &dyn Fn(&[&str])) {
    run(&["env", "create", "prod"]);
    for i in 0..42 {
        let name = format!("agent-{i:02}");
        let env = if i % 2 == 0 { "default" } else { "prod" };
        run(&[
            "agent",
            "create",
            &name,
            "-p",
            "You help.",
            "-d",
            "bench",
            "-e",
            env,
            "--tools",
            "__a,__b",
        ]);
    }
}

/// Median wall time of `runs` calls, in milliseconds, after one warm-up call.
fn median(runs: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let started = Instant::now();
            f();
            started.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2].as_secs_f64() * 1000.0
}

fn row(what: &str, ours: f64, peer: f64) {
    println!("| {what} | {ours:.1} | {peer:.1} | {:.2} |", ours / peer);
}
