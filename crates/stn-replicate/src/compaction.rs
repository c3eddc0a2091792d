//! Compaction and retention of one replica's LTX files, as Litestream v0.5
//! does them: level L (1, 2, 3 by default) merges the files of level L-1
//! that are newer than its own at wall-clock-aligned intervals, level 9
//! holds full snapshots, and retention deletes what a restore to any point
//! after the oldest kept snapshot no longer needs.
//!
//! Everything here works on [`ReplicaFiles`], the replicator's record of
//! what a replica holds. It is listed once at startup and kept up to date
//! from then on, so deciding that there is nothing to do never costs a
//! request.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::storage::{LtxFileInfo, ReplicaClient};

pub(crate) use crate::paths::SNAPSHOT_LEVEL;

/// Compaction levels, snapshots and retention (Litestream's global settings).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompactionOptions {
    /// Interval of each level from 1 up (Litestream: 30 s, 5 min, 1 h).
    pub levels: Vec<Duration>,
    /// How often a level-9 snapshot is written (Litestream: 24 h).
    pub snapshot_interval: Duration,
    /// How long snapshots are kept; the newest is always kept (24 h).
    pub snapshot_retention: Duration,
    /// L0 files compacted into L1 are deleted once this old (5 min).
    pub l0_retention: Duration,
    /// How often L0 retention is checked (15 s).
    pub l0_retention_check_interval: Duration,
    /// False: never delete anything remotely (bucket lifecycle rules do it).
    pub retention_enabled: bool,
}

impl Default for CompactionOptions {
    fn default() -> Self {
        CompactionOptions {
            levels: vec![
                Duration::from_secs(30),
                Duration::from_secs(5 * 60),
                Duration::from_secs(60 * 60),
            ],
            snapshot_interval: Duration::from_secs(24 * 60 * 60),
            snapshot_retention: Duration::from_secs(24 * 60 * 60),
            l0_retention: Duration::from_secs(5 * 60),
            l0_retention_check_interval: Duration::from_secs(15),
            retention_enabled: true,
        }
    }
}

/// What one replica holds, level by level, as far as we know.
#[derive(Clone, Debug, Default)]
pub struct ReplicaFiles {
    levels: BTreeMap<u8, Vec<LtxFileInfo>>,
    /// Highest TXID ever seen per level; kept when retention deletes the
    /// files, so compaction never redoes what it already did.
    high_water: BTreeMap<u8, u64>,
}

impl ReplicaFiles {
    /// Lists `levels` of the replica (one LIST each).
    pub async fn list(client: &ReplicaClient, levels: &[u8]) -> Result<ReplicaFiles> {
        let mut files = ReplicaFiles::default();
        for &level in levels {
            for file in client.list_ltx(level).await? {
                files.add(file);
            }
        }
        Ok(files)
    }

    /// The files of `level`, sorted by TXID range.
    pub fn files(&self, level: u8) -> &[LtxFileInfo] {
        self.levels.get(&level).map_or(&[], Vec::as_slice)
    }

    /// Highest TXID `level` ever held (0 if none).
    pub fn level_max(&self, level: u8) -> u64 {
        self.high_water.get(&level).copied().unwrap_or(0)
    }

    /// Highest TXID of any level: what a restore of the replica reaches.
    pub fn max_txid(&self) -> u64 {
        self.high_water.values().copied().max().unwrap_or(0)
    }

    /// Records a file the replica now holds.
    pub fn add(&mut self, file: LtxFileInfo) {
        let max = self.high_water.entry(file.level).or_default();
        *max = (*max).max(file.max_txid);
        let files = self.levels.entry(file.level).or_default();
        let at =
            files.partition_point(|f| (f.min_txid, f.max_txid) < (file.min_txid, file.max_txid));
        if files.get(at) != Some(&file) {
            files.insert(at, file);
        }
    }

    /// Forgets deleted files.
    pub fn remove(&mut self, deleted: &[LtxFileInfo]) {
        for files in self.levels.values_mut() {
            files.retain(|f| !deleted.contains(f));
        }
    }

