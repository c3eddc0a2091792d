//! Point-in-time restore by wall-clock time: which TXID was the newest at
//! a given moment, judged by the timestamps inside the LTX headers.
//!
//! Object LastModified times are upload times on most backends, and can
//! be rewritten by copies and lifecycle tools, so they are not trusted.
//! Within one level the header timestamps grow with the TXIDs (L0 files
//! are written in order, compacted files carry the newest timestamp of
//! their inputs), so a binary search needs a few 100-byte range GETs per
//! level instead of one per file.

use futures::future::try_join_all;
use stn_ltx::{HEADER_SIZE, Header};
use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::storage::{LtxFileInfo, ReplicaClient};

/// The highest max TXID of any file whose header timestamp is at or
/// before `at`, or `None` if every file is newer. `files` is sorted by
/// level, then TXID, as [`super::list_files`] returns it.
pub(super) async fn txid_at(
    client: &ReplicaClient,
    files: &[LtxFileInfo],
    at: OffsetDateTime,
) -> Result<Option<u64>> {
    let at_millis =
        i64::try_from(at.unix_timestamp_nanos().div_euclid(1_000_000)).unwrap_or(i64::MAX);
    let levels = files.chunk_by(|a, b| a.level == b.level);
    let newest_per_level =
        try_join_all(levels.map(|level| last_at_or_before(client, level, at_millis))).await?;
    Ok(newest_per_level.into_iter().flatten().max())
}

/// Binary search over one level's files for the last one written at or
/// before `at_millis`; returns its max TXID.
async fn last_at_or_before(
    client: &ReplicaClient,
    level: &[LtxFileInfo],
    at_millis: i64,
) -> Result<Option<u64>> {
    // Invariant: files before `low` are at or before; from `high` on, after.
    let (mut low, mut high) = (0, level.len());
    while low < high {
        let mid = low + (high - low) / 2;
        if header_timestamp(client, &level[mid]).await? <= at_millis {
            low = mid + 1;
        } else {
            high = mid;
        }
    }
    Ok(low.checked_sub(1).map(|last| level[last].max_txid))
}

async fn header_timestamp(client: &ReplicaClient, file: &LtxFileInfo) -> Result<i64> {
    let key = || {
        client
            .ltx_key(file.level, file.min_txid, file.max_txid)
            .to_string()
    };
    let bytes = client.get_ltx(file, Some(0..HEADER_SIZE as u64)).await?;
    let header: &[u8; HEADER_SIZE] = bytes.as_ref().try_into().map_err(|_| Error::CorruptFile {
        file: key(),
        detail: format!("shorter than an LTX header ({} bytes)", bytes.len()),
    })?;
    let header = Header::decode(header).map_err(|source| Error::Ltx {
        file: key(),
        source,
    })?;
    Ok(header.timestamp)
}
