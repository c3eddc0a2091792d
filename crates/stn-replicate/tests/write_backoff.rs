//! A replica whose uploads fail at once waits between retries instead of
//! retrying in a tight loop.

mod write_support;

use std::time::Duration;

use stn_replicate::Replicator;
use write_support::*;

/// CPU time this process has used (user and system), from /proc.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 1..]
        .split_whitespace()
        .collect();
    // utime and stime, fields 14 and 15 of proc(5), in clock ticks (100 Hz on Linux).
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10)
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_failing_fast_backs_off() {
    let dir = tempfile::tempdir().unwrap();
    let (db_path, conn) = app_db(dir.path(), 4096, false);
    let root = dir.path().join("replica");
    let (client, _) = file_replica(&root);
    // Compaction every 1 s and 2 s, retention checks every 200 ms: all of
    // them come due while the replica fails.
    let handle = Replicator::start(db_path, vec![client], fast_options())
        .await
        .unwrap();
    insert(&conn, 20, 1000);
    handle.sync_now().await.unwrap();

    // Every upload now fails at once: `ltx` is a plain file.
    std::fs::rename(root.join("ltx"), root.join("ltx.real")).unwrap();
    std::fs::write(root.join("ltx"), b"not a directory").unwrap();
    insert(&conn, 1, 10);
    handle.notify_commit();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = cpu_time();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let used = cpu_time() - before;
    let status = handle.status();
    assert!(status.replicas[0].last_error.is_some(), "{status:?}");
    // Retrying in a loop costs a core or more; backing off, almost nothing.
    assert!(used < Duration::from_secs(1), "{used:?} of CPU in 5 s");
}
