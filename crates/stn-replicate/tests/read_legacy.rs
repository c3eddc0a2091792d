//! Restoring Litestream v0.3 replicas (`generations/…`), built by hand as
//! the reference describes: an LZ4-framed copy of the database file and
//! LZ4-framed slices of the WAL files that followed it.

mod read_support;

use std::path::Path;
use std::time::Duration;

use object_store::ObjectStoreExt;
use stn_replicate::Error;
use stn_replicate::ReplicaClient;
use stn_replicate::{IntegrityCheck, RestoreOptions, RestoreOutcome, restore};

use read_support::*;

const PAGE_SIZE: usize = 4096;
const STALE_GENERATION: &str = "00000000000000aa";
const GENERATION: &str = "0123456789abcdef";

/// An LZ4 frame as Litestream v0.3 wrote them (compressed blocks).
fn lz4_frame(data: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut encoder = lz4_flex::frame::FrameEncoder::new(Vec::new());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

/// Byte offsets just after each commit frame of a WAL file.
fn commit_ends(wal: &[u8]) -> Vec<usize> {
    let frame = 24 + PAGE_SIZE;
    (0..(wal.len() - 32) / frame)
        .filter(|at| {
            let start = 32 + at * frame;
            wal[start + 4..start + 8] != [0, 0, 0, 0]
        })
        .map(|at| 32 + (at + 1) * frame)
        .collect()
}

fn insert_rows(conn: &rusqlite::Connection, from: i64, count: i64) {
    for id in from..from + count {
        conn.execute(
            "INSERT INTO notes (id, body, data) VALUES (?1, ?2, ?3)",
            rusqlite::params![id, format!("note {id}"), vec![(id % 256) as u8; 700]],
        )
        .unwrap();
    }
}

/// The objects of a v0.3 replica (relative key, bytes) and the tables the
/// restore must produce. `damage_wal1` flips a byte in WAL index 1.
struct Fixture {
    stale: Vec<(String, Vec<u8>)>,
    objects: Vec<(String, Vec<u8>)>,
    expected: Vec<(String, Vec<u64>)>,
}

fn fixture(dir: &Path, damage_wal1: bool) -> Fixture {
    let db = dir.join("v3-source.db");
    let wal = dir.join("v3-source.db-wal");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(
        "PRAGMA page_size = 4096;
         PRAGMA journal_mode = WAL;
         PRAGMA wal_autocheckpoint = 0;
         CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT, data BLOB);",
    )
    .unwrap();
    insert_rows(&conn, 1, 50);
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
        .unwrap();
    let snapshot = std::fs::read(&db).unwrap();
    let stale = vec![(
        format!("generations/{STALE_GENERATION}/snapshots/00000000.snapshot.lz4"),
        lz4_frame(&snapshot),
    )];

    // WAL index 0: three segments, each cut after a commit.
    insert_rows(&conn, 51, 40);
    conn.execute_batch(
        "UPDATE notes SET body = 'changed' WHERE id % 3 = 0; DELETE FROM notes WHERE id % 11 = 0;",
    )
    .unwrap();
    let wal0 = std::fs::read(&wal).unwrap();
    let ends = commit_ends(&wal0);
    let (cut1, cut2) = (ends[ends.len() / 3], ends[2 * ends.len() / 3]);
    assert!(32 < cut1 && cut1 < cut2 && cut2 < wal0.len());

    // WAL index 1, after a checkpoint restarted the WAL.
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
        .unwrap();
    insert_rows(&conn, 100, 30);
    conn.execute_batch("CREATE TABLE later (x TEXT); INSERT INTO later VALUES ('from wal 1');")
        .unwrap();
    let mut wal1 = std::fs::read(&wal).unwrap();
    if damage_wal1 {
        let at = 32 + 24 + 100;
        wal1[at] ^= 0xff;
    }
    let expected = dump_conn(&conn);

    let g = format!("generations/{GENERATION}");
    Fixture {
        stale,
        objects: vec![
            (
                format!("{g}/snapshots/00000000.snapshot.lz4"),
                lz4_frame(&snapshot),
            ),
            (
                format!("{g}/wal/00000000_00000000.wal.lz4"),
                lz4_frame(&wal0[..cut1]),
            ),
            (
                format!("{g}/wal/00000000_{cut1:08x}.wal.lz4"),
                lz4_frame(&wal0[cut1..cut2]),
            ),
            (
                format!("{g}/wal/00000000_{cut2:08x}.wal.lz4"),
                lz4_frame(&wal0[cut2..]),
            ),
            (
                format!("{g}/wal/00000001_00000000.wal.lz4"),
                lz4_frame(&wal1),
            ),
        ],
        expected,
    }
}

