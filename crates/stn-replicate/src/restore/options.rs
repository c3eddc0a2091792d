//! What a restore is asked to do, what it reports on the way and how it
//! ended: the vocabulary shared by the LTX and the v0.3 restore.

use std::path::PathBuf;
use std::time::Duration;

use time::OffsetDateTime;

/// Default number of files downloaded at once.
pub const DEFAULT_PARALLELISM: usize = 8;

/// Which SQLite check runs on the restored database before it is put in place.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IntegrityCheck {
    /// No check.
    #[default]
    None,
    /// `PRAGMA quick_check`.
    Quick,
    /// `PRAGMA integrity_check`.
    Full,
}

/// What a restore reports while it runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RestoreProgress {
    /// The files to download are chosen.
    Planned {
        /// Files in the plan.
        files: usize,
        /// Their total size.
        bytes: u64,
        /// The TXID they restore (0 for a v0.3 backup).
        txid: u64,
    },
    /// One more file is downloaded (its pages are verified as they are
    /// written, which starts at [`RestoreProgress::Writing`], before the
    /// downloads end).
    Downloaded {
        /// Files done so far.
        files_done: usize,
        /// Files in the plan.
        files: usize,
        /// Bytes done so far.
        bytes_done: u64,
        /// Bytes in the plan.
        bytes: u64,
    },
    /// The database file is being written.
    Writing,
    /// The integrity check runs.
    Checking,
}

/// How to restore. [`RestoreOptions::new`] gives Litestream's defaults.
pub struct RestoreOptions {
    /// The database file to create (`-o`; the DB path by default).
    pub output: PathBuf,
    /// Restore exactly this TXID (`-txid`) instead of the newest.
    pub txid: Option<u64>,
    /// Restore the state as of this time (`-timestamp`): after the last
    /// LTX file whose header timestamp is at or before it.
    pub timestamp: Option<OffsetDateTime>,
    /// Do nothing if the output exists (`-if-db-not-exists`).
    pub if_db_not_exists: bool,
    /// Do nothing if the replica holds no backup (`-if-replica-exists`).
    pub if_replica_exists: bool,
    /// Check to run before the database is put in place.
    pub integrity_check: IntegrityCheck,
    /// Files downloaded at once by a v0.3 restore (at least 1). An LTX
    /// restore streams every planned file at once, as the merge reads them
    /// side by side.
    pub parallelism: usize,
    /// Replace an existing output (and drop its -wal/-shm).
    pub force: bool,
    /// Called as the restore advances.
    pub progress: Option<Box<dyn Fn(RestoreProgress) + Send + Sync>>,
}

impl RestoreOptions {
    /// Restore the newest state to `output`, refusing to replace it.
    pub fn new(output: impl Into<PathBuf>) -> RestoreOptions {
        RestoreOptions {
            output: output.into(),
            txid: None,
            timestamp: None,
            if_db_not_exists: false,
            if_replica_exists: false,
            integrity_check: IntegrityCheck::None,
            parallelism: DEFAULT_PARALLELISM,
            force: false,
            progress: None,
        }
    }

    pub(crate) fn report(&self, event: RestoreProgress) {
        if let Some(progress) = &self.progress {
            progress(event);
        }
    }
}

/// How a restore ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RestoreOutcome {
    /// The database was restored from LTX files.
    Restored {
        /// The TXID restored.
        txid: u64,
        /// LTX files used.
        files: usize,
        /// Bytes downloaded.
        bytes: u64,
        /// Wall time of the whole restore.
        duration: Duration,
    },
    /// The database was restored from a Litestream v0.3 backup.
    RestoredLegacy {
        /// The v0.3 generation used.
        generation: String,
        /// The last WAL index applied.
        index: u32,
        /// Objects used (snapshot and WAL segments).
        files: usize,
        /// Bytes downloaded.
        bytes: u64,
        /// Wall time of the whole restore.
        duration: Duration,
    },
    /// Nothing done: the output exists and `if_db_not_exists` was set.
    SkippedDbExists,
    /// Nothing done: the replica is empty and `if_replica_exists` was set.
    SkippedNoReplica,
}
