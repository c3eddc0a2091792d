//! One local database being replicated (Litestream's `db.go` role): turns
//! committed WAL frames into level-0 LTX files in the meta directory and
//! owns checkpointing.
//!
//! # How nothing gets lost
//!
//! Frames are lost to a replicator when SQLite copies them into the
//! database file and then restarts the WAL over them before they were read.
//! Two SQLite connections of our own prevent that without any table in the
//! user's database:
//!
//! - the *reader* always holds a read transaction. A checkpoint never
//!   copies frames past a reader's snapshot, and the WAL is only restarted
//!   once everything has been copied, so while we hold it the WAL restarts
//!   at most once, and only after every frame of it was copied. The read
//!   transaction is (re)started only when everything committed has been
//!   turned into L0 files, so that one restart never hides unread frames:
//!   a WAL that restarts while we run is simply continued at its start.
//! - the *writer* takes SQLite's write lock (`BEGIN IMMEDIATE`, rolled
//!   back, nothing written) as a barrier whenever the reader lets go: at
//!   startup and before our own checkpoints. Nobody can commit in between,
//!   so everything committed is synced before the read lock is dropped.
//!   The barrier is held for that only: our PASSIVE checkpoints run after
//!   it, with the reader's mark at the position, so the application never
//!   waits for their copying and fsync.
//!
//! A snapshot for a replica is fixed the same way, by a read transaction
//! of its own started under the barrier ([`SnapshotView`]), and is written
//! without this `Db`, so a big snapshot holds back no sync.
//!
//! Both set `SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE`, so closing them never
//! checkpoints or deletes the WAL, and `wal_autocheckpoint=0`. Pages are
//! read from the database file through a descriptor that is never closed
//! ([`file`]): closing one would drop SQLite's locks in this process.
//!
//! When continuity cannot be proven — at startup the WAL is another
//! generation, shorter than the position, or its bytes up to the position
//! changed (someone checkpointed while we were down), or a WAL appears that
//! is not the restart of the one followed — the next TXID is a full image
//! of the database, so a replica never misses a change in the middle.
//!
//! # TXIDs
//!
//! One L0 file per sync, TXIDs contiguous from 1. The first ever is a full
//! image with TXID 1 (a snapshot by LTX rules). When a replica is ahead of
//! the local position (the database was restored, or the meta directory
//! lost), numbering continues after the replica's TXID with a full image.

mod checkpoint;
mod file;
mod image;
mod l0;
mod meta;

pub use meta::{MetaDir, Position, WalPosition};

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use rusqlite::Connection;
use rusqlite::config::DbConfig;
use stn_ltx::{FLAG_NO_CHECKSUM, Header};

use crate::error::{Error, Result};
use crate::fs::with_suffix;
use crate::wal::{self, WalFile};
use l0::{PageReader, WalPages};

/// How a database is checkpointed and read (Litestream's per-DB settings).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DbOptions {
    /// How long our connections wait for SQLite locks (Litestream: 1 s).
    pub busy_timeout: Duration,
    /// A PASSIVE checkpoint runs when data was synced and this long passed
    /// since the last checkpoint (Litestream: 1 min).
    pub checkpoint_interval: Duration,
    /// A PASSIVE checkpoint runs when the WAL holds this many uncheckpointed
    /// frames (Litestream: 1000).
    pub min_checkpoint_page_count: u64,
    /// A TRUNCATE checkpoint runs when the WAL holds this many frames that
    /// PASSIVE checkpoints could not copy (Litestream: 121359, ~500 MB).
    pub truncate_page_n: u64,
    /// One L0 file covers at most about this many WAL bytes, split at
    /// commit boundaries (Litestream: 64 MB).
    pub max_sync_wal_bytes: u64,
}

impl Default for DbOptions {
    fn default() -> Self {
        DbOptions {
            busy_timeout: Duration::from_secs(1),
            checkpoint_interval: Duration::from_secs(60),
            min_checkpoint_page_count: 1000,
            truncate_page_n: 121_359,
            max_sync_wal_bytes: 64 << 20,
        }
    }
}

/// What a WAL check found.
enum Continuity {
    /// Frames can be read from the position on.
    Continues(WalFile),
    /// No WAL with frames to read.
    NoWal,
    /// Changes may have been missed: the next file must be a full image.
    Broken(String),
}

