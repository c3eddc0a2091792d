//! A replica writing a snapshot of a big database does not stall the
//! database's syncs, nor the uploads to the other replicas (issue 9 item 19).

mod write_support;

use std::path::Path;
use std::time::{Duration, Instant};

use stn_replicate::MetaDir;
use stn_replicate::{ReplicationOptions, Replicator};
use write_support::*;

/// Options without compaction levels, so a local L0 file is removed as soon
/// as every replica holds it.
fn options() -> ReplicationOptions {
    let mut options = fast_options();
    options.compaction.levels.clear();
    options
}

/// True while a snapshot is being written in the meta directory of `db`.
fn snapshot_in_progress(db: &Path) -> bool {
    std::fs::read_dir(MetaDir::for_database(db).path())
        .map(|entries| {
            entries.flatten().any(|entry| {
                let name = entry.file_name();
                let name = name.to_string_lossy();
                name.starts_with("snapshot-") && name.ends_with(".tmp")
            })
        })
        .unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_for_a_new_replica_does_not_stall_syncs() {
    let dir = tempfile::tempdir().unwrap();
    let (db_path, conn) = app_db(dir.path(), 4096, false);
    // ~64 MB of data that does not compress.
    for _ in 0..64 {
        insert(&conn, 16, 64 << 10);
    }
    let (first, _) = file_replica(&dir.path().join("first"));
    let handle = Replicator::start(db_path.clone(), vec![first.clone()], options())
        .await
        .unwrap();
    let synced = handle.sync_now().await.unwrap();
    handle.shutdown().await.unwrap();

    // A second replica joins: the local L0 files it lacks are gone, so it
    // gets a full snapshot of the 64 MB database.
    let (second, _) = file_replica(&dir.path().join("second"));
    let handle = Replicator::start(db_path.clone(), vec![first, second], options())
        .await
        .unwrap();
    assert!(
        wait_until(Duration::from_secs(30), || snapshot_in_progress(&db_path)),
        "the new replica never started a snapshot"
    );

    // A commit made meanwhile reaches the first replica promptly.
    let started = Instant::now();
    insert(&conn, 1, 100);
    handle.notify_commit();
    let reached = wait_until(Duration::from_secs(60), || {
        handle.status().replicas[0].txid > synced
    });
    let took = started.elapsed();
    let still_writing = snapshot_in_progress(&db_path);
    assert!(reached, "the commit never reached the first replica");
    assert!(
        took < Duration::from_secs(1),
        "a commit waited {took:?} for the snapshot of another replica \
         (snapshot still being written: {still_writing})"
    );

    // And the new replica ends up with everything.
    let txid = handle.sync_now().await.unwrap();
    let status = handle.status();
    assert!(status.replicas.iter().all(|r| r.txid >= txid), "{status:?}");
    handle.shutdown().await.unwrap();
}
