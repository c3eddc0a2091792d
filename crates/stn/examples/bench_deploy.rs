//! Deploy benchmark, run by `bench/deploy.sh`:
//! - redeploy downtime of `stn deploy --target local`: a poller asks
//!   `/health` every 5 ms while the deployment is replaced; the downtime is
//!   the longest stretch without a 200;
//! - restore on start: `stn serve --replica URL` on a missing 100 MB
//!   database, from a file replica and from an S3 replica (moto), timed from
//!   spawn to the first 200 from `/health`.
//!
//! usage: bench_deploy PATH_TO_STN S3_ENDPOINT BUCKET

mod support;

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rand::RngCore as _;
use support::percentile;

const REDEPLOYS: usize = 5;
const POLL: Duration = Duration::from_millis(5);
const DB_BYTES: usize = 100 * 1024 * 1024;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, stn, endpoint, bucket] = args.as_slice() else {
        eprintln!("usage: bench_deploy PATH_TO_STN S3_ENDPOINT BUCKET");
        std::process::exit(2);
    };
    let stn = PathBuf::from(stn);
    let dir = tempfile::tempdir().unwrap();
    redeploy_downtime(&stn, dir.path());
    restore_on_start(&stn, dir.path(), endpoint, bucket);
}

fn stn_cmd(stn: &Path, config: &Path) -> Command {
    let mut cmd = Command::new(stn);
    cmd.env("STATION_CONFIG_DIR", config)
        .env_remove("DATABASE_URL")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env_remove("AWS_CA_BUNDLE");
    cmd
}

fn ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn health(port: u16) -> bool {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut s) = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(50)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    let mut head = [0u8; 12];
    // Without a Host header serve's Host check answers 400, never 200.
    s.write_all(b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_ok()
        && s.read_exact(&mut head).is_ok()
        && head.ends_with(b" 200")
}

fn redeploy_downtime(stn: &Path, root: &Path) {
    let config = root.join("config");
    ok(stn_cmd(stn, &config).arg("init"));
    for i in 0..20 {
        ok(stn_cmd(stn, &config).args([
            "agent",
            "create",
            &format!("a{i}"),
            "-p",
            "Help.",
            "-d",
            "bench",
        ]));
    }
    let replica = format!("file://{}", root.join("replica").display());
    let deploy = [
        "deploy",
        "default",
        "--target",
        "local",
        "--name",
        "bench",
        "--replica",
        &replica,
    ];
    ok(stn_cmd(stn, &config).args(deploy));
    let status: serde_json::Value = serde_json::from_str(&ok(
        stn_cmd(stn, &config).args(["deploy", "status", "--json"])
    ))
    .unwrap();
    let url = status[0]["url"].as_str().unwrap().to_owned();
    let port: u16 = url.rsplit(':').next().unwrap().parse().unwrap();

    let mut downtimes = Vec::new();
    let mut reported = Vec::new();
    for _ in 0..REDEPLOYS {
        let stop = Arc::new(AtomicBool::new(false));
        let poller = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                // Longest stretch from the last 200 before a failure to the next 200.
                let mut last_ok = Instant::now();
                let mut longest = Duration::ZERO;
                let mut failing = false;
                while !stop.load(Ordering::Relaxed) {
                    if health(port) {
                        if failing {
                            longest = longest.max(last_ok.elapsed());
                            failing = false;
                        }
                        last_ok = Instant::now();
                    } else {
                        failing = true;
                    }
                    std::thread::sleep(POLL);
                }
                longest
            })
        };
        std::thread::sleep(Duration::from_millis(100));
        let out = ok(stn_cmd(stn, &config).args(deploy));
        std::thread::sleep(Duration::from_millis(100));
        stop.store(true, Ordering::Relaxed);
        downtimes.push(poller.join().unwrap().as_secs_f64() * 1000.0);
        if let Some(ms) = out.lines().find_map(|l| {
            l.strip_prefix("no server for ")?
                .split(' ')
                .next()?
                .parse::<f64>()
                .ok()
        }) {
            reported.push(ms);
        }
    }
    ok(stn_cmd(stn, &config).args(["deploy", "destroy", "bench"]));
    println!(
        "## Redeploy of the local target ({REDEPLOYS} redeploys, /health polled every {} ms)",
        POLL.as_millis()
    );
    println!("| measure | median ms | max ms |");
    println!("|---|---|---|");
    println!(
        "| no answer from /health | {:.0} | {:.0} |",
        percentile(&downtimes, 0.5),
        percentile(&downtimes, 1.0)
    );
    println!(
        "| no server running (as `stn deploy` reports) | {:.0} | {:.0} |",
        percentile(&reported, 0.5),
        percentile(&reported, 1.0)
    );
}

/// A migrated Station database plus 100 MB of incompressible rows.
fn big_database(stn: &Path, root: &Path) -> PathBuf {
    let config = root.join("big");
    let db = config.join("station.db");
    ok(stn_cmd(stn, &config).arg("init"));
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch("CREATE TABLE filler (id INTEGER PRIMARY KEY, data BLOB)")
        .unwrap();
    let mut rng = rand::rng();
    let mut row = vec![0u8; 64 * 1024];
    let tx = conn.unchecked_transaction().unwrap();
    for _ in 0..DB_BYTES / row.len() {
        rng.fill_bytes(&mut row);
        tx.execute("INSERT INTO filler (data) VALUES (?1)", [&row])
            .unwrap();
    }
    tx.commit().unwrap();
    drop(conn);
    db
}

fn restore_on_start(stn: &Path, root: &Path, endpoint: &str, bucket: &str) {
    let db = big_database(stn, root);
    let size = std::fs::metadata(&db).unwrap().len();
    let prefix = format!("bench-deploy-{}", std::process::id());
    let replicas = [
        (
            "file",
            format!("file://{}", root.join("big-replica").display()),
        ),
        (
            "S3 (moto)",
            format!(
                "s3://{bucket}/{prefix}?endpoint={endpoint}&region=us-east-1&force-path-style=true"
            ),
        ),
    ];
    println!();
    println!(
        "## Restore on start: `stn serve --replica URL` on a missing {} MB database",
        size / (1024 * 1024)
    );
    println!("| replica | spawn to first /health 200, s |");
    println!("|---|---|");
    for (name, url) in replicas {
        ok(stn_cmd(stn, &root.join("big")).args([
            "replicate",
            &db.to_string_lossy(),
            &url,
            "--once",
        ]));
        let target = root.join(format!("restored-{}", name.replace(' ', "-")));
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let started = Instant::now();
        let mut child = stn_cmd(stn, &target)
            .env("DATABASE_URL", target.join("station.db"))
            .args([
                "serve",
                "--addr",
                &format!("127.0.0.1:{port}"),
                "--replica",
                &url,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        while !health(port) {
            assert!(
                started.elapsed() < Duration::from_secs(300),
                "no answer after 300 s"
            );
            assert!(child.try_wait().unwrap().is_none(), "serve exited");
            std::thread::sleep(POLL);
        }
        let took = started.elapsed();
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let _ = child.wait();
        println!("| {name} | {:.2} |", took.as_secs_f64());
    }
}
