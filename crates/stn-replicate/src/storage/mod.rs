//! The one seam between replication and object storage, in the role of
//! Litestream's `replica_client.go`: list, put, get and delete LTX files of
//! one replica. Everything above it (sync, compaction, retention, restore)
//! speaks in levels and TXIDs, never in keys or backends.
//!
//! Contract, for every backend:
//! - [`ReplicaClient::list_ltx`] returns one level's files sorted by
//!   `(min_txid, max_txid)`; objects that are not LTX files are ignored.
//! - [`ReplicaClient::put_ltx`] replaces the whole object atomically and
//!   records the LTX timestamp as Litestream does (object metadata on
//!   S3/GCS/Azure, the file's mtime on disk).
//!   [`ReplicaClient::put_ltx_file`] does the same from a local file,
//!   streaming it, so uploads never hold a whole file in memory.
//! - [`ReplicaClient::get_ltx`] of a missing file fails with
//!   [`Error::Storage`] wrapping `object_store::Error::NotFound`.
//! - [`ReplicaClient::delete_ltx`] treats a missing object as deleted.
//! - Transient failures are retried inside object_store (10 attempts, at
//!   most 2 minutes); what fails after that is returned, and
//!   [`Error::is_transient`] says whether trying later may help. A request
//!   that gets no answer for 60 s (a stalled connection) is such a failure.

mod build;
mod cas;
mod objects;

pub use cas::{CasOutcome, ObjectVersion};

use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{
    Attribute, AttributeValue, Attributes, GetOptions, ObjectStore, ObjectStoreExt,
    PutMultipartOptions, PutOptions, PutPayload, WriteMultipart,
};
use time::OffsetDateTime;

use crate::config::ReplicaConfig;
use crate::error::{Error, Result};
use crate::fs::{fsync_dir, io_error};
use crate::paths::KeyLayout;

/// Parts uploaded at the same time.
const PART_CONCURRENCY: usize = 4;

/// A connection to one replica: its object store, key prefix and layout.
#[derive(Clone)]
pub struct ReplicaClient {
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    layout: KeyLayout,
    /// The metadata key Litestream stores the LTX timestamp under; `None`
    /// on disk, where the file's mtime holds it.
    timestamp_metadata: Option<&'static str>,
    /// Uploads up to this size are one PUT; larger ones are multipart.
    single_put_limit: usize,
    /// Part size of multipart uploads.
    part_size: usize,
    /// The replica directory on disk (file backend), to set mtimes and fsync.
    local_root: Option<PathBuf>,
    url: String,
}

impl std::fmt::Debug for ReplicaClient {
    // The store's own Debug may show credentials; the redacted URL says enough.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplicaClient")
            .field("url", &self.url)
            .finish()
    }
}

/// One LTX file in a replica.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LtxFileInfo {
    /// Compaction level: 0 for sync files, 1..=8 compacted, 9 snapshots.
    pub level: u8,
    /// First TXID covered.
    pub min_txid: u64,
    /// Last TXID covered.
    pub max_txid: u64,
    /// Object size in bytes.
    pub size: u64,
    /// The object's last-modified time. On the file backend this is the LTX
    /// timestamp; elsewhere it is the upload time, which is never earlier.
    pub last_modified: OffsetDateTime,
}

impl ReplicaClient {
    /// A client for a replica URL: `file:///abs/path` (or `/abs/path`),
    /// `s3://bucket/path?endpoint=…&region=…&force-path-style=true`,
    /// `gs://bucket/path?endpoint=…`, `abs://[account@]container/path?endpoint=…`.
    /// Credentials come from the environment (see `build.rs`). Unknown query
    /// parameters are an [`Error::InvalidUrl`] naming them.
    pub fn from_url(url: &str) -> Result<ReplicaClient> {
        ReplicaClient::from_config(&ReplicaConfig::from_url(url)?)
    }

    /// A client for a replica block of the config file.
    pub fn from_config(replica: &ReplicaConfig) -> Result<ReplicaClient> {
        let built = build::build(replica)?;
        Ok(ReplicaClient {
            store: built.store,
            prefix: built.prefix,
            layout: built.layout,
            timestamp_metadata: built.timestamp_metadata,
            single_put_limit: built.single_put_limit,
            part_size: built.part_size,
            local_root: built.local_root,
            url: built.url,
        })
    }

