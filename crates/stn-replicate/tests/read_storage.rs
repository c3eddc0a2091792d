//! The storage seam against each backend: local files always, moto (S3)
//! and Azurite (Azure) for the full round trip, fake-gcs-server (GCS) for
//! the read path, which is all it supports through object_store.

mod read_support;

use bytes::Bytes;
use object_store::path::Path;
use object_store::{Attribute, ObjectStoreExt};
use stn_replicate::{LtxFileInfo, ReplicaClient};
use stn_replicate::{RestoreOptions, RestoreOutcome, list_files, restore};
use time::OffsetDateTime;

use read_support::*;

/// 2026-01-02T03:04:05.678Z, a header timestamp with milliseconds.
const TIMESTAMP_MS: i64 = 1_767_323_045_678;

fn timestamp() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(TIMESTAMP_MS) * 1_000_000).unwrap()
}

/// The behaviour every backend must share; `metadata_key` is where
/// Litestream's timestamp lives (`None`: in the file's mtime).
async fn round_trip(client: &ReplicaClient, metadata_key: Option<&str>) {
    let files = [(0, 1, 1), (0, 2, 2), (0, 3, 3), (1, 1, 3), (9, 1, 3)];
    for &(level, min, max) in files.iter().rev() {
        let data = Bytes::from(ltx_file(min, max, 1, TIMESTAMP_MS, &[(1, max as u8)]));
        client
            .put_ltx(level, min, max, data, timestamp())
            .await
            .unwrap();
    }
    let level0 = client.list_ltx(0).await.unwrap();
    let ranges: Vec<_> = level0.iter().map(|f| (f.min_txid, f.max_txid)).collect();
    assert_eq!(ranges, [(1, 1), (2, 2), (3, 3)], "sorted by TXID");
    assert!(level0.iter().all(|f| f.level == 0 && f.size > 100));
    assert_eq!(client.list_ltx(1).await.unwrap().len(), 1);
    assert_eq!(client.list_ltx(5).await.unwrap(), []);
    let all = list_files(client, None).await.unwrap();
    assert_eq!(all.len(), 5);
    assert_eq!(all.last().map(|f| f.level), Some(9));

    let expected = ltx_file(2, 2, 1, TIMESTAMP_MS, &[(1, 2)]);
    let file = &level0[1];
    assert_eq!(client.get_ltx(file, None).await.unwrap(), expected);
    assert_eq!(
        client.get_ltx(file, Some(16..32)).await.unwrap(),
        expected[16..32]
    );

    // A server-side copy to another level keeps bytes and timestamp.
    let copied = client.copy_ltx(file, 2).await.unwrap();
    assert_eq!((copied.level, copied.min_txid, copied.max_txid), (2, 2, 2));
    let listed = client.list_ltx(2).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(client.get_ltx(&listed[0], None).await.unwrap(), expected);

    for key in [client.ltx_key(0, 2, 2), client.ltx_key(2, 2, 2)] {
        match metadata_key {
            Some(name) => {
                let (store, _) = client.raw_store_for_tests();
                let result = store.get(&Path::parse(&key).unwrap()).await.unwrap();
                let value = result
                    .attributes
                    .get(&Attribute::Metadata(name.to_owned().into()));
                assert_eq!(
                    value.map(|v| v.as_ref()),
                    Some("2026-01-02T03:04:05.678Z"),
                    "{name} of {key}"
                );
            }
            // A file replica keeps the timestamp as the file's mtime. (An
            // object store's LastModified is the copy's own time: there the
            // timestamp is the metadata checked above.)
            None => {
                assert_eq!(
                    listed[0].last_modified,
                    timestamp(),
                    "file mtime is the LTX timestamp"
                );
                assert_eq!(file.last_modified, listed[0].last_modified);
            }
        }
    }

    client.delete_ltx(&level0[..2]).await.unwrap();
    let left: Vec<_> = client
        .list_ltx(0)
        .await
        .unwrap()
        .iter()
        .map(|f| f.min_txid)
        .collect();
    assert_eq!(left, [3]);
    // Deleting what is already gone succeeds (Azure answers NotFound).
    client.delete_ltx(&level0[..2]).await.unwrap();
    let err = client.get_ltx(&level0[0], None).await.unwrap_err();
    assert!(
        err.to_string()
            .contains(&client.ltx_key(0, 1, 1).to_string()),
        "{err}"
    );
}

