//! `--target fly --apply`: the flyctl steps users of the Go original know
//! (apps create, secrets, volumes create, deploy), with the secrets passed
//! on stdin (`flyctl secrets import`) so they never show in a process list.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context as _, Result, bail};

/// The volume `fly.toml` mounts.
const VOLUME: &str = "station_data";

pub struct Apply<'a> {
    pub app: &'a str,
    pub org: &'a str,
    pub region: &'a str,
    pub config: &'a Path,
    pub secrets: &'a [(String, String)],
    pub needs_volume: bool,
}

pub fn apply(a: &Apply) -> Result<()> {
    if !succeeds(&["status", "--app", a.app])? {
        run(&["apps", "create", a.app, "--org", a.org])?;
    }
    if !a.secrets.is_empty() {
        let lines: String = a
            .secrets
            .iter()
            .map(|(k, v)| format!("{k}={v}\n"))
            .collect();
        run_with_stdin(&["secrets", "import", "--app", a.app, "--stage"], &lines)?;
    }
    if a.needs_volume && !has_volume(a.app)? {
        run(&[
            "volumes", "create", VOLUME, "--app", a.app, "--region", a.region, "--size", "3",
            "--yes",
        ])?;
    }
    let config = a.config.to_string_lossy();
    // From the directory of fly.toml, so `[[files]] local_path` (the bundle)
    // is found whichever way flyctl resolves it.
    let dir = a.config.parent().context("fly.toml has a directory")?;
    let args = ["deploy", "--app", a.app, "--config", &config, "--ha=false"];
    run_command(flyctl().args(args).current_dir(dir), &args)
}

fn flyctl() -> Command {
    Command::new("flyctl")
}

fn spawn_error(e: std::io::Error) -> anyhow::Error {
    anyhow::anyhow!(
        "cannot run flyctl ({e})\nhint: install it (https://fly.io/docs/flyctl/install/) and run `flyctl auth login`, or drop --apply to only write fly.toml"
    )
}

fn succeeds(args: &[&str]) -> Result<bool> {
    let status = flyctl()
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(spawn_error)?;
    Ok(status.success())
}

fn run(args: &[&str]) -> Result<()> {
    run_command(flyctl().args(args), args)
}

fn run_command(cmd: &mut Command, args: &[&str]) -> Result<()> {
    let status = cmd.status().map_err(spawn_error)?;
    if !status.success() {
        bail!("`flyctl {}` failed ({status})", args.join(" "));
    }
    Ok(())
}

fn run_with_stdin(args: &[&str], input: &str) -> Result<()> {
    let mut child = flyctl()
        .args(args)
        .stdin(Stdio::piped())
        .spawn()
        .map_err(spawn_error)?;
    child
        .stdin
        .take()
        .context("flyctl's stdin")?
        .write_all(input.as_bytes())?;
    let status = child.wait()?;
    if !status.success() {
        bail!("`flyctl {}` failed ({status})", args.join(" "));
    }
    Ok(())
}

fn has_volume(app: &str) -> Result<bool> {
    let output = flyctl()
        .args(["volumes", "list", "--app", app, "--json"])
        .output()
        .map_err(spawn_error)?;
    if !output.status.success() {
        bail!(
            "`flyctl volumes list --app {app}` failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let volumes: Vec<serde_json::Value> =
        serde_json::from_slice(&output.stdout).context("flyctl volumes list --json")?;
    Ok(volumes
        .iter()
        .any(|v| v.get("name").and_then(|n| n.as_str()) == Some(VOLUME)))
}
