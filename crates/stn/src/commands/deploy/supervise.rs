//! `stn deploy supervise DIR`: keeps a local deployment's `stn serve`
//! running. A server that exits on its own is restarted with backoff
//! (0.5 s doubling to 30 s, reset after a minute up); SIGTERM is passed on and
//! the supervisor exits once the server finished its final sync.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use stn_core::files::write_atomic;

use super::local;
use super::process;
use super::state::Deployment;

const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
const HEALTHY_RUN: Duration = Duration::from_secs(60);

pub async fn run(dir: PathBuf) -> Result<ExitCode> {
    let dep = Deployment { dir };
    write_atomic(
        &dep.supervisor_pid_path(),
        std::process::id().to_string().as_bytes(),
    )?;
    let shutdown = crate::signals::shutdown();
    tokio::pin!(shutdown);
    let mut backoff = FIRST_BACKOFF;
    loop {
        let state = dep.load()?.context("the deployment's state.json is gone")?;
        let run = state.local.clone().context("not a local deployment")?;
        let log = local::append(&dep.serve_log_path())?;
        let mut cmd = tokio::process::Command::from(local::serve_command(&dep, &state, &run)?);
        cmd.stdin(std::process::Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .with_context(|| format!("cannot start {}", run.stn_binary.display()))?;
        let pid = child.id().unwrap_or_default();
        write_atomic(&dep.serve_pid_path(), pid.to_string().as_bytes())?;
        tracing::info!(pid, port = run.port, "server started");
        let started = Instant::now();

        tokio::select! {
            status = child.wait() => {
                let status = status?;
                if started.elapsed() > HEALTHY_RUN {
                    backoff = FIRST_BACKOFF;
                }
                tracing::warn!(%status, restart_in_ms = backoff.as_millis() as u64, "server exited; restarting");
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    () = &mut shutdown => break,
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            () = &mut shutdown => {
                process::signal(i64::from(pid), "TERM");
                match tokio::time::timeout(local::STOP_TIMEOUT, child.wait()).await {
                    Ok(status) => tracing::info!(status = %status?, "server stopped"),
                    Err(_) => {
                        tracing::warn!("server did not stop in time; killing it");
                        child.kill().await?;
                    }
                }
                break;
            }
        }
    }
    let _ = std::fs::remove_file(dep.serve_pid_path());
    let _ = std::fs::remove_file(dep.supervisor_pid_path());
    Ok(ExitCode::SUCCESS)
}
