//! `stn replicate` takes the replica's single-writer lease: a second one on
//! the same replica refuses to start naming the holder, unless --takeover.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Stn, wait_exit};

/// The pid written in the replica's lease, once one is there.
fn lease_pid(replica: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(replica.join("lease.json")).ok()?;
    let lease: serde_json::Value = serde_json::from_str(&text).ok()?;
    lease["holder"]["pid"].as_u64()
}

fn wait_for_lease_of(replica: &Path, child: &Child) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while lease_pid(replica) != Some(u64::from(child.id())) {
        assert!(
            Instant::now() < deadline,
            "pid {} took no lease",
            child.id()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn stop(child: Child) -> std::process::ExitStatus {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    wait_exit(child, Duration::from_secs(20))
}

#[test]
fn a_second_replicate_is_refused_unless_takeover() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.db");
    let app = rusqlite::Connection::open(&db).unwrap();
    app.execute_batch("PRAGMA journal_mode = wal; CREATE TABLE t (v); INSERT INTO t VALUES (1);")
        .unwrap();
    let replica = dir.path().join("replica");
    let url = format!("file://{}", replica.display());
    let stn = Stn::local();
    let args = ["replicate", db.to_str().unwrap(), &url];
    let spawn = |extra: &[&str]| {
        stn.command(&[&args[..], extra].concat())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start stn replicate")
    };

    let first = spawn(&[]);
    wait_for_lease_of(&replica, &first);
    let stderr = stn.fails(&args, 1);
    assert!(stderr.contains("lease"), "{stderr}");
    assert!(stderr.contains(&format!("pid {}", first.id())), "{stderr}");
    assert!(stderr.contains("--takeover"), "{stderr}");

    let second = spawn(&["--takeover"]);
    wait_for_lease_of(&replica, &second);
    assert!(stop(second).success());
    // The first has not renewed since (once a minute), so it has not noticed.
    stop(first);
}