    /// The replica's URL without secrets, for messages.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The raw object store and key prefix, only for tests that check what
    /// landed on the server (object metadata) or plant foreign objects
    /// (feature `test-support`, enabled by this crate's own tests only).
    /// Everything else goes through the methods of this client.
    #[cfg(feature = "test-support")]
    #[doc(hidden)]
    pub fn raw_store_for_tests(&self) -> (Arc<dyn ObjectStore>, Path) {
        (Arc::clone(&self.store), self.prefix.clone())
    }

    /// The object key of an LTX file, for messages.
    pub fn ltx_key(&self, level: u8, min_txid: u64, max_txid: u64) -> String {
        self.ltx_path(level, min_txid, max_txid).to_string()
    }

    fn ltx_path(&self, level: u8, min_txid: u64, max_txid: u64) -> Path {
        self.layout
            .file_key(&self.prefix, level, min_txid, max_txid)
    }

    fn key_of(&self, file: &LtxFileInfo) -> Path {
        self.ltx_path(file.level, file.min_txid, file.max_txid)
    }

    /// The LTX files of one level, sorted by `(min_txid, max_txid)`.
    pub async fn list_ltx(&self, level: u8) -> Result<Vec<LtxFileInfo>> {
        let dir = self.layout.level_dir(&self.prefix, level);
        let storage_error = |source| Error::Storage {
            op: "list",
            key: dir.to_string(),
            error: source,
        };
        let objects: Vec<_> = self
            .store
            .list(Some(&dir))
            .try_collect()
            .await
            .map_err(storage_error)?;
        let mut files: Vec<LtxFileInfo> = objects
            .into_iter()
            .filter_map(|meta| {
                let (found_level, min_txid, max_txid) =
                    self.layout.parse_key(&self.prefix, &meta.location)?;
                (found_level == level).then(|| LtxFileInfo {
                    level,
                    min_txid,
                    max_txid,
                    size: meta.size,
                    last_modified: to_offset_date_time(meta.last_modified.timestamp_millis()),
                })
            })
            .collect();
        files.sort_by_key(|file| (file.min_txid, file.max_txid));
        Ok(files)
    }

    /// Uploads one LTX file, replacing any object of the same name, with
    /// `timestamp` (the LTX header's) recorded as Litestream records it.
    pub async fn put_ltx(
        &self,
        level: u8,
        min_txid: u64,
        max_txid: u64,
        data: Bytes,
        timestamp: OffsetDateTime,
    ) -> Result<()> {
        let key = self.ltx_path(level, min_txid, max_txid);
        self.put(&key, Body::Memory(data), timestamp).await?;
        Ok(())
    }

