//! Shared by the read-side integration tests: replica configs for the
//! loopback services, unique key prefixes, LTX fixtures and table dumps.

#![allow(dead_code, unused_imports)] // each test binary uses a different part

use stn_ltx::{Header, Writer};
use stn_replicate::{ReplicaConfig, ReplicaKind};
pub use stn_testkit::sqlite::{dump, dump_conn, integrity_check};
pub use stn_testkit::wait_until;

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
