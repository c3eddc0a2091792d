//! Checkpoints: ours, run so that nothing committed is ever copied into
//! the database file before it was synced.

use std::time::Instant;

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

    /// Syncs under the barrier, then checkpoints. PASSIVE runs with the
    /// barrier held, so nothing commits between the last sync and the
    /// checkpoint. TRUNCATE must take the write lock itself, so commits
    /// can slip in after the barrier; the next sync is then a full image
    /// (Litestream's "checkpoint boundary snapshot"). Returns false when the
    /// write lock was busy (retried on a later tick).
    pub(super) fn checkpoint(&mut self, mode: Checkpoint) -> Result<bool> {
        if self.needs_full_image {
            return Ok(false);
        }
        let done = self.with_barrier(|db| {
            db.sync_frames()?;
            if db.needs_full_image {
                return Ok(false);
            }
            if mode == Checkpoint::Passive {
                db.end_read()?;
                let complete = db.passive_checkpoint()?;
                db.begin_read()?;
                if complete {
                    db.checkpointed_to = db.position.wal.map_or(0, |w| w.cursor.offset);
                    db.wal_pages.clear();
                }
            } else {
                db.end_read()?;
            }
            Ok(true)
        })?;
        if done != Some(true) {
            return Ok(false);
        }
        if mode == Checkpoint::Truncate {
            let result = self.pragma_checkpoint("TRUNCATE");
            self.begin_read()?;
            result?;
            self.needs_full_image = true;
        }
        self.stats.checkpoints += 1;
        self.last_checkpoint = Instant::now();
        self.synced_since_checkpoint = false;
        tracing::debug!(db = %self.path.display(), ?mode, txid = self.position.txid, "checkpointed");
        Ok(true)
    }

    /// Runs a PASSIVE checkpoint on the reader (outside its transaction);
    /// true when every frame was copied.
    pub(super) fn passive_checkpoint(&mut self) -> Result<bool> {
        self.pragma_checkpoint("PASSIVE")
    }

    fn pragma_checkpoint(&mut self, mode: &str) -> Result<bool> {
        let (busy, log, copied): (i64, i64, i64) = self
            .reader
            .query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            })
            .map_err(|e| self.sqlite_error(e))?;
        Ok(busy == 0 && log == copied)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Checkpoint {
    Passive,
    Truncate,
}
