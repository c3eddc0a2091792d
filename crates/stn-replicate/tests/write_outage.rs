//! A replica that fails keeps its local L0 files, retries, and catches up
//! in TXID order, while the other replica carries on.

mod write_support;

use std::time::Duration;

use stn_replicate::Error;
use stn_replicate::Replicator;
use write_support::*;

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_replica_catches_up_in_order_without_holding_back_the_other() {
    let dir = tempfile::tempdir().unwrap();
    let (db_path, conn) = app_db(dir.path(), 4096, false);
    let good_root = dir.path().join("good");
    let bad_root = dir.path().join("bad");
    let (good, good_url) = file_replica(&good_root);
    let (bad, bad_url) = file_replica(&bad_root);
    let mut options = fast_options();
    options.shutdown_sync_timeout = Duration::from_secs(1);
    let handle = Replicator::start(db_path.clone(), vec![good, bad], options)
        .await
        .unwrap();
    insert(&conn, 20, 1000);
    handle.sync_now().await.unwrap();

    // Outage: the replica's `ltx` directory becomes a symlink to a plain
    // file; swapping symlinks (atomic renames) starts and ends it, so a
    // retrying upload can never slip in between.
    let ltx = bad_root.join("ltx");
    let real = bad_root.join("ltx.real");
    let blocker = bad_root.join("blocker");
    std::fs::write(&blocker, b"not a directory").unwrap();
    std::fs::rename(&ltx, &real).unwrap();
    std::os::unix::fs::symlink(&blocker, &ltx).unwrap();
    let stuck_at = handle.status().replicas[1].txid;
    for _ in 0..5 {
        insert(&conn, 20, 1000);
        handle.notify_commit();
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let local = handle.status().txid;
    assert!(wait_until(Duration::from_secs(10), || handle
        .status()
        .replicas[0]
        .txid
        == local));
    let status = handle.status();
    assert_eq!(status.replicas[1].txid, stuck_at, "{status:?}");
    assert!(status.replicas[1].last_error.is_some(), "{status:?}");
    let waited = tokio::time::timeout(Duration::from_millis(500), handle.wait_replicated(local));
    assert!(
        waited.await.is_err(),
        "the failing replica cannot hold {local}"
    );

    // Repair: it catches up from the local L0 files it still needs.
    let fixed = bad_root.join("ltx.fixed");
    std::os::unix::fs::symlink(&real, &fixed).unwrap();
    std::fs::rename(&fixed, &ltx).unwrap();
    tokio::time::timeout(Duration::from_secs(20), handle.wait_replicated(local))
        .await
        .expect("caught up after the outage")
        .unwrap();
    let status = handle.status();
    assert_eq!(status.replicas[1].last_error, None, "{status:?}");
    handle.shutdown().await.unwrap();

    assert_litestream_restores(&good_url, dir.path(), &db_path);
    assert_litestream_restores(&bad_url, dir.path(), &db_path);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_gives_up_on_an_unreachable_replica_in_time() {
    let dir = tempfile::tempdir().unwrap();
    let (db_path, conn) = app_db(dir.path(), 4096, false);
    let bad_root = dir.path().join("bad");
    let (bad, _) = file_replica(&bad_root);
    let mut options = fast_options();
    options.shutdown_sync_timeout = Duration::from_secs(1);
    let handle = Replicator::start(db_path, vec![bad], options)
        .await
        .unwrap();
    handle.sync_now().await.unwrap();
    std::fs::remove_dir_all(bad_root.join("ltx")).unwrap();
    std::fs::write(bad_root.join("ltx"), b"not a directory").unwrap();
    insert(&conn, 1, 10);

    let started = std::time::Instant::now();
    let result = handle.shutdown().await;
    assert!(started.elapsed() < Duration::from_secs(5));
    match result {
        Err(Error::NotReplicated {
            txid, replicated, ..
        }) => assert_eq!((txid, replicated), (2, 1)),
        other => panic!("expected NotReplicated, got {other:?}"),
    }
}