/// An upload above the single-PUT limit goes multipart and reads back whole.
async fn large_upload(client: &ReplicaClient, metadata_key: Option<&str>) {
    // Noise pages, so compression cannot shrink the file below 16 MiB.
    let header = stn_ltx::Header {
        page_size: 4096,
        commit: 5000,
        min_txid: 1,
        max_txid: 9,
        timestamp: TIMESTAMP_MS,
        ..Default::default()
    };
    let mut data = Vec::new();
    let mut writer = stn_ltx::Writer::new(&mut data, header).unwrap();
    let mut state = 7u64;
    for pgno in 1..=5000u32 {
        let page: Vec<u8> = (0..4096)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (state >> 56) as u8
            })
            .collect();
        writer.write_page(pgno, &page).unwrap();
    }
    writer.finish().unwrap();
    assert!(data.len() > 17 * 1024 * 1024, "{} bytes", data.len());
    client
        .put_ltx(9, 1, 9, Bytes::from(data.clone()), timestamp())
        .await
        .unwrap();
    let file = LtxFileInfo {
        level: 9,
        min_txid: 1,
        max_txid: 9,
        size: data.len() as u64,
        last_modified: timestamp(),
    };
    let listed = client.list_ltx(9).await.unwrap();
    assert!(
        listed
            .iter()
            .any(|f| f.max_txid == 9 && f.size == file.size),
        "{listed:?}"
    );
    assert!(
        client.get_ltx(&file, None).await.unwrap() == data,
        "multipart upload reads back whole"
    );

    // The same file streamed from disk, at level 8 so the key differs.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("large.ltx");
    std::fs::write(&path, &data).unwrap();
    let open = || std::fs::File::open(&path).unwrap();
    let err = client
        .put_ltx_file(8, 1, 10, open(), &path)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("TXIDs 1-9"), "{err}");
    assert!(
        client.list_ltx(8).await.unwrap().is_empty(),
        "nothing uploaded"
    );
    let streamed = client.put_ltx_file(8, 1, 9, open(), &path).await.unwrap();
    assert_eq!(
        streamed,
        LtxFileInfo {
            level: 8,
            ..file.clone()
        }
    );
    let listed = client.list_ltx(8).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].size, file.size);
    assert!(
        client.get_ltx(&streamed, None).await.unwrap() == data,
        "streamed multipart upload reads back whole"
    );
    let key = client.ltx_key(8, 1, 9);
    let (store, _) = client.raw_store_for_tests();
    let attributes = store
        .get(&Path::parse(&key).unwrap())
        .await
        .unwrap()
        .attributes;
    match metadata_key {
        Some(name) => assert_eq!(
            attributes
                .get(&Attribute::Metadata(name.to_owned().into()))
                .map(|v| v.as_ref()),
            Some("2026-01-02T03:04:05.678Z"),
            "{name}"
        ),
        None => assert_eq!(listed[0].last_modified, timestamp(), "file mtime"),
    }
}

#[test]
fn file_backend_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", dir.path().join("replica").display());
    let client = ReplicaClient::from_url(&url).unwrap();
    runtime().block_on(async {
        assert_eq!(
            client.list_ltx(0).await.unwrap(),
            [],
            "a missing directory is an empty replica"
        );
        round_trip(&client, None).await;
        large_upload(&client, None).await;
    });
    assert!(
        dir.path()
            .join("replica/ltx/0/0000000000000003-0000000000000003.ltx")
            .is_file()
    );
}

#[test]
fn s3_round_trip_on_moto() {
    let prefix = unique_prefix("s3-round-trip");
    let Some(replica) = s3_replica(&prefix) else {
        return;
    };
    let client = ReplicaClient::from_config(&replica).unwrap();
    runtime().block_on(async {
        round_trip(&client, Some("litestream-timestamp")).await;
        large_upload(&client, Some("litestream-timestamp")).await;
        let keys: Vec<String> = list_files(&client, None)
            .await
            .unwrap()
            .iter()
            .map(|f| client.ltx_key(f.level, f.min_txid, f.max_txid).to_string())
            .collect();
        assert!(
            keys.contains(&format!(
                "{prefix}/0009/0000000000000001-0000000000000009.ltx"
            )),
            "{keys:?}"
        );
    });
}

#[test]
fn azure_round_trip_on_azurite() {
    let prefix = unique_prefix("azure-round-trip");
    let Some(replica) = azure_replica(&prefix) else {
        return;
    };
    let client = ReplicaClient::from_config(&replica).unwrap();
    assert!(!format!("{client:?} {}", client.url()).contains(AZURITE_KEY));
    runtime().block_on(async {
        round_trip(&client, Some("litestreamtimestamp")).await;
        large_upload(&client, Some("litestreamtimestamp")).await;
    });
}

#[test]
fn gcs_read_path_and_restore_on_fake_gcs() {
    let prefix = unique_prefix("gcs-read");
    let Some((url, endpoint)) = gcs_url(&prefix) else {
        return;
    };
    let bucket = stn_testkit::service("STN_TEST_BUCKET").unwrap();
    let snapshot = ltx_file(1, 2, 2, TIMESTAMP_MS, &[(1, 1), (2, 2)]);
    let l0 = ltx_file(3, 3, 3, TIMESTAMP_MS + 1000, &[(2, 3), (3, 3)]);
    gcs_seed(
        &endpoint,
        &bucket,
        &format!("{prefix}/ltx/9/0000000000000001-0000000000000002.ltx"),
        &snapshot,
    );
    gcs_seed(
        &endpoint,
        &bucket,
        &format!("{prefix}/ltx/0/0000000000000003-0000000000000003.ltx"),
        &l0,
    );
    gcs_seed(
        &endpoint,
        &bucket,
        &format!("{prefix}/ltx/0/not-an-ltx-file.tmp"),
        b"x",
    );

    let client = ReplicaClient::from_url(&url).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("restored.db");
    runtime().block_on(async {
        let files = list_files(&client, None).await.unwrap();
        let ranges: Vec<_> = files
            .iter()
            .map(|f| (f.level, f.min_txid, f.max_txid))
            .collect();
        assert_eq!(ranges, [(0, 3, 3), (9, 1, 2)]);
        assert_eq!(client.get_ltx(&files[0], None).await.unwrap(), l0);
        assert_eq!(
            client.get_ltx(&files[1], Some(0..4)).await.unwrap(),
            &b"LTX1"[..]
        );

        let outcome = restore(&client, &RestoreOptions::new(&output))
            .await
            .unwrap();
        assert!(
            matches!(
                outcome,
                RestoreOutcome::Restored {
                    txid: 3,
                    files: 2,
                    ..
                }
            ),
            "{outcome:?}"
        );
    });
    let image = std::fs::read(&output).unwrap();
    let firsts: Vec<u8> = image.chunks(4096).map(|page| page[0]).collect();
    assert_eq!(firsts, [1, 3, 3]);
}
