//! The replicators under test (`stn replicate`, `litestream replicate`), their CPU and memory, and restores.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::{Bench, Tool, s3};

/// A running replicator; dropped without `stop` (a panic), it is killed.
pub(crate) struct Replicator {
    pub(crate) child: Option<Child>,
    pub(crate) pid: u32,
    pub(crate) tool: Tool,
    pub(crate) log: PathBuf,
}

impl Replicator {
    pub(crate) fn start(bench: &Bench, tool: Tool, db: &Path, replica: &Path) -> Replicator {
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

    pub(crate) fn cpu_seconds(&self, ticks: f64) -> f64 {
        proc_stat(self.pid).map_or(0.0, |(_, cpu)| cpu as f64 / ticks)
    }

    pub(crate) fn alive(&self) -> bool {
        proc_stat(self.pid).is_some_and(|(state, _)| state != 'Z')
    }

    /// SIGTERM, waits for the exit; returns the CPU seconds of its whole life.
    pub(crate) fn stop(mut self, ticks: f64) -> f64 {
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
pub(crate) fn proc_stat(pid: u32) -> Option<(char, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((state, utime + stime))
}

pub(crate) fn vm_hwm_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

pub(crate) fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// Restores the file replica `replica` with `tool` into `out`: (wall
/// seconds, success).
pub(crate) fn restore(
    bench: &Bench,
    tool: Tool,
    replica: &Path,
    out: &Path,
    txid: Option<u64>,
) -> (f64, bool) {
    let url = format!("file://{}", replica.display());
    restore_url(bench, tool, &url, out, txid)
}

/// Restores the replica at `url` (a file replica, or S3 on moto with its
/// test keys) with `tool` into `out`: (wall seconds, success).
pub(crate) fn restore_url(
    bench: &Bench,
    tool: Tool,
    url: &str,
    out: &Path,
    txid: Option<u64>,
) -> (f64, bool) {
    let _ = std::fs::remove_file(out);
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
        .arg(url)
        .env("AWS_ACCESS_KEY_ID", s3::ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", s3::ACCESS_KEY)
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
