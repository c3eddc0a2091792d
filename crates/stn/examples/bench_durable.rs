//! Durable-mode benchmark, run by `bench/durable.sh`: 16 HTTP clients
//! create environments through `stn serve` as fast as they can, with an S3
//! replica on moto, in three modes measured in the same run on the same
//! workload: `--durability sync` (a write is acknowledged once the replica
//! holds it), the default asynchronous replication (the peer), and no
//! replication at all. Prints a Markdown table.
//!
//! usage: bench_durable PATH_TO_STN S3_ENDPOINT BUCKET
//! `STN_BENCH_SCALE` (default 1) scales the 10 s load.

mod support;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use support::percentile;

const CLIENTS: usize = 16;

#[derive(Clone, Copy)]
enum Mode {
    Sync,
    Async,
    Off,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Sync => "durability sync",
            Mode::Async => "durability async",
            Mode::Off => "no replication",
        }
    }
}

struct Outcome {
    acked: usize,
    failed: u64,
    seconds: f64,
    latencies_ms: Vec<f64>,
    uploads: f64,
}

fn main() {
    let mut args = std::env::args().skip(1);
    let usage = "usage: bench_durable PATH_TO_STN S3_ENDPOINT BUCKET";
    let stn = PathBuf::from(args.next().expect(usage));
    let endpoint = args.next().expect(usage);
    let bucket = args.next().expect(usage);
    let scale: f64 = std::env::var("STN_BENCH_SCALE")
        .ok()
        .map_or(1.0, |s| s.parse().expect("STN_BENCH_SCALE is a number"));
    let duration = Duration::from_secs_f64(10.0 * scale);
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");

    let mut results = Vec::new();
    for mode in [Mode::Sync, Mode::Async, Mode::Off] {
        let run = format!("bench-durable-{:08x}", rand::random::<u32>());
        let replica = format!(
            "s3://{bucket}/{run}?endpoint={endpoint}&region=us-east-1&force-path-style=true"
        );
        let outcome = runtime.block_on(measure(&stn, mode, &replica, duration));
        results.push((mode, outcome));
    }

    println!();
    println!(
        "| {CLIENTS} clients, {:.0} s each | acknowledged writes/s | p50 ms | p99 ms | failed | replica uploads | writes per upload |",
        duration.as_secs_f64()
    );
    println!("|---|---|---|---|---|---|---|");
    for (mode, outcome) in &results {
        let per_upload = if outcome.uploads > 0.0 {
            format!("{:.1}", outcome.acked as f64 / outcome.uploads)
        } else {
            "-".to_owned()
        };
        println!(
            "| {} | {:.0} | {:.1} | {:.1} | {} | {:.0} | {per_upload} |",
            mode.name(),
            outcome.acked as f64 / outcome.seconds,
            percentile(&outcome.latencies_ms, 0.50),
            percentile(&outcome.latencies_ms, 0.99),
            outcome.failed,
            outcome.uploads,
        );
    }
    let rate = |at: usize| results[at].1.acked as f64 / results[at].1.seconds;
    println!();
    println!(
        "sync/async throughput ratio {:.2}; target >= 200 acknowledged writes/s in sync mode: {}",
        rate(0) / rate(1),
        if rate(0) >= 200.0 { "met" } else { "missed" }
    );
}

async fn measure(stn: &std::path::Path, mode: Mode, replica: &str, duration: Duration) -> Outcome {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let mut cmd = Command::new(stn);
    cmd.args(["serve", "--addr", &format!("127.0.0.1:{port}")])
        .env("STATION_CONFIG_DIR", dir.path())
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env_remove("DATABASE_URL")
        .env_remove("STN_DURABILITY")
        .env_remove("STN_REPLICA_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    match mode {
        Mode::Sync => cmd.args(["--replica", replica, "--durability", "sync"]),
        Mode::Async => cmd.args(["--replica", replica]),
        Mode::Off => &mut cmd,
    };
    let server = Server(cmd.spawn().expect("start stn serve"));
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    wait_healthy(&http, &base).await;

    let next = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let (http, base, next, failed) = (
            http.clone(),
            base.clone(),
            Arc::clone(&next),
            Arc::clone(&failed),
        );
        clients.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let name = format!("env-{}", next.fetch_add(1, Ordering::Relaxed));
                let sent = Instant::now();
                let response = http
                    .post(format!("{base}/api/v1/environments"))
                    .json(&serde_json::json!({ "name": name }))
                    .send()
                    .await;
                match response {
                    Ok(r) if r.status() == 201 => {
                        latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
                    }
                    _ => {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            latencies
        }));
    }
    let mut latencies_ms = Vec::new();
    for client in clients {
        latencies_ms.extend(client.await.expect("client task"));
    }
    let seconds = started.elapsed().as_secs_f64();
    let uploads = match mode {
        Mode::Off => 0.0,
        // Let the last asynchronous sync (1 s interval) reach the replica.
        _ => {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            uploads(&http, &base).await
        }
    };
    drop(server);
    Outcome {
        acked: latencies_ms.len(),
        failed: failed.load(Ordering::Relaxed),
        seconds,
        latencies_ms,
        uploads,
    }
}

/// Kills `stn serve` when the measurement ends, even on a panic.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn wait_healthy(http: &reqwest::Client, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(r) = http.get(format!("{base}/health")).send().await
            && r.status() == 200
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("stn serve did not come up on {base}");
}

/// `stn_replica_uploads_total` from /metrics.
async fn uploads(http: &reqwest::Client, base: &str) -> f64 {
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .expect("GET /metrics");
    let text = text.text().await.expect("metrics body");
    text.lines()
        .find(|l| l.starts_with("stn_replica_uploads_total{"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .expect("stn_replica_uploads_total in /metrics")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind an ephemeral port")
}
