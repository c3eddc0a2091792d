//! A damaged replica fails the restore with the object key in the error,
//! and an existing database at the output path stays byte for byte as it was.

mod read_support;

use std::path::Path;

use bytes::Bytes;
use stn_replicate::Error;
use stn_replicate::ReplicaClient;
use stn_replicate::{IntegrityCheck, RestoreOptions, RestoreOutcome, restore};
use time::OffsetDateTime;

use read_support::*;

/// Uploads a three-TXID chain; `damage` may alter each file's bytes first.
async fn upload_chain(client: &ReplicaClient, damage: impl Fn(u64, &mut Vec<u8>)) {
    let files = [
        (1, 3, vec![(1, 1), (2, 1), (3, 1)]),
        (2, 3, vec![(2, 2)]),
        (3, 4, vec![(3, 3), (4, 3)]),
    ];
    for (txid, commit, pages) in files {
        let mut data = ltx_file(txid, txid, commit, 1_000 * txid as i64, &pages);
        damage(txid, &mut data);
        let at = OffsetDateTime::now_utc();
        client
            .put_ltx(0, txid, txid, Bytes::from(data), at)
            .await
            .unwrap();
    }
}

/// An existing "database" whose bytes must survive a failed restore.
fn precious(dir: &Path) -> (std::path::PathBuf, Vec<u8>) {
    let path = dir.join("app.db");
    let bytes: Vec<u8> = (0..10_000u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(&path, &bytes).unwrap();
    (path, bytes)
}

/// Restores over `output` with `force`, expects failure naming `key`, and
/// checks nothing was left behind or changed.
async fn expect_failure_naming(
    client: &ReplicaClient,
    output: &Path,
    original: &[u8],
    key: &str,
) -> Error {
    let mut options = RestoreOptions::new(output);
    options.force = true;
    let err = restore(client, &options).await.unwrap_err();
    assert!(
        err.to_string().contains(key),
        "error should name {key}: {err}"
    );
    assert_eq!(
        std::fs::read(output).unwrap(),
        original,
        "existing database changed"
    );
    let dir = output.parent().unwrap();
    let leftovers: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "left behind: {leftovers:?}");
    err
}

fn flip_middle(data: &mut [u8]) {
    let at = data.len() / 2;
    data[at] ^= 0xff;
}

fn file_client(dir: &Path) -> ReplicaClient {
    ReplicaClient::from_url(&format!("file://{}", dir.join("replica").display())).unwrap()
}

#[test]
fn corrupt_file_is_named_and_output_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let client = file_client(dir.path());
    let (output, original) = precious(dir.path());
    runtime().block_on(async {
        upload_chain(&client, |txid, data| {
            if txid == 2 {
                flip_middle(data)
            }
        })
        .await;
        let key = client.ltx_key(0, 2, 2).to_string();
        let err = expect_failure_naming(&client, &output, &original, &key).await;
        assert!(matches!(err, Error::Ltx { .. }), "{err:?}");
    });
}

#[test]
fn truncated_file_is_named_and_output_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let client = file_client(dir.path());
    let (output, original) = precious(dir.path());
    runtime().block_on(async {
        upload_chain(&client, |txid, data| {
            if txid == 3 {
                data.truncate(data.len() - 20);
            }
        })
        .await;
        let key = client.ltx_key(0, 3, 3).to_string();
        expect_failure_naming(&client, &output, &original, &key).await;
    });
}

#[test]
fn file_whose_header_disagrees_with_its_name_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let client = file_client(dir.path());
    let (output, original) = precious(dir.path());
    runtime().block_on(async {
        upload_chain(&client, |txid, data| {
            if txid == 3 {
                *data = ltx_file(4, 4, 4, 0, &[(4, 4)]);
            }
        })
        .await;
        let key = client.ltx_key(0, 3, 3).to_string();
        let err = expect_failure_naming(&client, &output, &original, &key).await;
        assert!(matches!(err, Error::CorruptFile { .. }), "{err:?}");
    });
}

#[test]
fn corrupt_object_on_s3_is_named_by_key() {
    let prefix = unique_prefix("corrupt");
    let Some(replica) = s3_replica(&prefix) else {
        return;
    };
    let client = ReplicaClient::from_config(&replica).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (output, original) = precious(dir.path());
    runtime().block_on(async {
        upload_chain(&client, |txid, data| {
            if txid == 1 {
                flip_middle(data)
            }
        })
        .await;
        let key = format!("{prefix}/0000/0000000000000001-0000000000000001.ltx");
        expect_failure_naming(&client, &output, &original, &key).await;
    });
}

