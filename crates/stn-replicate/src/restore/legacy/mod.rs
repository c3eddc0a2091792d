//! Restore from a Litestream v0.3 replica, for databases backed up before
//! Litestream v0.5 (and before Station's own replication).
//!
//! Layout below the replica path, the same on every backend:
//!
//! ```text
//! generations/<gen: 16 hex>/snapshots/<index %08x>.snapshot.lz4   LZ4 frame of the database file
//! generations/<gen>/wal/<index %08x>_<offset %08x>.wal.lz4          LZ4 frame of WAL bytes [offset, …)
//! ```
//!
//! `index` counts WAL restarts; a segment at offset 0 starts with the WAL
//! header. A restore takes the generation with the newest object (or the
//! newest snapshot at or before the timestamp), decompresses its snapshot,
//! rebuilds each later WAL file from its segments, checking that offsets
//! and indexes follow on without gaps, and lets SQLite replay each one
//! (`PRAGMA wal_checkpoint(TRUNCATE)`). Timestamps here are the objects'
//! last-modified times: v0.3 stored no other.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path as FsPath, PathBuf};
use std::time::Instant;

use futures::{StreamExt, TryStreamExt};
use time::OffsetDateTime;

use super::options::{RestoreOptions, RestoreOutcome, RestoreProgress};
use super::output::{self, blocking};
use crate::error::{Error, Result};
use crate::fs::{io_error, remove_dir_if_exists, remove_if_exists, with_suffix};
use crate::storage::ReplicaClient;

use lz4_flex::frame::FrameDecoder;

/// Size of the WAL header at the start of every WAL file.
const WAL_HEADER_SIZE: u64 = 32;
/// Size of the header before each page in a WAL file.
const WAL_FRAME_HEADER_SIZE: u64 = 24;

/// One object of a v0.3 replica.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Object {
    generation: String,
    kind: Kind,
    /// WAL index (of the snapshot: the WAL index it was taken at).
    index: u32,
    /// Name below the replica prefix, to download it.
    name: String,
    /// Full key, for messages.
    key: String,
    size: u64,
    created: OffsetDateTime,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Snapshot,
    /// A WAL segment starting at this byte offset of its WAL file.
    Segment {
        offset: u64,
    },
}

/// What to restore: a snapshot and the WAL segments after it, in order.
#[derive(Debug, PartialEq, Eq)]
struct LegacyPlan {
    snapshot: Object,
    segments: Vec<Object>,
}

/// Restores from a v0.3 backup under `client`'s prefix, or returns `None`
/// when there is none.
pub(crate) async fn restore(
    client: &ReplicaClient,
    options: &RestoreOptions,
    started: Instant,
) -> Result<Option<RestoreOutcome>> {
    let objects = list(client).await?;
    let Some(plan) = plan(objects, options.timestamp).map_err(|detail| Error::Plan {
        url: client.url().to_owned(),
        detail,
    })?
    else {
        return Ok(None);
    };
    let files = 1 + plan.segments.len();
    let bytes = plan.snapshot.size + plan.segments.iter().map(|s| s.size).sum::<u64>();
    options.report(RestoreProgress::Planned {
        files,
        bytes,
        txid: 0,
    });
    tracing::info!(
        url = client.url(),
        generation = plan.snapshot.generation,
        index = plan.snapshot.index,
        segments = plan.segments.len(),
        "restoring a Litestream v0.3 backup"
    );

    let tmp = output::prepare(&options.output)?;
    let staging = with_suffix(&options.output, ".tmp-v3");
    remove_dir_if_exists(&staging)?;
    std::fs::create_dir(&staging).map_err(io_error(&staging))?;
    let result = match apply(client, &plan, options, &staging, &tmp).await {
        Ok(()) => output::finish(&tmp, options).await,
        Err(err) => Err(err),
    };
    let cleanup = remove_dir_if_exists(&staging);
    if let Err(err) = result {
        output::discard(&tmp, &err);
        return Err(err);
    }
    cleanup?;
    Ok(Some(RestoreOutcome::RestoredLegacy {
        index: plan
            .segments
            .last()
            .map_or(plan.snapshot.index, |s| s.index),
        generation: plan.snapshot.generation,
        files,
        bytes,
        duration: started.elapsed(),
    }))
}

/// Every snapshot and WAL segment under `generations/`.
async fn list(client: &ReplicaClient) -> Result<Vec<Object>> {
    let objects = client.list_objects("generations").await?;
    Ok(objects
        .into_iter()
        .filter_map(|object| {
            let parts: Vec<&str> = object.name.split('/').collect();
            let ["generations", generation, dir, name] = parts.as_slice() else {
                return None;
            };
            let (kind, index) = parse_name(dir, name)?;
            let generation = (*generation).to_owned();
            is_generation(&generation).then(|| Object {
                generation,
                kind,
                index,
                size: object.size,
                created: object.last_modified,
                name: object.name.clone(),
                key: object.key.clone(),
            })
        })
        .collect())
}

fn is_generation(name: &str) -> bool {
    name.len() == 16 && is_lower_hex(name)
}

