//! What a user sees when something is wrong: bounded waits, clear errors,
//! the right exit codes.

mod common;

use std::time::{Duration, Instant};

use common::Stn;

/// Runs `cmd` to completion, or kills it after `limit` and panics.
fn run_within(mut cmd: std::process::Command, limit: Duration) -> std::process::Output {
    use std::io::Read as _;
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start stn");
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("stn still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_end(&mut stdout)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_end(&mut stderr)
        .unwrap();
    std::process::Output {
        status: child.wait().unwrap(),
        stdout,
        stderr,
    }
}

#[test]
fn a_remote_database_that_never_answers_fails_within_the_request_timeout() {
    let hung = stn_testkit::silent_listener();
    let url = format!("http://127.0.0.1:{}", hung.local_addr().unwrap().port());
    let stn = Stn::remote(&url);
    let mut cmd = stn.command(&["agent", "list"]);
    cmd.env("STN_DB_TIMEOUT", "1");
    let started = Instant::now();
    let out = run_within(cmd, Duration::from_secs(15));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&url), "{stderr}");
    assert!(stderr.contains("did not answer within 1 s"), "{stderr}");
    assert!(stderr.contains("STN_DB_TIMEOUT"), "{stderr}");
    assert!(stderr.contains("hint:"), "{stderr}");
}