/// Counters kept for status reporting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DbStats {
    /// L0 files written.
    pub syncs: u64,
    /// Full images written (first sync and every recovery).
    pub full_images: u64,
    /// Checkpoints run.
    pub checkpoints: u64,
    /// WAL file size at the last sync.
    pub wal_size: u64,
}

/// One local SQLite database in WAL mode and its replication state.
pub struct Db {
    path: PathBuf,
    wal_path: PathBuf,
    meta: MetaDir,
    options: DbOptions,
    reader: Connection,
    writer: Connection,
    /// Kept open for the process's life (see [`file`]).
    db_file: Arc<File>,
    position: Position,
    /// Latest frame of each page in the followed WAL, up to the position.
    wal_pages: WalPages,
    /// Offset in the followed WAL up to which a checkpoint copied everything.
    checkpointed_to: u64,
    needs_full_image: bool,
    last_checkpoint: Instant,
    synced_since_checkpoint: bool,
    wal_stat: Option<(u64, Option<SystemTime>)>,
    stats: DbStats,
}

impl Db {
    /// Opens the database at `path` (which must exist), switches it to WAL
    /// mode, opens the reader and writer connections and loads the local
    /// position. Call [`Db::start`] before syncing.
    pub fn open(path: &Path, options: DbOptions) -> Result<Db> {
        let db_file = file::open(path).map_err(|source| Error::Io {
            path: path.display().to_string(),
            source,
        })?;
        let reader = open_connection(path, &options)?;
        let writer = open_connection(path, &options)?;
        let meta = MetaDir::for_database(path);
        meta.create()?;
        let position = meta.read_position()?;
        let needs_full_image = position.is_none();
        Ok(Db {
            path: path.to_owned(),
            wal_path: with_suffix(path, "-wal"),
            meta,
            options,
            reader,
            writer,
            db_file,
            position: position.unwrap_or(Position {
                txid: 0,
                page_size: 0,
                commit: 0,
                wal: None,
            }),
            wal_pages: WalPages::new(),
            checkpointed_to: 0,
            needs_full_image,
            last_checkpoint: Instant::now(),
            synced_since_checkpoint: false,
            wal_stat: None,
            stats: DbStats::default(),
        })
    }

    /// The meta directory holding position and local L0 files.
    pub fn meta(&self) -> &MetaDir {
        &self.meta
    }

    /// TXID of the last L0 file written.
    pub fn txid(&self) -> u64 {
        self.position.txid
    }

    /// Counters for status reporting.
    pub fn stats(&self) -> DbStats {
        self.stats
    }

    /// Resumes from the saved position when the WAL still matches it, and
    /// syncs what was committed since; otherwise writes a full image. When
    /// a replica is ahead (`replica_txid` above the local TXID), local L0
    /// files are dropped and numbering continues after it with a full image.
    pub fn start(&mut self, replica_txid: u64) -> Result<()> {
        let txid = self.position.txid;
        self.meta.remove_temporary_files()?;
        self.meta.remove_l0_where(|t| t > txid)?;
        self.skip_past(replica_txid)?;
        if !self.needs_full_image {
            // Under the barrier nothing commits, so once the rest of the WAL
            // is synced the read transaction starts at the position.
            let resumed = self.with_barrier(|db| {
                let resumed = db.resume()?;
                if resumed {
                    db.sync_frames()?;
                }
                db.begin_read()?;
                Ok(resumed && !db.needs_full_image)
            })?;
            match resumed {
                Some(true) => return Ok(()),
                Some(false) => self.needs_full_image = true,
                None => return Err(self.busy("take the write lock at startup")),
            }
        }
        self.write_full_image()
    }

    /// When a replica is ahead of the local position (`replica_txid` above
    /// it), drops the local L0 files and continues numbering after the
    /// replica with a full image at the next sync.
    pub fn skip_past(&mut self, replica_txid: u64) -> Result<()> {
        if replica_txid <= self.position.txid {
            return Ok(());
        }
        tracing::info!(db = %self.path.display(), local = self.position.txid, replica = replica_txid,
            "replica is ahead of the local position; continuing after it with a full image");
        self.meta.remove_l0_where(|_| true)?;
        self.position.txid = replica_txid;
        self.needs_full_image = true;
        Ok(())
    }

