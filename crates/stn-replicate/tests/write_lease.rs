//! The single-writer lease on a replica, on the file backend, moto and Azurite:
//! refusal naming the holder, lapse after a crash, takeover, a stolen lease
//! stopping uploads, what renewal costs, and the client's compare-and-swap
//! beneath it.

mod write_support;

use std::time::{Duration, Instant};

use bytes::Bytes;

use stn_replicate::Error;
use stn_replicate::{CasOutcome, ReplicaClient};
use stn_replicate::{Lease, LeaseOptions};
use stn_replicate::{ReplicationOptions, Replicator};
use stn_testkit::CountingProxy;
use write_support::*;

/// Short enough that a lapse fits in a test.
fn short_lease() -> LeaseOptions {
    LeaseOptions {
        ttl: Duration::from_secs(3),
        renew_every: Duration::from_secs(1),
        takeover: false,
    }
}

fn options() -> ReplicationOptions {
    let mut options = fast_options();
    options.lease = short_lease();
    options
}

/// A fresh replica on every backend available: always a directory, moto
/// and Azurite when they run. The temp dir must outlive the clients.
fn replicas(test: &str, dir: &std::path::Path) -> Vec<ReplicaClient> {
    let mut clients = vec![file_replica(&dir.join(format!("replica-{test}"))).0];
    if let Some((client, _)) = s3_replica(&unique_prefix(test), None) {
        clients.push(client);
    }
    clients.extend(azure_replica(&unique_prefix(test), None));
    clients
}

