//! One replica destination of a running replicator (Litestream's
//! `replica.go` role): uploads local L0 files in TXID order, compacts,
//! writes snapshots and enforces retention, independently of the other
//! replicas.
//!
//! Requests are only made when there is work: an upload when the local
//! TXID moved, a compaction when the level below has new files, a delete
//! when retention finds expired files. What the replica holds is known
//! from one listing at startup, so an idle database costs nothing.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::sleep_until;

use super::{ReplicaStatus, Shared, SyncRequest};
use crate::compaction::{self, ReplicaFiles, SNAPSHOT_LEVEL};
use crate::error::{Error, Result};
use crate::storage::{LtxFileInfo, ReplicaClient};

/// Longest wait between retries of a failing replica. Short, because a
/// failed attempt already spent seconds in object_store's own retries, and
/// a replica back from an outage should catch up soon.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The task state of one replica.
pub(super) struct ReplicaTask {
    pub(super) index: usize,
    pub(super) client: ReplicaClient,
    pub(super) files: ReplicaFiles,
    pub(super) shared: Arc<Shared>,
    /// TXID this replica holds, published for `wait_replicated`.
    pub(super) txid: watch::Sender<u64>,
    pub(super) local_txid: watch::Receiver<u64>,
    /// To ask the database task for a sync.
    pub(super) requests: mpsc::Sender<SyncRequest>,
    pub(super) stop: watch::Receiver<bool>,
}

/// The next wait between retries of a failing replica: doubling from 250 ms
/// to [`MAX_BACKOFF`].
pub(super) fn next_backoff(backoff: Duration) -> Duration {
    (backoff * 2).clamp(Duration::from_millis(250), MAX_BACKOFF)
}

impl ReplicaTask {
    /// For a replica that was not reachable at start: waits for its lease,
    /// lists it (retrying until it answers), continues the local numbering
    /// after it if it is ahead, then runs.
    pub(super) async fn attach_and_run(mut self, leased: oneshot::Receiver<()>) {
        tokio::select! {
            _ = self.stop.changed() => return,
            taken = leased => if taken.is_err() { return },
        }
        let mut backoff = Duration::ZERO;
        loop {
            match ReplicaFiles::list(&self.client, &self.shared.levels).await {
                Ok(files) => break self.files = files,
                Err(e) => {
                    backoff = next_backoff(backoff);
                    self.failed("listing", &e, backoff);
                }
            }
            tokio::select! {
                _ = self.stop.changed() => return,
                () = tokio::time::sleep(backoff) => {}
            }
        }
        self.publish(|_| {});
        let held = self.files.max_txid();
        if held > *self.local_txid.borrow() {
            let shared = Arc::clone(&self.shared);
            let skipped =
                tokio::task::spawn_blocking(move || shared.lock_db().skip_past(held)).await;
            let (reply, answer) = oneshot::channel();
            let synced = match skipped {
                Ok(Ok(())) => self.requests.send(reply).await.is_ok() && answer.await.is_ok(),
                _ => false,
            };
            if !synced {
                // The database task reports its own errors; a retry comes
                // with the next sync, which writes the full image.
                tracing::warn!(
                    replica = self.client.url(),
                    "could not continue after the replica's TXID yet"
                );
            }
        }
        self.run().await
    }

