//! Our replicator writes, the real Litestream 0.5.17 restores: every table
//! equal to the source and `integrity_check` ok, across page sizes, WAL
//! restarts, big transactions and checkpoints we did not run.

mod write_support;

use std::time::Duration;

use stn_replicate::ReplicaClient;
use stn_replicate::{ReplicationOptions, Replicator};
use stn_replicate::{RestoreOptions, restore};
use write_support::*;

/// Writes `rounds` rounds of ~`pages_per_round` pages, some announced with
/// `notify_commit` and some left for the WAL monitor to find.
fn workload(
    conn: &rusqlite::Connection,
    handle: &stn_replicate::ReplicatorHandle,
    rounds: usize,
    bytes_per_round: usize,
) {
    for round in 0..rounds {
        for _ in 0..4 {
            insert(conn, 10, bytes_per_round / 40);
            if round % 2 == 0 {
                handle.notify_commit();
            }
            std::thread::sleep(Duration::from_millis(30));
        }
        conn.execute(
            "UPDATE t SET note = 'updated' WHERE id % 7 = ?1",
            [round as i64],
        )
        .unwrap();
        conn.execute("DELETE FROM t WHERE id % 11 = ?1", [round as i64])
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_replica_restores_with_litestream_for_each_page_size() {
    for (page_size, min_checkpoint_pages) in [(1024u32, 1000u64), (4096, 1000), (65536, 100)] {
        let dir = tempfile::tempdir().unwrap();
        let (db_path, conn) = app_db(dir.path(), page_size, false);
        let (client, url) = file_replica(&dir.path().join("replica"));
        let mut options = fast_options();
        options.db.min_checkpoint_page_count = min_checkpoint_pages;
        let handle = Replicator::start(db_path.clone(), vec![client], options)
            .await
            .unwrap();
        // Each round writes about 1.5 × the checkpoint threshold, so each
        // ends with one of our checkpoints and the WAL restarts.
        let per_round = (min_checkpoint_pages as usize * page_size as usize * 3) / 2;
        for round in 1..=3 {
            workload(&conn, &handle, 1, per_round);
            let checkpointed = wait_until(Duration::from_secs(20), || {
                handle.status().checkpoints >= round
            });
            assert!(checkpointed, "page size {page_size}: {:?}", handle.status());
        }
        handle.sync_now().await.unwrap();
        let status = handle.status();
        handle.shutdown().await.expect("shutdown");

        assert_eq!(status.full_images, 1, "page size {page_size}: {status:?}");
        let (replica_bytes, replica_files) = dir_usage(&dir.path().join("replica"));
        eprintln!(
            "page size {page_size}: db {} B, replica {replica_files} files {replica_bytes} B, {status:?}",
            std::fs::metadata(&db_path).unwrap().len()
        );
        assert_litestream_restores(&url, dir.path(), &db_path);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_replica_with_a_20_mb_transaction_restores_with_litestream() {
    let prefix = unique_prefix("s3-big");
    let Some((client, url)) = s3_replica(&prefix, None) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (db_path, conn) = app_db(dir.path(), 4096, false);
    let handle = Replicator::start(db_path.clone(), vec![client], fast_options())
        .await
        .unwrap();
    insert(&conn, 100, 3000);
    handle.notify_commit();
    // One 20 MB transaction of 100 KB BLOBs, then small ones.
    insert(&conn, 200, 100_000);
    handle.notify_commit();
    workload(&conn, &handle, 2, 6_000_000);
    let txid = handle.sync_now().await.unwrap();
    let status = handle.status();
    handle.shutdown().await.expect("shutdown");
    assert_eq!(status.replicas[0].txid, txid);
    eprintln!("s3: {status:?}");
    assert_litestream_restores(&url, dir.path(), &db_path);
}

/// Whether the replica holds a file above the 16 MiB single-PUT limit at
/// each of `levels`.
async fn holds_large_files(client: &ReplicaClient, levels: &[u8]) -> bool {
    for &level in levels {
        let files = client.list_ltx(level).await.unwrap();
        if !files.iter().any(|f| f.size > 16 * 1024 * 1024) {
            return false;
        }
    }
    true
}

/// A database larger than one PUT: its full image, the compactions that
/// include it (level 1 from local files, level 2 from downloads) and the
/// snapshots are streamed from disk, multipart, to a file and an S3
/// replica, and both restore equal to the source with stn and Litestream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_larger_than_one_put_stream_to_file_and_s3_replicas() {
    let dir = tempfile::tempdir().unwrap();
    let (db_path, conn) = app_db(dir.path(), 4096, false);
    // 24 MB of random BLOBs, which LZ4 cannot shrink below the limit.
    insert(&conn, 240, 100_000);
    let mut replicas = vec![file_replica(&dir.path().join("replica"))];
    replicas.extend(s3_replica(&unique_prefix("stream-large"), None));
    let clients: Vec<ReplicaClient> = replicas.iter().map(|(c, _)| c.clone()).collect();
    let mut options = fast_options();
    options.compaction.snapshot_interval = Duration::from_secs(5);
    // Else the snapshot could delete the large level-1 file before level 2
    // merged it.
    options.compaction.retention_enabled = false;
    let handle = Replicator::start(db_path.clone(), clients.clone(), options)
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    loop {
        // Small transactions keep new level-0 and level-1 files coming
        // for the levels above to merge.
        insert(&conn, 5, 1000);
        handle.notify_commit();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut done = true;
        for client in &clients {
            done &= holds_large_files(client, &[1, 2, 9]).await;
        }
        if done {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{:?}",
            handle.status()
        );
    }
    handle.sync_now().await.unwrap();
    let status = handle.status();
    handle.shutdown().await.expect("shutdown");
    assert!(status.replicas.iter().all(|r| r.errors == 0), "{status:?}");
    let meta: Vec<String> = std::fs::read_dir(dir.path().join(".app.db-stn"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        meta.iter()
            .all(|name| !name.starts_with("compaction-") && !name.starts_with("snapshot-")),
        "scratch files of compactions and snapshots are removed: {meta:?}"
    );

    let expected = dump(&db_path);
    for (client, url) in &replicas {
        let out = dir
            .path()
            .join(format!("stn-{:08x}.db", rand::random::<u32>()));
        restore(client, &RestoreOptions::new(&out)).await.unwrap();
        assert!(dump(&out) == expected, "stn restore of {url} differs");
        assert_litestream_restores(url, dir.path(), &db_path);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_truncate_checkpoint_while_replicating() {
    let dir = tempfile::tempdir().unwrap();
    let (db_path, conn) = app_db(dir.path(), 4096, false);
    let (client, url) = file_replica(&dir.path().join("replica"));
    // Our checkpoints run often, so the app's TRUNCATE sometimes finds
    // the WAL fully copied and truncates it under us.
    let mut options = fast_options();
    options.db.min_checkpoint_page_count = 30;
    let handle = Replicator::start(db_path.clone(), vec![client], options)
        .await
        .unwrap();
    let mut truncated = 0;
    for round in 0..20 {
        insert(&conn, 20, 2000);
        if round % 3 == 0 {
            handle.notify_commit();
        }
        std::thread::sleep(Duration::from_millis(40));
        // Busy while our read transaction pins frames; succeeds once we
        // synced and checkpointed. Either way nothing may go missing.
        conn.busy_timeout(Duration::from_millis(100)).unwrap();
        let busy: i64 = conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| row.get(0))
            .unwrap();
        truncated += usize::from(busy == 0);
    }
    let status = handle.status();
    handle.shutdown().await.expect("shutdown");
    eprintln!("external TRUNCATE succeeded {truncated} times; {status:?}");
    assert!(truncated > 0, "no TRUNCATE got through: {status:?}");
    assert_litestream_restores(&url, dir.path(), &db_path);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_checkpoints_while_the_replicator_is_down() {
    let dir = tempfile::tempdir().unwrap();
    // SQLite's default autocheckpoint (1000 pages) stays on in the app.
    let (db_path, conn) = app_db(dir.path(), 4096, true);
    let (client, url) = file_replica(&dir.path().join("replica"));
    let handle = Replicator::start(db_path.clone(), vec![client.clone()], fast_options())
        .await
        .unwrap();
    insert(&conn, 50, 1000);
    handle.sync_now().await.unwrap();
    handle.shutdown().await.expect("shutdown");

    // While stopped: > 1000 pages per transaction group, so the app's
    // autocheckpoint copies the WAL into the database and restarts it.
    let wal = db_path.with_extension("db-wal");
    let salts_before = std::fs::read(&wal).unwrap()[16..24].to_vec();
    for _ in 0..6 {
        insert(&conn, 300, 3000);
    }
    let salts_after = std::fs::read(&wal).unwrap()[16..24].to_vec();
    assert_ne!(salts_before, salts_after, "the WAL restarted without us");

    let handle = Replicator::start(db_path.clone(), vec![client], fast_options())
        .await
        .unwrap();
    insert(&conn, 10, 1000);
    handle.notify_commit();
    let status = handle.status();
    handle.shutdown().await.expect("shutdown");
    assert_eq!(
        status.full_images, 1,
        "recovered with one full image: {status:?}"
    );
    assert_litestream_restores(&url, dir.path(), &db_path);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_resumes_without_a_full_image() {
    let dir = tempfile::tempdir().unwrap();
    let (db_path, conn) = app_db(dir.path(), 4096, false);
    let (client, url) = file_replica(&dir.path().join("replica"));
    let options = ReplicationOptions {
        sync_interval: Duration::from_millis(50),
        monitor_interval: Duration::from_millis(50),
        ..ReplicationOptions::default()
    };
    let handle = Replicator::start(db_path.clone(), vec![client.clone()], options.clone())
        .await
        .unwrap();
    insert(&conn, 50, 1000);
    let first = handle.sync_now().await.unwrap();
    handle.shutdown().await.expect("shutdown");

    insert(&conn, 50, 1000);
    let handle = Replicator::start(db_path.clone(), vec![client], options)
        .await
        .unwrap();
    let status = handle.status();
    assert_eq!(status.full_images, 0, "{status:?}");
    assert_eq!(
        status.txid,
        first + 1,
        "rows written while stopped are one increment"
    );
    handle.shutdown().await.expect("shutdown");
    assert_litestream_restores(&url, dir.path(), &db_path);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn takes_over_a_replica_written_by_litestream() {
    let Some(bin) = stn_testkit::service("STN_TEST_LITESTREAM_BIN") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (db_path, conn) = app_db(dir.path(), 4096, false);
    let replica_dir = dir.path().join("replica");
    let (client, url) = file_replica(&replica_dir);
    insert(&conn, 100, 1000);

    // Litestream replicates first, then is stopped (SIGTERM: final sync).
    let mut litestream = std::process::Command::new(bin)
        .arg("replicate")
        .arg(&db_path)
        .arg(&url)
        .env_remove("AWS_CA_BUNDLE")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let l0 = replica_dir.join("ltx").join("0");
    let started = wait_until(Duration::from_secs(20), || {
        std::fs::read_dir(&l0).is_ok_and(|d| d.count() > 0)
    });
    insert(&conn, 50, 1000);
    std::thread::sleep(Duration::from_millis(1500));
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &litestream.id().to_string()])
        .status();
    let exited = wait_until(Duration::from_secs(20), || {
        litestream.try_wait().unwrap().is_some()
    });
    if !exited {
        let _ = litestream.kill();
    }
    let _ = litestream.wait();
    assert!(
        started && exited,
        "litestream replicate did not run as expected"
    );

    // We continue the same replica: numbering goes on after Litestream's.
    let handle = Replicator::start(db_path.clone(), vec![client], fast_options())
        .await
        .unwrap();
    let status = handle.status();
    assert!(
        status.txid > 1,
        "continued after the replica's TXID: {status:?}"
    );
    insert(&conn, 50, 1000);
    handle.sync_now().await.unwrap();
    handle.shutdown().await.expect("shutdown");
    assert_litestream_restores(&url, dir.path(), &db_path);
}