    /// Turns everything committed since the last sync into L0 files (one
    /// per `max_sync_wal_bytes`); returns the new TXID if any was written.
    pub fn sync(&mut self) -> Result<Option<u64>> {
        let before = self.position.txid;
        if self.needs_full_image {
            self.write_full_image()?;
        } else {
            self.sync_frames()?;
            if self.needs_full_image {
                self.write_full_image()?;
            }
        }
        Ok((self.position.txid > before).then_some(self.position.txid))
    }

    /// True when the WAL file's size or modification time changed since
    /// the last call: a `stat`, no reads.
    pub fn wal_changed(&mut self) -> bool {
        let stat = std::fs::metadata(&self.wal_path)
            .ok()
            .map(|m| (m.len(), m.modified().ok()));
        let changed = stat != self.wal_stat;
        self.wal_stat = stat;
        changed
    }

    /// Ends the read transaction, letting other connections checkpoint and
    /// restart the WAL; the connections close without checkpointing when
    /// dropped. Syncing again later starts from a fresh [`Db::start`].
    pub fn close(&mut self) -> Result<()> {
        self.end_read()
    }

    // --- WAL reading -----------------------------------------------------

    /// At startup: whether the WAL still holds the saved position
    /// unchanged; rebuilds the page index of the frames before it.
    fn resume(&mut self) -> Result<bool> {
        let Some(saved) = self.position.wal else {
            return Ok(false);
        };
        let Some(mut wal) = WalFile::open(&self.wal_path)? else {
            return Ok(false);
        };
        if wal.header().id() != saved.id || wal.header().page_size() != self.position.page_size {
            return Ok(false);
        }
        let all = wal.read_committed(wal.header().start(), u64::MAX)?;
        if all.end.offset < saved.cursor.offset
            || wal.checksum_at(saved.cursor.offset)? != Some(saved.cursor.checksum)
        {
            return Ok(false);
        }
        let before: Vec<_> = all
            .frames
            .iter()
            .copied()
            .filter(|f| f.data_offset < saved.cursor.offset)
            .collect();
        l0::index_frames(&mut self.wal_pages, &before);
        self.checkpointed_to = wal::HEADER_SIZE;
        tracing::debug!(db = %self.path.display(), txid = self.position.txid, offset = saved.cursor.offset, "resuming replication");
        Ok(true)
    }

    /// Checks the WAL against the position, switching to a restarted WAL.
    fn check_wal(&mut self) -> Result<Continuity> {
        let Some(mut wal) = WalFile::open(&self.wal_path)? else {
            return Ok(Continuity::NoWal);
        };
        let header = *wal.header();
        if header.page_size() != self.position.page_size {
            return Ok(Continuity::Broken(format!(
                "WAL page size {} differs from {}",
                header.page_size(),
                self.position.page_size
            )));
        }
        match self.position.wal {
            Some(followed) if followed.id == header.id() => {
                let at = followed.cursor;
                if wal.checksum_at(at.offset)? != Some(at.checksum) {
                    return Ok(Continuity::Broken(format!(
                        "WAL bytes before offset {} changed",
                        at.offset
                    )));
                }
            }
            Some(followed) if !followed.id.restarted_as(&header.id()) => {
                return Ok(Continuity::Broken(
                    "WAL was replaced by one that is not its restart".into(),
                ));
            }
            _ => {
                // The WAL restarted (or first appeared) while our read
                // transaction was held, so every frame before was read.
                self.position.wal = Some(WalPosition {
                    id: header.id(),
                    cursor: header.start(),
                });
                self.wal_pages.clear();
                self.checkpointed_to = wal::HEADER_SIZE;
            }
        }
        Ok(Continuity::Continues(wal))
    }

