//! Real files from Litestream's `replicate` (file replica, L0 chain),
//! committed under `testdata/`: 0.5.17 (LZ4 block pages, 512-byte pages)
//! and 0.5.15 (legacy LZ4-frame pages, 4096-byte pages). Each database was
//! a table `t(id INTEGER PRIMARY KEY, v BLOB)` that had rows added in a
//! few transactions while Litestream ran.

use std::fs;
use std::path::Path;

use rusqlite::Connection;
use stn_ltx::{Reader, parse_file_name, write_database};

use crate::common::read_file;

/// The chain in `testdata/<name>` in TXID order.
pub fn chain(name: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(name);
    let mut files: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    files
        .iter()
        .map(|path| {
            let name = path.file_name().unwrap().to_str().unwrap();
            let (min, max) = parse_file_name(name).unwrap();
            let bytes = fs::read(path).unwrap();
            let (header, _) = read_file(&bytes).unwrap();
            assert_eq!((header.min_txid, header.max_txid), (min, max), "{name}");
            bytes
        })
        .collect()
}

/// Row count and total blob length of the database the chain rebuilds.
fn rebuild(chain: &[Vec<u8>]) -> (i64, i64) {
    let readers = chain.iter().map(|f| Reader::new(&f[..]).unwrap()).collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("restored.db");
    let mut db = fs::File::create(&path).unwrap();
    write_database(readers, &mut db).unwrap();
    drop(db);
    let conn = Connection::open(&path).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    conn.query_row("SELECT count(*), sum(length(v)) FROM t", [], |row| {
        Ok((row.get(0)?, row.get(1)?))
    })
    .unwrap()
}

#[test]
fn litestream_0_5_17_files_verify_and_rebuild() {
    assert_eq!(rebuild(&chain("litestream-0.5.17")), (4, 250));
}

#[test]
fn litestream_0_5_15_legacy_files_verify_and_rebuild() {
    let chain = chain("litestream-0.5.15");
    // Frame flags of the first page follow the 100-byte header: 0 = legacy.
    assert!(chain.iter().all(|bytes| bytes[104..106] == [0, 0]));
    assert_eq!(rebuild(&chain), (8, 3600));
}