    /// Uploads the local LTX file `file`, opened from `path`, as
    /// [`ReplicaClient::put_ltx`] does, reading it part by part so memory
    /// stays a few parts however large it is. The timestamp is the one in
    /// its header, whose TXIDs must be `min_txid..=max_txid`. The file's
    /// size when the upload starts is what is sent; a file that shrinks
    /// meanwhile fails the upload. Returns what the replica now holds.
    pub async fn put_ltx_file(
        &self,
        level: u8,
        min_txid: u64,
        max_txid: u64,
        file: std::fs::File,
        path: &std::path::Path,
    ) -> Result<LtxFileInfo> {
        use tokio::io::{AsyncReadExt, AsyncSeekExt};

        let io_error = |source| Error::Io {
            path: path.display().to_string(),
            source,
        };
        let ltx_error = |source| Error::Ltx {
            file: path.display().to_string(),
            source,
        };
        let mut file = tokio::fs::File::from_std(file);
        let mut header = [0u8; stn_ltx::HEADER_SIZE];
        match file.read_exact(&mut header).await {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return Err(ltx_error(stn_ltx::Error::Truncated { what: "header" }));
            }
            Err(e) => return Err(io_error(e)),
        }
        let header = stn_ltx::Header::decode(&header).map_err(ltx_error)?;
        if (header.min_txid, header.max_txid) != (min_txid, max_txid) {
            return Err(Error::CorruptFile {
                file: path.display().to_string(),
                detail: format!(
                    "its header covers TXIDs {}-{}, its name {min_txid}-{max_txid}",
                    header.min_txid, header.max_txid
                ),
            });
        }
        file.rewind().await.map_err(io_error)?;
        let remaining = file.metadata().await.map_err(io_error)?.len();
        let timestamp = to_offset_date_time(header.timestamp);
        let key = self.ltx_path(level, min_txid, max_txid);
        let body = Body::File {
            file,
            path: path.to_owned(),
            remaining,
        };
        let size = self.put(&key, body, timestamp).await?;
        Ok(LtxFileInfo {
            level,
            min_txid,
            max_txid,
            size,
            last_modified: timestamp,
        })
    }

    /// Copies `file` to `level` inside the replica: a server-side copy, so
    /// no bytes go up. Litestream's timestamp metadata goes with the object;
    /// on disk the mtime is set again and the copy made durable.
    pub async fn copy_ltx(&self, file: &LtxFileInfo, level: u8) -> Result<LtxFileInfo> {
        let to = self.ltx_path(level, file.min_txid, file.max_txid);
        self.store
            .copy(&self.key_of(file), &to)
            .await
            .map_err(|source| Error::Storage {
                op: "copy",
                key: to.to_string(),
                error: source,
            })?;
        if let Some(root) = &self.local_root {
            self.finish_local_file(root, &to, file.last_modified)?;
        }
        Ok(LtxFileInfo {
            level,
            ..file.clone()
        })
    }

    /// Uploads `body` to `key` with `timestamp` recorded: one PUT when
    /// small, else a multipart upload of a few parts at a time. Returns
    /// the bytes sent.
    async fn put(&self, key: &Path, mut body: Body, timestamp: OffsetDateTime) -> Result<u64> {
        let storage_error = |source| Error::Storage {
            op: "put",
            key: key.to_string(),
            error: source,
        };
        let attributes = self.timestamp_attributes(timestamp);
        let (single_put_limit, part_size) = (self.single_put_limit, self.part_size);
        let size = body.remaining();
        if size <= single_put_limit as u64 {
            let data = body.next_chunk(single_put_limit).await?;
            let options = PutOptions {
                attributes,
                ..PutOptions::default()
            };
            self.store
                .put_opts(key, PutPayload::from_bytes(data), options)
                .await
                .map_err(storage_error)?;
        } else {
            let options = PutMultipartOptions {
                attributes,
                ..PutMultipartOptions::default()
            };
            let upload = self
                .store
                .put_multipart_opts(key, options)
                .await
                .map_err(storage_error)?;
            let mut writer = WriteMultipart::new_with_chunk_size(upload, part_size);
            loop {
                // Read the next part only once there is room for it, so at
                // most PART_CONCURRENCY parts are in memory.
                let chunk = match writer.wait_for_capacity(PART_CONCURRENCY).await {
                    Ok(()) => body.next_chunk(part_size).await,
                    Err(err) => Err(storage_error(err)),
                };
                match chunk {
                    Ok(chunk) if chunk.is_empty() => break,
                    Ok(chunk) => writer.put(chunk),
                    Err(err) => {
                        // Best effort: the upload already failed; abort frees its parts.
                        let _ = writer.abort().await;
                        return Err(err);
                    }
                }
            }
            writer.finish().await.map_err(storage_error)?;
        }
        if let Some(root) = &self.local_root {
            self.finish_local_file(root, key, timestamp)?;
        }
        Ok(size)
    }

    /// Litestream's timestamp metadata; none on disk, where the mtime holds it.
    fn timestamp_attributes(&self, timestamp: OffsetDateTime) -> Attributes {
        let Some(name) = self.timestamp_metadata else {
            return Attributes::new();
        };
        let mut attributes = Attributes::new();
        attributes.insert(
            Attribute::Metadata(name.into()),
            AttributeValue::from(rfc3339_nano(timestamp)),
        );
        attributes
    }

    /// Sets the mtime to the LTX timestamp, as Litestream's file backend
    /// does, and makes the file and its directory durable (object_store's
    /// local store renames into place without fsync).
    fn finish_local_file(
        &self,
        root: &std::path::Path,
        key: &Path,
        timestamp: OffsetDateTime,
    ) -> Result<()> {
        let path = local_path(root, &self.prefix, key);
        let file = std::fs::File::options()
            .write(true)
            .open(&path)
            .map_err(io_error(&path))?;
        file.set_modified(timestamp.into())
            .map_err(io_error(&path))?;
        file.sync_all().map_err(io_error(&path))?;
        if let Some(dir) = path.parent() {
            fsync_dir(dir)?;
        }
        Ok(())
    }

    /// The LTX file's path on disk (file backend), to read it in place
    /// instead of downloading a copy; `None` for object stores.
    pub(crate) fn local_ltx_path(&self, file: &LtxFileInfo) -> Option<PathBuf> {
        let root = self.local_root.as_ref()?;
        Some(local_path(root, &self.prefix, &self.key_of(file)))
    }

    /// Downloads an LTX file, whole or only `range` (byte offsets, e.g.
    /// its header).
    pub async fn get_ltx(&self, file: &LtxFileInfo, range: Option<Range<u64>>) -> Result<Bytes> {
        let chunks: Vec<Bytes> = self.read_ltx(file, range).await?.try_collect().await?;
        Ok(match <[Bytes; 1]>::try_from(chunks) {
            Ok([one]) => one,
            Err(chunks) => chunks.concat().into(),
        })
    }

    /// Streams a whole LTX file into the local file `dest` (created or
    /// truncated), so large files never sit in memory. Returns its size.
    pub(crate) async fn download_ltx(
        &self,
        file: &LtxFileInfo,
        dest: &std::path::Path,
    ) -> Result<u64> {
        self.download(&self.key_of(file), dest).await
    }

    /// A whole LTX file, or its bytes `range`, as a stream of chunks in
    /// order from one GET: every read of an LTX file from the store.
    pub(crate) async fn read_ltx(
        &self,
        file: &LtxFileInfo,
        range: Option<Range<u64>>,
    ) -> Result<impl futures::Stream<Item = Result<Bytes>> + use<>> {
        self.read(&self.key_of(file), range).await
    }

    /// Any object of the replica, or its bytes `range`, as a stream of
    /// chunks from one GET.
    async fn read(
        &self,
        key: &Path,
        range: Option<Range<u64>>,
    ) -> Result<impl futures::Stream<Item = Result<Bytes>> + use<>> {
        let storage_error = |key: &Path| {
            let key = key.to_string();
            move |source| Error::Storage {
                op: "get",
                key: key.clone(),
                error: source,
            }
        };
        let options = GetOptions::new().with_range(range);
        let body = self
            .store
            .get_opts(key, options)
            .await
            .map_err(storage_error(key))?
            .into_stream();
        Ok(body.map_err(storage_error(key)))
    }

    /// Streams any object of the replica into the local file `dest`.
    async fn download(&self, key: &Path, dest: &std::path::Path) -> Result<u64> {
        use tokio::io::AsyncWriteExt;

        let io_error = |source| Error::Io {
            path: dest.display().to_string(),
            source,
        };
        let mut body = std::pin::pin!(self.read(key, None).await?);
        let mut out = tokio::fs::File::create(dest).await.map_err(io_error)?;
        let mut size = 0u64;
        while let Some(chunk) = body.try_next().await? {
            out.write_all(&chunk).await.map_err(io_error)?;
            size += chunk.len() as u64;
        }
        out.flush().await.map_err(io_error)?;
        Ok(size)
    }

    /// Deletes LTX files. A file that is already gone counts as deleted
    /// (Azure reports it as NotFound, S3 and disk do not).
    pub async fn delete_ltx(&self, files: &[LtxFileInfo]) -> Result<()> {
        let keys: Vec<Path> = files.iter().map(|file| self.key_of(file)).collect();
        let mut results = self
            .store
            .delete_stream(futures::stream::iter(keys.clone().into_iter().map(Ok)).boxed());
        let mut at = 0;
        while let Some(result) = results.next().await {
            match result {
                Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
                Err(source) => {
                    return Err(Error::Storage {
                        op: "delete",
                        key: keys.get(at).map(Path::to_string).unwrap_or_default(),
                        error: source,
                    });
                }
            }
            at += 1;
        }
        Ok(())
    }
}