    /// Writes one L0 file per chunk of newly committed frames. Sets
    /// `needs_full_image` instead when continuity is broken.
    fn sync_frames(&mut self) -> Result<()> {
        let mut wal = match self.check_wal()? {
            Continuity::Continues(wal) => wal,
            Continuity::NoWal => return Ok(()),
            Continuity::Broken(reason) => {
                tracing::warn!(db = %self.path.display(), %reason, "WAL continuity lost; next sync writes a full image");
                self.needs_full_image = true;
                return Ok(());
            }
        };
        let salts = wal.header().salts();
        loop {
            let Some(followed) = self.position.wal else {
                return Ok(());
            };
            let read = wal.read_committed(followed.cursor, self.options.max_sync_wal_bytes)?;
            if read.frames.is_empty() {
                break;
            }
            let lock = stn_ltx::lock_pgno(self.position.page_size);
            let pages = l0::incremental_pages(
                &read.frames,
                &self.wal_pages,
                self.position.commit,
                read.commit,
                lock,
            );
            let txid = self.position.txid + 1;
            let header = Header {
                flags: FLAG_NO_CHECKSUM,
                page_size: self.position.page_size,
                commit: read.commit,
                min_txid: txid,
                max_txid: txid,
                timestamp: now_ms(),
                wal_offset: read.start.offset as i64,
                wal_size: (read.end.offset - read.start.offset) as i64,
                wal_salt1: salts.0,
                wal_salt2: salts.1,
                ..Header::default()
            };
            let mut reader = PageReader {
                wal: Some(&mut wal),
                db: &self.db_file,
                db_path: &self.path,
            };
            let size = l0::write_ltx(&self.meta.l0_path(txid), header, pages, &mut reader)?;
            l0::index_frames(&mut self.wal_pages, &read.frames);
            self.commit_position(Position {
                txid,
                page_size: self.position.page_size,
                commit: read.commit,
                wal: Some(WalPosition {
                    id: followed.id,
                    cursor: read.end,
                }),
            })?;
            tracing::debug!(db = %self.path.display(), txid, frames = read.frames.len(), size, "wrote L0");
            // Only a read cut short by max_sync_wal_bytes leaves a backlog;
            // commits made since are the next sync's, so a busy writer
            // cannot keep this loop going.
            if read.end.offset - read.start.offset < self.options.max_sync_wal_bytes {
                break;
            }
        }
        self.stats.wal_size = std::fs::metadata(&self.wal_path).map_or(0, |m| m.len());
        Ok(())
    }

    fn commit_position(&mut self, position: Position) -> Result<()> {
        self.meta.write_position(&position)?;
        self.position = position;
        self.stats.syncs += 1;
        self.synced_since_checkpoint = true;
        Ok(())
    }

    // --- locks -----------------------------------------------------------

    /// Runs `f` while holding SQLite's write lock on the writer
    /// connection. `None` when the lock stayed busy for the busy timeout.
    fn with_barrier<T>(&mut self, f: impl FnOnce(&mut Db) -> Result<T>) -> Result<Option<T>> {
        match self.writer.execute_batch("BEGIN IMMEDIATE") {
            Ok(()) => {}
            Err(e) if is_busy(&e) => return Ok(None),
            Err(e) => return Err(self.sqlite_error(e)),
        }
        let result = f(self);
        let released = self.writer.execute_batch("ROLLBACK");
        let value = result?;
        released.map_err(|e| self.sqlite_error(e))?;
        Ok(Some(value))
    }

    /// Starts the reader's long read transaction.
    fn begin_read(&mut self) -> Result<()> {
        begin_read(&self.reader).map_err(|e| self.sqlite_error(e))
    }

    fn end_read(&mut self) -> Result<()> {
        if self.reader.is_autocommit() {
            return Ok(());
        }
        self.reader
            .execute_batch("ROLLBACK")
            .map_err(|e| self.sqlite_error(e))
    }

    fn sqlite_error(&self, source: rusqlite::Error) -> Error {
        Error::Sqlite {
            path: self.path.display().to_string(),
            source,
        }
    }

    fn busy(&self, what: &str) -> Error {
        Error::DatabaseBusy {
            path: self.path.display().to_string(),
            what: what.to_owned(),
        }
    }
}

/// Starts a read transaction on `conn`; the `SELECT` is what actually
/// takes the WAL read mark.
fn begin_read(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch("BEGIN")?;
    conn.query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(()))
}

fn open_connection(path: &Path, options: &DbOptions) -> Result<Connection> {
    let sqlite_error = |source| Error::Sqlite {
        path: path.display().to_string(),
        source,
    };
    let conn = Connection::open(path).map_err(sqlite_error)?;
    conn.busy_timeout(options.busy_timeout)
        .map_err(sqlite_error)?;
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)
        .map_err(sqlite_error)?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "wal", |row| row.get(0))
        .map_err(sqlite_error)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Error::NotWalMode {
            path: path.display().to_string(),
            mode,
        });
    }
    conn.pragma_update(None, "wal_autocheckpoint", 0)
        .map_err(sqlite_error)?;
    Ok(conn)
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

#[cfg(test)]
mod tests;