    /// When the newest full image was written: the newest snapshot, or
    /// else a file starting at TXID 1 (the first sync is a full image).
    pub fn last_full_image(&self) -> Option<OffsetDateTime> {
        let newest_snapshot = self.files(SNAPSHOT_LEVEL).last();
        newest_snapshot
            .or_else(|| {
                self.levels
                    .values()
                    .flat_map(|files| files.first())
                    .find(|f| f.min_txid == 1)
            })
            .map(|f| f.last_modified)
    }
}

/// The next instant after `now` that is a whole multiple of `interval`
/// since the Unix epoch, so every process compacts at the same moments.
pub fn next_aligned(now: SystemTime, interval: Duration) -> SystemTime {
    let interval_ms = interval.as_millis().max(1);
    let since_epoch = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    let next = (since_epoch / interval_ms + 1) * interval_ms;
    SystemTime::UNIX_EPOCH + Duration::from_millis(u64::try_from(next).unwrap_or(u64::MAX))
}

/// The files of the level below to merge into a level whose highest TXID
/// is `level_max`: those starting after it, as long as they are contiguous.
pub fn compaction_inputs(below: &[LtxFileInfo], level_max: u64) -> Vec<LtxFileInfo> {
    let mut inputs: Vec<LtxFileInfo> = Vec::new();
    for file in below.iter().filter(|f| f.min_txid > level_max) {
        if let Some(last) = inputs.last()
            && file.min_txid != last.max_txid + 1
        {
            break;
        }
        inputs.push(file.clone());
    }
    inputs
}