fn is_lower_hex(text: &str) -> bool {
    text.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// `snapshots/<index %08x>.snapshot.lz4` or `wal/<index %08x>_<offset>.wal.lz4`
/// (offset 8 to 16 hex digits, as Litestream v0.5 accepts).
fn parse_name(dir: &str, name: &str) -> Option<(Kind, u32)> {
    let hex = |text: &str, digits: std::ops::RangeInclusive<usize>| {
        (digits.contains(&text.len()) && is_lower_hex(text))
            .then(|| u64::from_str_radix(text, 16).ok())?
    };
    let index = |text: &str| hex(text, 8..=8).and_then(|i| u32::try_from(i).ok());
    match dir {
        "snapshots" => Some((Kind::Snapshot, index(name.strip_suffix(".snapshot.lz4")?)?)),
        "wal" => {
            let (index_text, offset) = name.strip_suffix(".wal.lz4")?.split_once('_')?;
            let offset = hex(offset, 8..=16)?;
            Some((Kind::Segment { offset }, index(index_text)?))
        }
        _ => None,
    }
}

/// Chooses the snapshot and segments to restore; `None` if there is no
/// snapshot at all. Without `timestamp`: the generation whose newest
/// object is newest, and its latest snapshot. With it: the newest
/// snapshot at or before it, and only segments written by then.
fn plan(
    objects: Vec<Object>,
    timestamp: Option<OffsetDateTime>,
) -> Result<Option<LegacyPlan>, String> {
    let in_time = |object: &Object| timestamp.is_none_or(|at| object.created <= at);
    let snapshot = match timestamp {
        Some(_) => objects
            .iter()
            .filter(|o| o.kind == Kind::Snapshot && in_time(o))
            .max_by_key(|o| (o.created, o.index)),
        None => {
            let Some(newest) = objects.iter().max_by_key(|o| o.created) else {
                return Ok(None);
            };
            objects
                .iter()
                .filter(|o| o.kind == Kind::Snapshot && o.generation == newest.generation)
                .max_by_key(|o| (o.index, o.created))
        }
    };
    let Some(snapshot) = snapshot.cloned() else {
        return match timestamp {
            Some(at) if objects.iter().any(|o| o.kind == Kind::Snapshot) => {
                Err(format!("no v0.3 snapshot was written at or before {at}"))
            }
            _ => Ok(None),
        };
    };
    let mut segments: Vec<Object> = objects
        .into_iter()
        .filter(|o| matches!(o.kind, Kind::Segment { .. }))
        .filter(|o| o.generation == snapshot.generation && o.index >= snapshot.index && in_time(o))
        .collect();
    segments.sort_by_key(|o| (o.index, segment_offset(o)));
    check_indexes(&snapshot, &segments)?;
    Ok(Some(LegacyPlan { snapshot, segments }))
}

fn segment_offset(object: &Object) -> u64 {
    match object.kind {
        Kind::Segment { offset } => offset,
        Kind::Snapshot => 0,
    }
}

/// WAL indexes must run on from the snapshot's without a gap, each WAL
/// starting at offset 0. (Offsets within a WAL are checked once the
/// segments' decompressed sizes are known.)
fn check_indexes(snapshot: &Object, segments: &[Object]) -> Result<(), String> {
    let mut expected = snapshot.index;
    for (at, segment) in segments.iter().enumerate() {
        let starts_wal = at == 0 || segments[at - 1].index != segment.index;
        if !starts_wal {
            continue;
        }
        if segment.index != expected {
            return Err(format!(
                "generation {}: WAL index {expected:08x} is missing (next is {:08x})",
                snapshot.generation, segment.index
            ));
        }
        if segment_offset(segment) != 0 {
            return Err(format!(
                "generation {}: the start of WAL index {:08x} is missing (first segment is {})",
                snapshot.generation, segment.index, segment.key
            ));
        }
        expected = segment.index + 1;
    }
    Ok(())
}

/// Downloads everything, writes the snapshot to `tmp` and replays each
/// WAL index into it.
async fn apply(
    client: &ReplicaClient,
    plan: &LegacyPlan,
    options: &RestoreOptions,
    staging: &FsPath,
    tmp: &FsPath,
) -> Result<()> {
    let objects: Vec<&Object> = std::iter::once(&plan.snapshot)
        .chain(&plan.segments)
        .collect();
    let total = (objects.len(), objects.iter().map(|o| o.size).sum::<u64>());
    let mut done = (0, 0);
    let mut staged = Vec::with_capacity(objects.len());
    let mut downloads = futures::stream::iter(objects.iter().copied().enumerate())
        .map(|(at, object)| {
            let path = staging.join(format!("{at:06}.lz4"));
            async move {
                client.download_object(&object.name, &path).await?;
                Ok::<_, Error>(path)
            }
        })
        .buffered(options.parallelism.max(1));
    while let Some(path) = downloads.try_next().await? {
        // `buffered` yields in order, so this is the object just finished.
        let size = objects.get(done.0).map_or(0, |object| object.size);
        done = (done.0 + 1, done.1 + size);
        options.report(RestoreProgress::Downloaded {
            files_done: done.0,
            files: total.0,
            bytes_done: done.1,
            bytes: total.1,
        });
        staged.push(path);
    }

    options.report(RestoreProgress::Writing);
    drop(downloads);
    let work: Vec<(Object, PathBuf)> = objects.into_iter().cloned().zip(staged).collect();
    let (tmp, url) = (tmp.to_path_buf(), client.url().to_owned());
    blocking(move || replay(&work, &tmp, &url)).await
}

/// Decompresses the snapshot into `db`, then each WAL index into `db-wal`
/// and checkpoints it. `url` names the replica in errors.
fn replay(work: &[(Object, PathBuf)], db: &FsPath, url: &str) -> Result<()> {
    let Some(((snapshot, snapshot_path), segments)) = work.split_first() else {
        return Ok(());
    };
    decompress_into(snapshot, snapshot_path, db, false)?;
    let wal_path = with_suffix(db, "-wal");
    for wal in segments.chunk_by(|(a, _), (b, _)| a.index == b.index) {
        remove_if_exists(&wal_path)?;
        remove_if_exists(&with_suffix(db, "-shm"))?;
        let mut length = 0;
        for (segment, path) in wal {
            if segment_offset(segment) != length {
                return Err(Error::Plan {
                    url: url.to_owned(),
                    detail: format!(
                        "WAL index {:08x} has a gap: expected a segment at offset {length:#x}, found {}",
                        segment.index, segment.key
                    ),
                });
            }
            length += decompress_into(segment, path, &wal_path, true)?;
        }
        let first_key = wal
            .first()
            .map(|(object, _)| object.key.clone())
            .unwrap_or_default();
        checkpoint(db, &wal_path, length, &first_key)?;
    }
    Ok(())
}

/// Decompresses the staged copy of `object` into `dest` (appending or
/// replacing) and syncs it; returns the decompressed length.
fn decompress_into(object: &Object, staged: &FsPath, dest: &FsPath, append: bool) -> Result<u64> {
    let input = File::open(staged).map_err(io_error(staged))?;
    let file = File::options()
        .create(true)
        .write(true)
        .append(append)
        .truncate(!append)
        .open(dest)
        .map_err(io_error(dest))?;
    let mut out = BufWriter::new(file);
    let mut decoder = FrameDecoder::new(BufReader::new(input));
    let length = std::io::copy(&mut decoder, &mut out).map_err(|err| match err.kind() {
        std::io::ErrorKind::InvalidData | std::io::ErrorKind::UnexpectedEof => Error::CorruptFile {
            file: object.key.clone(),
            detail: err.to_string(),
        },
        _ => io_error(dest)(err),
    })?;
    out.flush().map_err(io_error(dest))?;
    let file = out
        .into_inner()
        .map_err(|err| io_error(dest)(err.into_error()))?;
    file.sync_all().map_err(io_error(dest))?;
    Ok(length)
}

/// Lets SQLite replay the WAL at `wal_path` into `db`, and checks it took
/// every frame: SQLite silently stops at the first frame that does not
/// check out, which here would mean a damaged segment.
fn checkpoint(db: &FsPath, wal_path: &FsPath, length: u64, first_key: &str) -> Result<()> {
    let corrupt = |detail: String| Error::CorruptFile {
        file: first_key.to_owned(),
        detail,
    };
    let mut header = [0u8; WAL_HEADER_SIZE as usize];
    File::open(wal_path)
        .and_then(|mut file| file.read_exact(&mut header))
        .map_err(|_| corrupt("shorter than a WAL header".to_owned()))?;
    let page_size = u32::from_be_bytes([header[8], header[9], header[10], header[11]]);
    let frame_size = WAL_FRAME_HEADER_SIZE + u64::from(page_size);
    let frames = length.saturating_sub(WAL_HEADER_SIZE) / frame_size;
    if length < WAL_HEADER_SIZE || !(length - WAL_HEADER_SIZE).is_multiple_of(frame_size) {
        return Err(corrupt(format!(
            "WAL of {length} bytes is not whole frames of page size {page_size}"
        )));
    }
    let sqlite_error = |source| Error::Sqlite {
        path: db.display().to_string(),
        source,
    };
    let (busy, log, checkpointed): (i64, i64, i64) = {
        let conn = rusqlite::Connection::open(db).map_err(sqlite_error)?;
        // A first read makes SQLite find and recover the WAL; FULL reports
        // how many frames it holds (TRUNCATE would report zeros).
        conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))
            .map_err(sqlite_error)?;
        let counts = conn
            .query_row("PRAGMA wal_checkpoint(FULL)", [], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            })
            .map_err(sqlite_error)?;
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .map_err(sqlite_error)?;
        counts
    };
    if busy != 0 || u64::try_from(log).ok() != Some(frames) || log != checkpointed {
        return Err(corrupt(format!(
            "SQLite replayed {checkpointed} of {frames} WAL frames (busy={busy}, log={log}): a segment of this WAL is damaged"
        )));
    }
    remove_if_exists(wal_path)?;
    remove_if_exists(&with_suffix(db, "-shm"))
}

#[cfg(test)]
mod tests;
