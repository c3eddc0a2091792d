//! Full images of the database: the first sync, every recovery, and the
//! level-9 snapshots.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rusqlite::Connection;
use stn_ltx::{FLAG_NO_CHECKSUM, Header};

use super::file;
use super::l0::{self, PageReader, WalPages};
use super::meta::{Position, WalPosition};
use super::{Db, begin_read, now_ms, open_connection};
use crate::error::Result;
use crate::fs::io_error;
use crate::wal::{self, WalFile};

impl Db {
    /// Fixes a full image of the database at the current TXID (after
    /// syncing), to be written as a snapshot `1-<txid>` by
    /// [`SnapshotView::write`] without this `Db`: the view holds its own
    /// read transaction, so syncs and checkpoints go on meanwhile. `None`
    /// when continuity was found broken (the next sync writes a full image;
    /// try again after it).
    pub fn snapshot_view(&mut self) -> Result<Option<SnapshotView>> {
        self.sync()?;
        // Opened before the barrier: the barrier blocks the application's
        // commits, so it is held only for what must happen under it.
        let mut conn = open_connection(&self.path, &self.options)?;
        let Some(source) = self.capture_image_source(true, Some(&mut conn))? else {
            return Ok(None);
        };
        let header = Header {
            flags: FLAG_NO_CHECKSUM,
            page_size: self.position.page_size,
            commit: source.commit,
            min_txid: 1,
            max_txid: self.position.txid,
            timestamp: now_ms(),
            ..Header::default()
        };
        Ok(Some(SnapshotView {
            _read: conn,
            db_file: Arc::clone(&self.db_file),
            db_path: self.path.clone(),
            wal_path: self.wal_path.clone(),
            header,
            source,
        }))
    }

    /// Writes the next TXID as a full image of the database.
    pub(super) fn write_full_image(&mut self) -> Result<()> {
        let Some(source) = self.capture_image_source(false, None)? else {
            return Ok(());
        };
        if source.commit == 0 {
            // An empty database has nothing to replicate yet.
            return Ok(());
        }
        let txid = self.position.txid + 1;
        let (wal_offset, wal_size, salts) = match &source.wal_end {
            Some(end) => (
                wal::HEADER_SIZE as i64,
                (end.cursor.offset - wal::HEADER_SIZE) as i64,
                (end.id.salt1, end.id.salt2),
            ),
            None => (0, 0, (0, 0)),
        };
        let header = Header {
            flags: FLAG_NO_CHECKSUM,
            page_size: source.page_size,
            commit: source.commit,
            min_txid: txid,
            max_txid: txid,
            timestamp: now_ms(),
            wal_offset,
            wal_size,
            wal_salt1: salts.0,
            wal_salt2: salts.1,
            ..Header::default()
        };
        let size = self.write_image(&self.meta.l0_path(txid), header, &source)?;
        self.commit_position(Position {
            txid,
            page_size: source.page_size,
            commit: source.commit,
            wal: source.wal_end,
        })?;
        self.needs_full_image = false;
        self.stats.full_images += 1;
        tracing::info!(db = %self.path.display(), txid, pages = source.commit, size, "wrote full image");
        Ok(())
    }

    /// Fixes what a full image will contain. Under the barrier (so nothing
    /// is committed meanwhile) the read transaction restarts at the end of
    /// the WAL and the WAL's committed frames are indexed. After it, a
    /// PASSIVE checkpoint tells whether the database file holds every one of
    /// those frames; either way the image's pages stay put while our read
    /// mark is held. If it does, the image is the database file alone: our
    /// mark (SQLite's "database file only" mark, or one at the end of those
    /// frames) stops any later frame from being copied into it. If it does
    /// not, SQLite gave us a mark on the WAL, which then cannot restart.
    ///
    /// The checkpoint runs without the write lock, so its copying and fsync
    /// hold up no commit of the application. It can only complete what was
    /// already committed: the application's next commit still appends to
    /// the WAL instead of restarting it, because our mark pins it. A restart
    /// would make that commit pay SQLite's fsync of the new WAL header while
    /// the image's bulk write fills the disk queue (3.8 ms against a usual
    /// 0.1-0.5 ms, measured with the 256 MB benchmark database).
    ///
    /// With `sync_first` (snapshots at the current TXID) everything
    /// committed is synced under the barrier first, so the image is exactly
    /// the state at the position; `None` if that sync found continuity broken.
    /// `view`, when given, starts a read transaction at the same point, so
    /// the image's pages stay put for as long as it is held, whatever our
    /// own reader does meanwhile.
    fn capture_image_source(
        &mut self,
        sync_first: bool,
        view: Option<&mut Connection>,
    ) -> Result<Option<ImageSource>> {
        let captured = self.with_barrier(|db| {
            if sync_first {
                db.sync_frames()?;
                if db.needs_full_image {
                    return Ok(None);
                }
            }
            db.end_read()?;
            db.begin_read()?;
            if let Some(view) = view {
                begin_read(view).map_err(|e| db.sqlite_error(e))?;
            }
            let mut overlay = WalPages::new();
            let mut wal_end = None;
            let mut commit = 0;
            let mut page_size = 0;
            if let Some(mut wal) = WalFile::open(&db.wal_path)? {
                let read = wal.read_committed(wal.header().start(), u64::MAX)?;
                l0::index_frames(&mut overlay, &read.frames);
                commit = read.commit;
                page_size = wal.header().page_size();
                wal_end = Some(WalPosition {
                    id: wal.header().id(),
                    cursor: read.end,
                });
            }
            if commit == 0 {
                (page_size, commit) = db.database_size()?;
            }
            Ok(Some((overlay, wal_end, commit, page_size)))
        })?;
        let (overlay, wal_end, commit, page_size) = match captured {
            Some(Some(captured)) => captured,
            Some(None) => return Ok(None),
            None => return Err(self.busy("take the write lock for a full image")),
        };
        let backfilled = match wal_end {
            Some(end) => self.backfill_up_to(end, page_size)?,
            None => wal::HEADER_SIZE,
        };
        let complete = wal_end.is_none_or(|end| backfilled == end.cursor.offset);
        self.checkpointed_to = backfilled;
        // When the database file holds every frame, the WAL may restart any
        // moment (if our mark is SQLite's "database file only" one), so its
        // frames must not be read.
        self.wal_pages = if complete { WalPages::new() } else { overlay };
        self.position.wal = wal_end;
        self.position.page_size = page_size;
        Ok(Some(ImageSource {
            overlay: self.wal_pages.clone(),
            wal_end,
            commit,
            page_size,
        }))
    }

