//! Podman for the container tests (`/work/shared/reference/containers.md`):
//! the image's `runtime` stage built around the `stn` binary cargo built,
//! commands printed as they run, and every container, volume, compose project
//! and image a test made removed by name when it ends, also on failure.

#![allow(dead_code)] // each test binary uses a different part of this module

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Where a container finds the host's CA bundle (see [`ca_args`]).
const CA_IN_CONTAINER: &str = "/run/stn-host-ca.crt";

/// The repository root (the Dockerfile and `deploy/`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `Some(())` when podman is set up (`CONTAINERS_CONF` from
/// `scripts/test-services.sh`) and answers; `None` (skipped) outside CI.
pub fn available() -> Option<()> {
    stn_testkit::service("CONTAINERS_CONF")?;
    let answers = Command::new("podman")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if answers {
        return Some(());
    }
    assert!(
        std::env::var("CI").map_or(true, |v| v != "true"),
        "podman does not run: install it with `scripts/test-services.sh install`"
    );
    eprintln!("skipped: podman does not run here");
    None
}

/// `podman-compose` arguments that name a project and its files, and the
/// variables those files require.
type ComposeProject = (Vec<String>, Vec<(String, String)>);

/// Every name a test gave to podman, removed when dropped.
#[derive(Default)]
pub struct Cleanup {
    containers: RefCell<Vec<String>>,
    volumes: RefCell<Vec<String>>,
    images: RefCell<Vec<String>>,
    compose: RefCell<Vec<ComposeProject>>,
}

impl Cleanup {
    pub fn container(&self, name: &str) -> String {
        self.containers.borrow_mut().push(name.to_owned());
        name.to_owned()
    }

    pub fn volume(&self, name: &str) -> String {
        self.volumes.borrow_mut().push(name.to_owned());
        name.to_owned()
    }

    pub fn image(&self, tag: &str) -> String {
        self.images.borrow_mut().push(tag.to_owned());
        tag.to_owned()
    }

    pub fn compose_project(&self, args: Vec<String>, env: Vec<(String, String)>) {
        self.compose.borrow_mut().push((args, env));
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let compose = stn_testkit::service("STN_TEST_PODMAN_COMPOSE");
        for (args, env) in self.compose.borrow().iter() {
            if let Some(bin) = &compose {
                let _ = Command::new(bin)
                    .args(args)
                    .args(["down", "-v"])
                    .envs(env.iter().map(|(k, v)| (k, v)))
                    .output();
            }
        }
        for name in self.containers.borrow().iter() {
            let _ = Command::new("podman").args(["rm", "-f", name]).output();
        }
        for name in self.volumes.borrow().iter() {
            let _ = Command::new("podman")
                .args(["volume", "rm", "-f", name])
                .output();
        }
        for tag in self.images.borrow().iter() {
            let _ = Command::new("podman").args(["rmi", "-f", tag]).output();
        }
    }
}

/// Runs `podman ARGS`, printing the command line and what it printed.
pub fn podman(args: &[&str]) -> Output {
    run(
        Command::new("podman").args(args),
        &format!("podman {}", args.join(" ")),
    )
}

/// [`podman`], asserting success; returns stdout.
pub fn podman_ok(args: &[&str]) -> String {
    ok(podman(args), &format!("podman {}", args.join(" ")))
}

/// Runs `cmd` (shown as `shown`), printing what it printed.
pub fn run(cmd: &mut Command, shown: &str) -> Output {
    println!("$ {shown}");
    let out = cmd.output().unwrap_or_else(|e| panic!("{shown}: {e}"));
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        println!("  {line}");
    }
    for line in String::from_utf8_lossy(&out.stderr).lines() {
        // Podman without systemd says so on every `run`; the health check
        // is probed by the tests instead (`podman healthcheck run`).
        if !line.contains("unable to get systemd connection") {
            println!("  ! {line}");
        }
    }
    out
}

/// Asserts `out` succeeded; returns its stdout.
pub fn ok(out: Output, shown: &str) -> String {
    assert!(
        out.status.success(),
        "`{shown}` failed ({:?})\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The host's CA bundle (`SSL_CERT_FILE`), where TLS to package registries
/// goes through an inspecting proxy whose CA Debian's bundle lacks.
fn host_ca() -> Option<String> {
    std::env::var("SSL_CERT_FILE")
        .ok()
        .filter(|path| Path::new(path).is_file())
}

/// `podman run` arguments giving the container the host's CA bundle for
/// uv and npm (nothing where the host has none).
pub fn ca_args() -> Vec<String> {
    let Some(ca) = host_ca() else {
        return Vec::new();
    };
    vec![
        "-v".into(),
        format!("{ca}:{CA_IN_CONTAINER}:ro"),
        "-e".into(),
        format!("SSL_CERT_FILE={CA_IN_CONTAINER}"),
        "-e".into(),
        format!("NODE_EXTRA_CA_CERTS={CA_IN_CONTAINER}"),
    ]
}

/// The `base` stage under a tag kept across runs: removing a test's image
/// removes its untagged parent layers, and with them podman's build cache.
const BASE_CACHE_TAG: &str = "localhost/stn-test-base:cache";

/// Builds the Dockerfile's `runtime` stage as `tag` around the `stn` binary
/// cargo built for the tests. The layers before the binary's come from the
/// cache of the previous run ([`BASE_CACHE_TAG`]). Returns the image size
/// in bytes.
pub fn build_runtime_image(tag: &str) -> u64 {
    let context = tempfile::tempdir().unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_stn"), context.path().join("stn")).unwrap();
    for (target, tag) in [("base", BASE_CACHE_TAG), ("runtime", tag)] {
        let args = build_args(target, tag, context.path());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ok(podman(&args), "podman build");
    }
    podman_ok(&["image", "inspect", "--format", "{{.Size}}", tag])
        .trim()
        .parse()
        .expect("image size")
}

fn build_args(target: &str, tag: &str, context: &Path) -> Vec<String> {
    let dockerfile = repo_root().join("Dockerfile");
    let mut args: Vec<String> = [
        "build",
        "--pull=never",
        // HEALTHCHECK is kept only in Docker's image format.
        "--format",
        "docker",
        "--network",
        "host",
        "--target",
        target,
        "-t",
        tag,
        "-f",
    ]
    .map(String::from)
    .into();
    args.push(dockerfile.display().to_string());
    if let Some(ca) = host_ca() {
        args.extend([
            "--build-arg".into(),
            format!("PIP_CERT={CA_IN_CONTAINER}"),
            "--volume".into(),
            format!("{ca}:{CA_IN_CONTAINER}:ro"),
        ]);
    }
    args.push(context.display().to_string());
    args
}

/// Waits until the container's server answers `/health` on `port`; shows
/// the container's log if it never does.
pub fn wait_healthy(container: &str, port: u16) {
    let up = stn_testkit::wait_for_http_ok(port, "/health", std::time::Duration::from_secs(60));
    if !up {
        let logs = Command::new("podman").args(["logs", container]).output();
        let logs = logs.map(|o| {
            String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
        });
        panic!(
            "{container} did not answer /health on 127.0.0.1:{port}\n{}",
            logs.unwrap_or_default()
        );
    }
    // The image's own HEALTHCHECK, run now (without systemd podman does
    // not schedule it).
    podman_ok(&["healthcheck", "run", container]);
}

/// A random 64-character hex key, as `openssl rand -hex 32` makes.
pub fn random_key() -> String {
    use rand::Rng as _;
    let bytes: [u8; 32] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
