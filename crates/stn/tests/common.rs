//! Runs the real `stn` binary against a temp config dir.

#![allow(dead_code)] // each test binary uses a different part of this module

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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
