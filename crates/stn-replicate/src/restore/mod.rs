//! Restoring a database from a replica: the newest state, a TXID, or a
//! point in time, from LTX files (Litestream v0.5) or, when a replica has
//! none, from a Litestream v0.3 backup (see `legacy/`).
//!
//! A restore plans the chain of files to use (`plan.rs`), streams them
//! (`fetch.rs`: in place on disk, parallel ranged GETs from object stores)
//! into the merge that writes `OUT.tmp` (`apply.rs`), verifying every page on
//! the way, syncs and optionally checks it, and renames it into place. An existing
//! output is replaced only with [`RestoreOptions::force`], and never
//! before the new database is complete.

mod apply;
mod fetch;
mod legacy;
mod options;
mod output;
mod plan;
mod timestamp;

#[cfg(test)]
mod tests;

use std::time::Instant;

use futures::future::try_join_all;

use crate::error::{Error, Result};
use crate::paths::SNAPSHOT_LEVEL;
use crate::storage::{LtxFileInfo, ReplicaClient};

pub use options::{
    DEFAULT_PARALLELISM, IntegrityCheck, RestoreOptions, RestoreOutcome, RestoreProgress,
};
use plan::Target;

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
            && let Some(outcome) = legacy::restore(client, options, started).await?
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