fn takeover() -> LeaseOptions {
    LeaseOptions {
        takeover: true,
        ..short_lease()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_acquirer_is_refused_and_takeover_forces() {
    let dir = tempfile::tempdir().unwrap();
    for client in replicas("refuse", dir.path()) {
        let mut first = Lease::acquire(&client, &short_lease()).await.unwrap();
        let err = Lease::acquire(&client, &short_lease()).await.unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, Error::LeaseHeld { .. }), "{message}");
        let pid = format!("pid {}", std::process::id());
        assert!(message.contains(&pid), "{}: {message}", client.url());
        assert!(message.contains(&first.holder().hostname), "{message}");
        assert!(message.contains("--takeover"), "{message}");

        let taker = Lease::acquire(&client, &takeover()).await.unwrap();
        assert_ne!(taker.holder().id, first.holder().id);
        let err = first.renew().await.unwrap_err();
        assert!(
            matches!(err, Error::LeaseLost { .. }),
            "{}: {err}",
            client.url()
        );
        // Releasing a lost lease leaves the new holder alone...
        first.release().await.unwrap();
        assert!(Lease::acquire(&client, &short_lease()).await.is_err());
        // ...and a released lease is free at once.
        taker.release().await.unwrap();
        Lease::acquire(&client, &short_lease())
            .await
            .unwrap()
            .release()
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_holders_lease_lapses_after_the_ttl() {
    let dir = tempfile::tempdir().unwrap();
    for (i, client) in replicas("lapse", dir.path()).into_iter().enumerate() {
        let db_dir = dir.path().join(format!("db-{i}"));
        std::fs::create_dir_all(&db_dir).unwrap();
        let (db_path, conn) = app_db(&db_dir, 4096, false);
        insert(&conn, 10, 100);
        let handle = Replicator::start(db_path, vec![client.clone()], options())
            .await
            .unwrap();
        handle.sync_now().await.unwrap();
        // Dies without releasing: its tasks stop, nothing renews the lease.
        drop(handle);
        let died = Instant::now();
        assert!(Lease::acquire(&client, &short_lease()).await.is_err());
        let lease = loop {
            match Lease::acquire(&client, &short_lease()).await {
                Ok(lease) => break lease,
                Err(Error::LeaseHeld { .. }) if died.elapsed() < Duration::from_secs(10) => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("{}: lease did not lapse: {e}", client.url()),
            }
        };
        let waited = died.elapsed();
        eprintln!("{}: lease lapsed after {waited:?}", client.url());
        assert!(waited > Duration::from_secs(1), "{waited:?}");
        lease.release().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_whose_lease_was_stolen_stops_uploading() {
    let dir = tempfile::tempdir().unwrap();
    for (i, client) in replicas("stolen", dir.path()).into_iter().enumerate() {
        let db_dir = dir.path().join(format!("db-{i}"));
        std::fs::create_dir_all(&db_dir).unwrap();
        let (db_path, conn) = app_db(&db_dir, 4096, false);
        insert(&conn, 10, 100);
        let handle = Replicator::start(db_path, vec![client.clone()], options())
            .await
            .unwrap();
        handle.sync_now().await.unwrap();
        let _taker = Lease::acquire(&client, &takeover()).await.unwrap();
        let noticed = Instant::now();
        while handle.status().last_error.is_none() && noticed.elapsed() < Duration::from_secs(5) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let status = handle.status();
        let error = status.last_error.clone().unwrap_or_default();
        assert!(
            error.contains("lost the lease"),
            "{}: {status:?}",
            client.url()
        );
        assert!(
            error.contains(&format!("pid {}", std::process::id())),
            "{error}"
        );
        assert_eq!(status.replicas[0].last_error.as_ref(), Some(&error));

        let uploads = status.replicas[0].uploads;
        insert(&conn, 10, 100);
        handle.notify_commit();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let status = handle.status();
        assert_eq!(
            status.replicas[0].uploads, uploads,
            "uploaded after losing the lease"
        );
        assert!(status.txid > status.replicas[0].txid, "{status:?}");
        assert!(
            status.last_error.is_some(),
            "the loss stays reported: {status:?}"
        );
        let err = handle.shutdown().await.unwrap_err();
        assert!(matches!(err, Error::LeaseLost { .. }), "{err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renewal_costs_one_request_per_interval() {
    let Some(moto) = stn_testkit::service("STN_TEST_S3_ENDPOINT") else {
        return;
    };
    let port: u16 = moto.rsplit(':').next().unwrap().parse().unwrap();
    let proxy = CountingProxy::start(port);
    let endpoint = format!("http://127.0.0.1:{}", proxy.port());
    let Some((client, _)) = s3_replica(&unique_prefix("renew"), Some(endpoint)) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (db_path, conn) = app_db(dir.path(), 4096, false);
    insert(&conn, 10, 100);
    let handle = Replicator::start(db_path, vec![client.clone()], options())
        .await
        .unwrap();
    handle.sync_now().await.unwrap();
    let before = proxy.requests();
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let renewals = proxy.requests() - before;
    eprintln!("3.5 s idle with renew_every 1 s: {renewals} requests");
    // Renewals fall at 1 s, 2 s, 3 s after start; start preceded `before`.
    assert!((2..=4).contains(&renewals), "{renewals} requests");
    assert_eq!(handle.status().last_error, None);
    handle.shutdown().await.unwrap();
    // Released at shutdown: the next one starts at once.
    Lease::acquire(&client, &short_lease()).await.unwrap();
}

/// The client's compare-and-swap, which the lease is built on: create only
/// if absent, replace only at the version read, and of writers racing from
/// one version exactly one wins while the rest get a typed conflict.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_and_swap_lets_exactly_one_racing_writer_win() {
    let dir = tempfile::tempdir().unwrap();
    for client in replicas("cas", dir.path()) {
        let url = client.url().to_owned();
        let name = "cas-test.json";
        assert!(
            client.read_versioned(name).await.unwrap().is_none(),
            "{url}"
        );
        let CasOutcome::Written(first) = client
            .put_if_version(name, Bytes::from_static(b"first"), None)
            .await
            .unwrap()
        else {
            panic!("{url}: creating an absent object must succeed");
        };
        let again = client
            .put_if_version(name, Bytes::from_static(b"second"), None)
            .await
            .unwrap();
        assert!(matches!(again, CasOutcome::Conflict), "{url}: {again:?}");

        let (bytes, read) = client.read_versioned(name).await.unwrap().unwrap();
        assert_eq!(&bytes[..], b"first", "{url}");
        // Eight writers race from the version just read.
        let racers = (0..8u8).map(|writer| {
            let (client, read) = (client.clone(), read.clone());
            async move {
                let outcome = client
                    .put_if_version(name, Bytes::from(vec![b'0' + writer]), Some(&read))
                    .await
                    .unwrap();
                (writer, outcome)
            }
        });
        let outcomes = futures::future::join_all(racers).await;
        let winners: Vec<u8> = outcomes
            .iter()
            .filter(|(_, outcome)| matches!(outcome, CasOutcome::Written(_)))
            .map(|(writer, _)| *writer)
            .collect();
        assert_eq!(winners.len(), 1, "{url}: winners {winners:?}");
        let (bytes, _) = client.read_versioned(name).await.unwrap().unwrap();
        assert_eq!(bytes[..], [b'0' + winners[0]], "{url}");

        // A stale version (the first write's) loses, and changes nothing.
        let stale = client
            .put_if_version(name, Bytes::from_static(b"stale"), Some(&first))
            .await
            .unwrap();
        assert!(matches!(stale, CasOutcome::Conflict), "{url}: {stale:?}");
        let (bytes, _) = client.read_versioned(name).await.unwrap().unwrap();
        assert_eq!(bytes[..], [b'0' + winners[0]], "{url}");
    }
}