/// Where the object `key` of a file replica rooted at `root` (whose keys
/// start with `prefix`) is on disk.
fn local_path(root: &std::path::Path, prefix: &Path, key: &Path) -> PathBuf {
    let relative: PathBuf = key
        .prefix_match(prefix)
        .into_iter()
        .flatten()
        .map(|part| part.as_ref().to_owned())
        .collect();
    root.join(relative)
}

/// What an upload sends: bytes already in memory, or the first
/// `remaining` bytes of a local file, read one part at a time.
enum Body {
    Memory(Bytes),
    File {
        file: tokio::fs::File,
        /// For messages.
        path: PathBuf,
        remaining: u64,
    },
}

impl Body {
    /// Bytes left to send.
    fn remaining(&self) -> u64 {
        match self {
            Body::Memory(rest) => rest.len() as u64,
            Body::File { remaining, .. } => *remaining,
        }
    }

    /// The next at most `max` bytes; empty once everything was returned.
    async fn next_chunk(&mut self, max: usize) -> Result<Bytes> {
        use tokio::io::AsyncReadExt;

        match self {
            Body::Memory(rest) => Ok(rest.split_to(rest.len().min(max))),
            Body::File {
                file,
                path,
                remaining,
            } => {
                let io_error = |source| Error::Io {
                    path: path.display().to_string(),
                    source,
                };
                // At most `max`, a usize.
                let want = (*remaining).min(max as u64) as usize;
                // Reads fill only the spare capacity, so the buffer is
                // allocated once and never grows.
                let mut chunk = bytes::BytesMut::with_capacity(want);
                while chunk.len() < want {
                    if file.read_buf(&mut chunk).await.map_err(io_error)? == 0 {
                        return Err(io_error(std::io::Error::new(
                            std::io::ErrorKind::UnexpectedEof,
                            "the file shrank while it was being uploaded",
                        )));
                    }
                }
                *remaining -= want as u64;
                Ok(chunk.freeze())
            }
        }
    }
}