#[test]
fn existing_output_needs_force_or_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let client = file_client(dir.path());
    let (output, original) = precious(dir.path());
    runtime().block_on(async {
        upload_chain(&client, |_, _| {}).await;
        let err = restore(&client, &RestoreOptions::new(&output))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::OutputExists { .. }), "{err:?}");
        assert!(err.hint().is_some());

        let mut skip = RestoreOptions::new(&output);
        skip.if_db_not_exists = true;
        assert_eq!(
            restore(&client, &skip).await.unwrap(),
            RestoreOutcome::SkippedDbExists
        );
        assert_eq!(std::fs::read(&output).unwrap(), original);

        // With force the database is replaced, and a stale -wal removed.
        std::fs::write(dir.path().join("app.db-wal"), b"stale").unwrap();
        let mut force = RestoreOptions::new(&output);
        force.force = true;
        let outcome = restore(&client, &force).await.unwrap();
        assert!(
            matches!(
                outcome,
                RestoreOutcome::Restored {
                    txid: 3,
                    files: 3,
                    ..
                }
            ),
            "{outcome:?}"
        );
        assert_eq!(std::fs::metadata(&output).unwrap().len(), 4 * 4096);
        assert!(!dir.path().join("app.db-wal").exists());
    });
}

#[test]
fn empty_replica_is_no_backup_or_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let client = file_client(dir.path());
    let output = dir.path().join("new.db");
    runtime().block_on(async {
        let err = restore(&client, &RestoreOptions::new(&output))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::NoBackup { .. }), "{err:?}");
        let mut skip = RestoreOptions::new(&output);
        skip.if_replica_exists = true;
        assert_eq!(
            restore(&client, &skip).await.unwrap(),
            RestoreOutcome::SkippedNoReplica
        );
    });
    assert!(!output.exists());
}

#[test]
fn failed_integrity_check_keeps_the_old_database() {
    let dir = tempfile::tempdir().unwrap();
    let client = file_client(dir.path());
    let (output, original) = precious(dir.path());

    // A real database whose index disagrees with its table.
    let source = dir.path().join("source.db");
    let conn = rusqlite::Connection::open(&source).unwrap();
    conn.execute_batch(
        "PRAGMA page_size = 4096;
         CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT);
         CREATE INDEX t_name ON t (name);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200)
         INSERT INTO t SELECT i, 'name-' || i FROM n;",
    )
    .unwrap();
    let index_page: u32 = conn
        .query_row(
            "SELECT rootpage FROM sqlite_master WHERE name = 't_name'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    drop(conn);
    let mut image = std::fs::read(&source).unwrap();
    let page_start = (index_page as usize - 1) * 4096;
    let page = &mut image[page_start..page_start + 4096];
    let at = page
        .windows(8)
        .position(|w| w == b"name-100")
        .expect("index entry");
    page[at + 5] = b'9';
    let pages: Vec<(u32, Vec<u8>)> = image
        .chunks(4096)
        .enumerate()
        .map(|(at, bytes)| (at as u32 + 1, bytes.to_vec()))
        .collect();
    let header = stn_ltx::Header {
        page_size: 4096,
        commit: pages.len() as u32,
        min_txid: 1,
        max_txid: 1,
        ..Default::default()
    };
    let mut data = Vec::new();
    let mut writer = stn_ltx::Writer::new(&mut data, header).unwrap();
    for (pgno, bytes) in &pages {
        writer.write_page(*pgno, bytes).unwrap();
    }
    writer.finish().unwrap();

    runtime().block_on(async {
        client
            .put_ltx(0, 1, 1, Bytes::from(data), OffsetDateTime::now_utc())
            .await
            .unwrap();
        let mut options = RestoreOptions::new(&output);
        options.force = true;
        options.integrity_check = IntegrityCheck::Full;
        let err = restore(&client, &options).await.unwrap_err();
        assert!(matches!(err, Error::Integrity { .. }), "{err:?}");
    });
    assert_eq!(std::fs::read(&output).unwrap(), original);
    assert!(
        dir.path().join("app.db.tmp").exists(),
        "kept for inspection"
    );
}