/// Uploads the stale generation, then (a second later, so last-modified
/// times differ) the current one.
async fn upload(client: &ReplicaClient, fixture: &Fixture) {
    let (store, prefix) = client.raw_store_for_tests();
    let put = |objects: &[(String, Vec<u8>)]| {
        let store = store.clone();
        let objects = objects.to_vec();
        let prefix = prefix.clone();
        async move {
            for (key, bytes) in objects {
                let mut path = prefix.clone();
                for part in key.split('/') {
                    path = path.join(part);
                }
                store.put(&path, bytes.into()).await.unwrap();
            }
        }
    };
    put(&fixture.stale).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    put(&fixture.objects).await;
}

fn restores_v3(client: ReplicaClient, dir: &Path) {
    let fixture = fixture(dir, false);
    let output = dir.join("restored.db");
    runtime().block_on(async {
        upload(&client, &fixture).await;
        let mut options = RestoreOptions::new(&output);
        options.integrity_check = IntegrityCheck::Full;
        let outcome = restore(&client, &options).await.unwrap();
        match outcome {
            RestoreOutcome::RestoredLegacy {
                generation,
                index,
                files,
                ..
            } => {
                assert_eq!((generation.as_str(), index, files), (GENERATION, 1, 5));
            }
            other => panic!("expected a v0.3 restore, got {other:?}"),
        }
    });
    assert_eq!(dump(&output), fixture.expected);
    assert_eq!(integrity_check(&output), "ok");
    for leftover in [
        "restored.db.tmp",
        "restored.db.tmp-wal",
        "restored.db-wal",
        "restored.db.tmp-v3",
    ] {
        assert!(!dir.join(leftover).exists(), "{leftover} left behind");
    }
}

#[test]
fn restores_v3_file_replica() {
    let dir = tempfile::tempdir().unwrap();
    let client =
        ReplicaClient::from_url(&format!("file://{}", dir.path().join("replica").display()))
            .unwrap();
    restores_v3(client, dir.path());
}

#[test]
fn restores_v3_s3_replica() {
    let Some(replica) = s3_replica(&unique_prefix("v3")) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    restores_v3(ReplicaClient::from_config(&replica).unwrap(), dir.path());
}

#[test]
fn damaged_wal_segment_fails_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let client =
        ReplicaClient::from_url(&format!("file://{}", dir.path().join("replica").display()))
            .unwrap();
    let fixture = fixture(dir.path(), true);
    let output = dir.path().join("restored.db");
    let err = runtime().block_on(async {
        upload(&client, &fixture).await;
        restore(&client, &RestoreOptions::new(&output))
            .await
            .unwrap_err()
    });
    assert!(matches!(err, Error::CorruptFile { .. }), "{err:?}");
    assert!(
        err.to_string().contains("00000001_00000000.wal.lz4"),
        "{err}"
    );
    assert!(!output.exists());
    assert!(!dir.path().join("restored.db.tmp").exists());
}

#[test]
fn missing_segment_is_a_gap() {
    let dir = tempfile::tempdir().unwrap();
    let client =
        ReplicaClient::from_url(&format!("file://{}", dir.path().join("replica").display()))
            .unwrap();
    let mut fixture = fixture(dir.path(), false);
    fixture.objects.remove(2); // the middle of WAL index 0
    let err = runtime().block_on(async {
        upload(&client, &fixture).await;
        restore(
            &client,
            &RestoreOptions::new(dir.path().join("restored.db")),
        )
        .await
        .unwrap_err()
    });
    assert!(matches!(err, Error::Plan { .. }), "{err:?}");
    assert!(err.to_string().contains("has a gap"), "{err}");
}

#[test]
fn txid_restores_ignore_v3_backups() {
    let dir = tempfile::tempdir().unwrap();
    let client =
        ReplicaClient::from_url(&format!("file://{}", dir.path().join("replica").display()))
            .unwrap();
    let fixture = fixture(dir.path(), false);
    let err = runtime().block_on(async {
        upload(&client, &fixture).await;
        let mut options = RestoreOptions::new(dir.path().join("restored.db"));
        options.txid = Some(1);
        restore(&client, &options).await.unwrap_err()
    });
    assert!(matches!(err, Error::NoBackup { .. }), "{err:?}");
}