/// Go's RFC3339Nano in UTC: fractional seconds without trailing zeros.
fn rfc3339_nano(timestamp: OffsetDateTime) -> String {
    let utc = timestamp.to_offset(time::UtcOffset::UTC);
    let (date, clock) = (utc.date(), utc.time());
    let mut text = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        date.year(),
        u8::from(date.month()),
        date.day(),
        clock.hour(),
        clock.minute(),
        clock.second()
    );
    let nanos = clock.nanosecond();
    if nanos != 0 {
        let fraction = format!("{nanos:09}");
        text.push('.');
        text.push_str(fraction.trim_end_matches('0'));
    }
    text.push('Z');
    text
}

/// Milliseconds since the epoch as a date; the epoch itself when out of range.
pub(crate) fn to_offset_date_time(millis: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_nano_trims_like_go() {
        let at = |millis| rfc3339_nano(to_offset_date_time(millis));
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(1_764_269_280_120), "2025-11-27T18:48:00.12Z");
        assert_eq!(at(1_764_269_280_001), "2025-11-27T18:48:00.001Z");
    }

    #[tokio::test]
    async fn a_file_body_is_its_size_in_parts_or_fails_if_it_shrank() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("body");
        std::fs::write(&path, [7u8; 10]).unwrap();
        let body = |remaining| Body::File {
            file: tokio::fs::File::from_std(std::fs::File::open(&path).unwrap()),
            path: path.clone(),
            remaining,
        };
        let mut whole = body(10);
        let mut sizes = Vec::new();
        loop {
            let chunk = whole.next_chunk(4).await.unwrap();
            if chunk.is_empty() {
                break;
            }
            assert!(chunk.iter().all(|&b| b == 7));
            sizes.push(chunk.len());
        }
        assert_eq!(sizes, [4, 4, 2]);
        let mut shrunk = body(12);
        shrunk.next_chunk(8).await.unwrap();
        let err = shrunk.next_chunk(8).await.unwrap_err();
        assert!(err.to_string().contains("shrank"), "{err}");
    }
}