    pub(super) async fn run(mut self) {
        let options = self.shared.options.compaction.clone();
        let mut level_due: Vec<SystemTime> = options
            .levels
            .iter()
            .map(|&interval| compaction::next_aligned(SystemTime::now(), interval))
            .collect();
        let mut retention_due = Instant::now() + options.l0_retention_check_interval;
        let mut backoff = Duration::ZERO;
        loop {
            if let Err(e) = self.upload_pending().await {
                backoff = next_backoff(backoff);
                self.failed("upload", &e, backoff);
            } else {
                backoff = Duration::ZERO;
            }
            let now = SystemTime::now();
            let next_level = level_due.iter().min().copied();
            // While backing off, only the retry is due: new local TXIDs,
            // compaction and retention all wait for it (the latter are
            // skipped below, so their due times stay in the past and must
            // not cut the backoff short).
            let backing_off = !backoff.is_zero();
            let wake = if backing_off {
                Instant::now() + backoff
            } else {
                [
                    next_level.map(|at| instant_at(at, now)),
                    Some(retention_due),
                ]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600))
            };
            tokio::select! {
                _ = self.stop.changed() => return,
                changed = self.local_txid.changed(), if !backing_off => {
                    if changed.is_err() {
                        return;
                    }
                }
                () = sleep_until(wake.into()) => {}
            }
            if backing_off {
                continue;
            }
            let now = SystemTime::now();
            for (i, due) in level_due.iter_mut().enumerate() {
                if *due <= now {
                    *due = compaction::next_aligned(now, options.levels[i]);
                    let level = (i + 1) as u8;
                    if let Err(e) = self.compact(level).await {
                        self.failed("compaction", &e, Duration::ZERO);
                    }
                }
            }
            if Instant::now() >= retention_due {
                retention_due = Instant::now() + options.l0_retention_check_interval;
                if let Err(e) = self.snapshot_if_due().await {
                    self.failed("snapshot", &e, Duration::ZERO);
                }
                if let Err(e) = self.enforce_retention().await {
                    self.failed("retention", &e, Duration::ZERO);
                }
            }
        }
    }

    /// Uploads every local L0 file after what the replica holds, in TXID
    /// order. A replica missing TXIDs that are no longer local (new or
    /// wiped replica, or one behind a restore) first gets a snapshot.
    async fn upload_pending(&mut self) -> Result<()> {
        loop {
            let next = self.files.max_txid() + 1;
            let local = *self.local_txid.borrow();
            if next > local {
                return Ok(());
            }
            let path = self.shared.meta.l0_path(next);
            match std::fs::File::open(&path) {
                Ok(file) => {
                    let uploaded = self.client.put_ltx_file(0, next, next, file, &path).await?;
                    tracing::debug!(
                        replica = self.client.url(),
                        txid = next,
                        size = uploaded.size,
                        "uploaded L0"
                    );
                    self.holds(uploaded);
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    tracing::info!(
                        replica = self.client.url(),
                        txid = next,
                        "replica lacks TXIDs that are no longer local; writing a snapshot"
                    );
                    self.write_snapshot().await?;
                }
                Err(source) => {
                    return Err(Error::Io {
                        path: path.display().to_string(),
                        source,
                    });
                }
            }
        }
    }

    /// Records that the replica holds the uploaded `file`, and publishes
    /// its position.
    fn holds(&mut self, file: LtxFileInfo) {
        let size = file.size;
        self.files.add(file);
        self.publish(|status| {
            status.uploads += 1;
            status.bytes += size;
        });
        self.release_local_l0();
    }

    /// Publishes what the replica holds (a request to it just succeeded):
    /// in the status, with `update` for the counters, to `wait_replicated`
    /// and to the database task waiting to group commits.
    fn publish(&self, update: impl FnOnce(&mut ReplicaStatus)) {
        let txid = self.files.max_txid();
        let caught_up = txid >= *self.local_txid.borrow();
        self.shared.update_replica(self.index, |status| {
            status.txid = txid;
            status.last_error = None;
            if caught_up {
                status.behind_since = None;
            }
            update(status);
        });
        self.txid.send_replace(txid);
        self.shared.uploaded.notify_one();
    }

    /// Tells the replicator how far this replica no longer needs local L0
    /// files: uploaded, and (when there are levels) compacted into L1.
    fn release_local_l0(&self) {
        let uploaded = self.files.max_txid();
        let done = if self.shared.options.compaction.levels.is_empty() {
            uploaded
        } else {
            uploaded.min(self.files.level_max(1))
        };
        self.shared.release_local_l0(self.index, done);
    }

    async fn compact(&mut self, level: u8) -> Result<()> {
        let meta = self.shared.meta.clone();
        let scratch = meta.path().join(format!("compaction-{}", self.index));
        let local_l0 = |txid| Some(meta.l0_path(txid));
        let compacted =
            compaction::compact_level(&self.client, &mut self.files, level, local_l0, &scratch)
                .await?;
        if compacted.files > 0 {
            self.shared.update_replica(self.index, |status| {
                status.compactions += compacted.files;
                status.bytes += compacted.uploaded;
            });
            self.release_local_l0();
        }
        Ok(())
    }

    async fn snapshot_if_due(&mut self) -> Result<()> {
        let interval = self.shared.options.compaction.snapshot_interval;
        let due = match self.files.last_full_image() {
            Some(at) => time::OffsetDateTime::now_utc() - at >= interval,
            None => self.files.max_txid() > 0,
        };
        if due {
            self.write_snapshot().await?;
        }
        Ok(())
    }

    /// Writes a full image of the local database at its current TXID and
    /// uploads it as a level-9 snapshot `1-<txid>`. The database is locked
    /// only to fix the image (a sync and a read transaction of the
    /// snapshot's own): writing and uploading it, which take long for a big
    /// database, leave the database task and the other replicas free.
    async fn write_snapshot(&mut self) -> Result<()> {
        let shared = Arc::clone(&self.shared);
        let path = self
            .shared
            .meta
            .path()
            .join(format!("snapshot-{}.ltx", self.index));
        let out = path.clone();
        let header = tokio::task::spawn_blocking(move || {
            let view = shared.lock_db().snapshot_view()?;
            let Some(view) = view else {
                return Ok(None);
            };
            let header = view.header();
            view.write(&out)?;
            Ok(Some(header))
        })
        .await
        .map_err(|e| join_error(&path, e))??;
        let Some(header) = header else {
            return Ok(());
        };
        let uploaded = match std::fs::File::open(&path) {
            Ok(file) => {
                self.client
                    .put_ltx_file(SNAPSHOT_LEVEL, 1, header.max_txid, file, &path)
                    .await
            }
            Err(source) => Err(Error::Io {
                path: path.display().to_string(),
                source,
            }),
        };
        let _ = tokio::fs::remove_file(&path).await;
        let uploaded = uploaded?;
        tracing::info!(
            replica = self.client.url(),
            txid = header.max_txid,
            size = uploaded.size,
            "wrote snapshot"
        );
        self.holds(uploaded);
        Ok(())
    }

    async fn enforce_retention(&mut self) -> Result<()> {
        let options = &self.shared.options.compaction;
        let deleted = compaction::enforce_retention(&self.client, &mut self.files, options).await?;
        if deleted > 0 {
            self.shared
                .update_replica(self.index, |status| status.deletes += deleted as u64);
        }
        Ok(())
    }

    fn failed(&self, what: &str, error: &Error, retry_in: Duration) {
        tracing::warn!(replica = self.client.url(), %error, retry_in = ?retry_in, "{what} failed");
        self.shared
            .replica_failed(self.index, format!("{what}: {error}"));
    }
}

/// The monotonic instant corresponding to wall-clock time `at`.
fn instant_at(at: SystemTime, now: SystemTime) -> Instant {
    Instant::now() + at.duration_since(now).unwrap_or_default()
}

fn join_error(path: &std::path::Path, e: tokio::task::JoinError) -> Error {
    Error::Io {
        path: path.display().to_string(),
        source: std::io::Error::other(e),
    }
}
