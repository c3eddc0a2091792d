//! Compare-and-swap of one small object of the replica (the lease), the
//! same contract on every backend: [`ReplicaClient::read_versioned`]
//! returns the bytes and an opaque version, and
//! [`ReplicaClient::put_if_version`] writes only if the object is still at
//! that version (or still absent), so of two racing writers exactly one
//! gets [`CasOutcome::Written`] and the other [`CasOutcome::Conflict`].
//!
//! - S3, GCS, Azure: conditional PUTs (`PutMode::Create` when absent,
//!   `PutMode::Update` with the ETag/generation otherwise), atomic on the
//!   server.
//! - file: object_store's local store cannot do `PutMode::Update`, so the
//!   file is read, compared byte for byte and replaced (temp file + fsync +
//!   rename) while holding an exclusive `flock` on a `.lock` file beside it
//!   (`lease.json` → `lease.lock`). The kernel drops the lock when its
//!   holder dies, so a crash never leaves it stuck. This is atomic between
//!   processes of one machine; on network file systems it is only as good as
//!   their `flock`.

use std::path::{Path as FsPath, PathBuf};

use bytes::Bytes;
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};

use super::ReplicaClient;
use crate::error::{Error, Result};
use crate::fs::{fsync_dir, io_error};

/// The version of an object as last read or written, to compare against.
#[derive(Clone, Debug)]
pub struct ObjectVersion(Version);

#[derive(Clone, Debug)]
enum Version {
    /// ETag (and GCS generation) of an object.
    Tag(UpdateVersion),
    /// The exact bytes of a file.
    Bytes(Bytes),
}

/// What a compare-and-swap did.
#[derive(Clone, Debug)]
#[must_use]
pub enum CasOutcome {
    /// Written; the object is now at this version.
    Written(ObjectVersion),
    /// Not written: someone else created or changed the object since the
    /// expected version.
    Conflict,
}

impl ReplicaClient {
    /// Where the object `name` (a key below the replica prefix) lives, for
    /// messages: its key, or its path on the file backend.
    pub fn object_name(&self, name: &str) -> String {
        match &self.local_root {
            Some(root) => root.join(name).display().to_string(),
            None => self.object_path(name).to_string(),
        }
    }

    /// The key of `name`, a `/`-separated name below the replica prefix.
    pub(super) fn object_path(&self, name: &str) -> Path {
        name.split('/')
            .filter(|part| !part.is_empty())
            .fold(self.prefix.clone(), |path, part| path.join(part))
    }

    /// The bytes and version of the object `name` (below the replica
    /// prefix), or `None` when there is none.
    pub async fn read_versioned(&self, name: &str) -> Result<Option<(Bytes, ObjectVersion)>> {
        if let Some(root) = &self.local_root {
            let path = root.join(name);
            return match tokio::fs::read(&path).await {
                Ok(bytes) => {
                    let bytes = Bytes::from(bytes);
                    Ok(Some((bytes.clone(), ObjectVersion(Version::Bytes(bytes)))))
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(source) => Err(io_error(&path)(source)),
            };
        }
        let key = self.object_path(name);
        let storage_error = |source| Error::Storage {
            op: "get",
            key: key.to_string(),
            error: source,
        };
        let result = match self.store.get(&key).await {
            Ok(result) => result,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(source) => return Err(storage_error(source)),
        };
        let version = UpdateVersion {
            e_tag: result.meta.e_tag.clone(),
            version: result.meta.version.clone(),
        };
        let bytes = result.bytes().await.map_err(storage_error)?;
        Ok(Some((bytes, ObjectVersion(Version::Tag(version)))))
    }

    /// Writes `bytes` to the object `name` only if it is still at
    /// `expected` (`None`: only if it does not exist).
    pub async fn put_if_version(
        &self,
        name: &str,
        bytes: Bytes,
        expected: Option<&ObjectVersion>,
    ) -> Result<CasOutcome> {
        let expected = expected.map(|version| &version.0);
        if let Some(root) = &self.local_root {
            let expected = match expected {
                None => None,
                Some(Version::Bytes(bytes)) => Some(bytes.clone()),
                // Versions come from the client that made them.
                Some(Version::Tag(_)) => return Ok(CasOutcome::Conflict),
            };
            let (root, name) = (root.clone(), name.to_owned());
            let path = root.join(&name);
            return tokio::task::spawn_blocking(move || swap_file(&root, &name, bytes, expected))
                .await
                .map_err(|e| io_error(&path)(std::io::Error::other(e)))?;
        }
        let mode = match expected {
            None => PutMode::Create,
            Some(Version::Tag(version)) => PutMode::Update(version.clone()),
            Some(Version::Bytes(_)) => return Ok(CasOutcome::Conflict),
        };
        let key = self.object_path(name);
        let options = PutOptions {
            mode,
            ..PutOptions::default()
        };
        match self
            .store
            .put_opts(&key, PutPayload::from(bytes), options)
            .await
        {
            Ok(result) => Ok(CasOutcome::Written(ObjectVersion(Version::Tag(
                UpdateVersion {
                    e_tag: result.e_tag,
                    version: result.version,
                },
            )))),
            Err(
                object_store::Error::AlreadyExists { .. }
                | object_store::Error::Precondition { .. },
            ) => Ok(CasOutcome::Conflict),
            Err(source) => Err(Error::Storage {
                op: "put",
                key: key.to_string(),
                error: source,
            }),
        }
    }
}

/// The file backend's compare-and-swap: under an exclusive lock of the
/// `.lock` file beside it, replaces `dir/name` with `bytes` if it holds
/// `expected`.
fn swap_file(
    dir: &FsPath,
    name: &str,
    bytes: Bytes,
    expected: Option<Bytes>,
) -> Result<CasOutcome> {
    let path = dir.join(name);
    let parent = path.parent().unwrap_or(dir).to_path_buf();
    std::fs::create_dir_all(&parent).map_err(io_error(&parent))?;
    let lock_path = path.with_extension("lock");
    let lock = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(io_error(&lock_path))?;
    // Held for one read and one rename; released when `lock` is dropped.
    lock.lock().map_err(io_error(&lock_path))?;
    let current = match std::fs::read(&path) {
        Ok(current) => Some(current),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io_error(&path)(e)),
    };
    if current.as_deref() != expected.as_deref() {
        return Ok(CasOutcome::Conflict);
    }
    let temp = PathBuf::from(format!(
        "{}.{:016x}.tmp",
        path.display(),
        rand::random::<u64>()
    ));
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::File::create(&temp)?;
        std::io::Write::write_all(&mut file, &bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, &path)
    };
    if let Err(e) = write() {
        let _ = std::fs::remove_file(&temp);
        return Err(io_error(&path)(e));
    }
    fsync_dir(&parent)?;
    Ok(CasOutcome::Written(ObjectVersion(Version::Bytes(bytes))))
}
