//! Db against real SQLite databases: every chain of local L0 files must
//! rebuild the database exactly.

use super::checkpoint::Checkpoint;
use super::image::database_size_from_header;
use super::*;
use rusqlite::Connection;
use stn_ltx::Header;

struct Fixture {
    _dir: tempfile::TempDir,
    path: PathBuf,
    app: Connection,
}

/// A WAL-mode database with one table, written by an "app" connection with
/// autocheckpoint off (we own checkpoints).
fn fixture(page_size: u32) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    let app = Connection::open(&path).unwrap();
    app.pragma_update(None, "page_size", page_size).unwrap();
    app.pragma_update(None, "journal_mode", "wal").unwrap();
    app.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
    app.execute_batch("CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)")
        .unwrap();
    Fixture {
        _dir: dir,
        path,
        app,
    }
}

fn insert(app: &Connection, rows: usize, size: i64) {
    let tx = app.unchecked_transaction().unwrap();
    for _ in 0..rows {
        tx.execute("INSERT INTO t(v) VALUES (randomblob(?1))", [size])
            .unwrap();
    }
    tx.commit().unwrap();
}

fn open(path: &Path) -> Db {
    let mut db = Db::open(path, DbOptions::default()).unwrap();
    db.start(0).unwrap();
    db
}

/// Applies every local L0 file, in order, into a new database file.
fn rebuild(db: &Db) -> PathBuf {
    let txids = db.meta().l0_txids().unwrap();
    assert_eq!(
        txids,
        (1..=db.txid()).collect::<Vec<_>>(),
        "contiguous from 1"
    );
    let files: Vec<Vec<u8>> = txids
        .iter()
        .map(|&t| std::fs::read(db.meta().l0_path(t)).unwrap())
        .collect();
    let readers = files
        .iter()
        .map(|f| stn_ltx::Reader::new(&f[..]).unwrap())
        .collect();
    let out = db.path.with_extension("rebuilt");
    let mut image = Vec::new();
    stn_ltx::write_database(readers, &mut image).unwrap();
    std::fs::write(&out, image).unwrap();
    out
}

fn rows(path: &Path) -> Vec<(i64, Vec<u8>)> {
    let conn = Connection::open(path).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let mut stmt = conn.prepare("SELECT id, v FROM t ORDER BY id").unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
}

fn assert_rebuilds(db: &Db) {
    let rebuilt = rebuild(db);
    assert_eq!(rows(&rebuilt), rows(&db.path));
}

fn header(db: &Db, txid: u64) -> Header {
    let bytes = std::fs::read(db.meta().l0_path(txid)).unwrap();
    *stn_ltx::Reader::new(&bytes[..]).unwrap().header()
}

#[test]
fn first_sync_is_a_full_image_then_increments() {
    for page_size in [1024, 4096, 65536] {
        let f = fixture(page_size);
        insert(&f.app, 10, 100);
        let mut db = open(&f.path);
        assert_eq!(db.txid(), 1);
        let first = header(&db, 1);
        assert!(first.is_snapshot());
        assert_eq!(first.wal_offset, 32);
        assert_eq!(db.sync().unwrap(), None, "nothing new");

        insert(&f.app, 5, 3000);
        assert_eq!(db.sync().unwrap(), Some(2));
        let second = header(&db, 2);
        // The full image did not checkpoint, so the WAL did not restart
        // under the application's next commit: it continues where the image
        // ended.
        assert_eq!(second.wal_offset, first.wal_offset + first.wal_size);
        assert_eq!(
            (second.wal_salt1, second.wal_salt2),
            (first.wal_salt1, first.wal_salt2)
        );
        assert_rebuilds(&db);
    }
}

#[test]
fn checkpoints_restart_the_wal_without_full_images() {
    let f = fixture(1024);
    let mut db = open(&f.path);
    for round in 0..6 {
        // ~400 pages of 1 KiB per round: the 1000-frame threshold is crossed.
        insert(&f.app, 200, 1500);
        db.sync().unwrap();
        db.checkpoint_if_due().unwrap();
        if round == 3 {
            // A big transaction crossing max_sync_wal_bytes splits into files
            // only at commit boundaries, so it stays one file.
            insert(&f.app, 2000, 1000);
        }
    }
    db.sync().unwrap();
    assert!(db.stats().checkpoints >= 2, "{:?}", db.stats());
    assert_eq!(db.stats().full_images, 1);
    assert_rebuilds(&db);
}

