//! Shared by the read-side integration tests: replica configs for the
//! loopback services, unique key prefixes, LTX fixtures and table dumps.

#![allow(dead_code)] // each test binary uses a different part

use std::path::Path;
use std::time::Duration;

use stn_ltx::{Header, Writer};
use stn_replicate::config::{ReplicaConfig, ReplicaKind};

/// Azurite's documented development account and key.
pub const AZURITE_ACCOUNT: &str = "devstoreaccount1";
pub const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// A key prefix no other test (or earlier run) uses.
pub fn unique_prefix(test: &str) -> String {
    format!("stn-read-tests/{test}-{:016x}", rand::random::<u64>())
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// An S3 replica on moto, or `None` (test skipped) without the service.
pub fn s3_replica(prefix: &str) -> Option<ReplicaConfig> {
    let endpoint = stn_testkit::service("STN_TEST_S3_ENDPOINT")?;
    let bucket = stn_testkit::service("STN_TEST_BUCKET")?;
    let mut replica = ReplicaConfig::new(ReplicaKind::S3);
    replica.bucket = Some(bucket);
    replica.path = Some(prefix.to_owned());
    replica.endpoint = Some(endpoint);
    replica.region = Some("us-east-1".to_owned());
    replica.force_path_style = Some(true);
    replica.access_key_id = Some("test".to_owned());
    replica.secret_access_key = Some("test".to_owned());
    Some(replica)
}

/// An Azure replica on Azurite, or `None` without the service.
pub fn azure_replica(prefix: &str) -> Option<ReplicaConfig> {
    let endpoint = stn_testkit::service("STN_TEST_AZURE_ENDPOINT")?;
    let bucket = stn_testkit::service("STN_TEST_BUCKET")?;
    let url =
        format!("abs://{AZURITE_ACCOUNT}@{bucket}/{prefix}?endpoint={endpoint}/{AZURITE_ACCOUNT}");
    let mut replica = ReplicaConfig::from_url(&url).expect("abs URL");
    replica.account_key = Some(AZURITE_KEY.to_owned());
    Some(replica)
}

/// A GCS replica URL on fake-gcs-server and the server's base URL.
pub fn gcs_url(prefix: &str) -> Option<(String, String)> {
    let endpoint = stn_testkit::service("STN_TEST_GCS_ENDPOINT")?;
    let bucket = stn_testkit::service("STN_TEST_BUCKET")?;
    Some((
        format!("gs://{bucket}/{prefix}?endpoint={endpoint}"),
        endpoint,
    ))
}

/// Uploads an object through fake-gcs-server's JSON API (object_store
/// cannot write to it, see test-servers.md).
pub fn gcs_seed(endpoint: &str, bucket: &str, name: &str, body: &[u8]) {
    use std::io::{Read, Write};
    let authority = endpoint.trim_start_matches("http://");
    let encoded: String = name
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let mut stream = std::net::TcpStream::connect(authority).expect("connect to fake-gcs-server");
    let head = format!(
        "POST /upload/storage/v1/b/{bucket}/o?uploadType=media&name={encoded} HTTP/1.0\r\nHost: {authority}\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).ok();
    assert!(
        response.starts_with("HTTP/1.1 200") || response.starts_with("HTTP/1.0 200"),
        "seeding {name}: {response}"
    );
}

/// An LTX file of `pages` (page number, fill byte), 4096-byte pages.
pub fn ltx_file(
    min_txid: u64,
    max_txid: u64,
    commit: u32,
    timestamp_ms: i64,
    pages: &[(u32, u8)],
) -> Vec<u8> {
    let header = Header {
        page_size: 4096,
        commit,
        min_txid,
        max_txid,
        timestamp: timestamp_ms,
        ..Header::default()
    };
    let mut out = Vec::new();
    let mut writer = Writer::new(&mut out, header).unwrap();
    for &(pgno, fill) in pages {
        writer.write_page(pgno, &[fill; 4096]).unwrap();
    }
    writer.finish().unwrap();
    out
}

/// Every user table with a hash per row, in rowid order (Litestream's own
/// `_litestream_*` tables excluded).
pub fn dump(path: &Path) -> Vec<(String, Vec<u64>)> {
    let conn =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap_or_else(|err| panic!("open {}: {err}", path.display()));
    dump_conn(&conn)
}

pub fn dump_conn(conn: &rusqlite::Connection) -> Vec<(String, Vec<u64>)> {
    use rusqlite::types::ValueRef;
    use std::hash::{Hash, Hasher};

    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_litestream%' ESCAPE '\\' ORDER BY name")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    tables
        .into_iter()
        .map(|table| {
            let mut statement = conn
                .prepare(&format!("SELECT * FROM \"{table}\" ORDER BY rowid"))
                .unwrap();
            let columns = statement.column_count();
            let rows = statement
                .query_map([], |row| {
                    let mut hasher = std::hash::DefaultHasher::new();
                    for at in 0..columns {
                        match row.get_ref(at)? {
                            ValueRef::Null => 0u8.hash(&mut hasher),
                            ValueRef::Integer(i) => (1u8, i).hash(&mut hasher),
                            ValueRef::Real(f) => (2u8, f.to_bits()).hash(&mut hasher),
                            ValueRef::Text(t) => (3u8, t).hash(&mut hasher),
                            ValueRef::Blob(b) => (4u8, b).hash(&mut hasher),
                        }
                    }
                    Ok(hasher.finish())
                })
                .unwrap()
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            (table, rows)
        })
        .collect()
}

pub fn integrity_check(path: &Path) -> String {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap()
}

/// Polls `probe` every 100 ms until it returns true or `timeout` passes.
pub fn wait_until(timeout: Duration, mut probe: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < deadline {
        if probe() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}
