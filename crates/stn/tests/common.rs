//! Runs the real `stn` binary against a temp config dir.

#![allow(dead_code)] // each test binary uses a different part of this module

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A config dir plus the database URL every command gets.
pub struct Stn {
    pub dir: tempfile::TempDir,
    pub database: Option<String>,
}

impl Stn {
    /// Local default database (`<config dir>/station.db`).
    pub fn local() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            database: None,
        }
    }

    /// A remote database given through DATABASE_URL.
    pub fn remote(url: &str) -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            database: Some(url.to_owned()),
        }
    }

    pub fn config_dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_stn"));
        cmd.args(args)
            .env("STATION_CONFIG_DIR", self.dir.path())
            .env_remove("DATABASE_URL")
            .env_remove("STN_DATABASE_URL")
            .env_remove("STATION_DATABASE")
            .env_remove("DATABASE_AUTH_TOKEN")
            .env_remove("TURSO_AUTH_TOKEN")
            .env_remove("STN_LOG");
        if let Some(url) = &self.database {
            cmd.env("DATABASE_URL", url);
        }
        cmd
    }

    /// Runs and returns the output, whatever the exit code.
    pub fn output(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run stn")
    }

    /// Runs, asserts success, returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.output(args);
        assert!(
            out.status.success(),
            "stn {args:?} failed ({:?})\nstdout: {}\nstderr: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs, asserts failure with `code`, returns stderr.
    pub fn fails(&self, args: &[&str], code: i32) -> String {
        let out = self.output(args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "stn {args:?} should exit {code}\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stderr).unwrap()
    }

    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        serde_json::from_str(&self.ok(args)).expect("valid JSON on stdout")
    }

    pub fn agent_file(&self, env: &str, name: &str) -> PathBuf {
        self.dir
            .path()
            .join("environments")
            .join(env)
            .join("agents")
            .join(format!("{name}.prompt"))
    }
}

/// The agents' names in the database file `db`, in the order created.
pub fn agent_names(db: &Path) -> Vec<String> {
    rusqlite::Connection::open(db)
        .unwrap()
        .prepare("SELECT name FROM agents ORDER BY id")
        .unwrap()
        .query_map([], |row| row.get::<_, String>(0))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
}

/// An S3 replica URL on the test S3 service (moto), or `None` (test skipped)
/// when it is not configured outside CI.
pub fn s3_url(prefix: &str) -> Option<String> {
    let endpoint = stn_testkit::service("STN_TEST_S3_ENDPOINT")?;
    let bucket = stn_testkit::service("STN_TEST_BUCKET")?;
    Some(format!(
        "s3://{bucket}/{prefix}?endpoint={endpoint}&region=us-east-1&force-path-style=true"
    ))
}

/// `name` made unique per call, so runs sharing a bucket never collide.
pub fn unique(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{name}-{nanos}")
}

/// Moto accepts any key pair; the AWS variables are how users pass theirs.
pub fn with_s3_keys(cmd: &mut Command) -> &mut Command {
    cmd.env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env_remove("AWS_CA_BUNDLE")
}

/// A running `stn serve --addr 127.0.0.1:<free port> ARGS` with the test S3
/// keys, its output appended to `log`; SIGKILLed when dropped, so a failing
/// test leaves no server behind.
pub struct Server {
    child: Option<std::process::Child>,
    pub port: u16,
    pub log: PathBuf,
}

impl Server {
    /// Starts the server and waits until `/health` answers.
    pub fn start(stn: &Stn, args: &[&str], env: &[(&str, &str)], log: &Path) -> Server {
        Self::start_on(stn_testkit::free_port(), stn, args, env, log)
    }

    /// [`Server::start`] on `port` (to restart a server on its address).
    pub fn start_on(
        port: u16,
        stn: &Stn,
        args: &[&str],
        env: &[(&str, &str)],
        log: &Path,
    ) -> Server {
        let addr = format!("127.0.0.1:{port}");
        let mut all = vec!["serve", "--addr", &addr];
        all.extend(args);
        let mut cmd = stn.command(&all);
        with_s3_keys(&mut cmd).envs(env.iter().copied());
        let child = cmd
            .stdout(log_file(log))
            .stderr(log_file(log))
            .spawn()
            .expect("start stn serve");
        let server = Server {
            child: Some(child),
            port,
            log: log.to_owned(),
        };
        assert!(
            stn_testkit::wait_for_http_ok(port, "/health", std::time::Duration::from_secs(30)),
            "serve did not come up\n{}",
            tail(log)
        );
        server
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// What the server logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("a running server").id()
    }

    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("SIGKILL");
            child.wait().expect("reap the killed server");
        }
    }

    /// SIGTERM: the server makes its final sync and exits.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        self.stop_within(std::time::Duration::from_secs(40))
    }

    /// [`Server::stop`], failing unless it exits within `within`.
    pub fn stop_within(&mut self, within: std::time::Duration) -> std::process::ExitStatus {
        let child = self.child.take().expect("a running server");
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        wait_exit(child, within)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Waits for `child` to exit; SIGKILLs it and panics after `within`.
pub fn wait_exit(
    mut child: std::process::Child,
    within: std::time::Duration,
) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + within;
    while std::time::Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("process did not exit within {within:?}");
}

/// `path` opened for appending, for a child's output.
pub fn log_file(path: &Path) -> std::fs::File {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
}

/// The last lines of a log, for failure messages.
pub fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    format!(
        "{} (last lines):\n{}",
        log.display(),
        lines[lines.len().saturating_sub(30)..].join("\n")
    )
}

/// A tmpfs of `size` mounted for one test, unmounted when dropped.
pub struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// `None` (test skipped) where mounting is not allowed.
    pub fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if !mounted {
            eprintln!("skipped: cannot mount a tmpfs here (needs root)");
            return None;
        }
        Some(Tmpfs { dir })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn replica_url(&self) -> String {
        format!("file://{}", self.path().join("replica").display())
    }

    pub fn remount(&self, options: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,{options}")])
            .arg(self.path())
            .status()
            .unwrap();
        assert!(status.success(), "remount {options}");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.path()).status();
    }
}

/// A small SQLite database `app.db` in `dir`, in WAL mode with one committed
/// row: something to replicate.
pub fn wal_database(dir: &Path) -> PathBuf {
    let path = dir.join("app.db");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "journal_mode", "wal").unwrap();
    conn.execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES (1);")
        .unwrap();
    path
}

/// A child process SIGKILLed when dropped, so a failing test leaves none behind.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