#[test]
fn commits_during_checkpoints_are_kept() {
    // Our checkpoints run without the write lock: the application's
    // commits land between our sync and the checkpoint, and must stay in
    // the WAL until synced.
    let f = fixture(1024);
    insert(&f.app, 10, 100);
    let mut db = open(&f.path);
    let path = f.path.clone();
    let writing = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let writer = {
        let writing = std::sync::Arc::clone(&writing);
        std::thread::spawn(move || {
            let app = Connection::open(&path).unwrap();
            app.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
            while writing.load(std::sync::atomic::Ordering::Relaxed) {
                insert(&app, 5, 1500);
                // Gaps in which our barrier can get the write lock.
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        })
    };
    for _ in 0..40 {
        db.sync().unwrap();
        db.checkpoint(Checkpoint::Passive).unwrap();
    }
    writing.store(false, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
    db.sync().unwrap();
    assert!(db.stats().checkpoints > 0, "{:?}", db.stats());
    assert_eq!(db.stats().full_images, 1);
    assert_rebuilds(&db);
}

#[test]
fn shrinking_database_is_replicated() {
    let f = fixture(4096);
    insert(&f.app, 300, 2000);
    let mut db = open(&f.path);
    f.app.execute("DELETE FROM t WHERE id > 10", []).unwrap();
    f.app.execute_batch("VACUUM").unwrap();
    db.sync().unwrap();
    let last = header(&db, db.txid());
    let pages: u32 = f
        .app
        .query_row("PRAGMA page_count", [], |r| r.get(0))
        .unwrap();
    assert_eq!(last.commit, pages);
    assert_rebuilds(&db);
}

#[test]
fn restart_resumes_where_it_stopped() {
    let f = fixture(4096);
    insert(&f.app, 10, 100);
    let mut db = open(&f.path);
    insert(&f.app, 10, 100);
    db.sync().unwrap();
    db.close().unwrap();

    insert(&f.app, 10, 100);
    let db = open(&f.path);
    assert_eq!(
        db.txid(),
        3,
        "the rows written while stopped are one increment"
    );
    assert_eq!(db.stats().full_images, 0);
    assert_rebuilds(&db);
}

#[test]
fn checkpoint_by_someone_else_while_stopped_gives_a_full_image() {
    let f = fixture(4096);
    insert(&f.app, 10, 100);
    let mut db = open(&f.path);
    insert(&f.app, 10, 100);
    db.sync().unwrap();
    db.close().unwrap();

    // The app checkpoints and the WAL restarts: frames we never read are gone.
    insert(&f.app, 10, 100);
    f.app
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
    insert(&f.app, 10, 100);
    let db = open(&f.path);
    assert_eq!(db.txid(), 3);
    assert_eq!(db.stats().full_images, 1);
    assert_rebuilds(&db);
}

#[test]
fn external_truncate_while_running_is_safe() {
    let f = fixture(4096);
    insert(&f.app, 10, 100);
    let mut db = open(&f.path);
    insert(&f.app, 10, 100);
    // Before we synced: the TRUNCATE cannot copy past our read mark.
    let (busy,): (i64,) = f
        .app
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| Ok((r.get(0)?,)))
        .unwrap();
    assert_eq!(busy, 1, "our read transaction blocks the truncate");
    db.sync().unwrap();
    db.checkpoint(Checkpoint::Passive).unwrap();
    // Everything is synced and copied; now the truncate succeeds.
    f.app
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
    insert(&f.app, 10, 100);
    db.sync().unwrap();
    assert_eq!(db.stats().full_images, 1, "the restarted WAL continues");
    assert_rebuilds(&db);
}

#[test]
fn replica_ahead_continues_after_it() {
    let f = fixture(4096);
    insert(&f.app, 10, 100);
    let mut db = Db::open(&f.path, DbOptions::default()).unwrap();
    db.start(41).unwrap();
    assert_eq!(db.txid(), 42);
    let pages: u32 = f
        .app
        .query_row("PRAGMA page_count", [], |r| r.get(0))
        .unwrap();
    assert_eq!(header(&db, 42).commit, pages);
    assert_eq!(db.meta().l0_txids().unwrap(), [42]);
}

#[test]
fn snapshot_is_the_state_at_the_txid() {
    let f = fixture(4096);
    insert(&f.app, 10, 100);
    let mut db = open(&f.path);
    insert(&f.app, 10, 100);
    let out = f.path.with_extension("snap");
    let view = db.snapshot_view().unwrap().unwrap();
    let snap = view.header();
    assert_eq!((snap.min_txid, snap.max_txid), (1, db.txid()));
    view.write(&out).unwrap();
    assert_eq!(rows(&restore_snapshot(&out)), rows(&f.path));
}

/// Restores the LTX snapshot at `path` into a database file next to it.
fn restore_snapshot(path: &Path) -> PathBuf {
    let bytes = std::fs::read(path).unwrap();
    let mut image = Vec::new();
    stn_ltx::write_database(vec![stn_ltx::Reader::new(&bytes[..]).unwrap()], &mut image).unwrap();
    let restored = path.with_extension("restored");
    std::fs::write(&restored, image).unwrap();
    restored
}

#[test]
fn snapshot_view_keeps_its_state_while_the_db_moves_on() {
    // With another reader during the capture its checkpoint stops short,
    // so the image comes partly from the WAL; without, all from the file.
    // Checkpointed first, the WAL holds nothing the database file lacks, so
    // our marks let it restart under the view: the image must not read it.
    for (other_reader, checkpointed_first) in [(false, false), (true, false), (false, true)] {
        let f = fixture(4096);
        insert(&f.app, 50, 3000);
        let mut db = open(&f.path);
        f.app
            .execute("UPDATE t SET v = randomblob(3000) WHERE id % 2 = 0", [])
            .unwrap();
        if checkpointed_first {
            db.sync().unwrap();
            assert!(db.checkpoint(Checkpoint::Passive).unwrap());
        }
        let wal_before = WalFile::open(&f.path.with_extension("db-wal"))
            .unwrap()
            .map(|wal| wal.header().id());
        let reader = Connection::open(&f.path).unwrap();
        if other_reader {
            reader.execute_batch("BEGIN").unwrap();
            reader
                .query_row("SELECT count(*) FROM t", [], |_| Ok(()))
                .unwrap();
        }
        let view = db.snapshot_view().unwrap().unwrap();
        let expected = rows(&f.path);
        drop(reader);

        // The database moves on: rewritten pages, synced and checkpointed
        // by us and by the application (as far as the view lets them).
        f.app
            .execute("UPDATE t SET v = randomblob(3000)", [])
            .unwrap();
        insert(&f.app, 20, 3000);
        db.sync().unwrap();
        db.checkpoint(Checkpoint::Passive).unwrap();
        let _: (i64, i64, i64) = f
            .app
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .unwrap();

        let wal_after = WalFile::open(&f.path.with_extension("db-wal"))
            .unwrap()
            .map(|wal| wal.header().id());
        assert_eq!(
            wal_after != wal_before,
            checkpointed_first,
            "the WAL restarted under the view only when it was checkpointed first"
        );

        let out = f.path.with_extension("snap");
        view.write(&out).unwrap();
        assert_eq!(
            rows(&restore_snapshot(&out)),
            expected,
            "other reader: {other_reader}, checkpointed first: {checkpointed_first}"
        );
        assert_rebuilds(&db);
    }
}

#[test]
fn database_header_sizes() {
    let mut header = [0u8; 100];
    header[16..18].copy_from_slice(&1u16.to_be_bytes());
    header[28..32].copy_from_slice(&7u32.to_be_bytes());
    assert_eq!(database_size_from_header(&header, 0), (65536, 7));
    header[16..18].copy_from_slice(&4096u16.to_be_bytes());
    header[24] = 1; // change counter differs from version-valid-for
    assert_eq!(database_size_from_header(&header, 3 * 4096), (4096, 3));
    header[16..18].copy_from_slice(&1000u16.to_be_bytes());
    assert_eq!(database_size_from_header(&header, 4096), (0, 0));
}

#[test]
fn emergency_truncate_is_followed_by_a_full_image() {
    let f = fixture(4096);
    insert(&f.app, 10, 100);
    let options = DbOptions {
        truncate_page_n: 20,
        ..DbOptions::default()
    };
    let mut db = Db::open(&f.path, options).unwrap();
    db.start(0).unwrap();
    insert(&f.app, 40, 3000);
    db.sync().unwrap();
    assert!(db.checkpoint_if_due().unwrap());
    let wal_len = std::fs::metadata(f.path.with_extension("db-wal"))
        .unwrap()
        .len();
    assert_eq!(wal_len, 0, "TRUNCATE emptied the WAL");
    insert(&f.app, 5, 100);
    db.sync().unwrap();
    assert_eq!(db.stats().full_images, 2);
    assert_rebuilds(&db);
}

/// The locks this process holds on `path`'s inode, from `/proc/locks`.
fn own_locks_on(path: &Path) -> usize {
    use std::os::unix::fs::MetadataExt;
    let inode = std::fs::metadata(path).unwrap().ino().to_string();
    let pid = std::process::id().to_string();
    std::fs::read_to_string("/proc/locks")
        .unwrap()
        .lines()
        .filter(|line| {
            // "1: POSIX ADVISORY READ PID MAJ:MIN:INODE START END"
            let fields: Vec<&str> = line.split_whitespace().collect();
            fields.get(4) == Some(&pid.as_str())
                && fields
                    .get(5)
                    .and_then(|dev_inode| dev_inode.rsplit(':').next())
                    == Some(inode.as_str())
        })
        .count()
}

// Closing any descriptor of a file drops every POSIX lock the process holds
// on it, SQLite's included: reading the database for images and snapshots
// must leave the application's connections in this process (as in `stn
// serve`) their SHARED lock on the database file.
#[test]
fn images_and_snapshots_keep_the_applications_locks() {
    let f = fixture(4096);
    insert(&f.app, 50, 3000);
    let held = own_locks_on(&f.path);
    assert!(held >= 1, "SQLite holds a SHARED lock in WAL mode");
    let mut db = open(&f.path);
    insert(&f.app, 5, 3000);
    let view = db.snapshot_view().unwrap().unwrap();
    view.write(&f.path.with_extension("snap")).unwrap();
    drop(db);
    assert_eq!(own_locks_on(&f.path), held);
    // The file, opened again for another Db, is still read right.
    let mut db = open(&f.path);
    insert(&f.app, 5, 3000);
    db.sync().unwrap();
    assert_rebuilds(&db);
}
