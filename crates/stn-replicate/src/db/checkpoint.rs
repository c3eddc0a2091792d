//! Checkpoints: ours, run so that nothing committed is ever copied into
//! the database file before it was synced.

use std::time::Instant;

use rusqlite::Connection;

use super::Db;
use crate::error::Result;
use crate::wal;

impl Db {
    /// Runs a checkpoint when one is due; returns whether one ran. Syncs
    /// everything committed first.
    pub fn checkpoint_if_due(&mut self) -> Result<bool> {
        let pending = self.uncheckpointed_frames();
        let mode = if pending >= self.options.truncate_page_n {
            Checkpoint::Truncate
        } else if pending >= self.options.min_checkpoint_page_count
            || (self.synced_since_checkpoint
                && pending > 1
                && self.last_checkpoint.elapsed() >= self.options.checkpoint_interval)
        {
            Checkpoint::Passive
        } else {
            return Ok(false);
        };
        self.checkpoint(mode)
    }

    fn uncheckpointed_frames(&self) -> u64 {
        let Some(followed) = self.position.wal else {
            return 0;
        };
        let frame_size = wal::FRAME_HEADER_SIZE + u64::from(self.position.page_size);
        let from = self.checkpointed_to.max(wal::HEADER_SIZE);
        followed.cursor.offset.saturating_sub(from) / frame_size
    }

    /// Syncs under the barrier, then checkpoints. The barrier (SQLite's
    /// write lock) is held to sync the last frames and move our read mark
    /// to the position, not during the bulk of the checkpoint, whose
    /// copying and fsync would stall the application's commits.
    ///
    /// PASSIVE runs on the writer connection while the reader holds its
    /// mark at the position: SQLite copies no frame past it and cannot
    /// restart the WAL, so commits made meanwhile stay in the WAL for the
    /// next sync (as Litestream does it). A second, short barrier then
    /// copies what was committed meanwhile and lets the WAL restart. TRUNCATE must take the write lock
    /// itself and wait for readers, so our read mark is dropped and commits
    /// can slip in after the barrier; the next sync is then a full image
    /// (Litestream's "checkpoint boundary snapshot"). Returns false when
    /// the write lock was busy (retried on a later tick).
    pub(super) fn checkpoint(&mut self, mode: Checkpoint) -> Result<bool> {
        if self.needs_full_image {
            return Ok(false);
        }
        let done = self.with_barrier(|db| {
            db.sync_frames()?;
            if db.needs_full_image {
                return Ok(false);
            }
            db.end_read()?;
            if mode == Checkpoint::Passive {
                db.begin_read()?;
            }
            Ok(true)
        })?;
        if done != Some(true) {
            return Ok(false);
        }
        match mode {
            Checkpoint::Passive => {
                let copied = self.run_checkpoint(&self.writer, "PASSIVE")?.copied;
                self.checkpointed_up_to(copied);
                // Our mark still pins the WAL. Under the barrier again, the
                // frames committed meanwhile are synced and copied (few, so
                // the lock is short) and the mark dropped, so the WAL can
                // restart; if the lock is busy, the next checkpoint does it.
                self.with_barrier(|db| {
                    db.sync_frames()?;
                    if db.needs_full_image {
                        return Ok(());
                    }
                    db.end_read()?;
                    let complete = db.passive_checkpoint()?;
                    db.begin_read()?;
                    if complete {
                        db.checkpointed_to = db.position.wal.map_or(0, |w| w.cursor.offset);
                        db.wal_pages.clear();
                    }
                    Ok(())
                })?;
            }
            Checkpoint::Truncate => {
                let result = self.run_checkpoint(&self.reader, "TRUNCATE");
                self.begin_read()?;
                result?;
                self.needs_full_image = true;
            }
        }
        self.stats.checkpoints += 1;
        self.last_checkpoint = Instant::now();
        self.synced_since_checkpoint = false;
        tracing::debug!(db = %self.path.display(), ?mode, txid = self.position.txid, "checkpointed");
        Ok(true)
    }

    /// Records that a checkpoint copied the first `copied` frames of the
    /// followed WAL into the database file. Once that covers the position,
    /// the database file holds every page as of the position, so no page
    /// needs to be read from the WAL any more.
    ///
    /// `copied` may only be trusted for the followed WAL: it is, because
    /// the WAL cannot restart while our read mark is on it, and when our
    /// mark is SQLite's "read the database file only" mark (the WAL was
    /// fully copied when we took it) no frame can be copied at all and
    /// `copied` is that earlier full count or, after a restart, zero.
    fn checkpointed_up_to(&mut self, copied: u64) {
        let Some(followed) = self.position.wal else {
            return;
        };
        let frame_size = wal::FRAME_HEADER_SIZE + u64::from(self.position.page_size);
        if wal::HEADER_SIZE + copied * frame_size >= followed.cursor.offset {
            self.checkpointed_to = followed.cursor.offset;
            self.wal_pages.clear();
        }
    }

    /// Runs a PASSIVE checkpoint on the reader (outside its transaction);
    /// true when every frame was copied.
    pub(super) fn passive_checkpoint(&mut self) -> Result<bool> {
        let done = self.run_checkpoint(&self.reader, "PASSIVE")?;
        Ok(done.complete())
    }

    pub(super) fn run_checkpoint(&self, conn: &Connection, mode: &str) -> Result<CheckpointDone> {
        // SQLite reports -1 frames when there is no WAL to checkpoint.
        let frames = |n: i64| u64::try_from(n).unwrap_or(0);
        conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |row| {
            Ok(CheckpointDone {
                busy: row.get::<_, i64>(0)? != 0,
                log: frames(row.get(1)?),
                copied: frames(row.get(2)?),
            })
        })
        .map_err(|e| self.sqlite_error(e))
    }
}

/// What `PRAGMA wal_checkpoint` reports.
pub(super) struct CheckpointDone {
    pub(super) busy: bool,
    /// Frames in the WAL.
    log: u64,
    /// Frames copied into the database file (in total, this WAL).
    pub(super) copied: u64,
}

impl CheckpointDone {
    fn complete(&self) -> bool {
        !self.busy && self.log == self.copied
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Checkpoint {
    Passive,
    Truncate,
}
