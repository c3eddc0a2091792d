//! Objects of the replica that are not LTX files of the current layout:
//! a Litestream v0.3 backup's snapshots and WAL segments, which the legacy
//! reader lists and downloads by name.

use futures::TryStreamExt;
use time::OffsetDateTime;

use super::{ReplicaClient, to_offset_date_time};
use crate::error::{Error, Result};

/// One object below the replica prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Its name below the replica prefix: `/`-separated parts.
    pub name: String,
    /// Its full key, for messages.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// Last-modified time.
    pub last_modified: OffsetDateTime,
}

impl ReplicaClient {
    /// Every object below `dir` (a `/`-separated name below the replica
    /// prefix), in no particular order.
    pub async fn list_objects(&self, dir: &str) -> Result<Vec<ObjectInfo>> {
        let root = self.object_path(dir);
        let metas: Vec<_> = self
            .store
            .list(Some(&root))
            .try_collect()
            .await
            .map_err(|source| Error::Storage {
                op: "list",
                key: root.to_string(),
                error: source,
            })?;
        Ok(metas
            .into_iter()
            .filter_map(|meta| {
                let parts: Vec<_> = meta.location.prefix_match(&self.prefix)?.collect();
                let name = parts
                    .iter()
                    .map(|part| part.as_ref())
                    .collect::<Vec<_>>()
                    .join("/");
                Some(ObjectInfo {
                    name,
                    key: meta.location.to_string(),
                    size: meta.size,
                    last_modified: to_offset_date_time(meta.last_modified.timestamp_millis()),
                })
            })
            .collect())
    }

    /// Streams the object `name` (below the replica prefix, as listed)
    /// into the local file `dest`.
    pub(crate) async fn download_object(&self, name: &str, dest: &std::path::Path) -> Result<u64> {
        self.download(&self.object_path(name), dest).await
    }
}
