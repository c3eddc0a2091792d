//! The `local` target: a supervised background `stn serve` with its own
//! directory. A redeploy stops the old server (SIGTERM: it finishes requests
//! and makes its final replica sync), restores and migrates the database,
//! then starts the new one on the same port; the new server installs the
//! environment's bundle when it differs from the one installed before.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use stn_core::config::{AUTH_TOKEN_VARS, DATABASE_URL_VARS};

use super::process;
use super::state::{Deployment, LocalRun, Persistence, State};

/// How long a server gets for its final sync before it is killed.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(60);
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Variables of the deploying shell that would change what the instance
/// serves; the instance gets its own values (or none) instead.
const INHERITED_VARS_REMOVED: &[&str] = &[
    "STATION_CONFIG_DIR",
    "STN_ADDR",
    "STN_REPLICA_URL",
    "STN_DURABILITY",
    "LITESTREAM_S3_BUCKET",
    "LITESTREAM_CONFIG",
    "STN_BUNDLE",
    "STN_BUNDLE_ENV",
    "STN_BUNDLE_REPLACE",
    "STN_BOOTSTRAP_API_KEY",
];

/// Port for the deployment: `--port`, else the previous one, else a free one.
pub fn choose_port(flag: Option<u16>, previous: Option<&LocalRun>) -> Result<u16> {
    if let Some(port) = flag.or(previous.map(|p| p.port)) {
        return Ok(port);
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("cannot find a free port")?;
    Ok(listener.local_addr()?.port())
}

/// The `stn` to run: `--stn-binary`, else this executable.
pub fn choose_binary(flag: Option<PathBuf>) -> Result<PathBuf> {
    let path = match flag {
        Some(path) => path,
        None => std::env::current_exe().context("cannot find this executable")?,
    };
    let path = std::path::absolute(&path)?;
    if !path.is_file() {
        bail!("--stn-binary {} is not a file", path.display());
    }
    Ok(path)
}

/// A command for the instance's `stn`: its config dir, database and secrets,
/// nothing from the deploying shell that would point it elsewhere.
pub fn stn_command(
    dep: &Deployment,
    state: &State,
    run: &LocalRun,
) -> Result<std::process::Command> {
    let mut cmd = std::process::Command::new(&run.stn_binary);
    for var in DATABASE_URL_VARS
        .iter()
        .chain(AUTH_TOKEN_VARS)
        .chain(INHERITED_VARS_REMOVED)
    {
        cmd.env_remove(var);
    }
    cmd.env("STATION_CONFIG_DIR", dep.config_dir());
    match &state.persistence {
        Persistence::Database { url } => cmd.env("DATABASE_URL", url),
        Persistence::Replica { .. } | Persistence::Ephemeral => {
            cmd.env("DATABASE_URL", dep.db_path())
        }
    };
    cmd.envs(dep.secrets()?);
    Ok(cmd)
}

/// `stn serve` as the supervisor runs it.
pub fn serve_command(
    dep: &Deployment,
    state: &State,
    run: &LocalRun,
) -> Result<std::process::Command> {
    let mut cmd = stn_command(dep, state, run)?;
    cmd.args(["serve", "--addr", &format!("127.0.0.1:{}", run.port)]);
    cmd.arg("--bundle")
        .arg(dep.dir.join(super::bundle::FILE_NAME))
        .args(["--bundle-env", &state.environment, "--bundle-replace"]);
    if let Persistence::Replica { url } = &state.persistence {
        cmd.args(["--replica", url]);
    }
    Ok(cmd)
}

/// Stops the running instance (if any) and starts the one `state` describes.
/// Returns how long no server was running (`None` when none ran before).
pub fn replace(dep: &Deployment, state: &State) -> Result<Option<Duration>> {
    let run = state
        .local
        .as_ref()
        .context("a local deployment has a port and binary")?;
    let stopped_at = stop(dep)?;
    prepare_database(dep, state, run)?;
    start(dep)?;
    let healthy = wait_healthy(run.port, START_TIMEOUT);
    let down = stopped_at.map(|t| t.elapsed());
    if !healthy {
        // A failed deploy leaves nothing running: the supervisor would
        // restart a broken server forever.
        let log = tail(&dep.serve_log_path(), 20);
        stop(dep)?;
        bail!(
            "the server of deployment {} did not answer on 127.0.0.1:{} within {}s; it was stopped\nhint: its last log lines follow\n{}",
            state.name,
            run.port,
            START_TIMEOUT.as_secs(),
            log
        );
    }
    Ok(down)
}

/// Restores a missing replicated file and migrates the database with the
/// instance's own `stn` (a newer binary migrates its database here, before
/// it serves).
fn prepare_database(dep: &Deployment, state: &State, run: &LocalRun) -> Result<()> {
    if let Persistence::Replica { url } = &state.persistence {
        let db = dep.db_path();
        std::fs::create_dir_all(db.parent().context("data dir")?)?;
        run_step(
            dep,
            state,
            run,
            &[
                "restore",
                url,
                "-o",
                &db.to_string_lossy(),
                "--if-db-not-exists",
                "--if-replica-exists",
            ],
        )?;
    } else if let Persistence::Ephemeral = &state.persistence {
        std::fs::create_dir_all(dep.db_path().parent().context("data dir")?)?;
    }
    run_step(dep, state, run, &["db", "migrate"])?;
    Ok(())
}

fn run_step(dep: &Deployment, state: &State, run: &LocalRun, args: &[&str]) -> Result<()> {
    let output = stn_command(dep, state, run)?
        .args(args)
        .output()
        .with_context(|| format!("cannot run {}", run.stn_binary.display()))?;
    if !output.status.success() {
        bail!(
            "`stn {}` for deployment {} failed: {}",
            args.first().copied().unwrap_or_default(),
            state.name,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

/// Starts the supervisor detached (its own process group, no terminal input).
fn start(dep: &Deployment) -> Result<()> {
    use std::os::unix::process::CommandExt as _;
    let exe = std::env::current_exe().context("cannot find this executable")?;
    let log = append(&dep.supervisor_log_path())?;
    std::process::Command::new(exe)
        .args(["--log-level", "info", "deploy", "supervise"])
        .arg(&dep.dir)
        .process_group(0)
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("cannot start the deployment's supervisor")?;
    Ok(())
}

/// Stops every process of the deployment: its supervisors first (each passes
/// SIGTERM on and waits for its server's final sync), then any server left,
/// all found by the deployment directory in their arguments (see
/// [`process::of_deployment`]), so a supervisor whose pid file was overwritten
/// or removed is stopped too. What does not stop within [`STOP_TIMEOUT`] is
/// killed, a supervisor with its process group. Returns when the last one
/// stopped (`None` when nothing ran), or an error naming each process that
/// still runs.
pub fn stop(dep: &Deployment) -> Result<Option<Instant>> {
    let needle = dep.dir.to_string_lossy().into_owned();
    let mut stopped = None;
    for supervisors in [true, false] {
        let pids: Vec<u32> = process::of_deployment(&dep.dir)
            .into_iter()
            .filter(|p| p.supervisor == supervisors)
            .map(|p| p.pid)
            .collect();
        for pid in &pids {
            process::signal(i64::from(*pid), "TERM");
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        for pid in &pids {
            let left = deadline.saturating_duration_since(Instant::now());
            if !process::wait_gone(*pid, &needle, left) {
                tracing::warn!(pid, "did not stop in time and is killed");
                if supervisors {
                    process::signal(-i64::from(*pid), "KILL");
                }
                process::signal(i64::from(*pid), "KILL");
                process::wait_gone(*pid, &needle, Duration::from_secs(5));
            }
        }
        if !pids.is_empty() {
            stopped = Some(Instant::now());
        }
    }
    let left = process::of_deployment(&dep.dir);
    if !left.is_empty() {
        let list: Vec<String> = left
            .iter()
            .map(|p| format!("PID {} ({})", p.pid, p.cmdline))
            .collect();
        bail!(
            "could not stop {} process(es) of deployment {}: {}\nhint: stop them by PID (`kill -KILL PID`), then run this again",
            left.len(),
            dep.dir.display(),
            list.join(", ")
        );
    }
    let _ = std::fs::remove_file(dep.supervisor_pid_path());
    let _ = std::fs::remove_file(dep.serve_pid_path());
    Ok(stopped)
}

/// Whether `GET /health` on 127.0.0.1:`port` answers 200 within `timeout`.
pub fn wait_healthy(port: u16, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if healthy(port) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One `GET /health` over plain HTTP/1.0.
pub fn healthy(port: u16) -> bool {
    use std::io::{Read as _, Write as _};
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut stream) = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(500))
    else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut head = [0u8; 12];
    stream
        .write_all(b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_ok()
        && stream.read_exact(&mut head).is_ok()
        && head.ends_with(b" 200")
}

pub fn append(path: &Path) -> Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))
}

/// The last `n` lines of a log file.
pub fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