    /// Runs a PASSIVE checkpoint outside the barrier and returns the offset
    /// in the WAL up to which the database file now holds the frames read
    /// under it (which end at `end`). A WAL restarted since means the
    /// database file held them all: SQLite lets the WAL restart only when
    /// every frame was copied and no reader has a mark on it.
    ///
    /// A checkpoint that finds another one running reports nothing, and
    /// then nothing can be concluded: it is tried again for up to the busy
    /// timeout (another checkpoint takes milliseconds), then the image
    /// fails as busy and the next sync tries it again.
    fn backfill_up_to(&mut self, end: WalPosition, page_size: u32) -> Result<u64> {
        let deadline = Instant::now() + self.options.busy_timeout;
        loop {
            let done = self.run_checkpoint(&self.writer, "PASSIVE")?;
            let restarted = match WalFile::open(&self.wal_path)? {
                Some(wal) => wal.header().id() != end.id,
                None => true,
            };
            if restarted {
                return Ok(end.cursor.offset);
            }
            if !done.busy {
                let frame_size = wal::FRAME_HEADER_SIZE + u64::from(page_size);
                let copied_to =
                    wal::HEADER_SIZE.saturating_add(done.copied.saturating_mul(frame_size));
                return Ok(copied_to.min(end.cursor.offset));
            }
            if Instant::now() >= deadline {
                return Err(self.busy("checkpoint to fix a full image"));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Writes every page of `source` to `path`.
    fn write_image(&mut self, path: &Path, header: Header, source: &ImageSource) -> Result<u64> {
        write_image(
            path,
            header,
            source,
            &self.db_file,
            &self.path,
            &self.wal_path,
        )
    }

    /// Page size and page count from the database file's header.
    fn database_size(&mut self) -> Result<(u32, u32)> {
        let mut header = [0u8; 100];
        file::read_zero_filled(&self.db_file, 0, &mut header).map_err(io_error(&self.path))?;
        let file_len = self.db_file.metadata().map_err(io_error(&self.path))?.len();
        Ok(database_size_from_header(&header, file_len))
    }
}

/// A full image of the database at one TXID, fixed by a read transaction
/// of its own until written (see [`Db::snapshot_view`]).
pub struct SnapshotView {
    /// Holds the read transaction that keeps the image's pages in place;
    /// dropping it ends the transaction.
    _read: Connection,
    db_file: Arc<File>,
    db_path: PathBuf,
    wal_path: PathBuf,
    header: Header,
    source: ImageSource,
}

impl SnapshotView {
    /// The snapshot's header (`min_txid` 1, `max_txid` the TXID).
    pub fn header(&self) -> Header {
        self.header
    }

    /// Writes the snapshot to `out` as an LTX file; returns its size.
    pub fn write(self, out: &Path) -> Result<u64> {
        write_image(
            out,
            self.header,
            &self.source,
            &self.db_file,
            &self.db_path,
            &self.wal_path,
        )
    }
}

/// Writes every page of `source` to `path`, reading the WAL at `wal_path`
/// and the database file `db`.
fn write_image(
    path: &Path,
    header: Header,
    source: &ImageSource,
    db: &File,
    db_path: &Path,
    wal_path: &Path,
) -> Result<u64> {
    let mut wal = if source.overlay.is_empty() {
        None
    } else {
        WalFile::open(wal_path)?
    };
    let mut reader = PageReader {
        wal: wal.as_mut(),
        db,
        db_path,
    };
    let lock = stn_ltx::lock_pgno(source.page_size);
    let pages = l0::full_image_pages(&source.overlay, source.commit, lock);
    l0::write_ltx(path, header, pages, &mut reader)
}

/// What a full image is made of.
struct ImageSource {
    /// Pages read from the WAL instead of the database file.
    overlay: WalPages,
    /// The end of the WAL the image includes.
    wal_end: Option<WalPosition>,
    commit: u32,
    page_size: u32,
}

/// Page size and page count from a database header. The page size is a
/// 16-bit field where 1 means 65536; the in-header page count is valid only
/// when the "version-valid-for" number matches the change counter, else the
/// file size decides (as in SQLite).
pub(super) fn database_size_from_header(header: &[u8; 100], file_len: u64) -> (u32, u32) {
    let raw = u16::from_be_bytes([header[16], header[17]]);
    let page_size = if raw == 1 { 65536 } else { u32::from(raw) };
    if !(page_size.is_power_of_two() && (512..=65536).contains(&page_size)) {
        return (0, 0);
    }
    let in_header = u32::from_be_bytes([header[28], header[29], header[30], header[31]]);
    let valid = header[24..28] == header[92..96] && in_header != 0;
    let count = if valid {
        in_header
    } else {
        u32::try_from(file_len / u64::from(page_size)).unwrap_or(u32::MAX)
    };
    (page_size, count)
}