/// Merges consecutive LTX files, in TXID order and each with its name for
/// messages, into a new file at `out` (newest page version wins). Streams:
/// memory is a page per input however large the files are. `name` names
/// the result in errors.
fn merge(inputs: Vec<(File, String)>, out: &Path, name: &str) -> Result<()> {
    let readers = inputs
        .into_iter()
        .map(|(file, file_name)| {
            stn_ltx::Reader::new(BufReader::new(file)).map_err(|source| Error::Ltx {
                file: file_name,
                source,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let output = File::create(out).map_err(|source| Error::Io {
        path: out.display().to_string(),
        source,
    })?;
    stn_ltx::compact(readers, BufWriter::new(output), None).map_err(|source| Error::Ltx {
        file: name.to_owned(),
        source,
    })?;
    Ok(())
}

/// What one compaction wrote to its level.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Compacted {
    /// Files written (copies and merges).
    pub files: u64,
    /// Bytes uploaded (a server-side copy uploads none).
    pub uploaded: u64,
}

/// Compacts the new files of `level - 1` into `level`, once there are at
/// least two: merging a single file would only copy it (Litestream's
/// duplicate `1-1` files at every level of an idle database). A first
/// file that dominates the others is copied on its own, and the rest is
/// merged as [`merge_level`] does, when two or more are left.
pub async fn compact_level(
    client: &ReplicaClient,
    files: &mut ReplicaFiles,
    level: u8,
    local_l0: impl Fn(u64) -> Option<PathBuf>,
    scratch: &Path,
) -> Result<Compacted> {
    let mut compacted = Compacted::default();
    let inputs = |files: &ReplicaFiles| {
        compaction_inputs(files.files(level.saturating_sub(1)), files.level_max(level))
    };
    if inputs(files).len() < 2 {
        return Ok(compacted);
    }
    if promote_dominant(client, files, level).await?.is_some() {
        compacted.files += 1;
        if inputs(files).len() < 2 {
            return Ok(compacted);
        }
    }
    if let Some(merged) = merge_level(client, files, level, local_l0, scratch).await? {
        compacted.files += 1;
        compacted.uploaded += merged.size;
    }
    Ok(compacted)
}

/// A first input at least this large, and larger than the other inputs
/// together, is copied to the next level instead of merged.
const PROMOTE_MIN_SIZE: u64 = 4 << 20;

/// Copies the first of the new files of `level - 1` to `level` inside the
/// replica (no upload) when it dominates them, as a full image followed by
/// small changes does: merging would upload the image again and again at
/// every level for little gain. The rest is merged after it, as usual.
/// Returns the copy, if one was made.
async fn promote_dominant(
    client: &ReplicaClient,
    files: &mut ReplicaFiles,
    level: u8,
) -> Result<Option<LtxFileInfo>> {
    let inputs = compaction_inputs(files.files(level.saturating_sub(1)), files.level_max(level));
    let Some((first, rest)) = inputs.split_first() else {
        return Ok(None);
    };
    let rest_size: u64 = rest.iter().map(|file| file.size).sum();
    if first.size < PROMOTE_MIN_SIZE || first.size <= rest_size {
        return Ok(None);
    }
    let copied = client.copy_ltx(first, level).await?;
    files.add(copied.clone());
    tracing::info!(
        replica = client.url(),
        level,
        min_txid = copied.min_txid,
        max_txid = copied.max_txid,
        size = copied.size,
        "promoted a dominant file with a server-side copy"
    );
    Ok(Some(copied))
}

/// Merges the new files of `level - 1` into one file of `level` and
/// uploads it. Level-0 inputs are read from `local_l0` when the file is
/// still there, saving the download; the others are downloaded into
/// `scratch`, a directory of this compaction's own, where the merged file
/// is written too. Nothing is held in memory whole, and `scratch` is gone
/// afterwards, whatever happened. Returns the new file, if any.
async fn merge_level(
    client: &ReplicaClient,
    files: &mut ReplicaFiles,
    level: u8,
    local_l0: impl Fn(u64) -> Option<PathBuf>,
    scratch: &Path,
) -> Result<Option<LtxFileInfo>> {
    let source_level = level.saturating_sub(1);
    let inputs = compaction_inputs(files.files(source_level), files.level_max(level));
    let (Some(first), Some(last)) = (inputs.first(), inputs.last()) else {
        return Ok(None);
    };
    let (min_txid, max_txid) = (first.min_txid, last.max_txid);
    let scratch = ScratchDir::create(scratch)?;
    let mut opened = Vec::with_capacity(inputs.len());
    for (at, input) in inputs.iter().enumerate() {
        let local = (input.level == 0)
            .then(|| local_l0(input.min_txid))
            .flatten()
            .and_then(|path| Some((File::open(&path).ok()?, path.display().to_string())));
        let found = match local {
            Some(found) => found,
            None => {
                let path = scratch.0.join(format!("input-{at}.ltx"));
                client.download_ltx(input, &path).await?;
                let file = File::open(&path).map_err(|source| Error::Io {
                    path: path.display().to_string(),
                    source,
                })?;
                let key = client.ltx_key(input.level, input.min_txid, input.max_txid);
                (file, key.to_string())
            }
        };
        opened.push(found);
    }
    let name = format!(
        "{}/{level}/{}",
        client.url(),
        stn_ltx::file_name(min_txid, max_txid)
    );
    let output = scratch.0.join("output.ltx");
    let out = output.clone();
    tokio::task::spawn_blocking(move || merge(opened, &out, &name))
        .await
        .map_err(|e| Error::Io {
            path: client.url().to_owned(),
            source: std::io::Error::other(e),
        })??;
    let merged = File::open(&output).map_err(|source| Error::Io {
        path: output.display().to_string(),
        source,
    })?;
    let file = client
        .put_ltx_file(level, min_txid, max_txid, merged, &output)
        .await?;
    files.add(file.clone());
    tracing::info!(
        replica = client.url(),
        level,
        min_txid,
        max_txid,
        size = file.size,
        inputs = inputs.len(),
        "compacted"
    );
    Ok(Some(file))
}

/// The directory of one compaction's files. Emptied when created, since a
/// crash may have left files there, and removed when dropped, so its files
/// go whether the compaction succeeds, fails or is cancelled.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn create(path: &Path) -> Result<ScratchDir> {
        let io_error = |source| Error::Io {
            path: path.display().to_string(),
            source,
        };
        match std::fs::remove_dir_all(path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(io_error(source)),
        }
        std::fs::create_dir_all(path).map_err(io_error)?;
        Ok(ScratchDir(path.to_owned()))
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        // Best effort: what stays is removed by the next compaction.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The files retention removes now:
/// - snapshots older than `snapshot_retention`, except the newest;
/// - files of levels 0..=8 that end at or before the oldest kept
///   snapshot, which a restore from that snapshot never reads;
/// - L0 files already compacted into L1 and older than `l0_retention`
///   (only when level 1 exists).
pub fn expired(
    files: &ReplicaFiles,
    options: &CompactionOptions,
    now: OffsetDateTime,
) -> Vec<LtxFileInfo> {
    let mut expired = Vec::new();
    let snapshots = files.files(SNAPSHOT_LEVEL);
    if let Some((newest, older)) = snapshots.split_last() {
        let too_old = |f: &LtxFileInfo| now - f.last_modified >= options.snapshot_retention;
        expired.extend(older.iter().filter(|f| too_old(f)).cloned());
        let oldest_kept = older
            .iter()
            .find(|f| !too_old(f))
            .unwrap_or(newest)
            .max_txid;
        for level in 0..SNAPSHOT_LEVEL {
            expired.extend(
                files
                    .files(level)
                    .iter()
                    .filter(|f| f.max_txid <= oldest_kept)
                    .cloned(),
            );
        }
    }
    if !options.levels.is_empty() {
        let l1_max = files.level_max(1);
        expired.extend(
            files
                .files(0)
                .iter()
                .filter(|f| f.max_txid <= l1_max && now - f.last_modified >= options.l0_retention)
                .filter(|f| !expired.contains(f))
                .cloned()
                .collect::<Vec<_>>(),
        );
    }
    expired
}

/// Deletes what [`expired`] names (nothing unless retention is enabled);
/// returns how many files went.
pub async fn enforce_retention(
    client: &ReplicaClient,
    files: &mut ReplicaFiles,
    options: &CompactionOptions,
) -> Result<usize> {
    if !options.retention_enabled {
        return Ok(0);
    }
    let doomed = expired(files, options, OffsetDateTime::now_utc());
    if doomed.is_empty() {
        return Ok(0);
    }
    client.delete_ltx(&doomed).await?;
    files.remove(&doomed);
    tracing::debug!(replica = client.url(), deleted = doomed.len(), "retention");
    Ok(doomed.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(level: u8, min_txid: u64, max_txid: u64, age_secs: i64) -> LtxFileInfo {
        LtxFileInfo {
            level,
            min_txid,
            max_txid,
            size: 1,
            last_modified: OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(10_000 - age_secs),
        }
    }

    fn now() -> OffsetDateTime {
        OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(10_000)
    }

    fn replica(list: &[LtxFileInfo]) -> ReplicaFiles {
        let mut files = ReplicaFiles::default();
        for f in list {
            files.add(f.clone());
        }
        files
    }

    #[test]
    fn aligned_to_multiples_of_the_interval() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(95);
        assert_eq!(
            next_aligned(at, Duration::from_secs(30)),
            SystemTime::UNIX_EPOCH + Duration::from_secs(120)
        );
        let exact = SystemTime::UNIX_EPOCH + Duration::from_secs(120);
        assert_eq!(
            next_aligned(exact, Duration::from_secs(30)),
            SystemTime::UNIX_EPOCH + Duration::from_secs(150)
        );
    }

    #[test]
    fn inputs_are_the_contiguous_files_after_the_level() {
        let below = [
            file(0, 4, 4, 0),
            file(0, 5, 5, 0),
            file(0, 6, 6, 0),
            file(0, 8, 8, 0),
        ];
        let inputs = compaction_inputs(&below, 4);
        assert_eq!(
            inputs.iter().map(|f| f.min_txid).collect::<Vec<_>>(),
            [5, 6]
        );
        assert!(compaction_inputs(&below, 8).is_empty());
    }

    #[test]
    fn high_water_survives_deletion() {
        let mut files = replica(&[file(1, 1, 10, 0)]);
        files.remove(&[file(1, 1, 10, 0)]);
        assert!(files.files(1).is_empty());
        assert_eq!(files.level_max(1), 10);
        assert_eq!(files.max_txid(), 10);
    }

    #[test]
    fn l0_goes_once_compacted_and_old() {
        let files = replica(&[
            file(0, 1, 1, 600),
            file(0, 2, 2, 600),
            file(0, 3, 3, 10),
            file(0, 4, 4, 600),
            file(1, 1, 3, 0),
        ]);
        let options = CompactionOptions::default();
        let gone = expired(&files, &options, now());
        assert_eq!(gone, [file(0, 1, 1, 600), file(0, 2, 2, 600)]);
        // Without levels L0 is never compacted, so it stays.
        let no_levels = CompactionOptions {
            levels: vec![],
            ..options
        };
        assert!(expired(&files, &no_levels, now()).is_empty());
    }

    #[test]
    fn old_snapshots_go_but_the_newest_stays() {
        let day = 24 * 3600;
        let files = replica(&[
            file(9, 1, 10, 3 * day),
            file(9, 1, 20, 2 * day),
            file(9, 1, 30, day / 2),
            file(1, 1, 15, 2 * day),
            file(1, 16, 25, day),
            file(1, 26, 35, 0),
        ]);
        let gone = expired(&files, &CompactionOptions::default(), now());
        assert_eq!(
            gone,
            [
                file(9, 1, 10, 3 * day),
                file(9, 1, 20, 2 * day),
                file(1, 1, 15, 2 * day),
                file(1, 16, 25, day)
            ]
        );

        let only_old = replica(&[file(9, 1, 10, 3 * day), file(1, 11, 12, 0)]);
        assert!(expired(&only_old, &CompactionOptions::default(), now()).is_empty());
    }

    #[test]
    fn last_full_image_prefers_snapshots() {
        let files = replica(&[file(0, 1, 1, 100), file(0, 2, 2, 50)]);
        assert_eq!(
            files.last_full_image(),
            Some(file(0, 1, 1, 100).last_modified)
        );
        let files = replica(&[file(0, 5, 5, 100)]);
        assert_eq!(files.last_full_image(), None);
        let files = replica(&[file(1, 1, 5, 100), file(9, 1, 3, 10)]);
        assert_eq!(
            files.last_full_image(),
            Some(file(9, 1, 3, 10).last_modified)
        );
    }

    /// An L0-like LTX file of two pages filled with `fill`.
    fn ltx(txid: u64, fill: u8) -> Vec<u8> {
        let header = stn_ltx::Header {
            page_size: 512,
            commit: 2,
            min_txid: txid,
            max_txid: txid,
            timestamp: txid as i64,
            ..stn_ltx::Header::default()
        };
        let mut out = Vec::new();
        let mut writer = stn_ltx::Writer::new(&mut out, header).unwrap();
        writer.write_page(1, &[fill; 512]).unwrap();
        writer.write_page(2, &[fill; 512]).unwrap();
        writer.finish().unwrap();
        out
    }

    fn pages_of(bytes: &[u8]) -> (stn_ltx::Header, Vec<(u32, u8)>) {
        let mut reader = stn_ltx::Reader::new(bytes).unwrap();
        let mut pages = Vec::new();
        while let Some((pgno, page)) = reader.next_page().unwrap() {
            pages.push((pgno, page[0]));
        }
        (*reader.header(), pages)
    }

    #[test]
    fn merge_keeps_the_newest_pages() {
        let dir = tempfile::tempdir().unwrap();
        let inputs = [(1, 1), (2, 2)].map(|(txid, fill)| {
            let path = dir.path().join(format!("{txid}.ltx"));
            std::fs::write(&path, ltx(txid, fill)).unwrap();
            (File::open(&path).unwrap(), path.display().to_string())
        });
        let out = dir.path().join("merged.ltx");
        merge(inputs.into(), &out, "test").unwrap();
        let (header, pages) = pages_of(&std::fs::read(&out).unwrap());
        assert_eq!(
            (header.min_txid, header.max_txid, header.timestamp),
            (1, 2, 2)
        );
        assert_eq!(pages, [(1, 2), (2, 2)]);
    }

    /// A file replica holding L0 files 1..=3, and a meta directory with a
    /// local copy of L0 file 1 only.
    async fn replica_with_l0(dir: &Path) -> (ReplicaClient, ReplicaFiles, PathBuf) {
        let client =
            ReplicaClient::from_url(&format!("file://{}", dir.join("replica").display())).unwrap();
        let meta = dir.join("meta");
        std::fs::create_dir_all(&meta).unwrap();
        std::fs::write(meta.join("1.ltx"), ltx(1, 1)).unwrap();
        for txid in 1..=3 {
            let at = OffsetDateTime::UNIX_EPOCH;
            let data = ltx(txid, txid as u8).into();
            client.put_ltx(0, txid, txid, data, at).await.unwrap();
        }
        let files = ReplicaFiles::list(&client, &[0, 1]).await.unwrap();
        (client, files, meta)
    }

    #[tokio::test]
    async fn compaction_streams_through_a_scratch_directory_it_removes() {
        let dir = tempfile::tempdir().unwrap();
        let (client, mut files, meta) = replica_with_l0(dir.path()).await;
        let scratch = meta.join("compaction-0");
        // Left by a crash: emptied before use.
        std::fs::create_dir_all(&scratch).unwrap();
        std::fs::write(scratch.join("input-7.ltx"), b"stale").unwrap();
        let local = |txid| Some(meta.join(format!("{txid}.ltx")));
        let file = merge_level(&client, &mut files, 1, local, &scratch)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((file.level, file.min_txid, file.max_txid), (1, 1, 3));
        assert_eq!(files.level_max(1), 3);
        assert!(!scratch.exists(), "scratch directory removed");
        let (header, pages) = pages_of(&client.get_ltx(&file, None).await.unwrap());
        assert_eq!((header.min_txid, header.max_txid), (1, 3));
        assert_eq!(pages, [(1, 3), (2, 3)]);
        assert_eq!(
            file.last_modified,
            OffsetDateTime::UNIX_EPOCH + time::Duration::milliseconds(3)
        );
    }

    #[tokio::test]
    async fn failed_compaction_removes_its_scratch_directory() {
        let dir = tempfile::tempdir().unwrap();
        let (client, mut files, meta) = replica_with_l0(dir.path()).await;
        let mut corrupt = ltx(2, 2);
        let last = corrupt.len() - 1;
        corrupt[last] ^= 1;
        client
            .put_ltx(0, 2, 2, corrupt.into(), OffsetDateTime::UNIX_EPOCH)
            .await
            .unwrap();
        let scratch = meta.join("compaction-0");
        let local = |txid| Some(meta.join(format!("{txid}.ltx")));
        let err = merge_level(&client, &mut files, 1, local, &scratch)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Ltx { .. }), "{err}");
        assert!(!scratch.exists(), "scratch directory removed");
        assert!(client.list_ltx(1).await.unwrap().is_empty());
        assert_eq!(files.level_max(1), 0);
    }

    #[tokio::test]
    async fn a_dominant_first_input_is_copied_not_merged() {
        let dir = tempfile::tempdir().unwrap();
        let client =
            ReplicaClient::from_url(&format!("file://{}", dir.path().join("replica").display()))
                .unwrap();
        // A full image of incompressible pages, then two small changes.
        let header = stn_ltx::Header {
            page_size: 4096,
            commit: 1200,
            min_txid: 1,
            max_txid: 1,
            timestamp: 1,
            ..stn_ltx::Header::default()
        };
        let mut image = Vec::new();
        let mut writer = stn_ltx::Writer::new(&mut image, header).unwrap();
        for pgno in 1..=1200 {
            let page: Vec<u8> = (0..4096).map(|_| rand::random::<u8>()).collect();
            writer.write_page(pgno, &page).unwrap();
        }
        writer.finish().unwrap();
        assert!(image.len() as u64 > PROMOTE_MIN_SIZE);
        let at = OffsetDateTime::UNIX_EPOCH + time::Duration::milliseconds(1);
        client
            .put_ltx(0, 1, 1, image.clone().into(), at)
            .await
            .unwrap();
        for txid in 2..=3 {
            let data = ltx(txid, txid as u8).into();
            client.put_ltx(0, txid, txid, data, at).await.unwrap();
        }
        let mut files = ReplicaFiles::list(&client, &[0, 1]).await.unwrap();

        let copied = promote_dominant(&client, &mut files, 1)
            .await
            .unwrap()
            .expect("the image dominates");
        assert_eq!((copied.level, copied.min_txid, copied.max_txid), (1, 1, 1));
        assert_eq!(files.level_max(1), 1);
        let listed = client.list_ltx(1).await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].last_modified, at, "timestamp kept");
        assert_eq!(client.get_ltx(&listed[0], None).await.unwrap(), image);
        // What is left does not dominate: merged as usual.
        assert!(
            promote_dominant(&client, &mut files, 1)
                .await
                .unwrap()
                .is_none()
        );
    }
}
