//! Restoring a database from a replica: the newest state, a TXID, or a
//! point in time, from LTX files (Litestream v0.5) or, when a replica has
//! none, from a Litestream v0.3 backup (see [`crate::legacy`]).
//!
//! A restore plans the chain of files to use (`plan.rs`), streams them
//! (`fetch.rs`: in place on disk, parallel ranged GETs from object stores)
//! into the merge that writes `OUT.tmp` (`apply.rs`), verifying every page on
//! the way, syncs and optionally checks it, and renames it into place. An existing
//! output is replaced only with [`RestoreOptions::force`], and never
//! before the new database is complete.

mod apply;
mod fetch;
pub(crate) mod output;
mod plan;
mod timestamp;

#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures::future::try_join_all;
use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::paths::SNAPSHOT_LEVEL;
use crate::storage::{LtxFileInfo, ReplicaClient};

pub(crate) use output::fsync_dir;
use plan::Target;

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

/// Restores the database from `client`'s replica as `options` say.
pub async fn restore(client: &ReplicaClient, options: &RestoreOptions) -> Result<RestoreOutcome> {
    let started = Instant::now();
    if options.output.exists() {
        if options.if_db_not_exists {
            return Ok(RestoreOutcome::SkippedDbExists);
        }
        if !options.force {
            return Err(Error::OutputExists {
                path: options.output.display().to_string(),
            });
        }
    }
    let plan_error = |detail: String| Error::Plan {
        url: client.url().to_owned(),
        detail,
    };
    if options.txid.is_some() && options.timestamp.is_some() {
        return Err(plan_error(
            "give a TXID or a timestamp, not both".to_owned(),
        ));
    }

    let files = list_files(client, None).await?;
    if files.is_empty() {
        // Like Litestream ≥ 0.5.7: a replica without LTX files may hold a
        // v0.3 backup. A TXID means nothing there.
        if options.txid.is_none()
            && let Some(outcome) = crate::legacy::restore(client, options, started).await?
        {
            return Ok(outcome);
        }
        if options.if_replica_exists {
            return Ok(RestoreOutcome::SkippedNoReplica);
        }
        return Err(Error::NoBackup {
            url: client.url().to_owned(),
        });
    }

    let target = match (options.txid, options.timestamp) {
        (Some(txid), _) => Target::Txid(txid),
        (None, Some(at)) => match timestamp::txid_at(client, &files, at).await? {
            Some(txid) => Target::AtOrBefore(txid),
            None => {
                return Err(plan_error(format!(
                    "no backup was written at or before {at}"
                )));
            }
        },
        (None, None) => Target::Latest,
    };
    let plan = plan::plan(&files, target).map_err(plan_error)?;
    options.report(RestoreProgress::Planned {
        files: plan.steps.len(),
        bytes: plan.steps.iter().map(|step| step.file.size).sum(),
        txid: plan.txid,
    });
    tracing::info!(
        url = client.url(),
        txid = plan.txid,
        files = plan.steps.len(),
        "restoring"
    );
    let bytes = apply::apply(client, &plan, options).await?;
    Ok(RestoreOutcome::Restored {
        txid: plan.txid,
        files: plan.steps.len(),
        bytes,
        duration: started.elapsed(),
    })
}

/// The replica's LTX files of `level`, or of every level (0..=9) when
/// `None`, sorted by level, then TXID range.
pub async fn list_files(client: &ReplicaClient, level: Option<u8>) -> Result<Vec<LtxFileInfo>> {
    let levels: Vec<u8> = match level {
        Some(level) => vec![level],
        None => (0..=SNAPSHOT_LEVEL).collect(),
    };
    let per_level = try_join_all(levels.into_iter().map(|level| client.list_ltx(level))).await?;
    Ok(per_level.into_iter().flatten().collect())
}

/// The newest TXID held by the replica, or `None` if it has no LTX files.
pub async fn latest_txid(client: &ReplicaClient) -> Result<Option<u64>> {
    let files = list_files(client, None).await?;
    Ok(files.iter().map(|file| file.max_txid).max())
}
