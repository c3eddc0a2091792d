//! What replication costs in object-store requests and how fast a commit
//! reaches the replica.

mod write_support;

use std::time::{Duration, Instant};

use stn_replicate::{ReplicationOptions, Replicator};
use stn_testkit::CountingProxy;
use write_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_database_makes_no_requests() {
    let prefix = unique_prefix("idle");
    let Some(moto) = stn_testkit::service("STN_TEST_S3_ENDPOINT") else {
        return;
    };
    let port: u16 = moto.rsplit(':').next().unwrap().parse().unwrap();
    let proxy = CountingProxy::start(port);
    let endpoint = format!("http://127.0.0.1:{}", proxy.port());
    let Some((client, url)) = s3_replica(&prefix, Some(endpoint)) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (db_path, conn) = app_db(dir.path(), 4096, false);
    insert(&conn, 100, 500);
    // Every timer short, so anything that would fire while idle does.
    let handle = Replicator::start(db_path.clone(), vec![client], fast_options())
        .await
        .unwrap();
    handle.sync_now().await.unwrap();
    let after_start = proxy.requests();
    let uploads = handle.status().replicas[0].uploads;

    tokio::time::sleep(Duration::from_secs(4)).await;
    let status = handle.status();
    assert_eq!(proxy.requests(), after_start, "requests while idle");
    assert_eq!(status.replicas[0].uploads, uploads);
    eprintln!("startup took {after_start} requests; idle 4 s: 0; {status:?}");

    // One write wakes it up: exactly one PUT.
    insert(&conn, 1, 10);
    handle.notify_commit();
    let txid = status.txid + 1;
    tokio::time::timeout(Duration::from_secs(5), handle.wait_replicated(txid))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(proxy.requests(), after_start + 1);
    handle.shutdown().await.unwrap();
    assert_litestream_restores(&url, dir.path(), &db_path);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_commit_reaches_the_replica_within_the_sync_interval() {
    let dir = tempfile::tempdir().unwrap();
    let (db_path, conn) = app_db(dir.path(), 4096, false);
    let (client, url) = file_replica(&dir.path().join("replica"));
    let sync_interval = Duration::from_millis(500);
    let options = ReplicationOptions {
        sync_interval,
        // A slow monitor, so only notify_commit can explain a fast sync.
        monitor_interval: Duration::from_secs(10),
        ..ReplicationOptions::default()
    };
    let handle = Replicator::start(db_path.clone(), vec![client], options)
        .await
        .unwrap();
    let mut latencies = Vec::new();
    for i in 0..6 {
        // Alternate a quiet gap (upload at once) and back-to-back commits
        // (coalesced, at most one sync interval later).
        if i % 2 == 0 {
            tokio::time::sleep(sync_interval).await;
        }
        let txid = handle.status().txid + 1;
        insert(&conn, 1, 100);
        let started = Instant::now();
        handle.notify_commit();
        tokio::time::timeout(Duration::from_secs(5), handle.wait_replicated(txid))
            .await
            .unwrap()
            .unwrap();
        latencies.push(started.elapsed());
    }
    eprintln!("notify_commit → replicated: {latencies:?}");
    for (i, latency) in latencies.iter().enumerate() {
        let bound = if i % 2 == 0 {
            Duration::from_millis(200)
        } else {
            sync_interval + Duration::from_millis(200)
        };
        assert!(*latency < bound, "commit {i}: {latency:?} ≥ {bound:?}");
    }
    handle.shutdown().await.unwrap();
    assert_litestream_restores(&url, dir.path(), &db_path);
}
