//! The running replication service for one database and its replicas.
//!
//! One task owns the [`Db`] ([`db_task`](self)): it syncs when told of a
//! commit ([`ReplicatorHandle::notify_commit`]) or when a `stat` every
//! `monitor_interval` shows the WAL changed (writes by other processes),
//! at most once per `sync_interval`, runs checkpoints, and serves durable
//! writers' sync requests with group commit. One task per replica uploads,
//! compacts and enforces retention on its own ([`replica`](self)), so a
//! slow or failing replica never holds back the others. Blocking SQLite
//! and file work runs on tokio's blocking pool.
//!
//! Before anything is uploaded, the replicator takes each replica's
//! single-writer [`Lease`]; one more task per replica ([`lease_task`](self))
//! renews it every `lease.renew_every`, or keeps trying to take it when
//! the replica was unreachable at start. If another process takes it over,
//! that replica's task is stopped at once (mid-upload if need be: an
//! object appears only once its upload completes) and the loss is reported.

mod db_task;
mod lease_task;
mod options;
mod replica;
mod status;

pub use options::ReplicationOptions;
pub use status::{ReplicaStatus, ReplicationStatus};

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{Notify, mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::compaction::{ReplicaFiles, SNAPSHOT_LEVEL};
use crate::db::{Db, MetaDir};
use crate::error::{Error, Result};
use crate::lease::{Holder, Lease};
use crate::storage::ReplicaClient;
use db_task::DbTask;
use lease_task::LeaseTask;
use replica::ReplicaTask;

/// Starts replication; see [`Replicator::start`].
pub struct Replicator;

/// Controls a running replicator. Dropping it without
/// [`ReplicatorHandle::shutdown`] stops the tasks without a final upload.
pub struct ReplicatorHandle {
    waiter: ReplicaWaiter,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    /// One per replica: ends with the lease to release (none if it was
    /// never taken), or with [`Error::LeaseLost`] / [`Error::LeaseHeld`].
    leases: Vec<JoinHandle<Result<Option<Lease>>>>,
}

/// Syncs and waits for replicas on behalf of writers (durable mode). Cheap
/// to clone; every clone talks to the same replicator.
#[derive(Clone)]
pub struct ReplicaWaiter {
    shared: Arc<Shared>,
    commit: Arc<Notify>,
    requests: mpsc::Sender<SyncRequest>,
    replica_txids: Vec<watch::Receiver<u64>>,
}

/// Asks the database task for a sync that starts after the request was
/// made; answered with the local TXID.
type SyncRequest = oneshot::Sender<Result<u64>>;

/// State shared by the database task, the replica tasks and the handle.
struct Shared {
    db: Mutex<Db>,
    db_path: PathBuf,
    meta: MetaDir,
    options: ReplicationOptions,
    /// Levels listed on a replica.
    levels: Vec<u8>,
    /// Woken whenever a replica holds a new TXID.
    uploaded: Notify,
    status: Mutex<ReplicationStatus>,
    /// Per replica: local L0 files up to this TXID are no longer needed.
    released_l0: Mutex<Vec<u64>>,
    /// Why a replica's lease was lost, once one was.
    lease_lost: Mutex<Option<String>>,
}

impl Replicator {
    /// Takes each replica's lease and lists what it holds, opens the
    /// database, resumes from the local position (or writes a full image,
    /// numbered after the highest replica TXID if a replica is ahead), and
    /// starts the tasks.
    ///
    /// A replica that cannot be reached within `attach_timeout` (down,
    /// missing bucket, wrong credentials) does not stop the start: its task
    /// keeps trying, its error is in the status, local L0 files wait for
    /// it, and it catches up once reachable. Fails when another process
    /// holds a replica's lease ([`Error::LeaseHeld`]) or the database
    /// cannot be opened; leases taken by a failed start are released.
    pub async fn start(
        db_path: PathBuf,
        replicas: Vec<ReplicaClient>,
        options: ReplicationOptions,
    ) -> Result<ReplicatorHandle> {
        let levels = levels(&options);
        // One holder per replica for every attempt, so an attempt whose
        // answer was lost is recognised as ours by the next.
        let holders: Vec<Holder> = replicas.iter().map(|_| Holder::this_process()).collect();
        let mut attached = Vec::with_capacity(replicas.len());
        for (client, holder) in replicas.iter().zip(&holders) {
            let attempt = attach(client, &options, &levels, holder);
            match tokio::time::timeout(options.attach_timeout, attempt).await {
                Ok(Ok((lease, files))) => attached.push(Some((lease, files))),
                Ok(Err(e)) if is_fatal_at_start(&e) => {
                    release_all(attached.into_iter().flatten().map(|(lease, _)| lease)).await;
                    return Err(e);
                }
                Ok(Err(e)) => {
                    tracing::warn!(replica = client.url(), error = %e,
                        "replica unavailable at start; serving anyway and retrying it");
                    attached.push(None);
                }
                Err(_) => {
                    tracing::warn!(replica = client.url(), timeout = ?options.attach_timeout,
                        "replica did not answer at start; serving anyway and retrying it");
                    attached.push(None);
                }
            }
        }
        let replica_max = attached
            .iter()
            .flatten()
            .map(|(_, files)| files.max_txid())
            .max()
            .unwrap_or(0);
        let path = db_path.clone();
        let db_options = options.db.clone();
        let opened = blocking(&db_path, move || {
            let mut db = Db::open(&path, db_options)?;
            db.start(replica_max)?;
            Ok(db)
        })
        .await;
        let db = match opened {
            Ok(db) => db,
            Err(e) => {
                release_all(attached.into_iter().flatten().map(|(lease, _)| lease)).await;
                return Err(e);
            }
        };

        let status = ReplicationStatus {
            replicas: replicas
                .iter()
                .zip(&attached)
                .map(|(client, attached)| ReplicaStatus {
                    url: client.url().to_owned(),
                    txid: attached.as_ref().map_or(0, |(_, files)| files.max_txid()),
                    last_error: attached
                        .is_none()
                        .then(|| "not reachable yet; retrying".to_owned()),
                    ..ReplicaStatus::default()
                })
                .collect(),
            ..ReplicationStatus::default()
        };
        let local_txid = db.txid();
        let shared = Arc::new(Shared {
            meta: db.meta().clone(),
            db: Mutex::new(db),
            db_path,
            options,
            levels,
            uploaded: Notify::new(),
            status: Mutex::new(status),
            released_l0: Mutex::new(vec![0; replicas.len()]),
            lease_lost: Mutex::new(None),
        });
        shared.publish_db_stats();

        let (local_tx, local_rx) = watch::channel(local_txid);
        let (stop, stop_rx) = watch::channel(false);
        let (requests, requests_rx) = mpsc::channel(1024);
        let commit = Arc::new(Notify::new());
        let mut tasks = Vec::new();
        let mut replica_txids = Vec::new();
        let mut lease_tasks = Vec::new();
        let replicas = replicas.into_iter().zip(holders).zip(attached);
        for (index, ((client, holder), attached)) in replicas.enumerate() {
            let (lease, files) = attached.unzip();
            let (txid, txid_rx) = watch::channel(files.as_ref().map_or(0, ReplicaFiles::max_txid));
            replica_txids.push(txid_rx);
            let (leased, lease_rx) = oneshot::channel();
            let task = ReplicaTask {
                index,
                client: client.clone(),
                files: files.clone().unwrap_or_default(),
                shared: Arc::clone(&shared),
                txid,
                local_txid: local_rx.clone(),
                requests: requests.clone(),
                stop: stop_rx.clone(),
            };
            let replica = match files {
                Some(_) => tokio::spawn(task.run()),
                None => tokio::spawn(task.attach_and_run(lease_rx)),
            };
            let lease_task = LeaseTask {
                index,
                client,
                holder,
                lease,
                leased: Some(leased),
                shared: Arc::clone(&shared),
                stop: stop_rx.clone(),
                replica: replica.abort_handle(),
            };
            tasks.push(replica);
            lease_tasks.push(tokio::spawn(lease_task.run()));
        }
        let db_task = DbTask {
            shared: Arc::clone(&shared),
            commit: Arc::clone(&commit),
            requests: requests_rx,
            stop: stop_rx,
            local_txid: local_tx,
        };
        tasks.push(tokio::spawn(db_task.run()));
        Ok(ReplicatorHandle {
            waiter: ReplicaWaiter {
                shared,
                commit,
                requests,
                replica_txids,
            },
            stop,
            tasks,
            leases: lease_tasks,
        })
    }
}

/// The levels a replica is listed at: L0, the compaction levels and snapshots.
fn levels(options: &ReplicationOptions) -> Vec<u8> {
    let mut levels: Vec<u8> = (0..=options.compaction.levels.len() as u8).collect();
    levels.push(SNAPSHOT_LEVEL);
    levels
}

/// Takes the replica's lease and lists what it holds.
async fn attach(
    client: &ReplicaClient,
    options: &ReplicationOptions,
    levels: &[u8],
    holder: &Holder,
) -> Result<(Lease, ReplicaFiles)> {
    let lease = Lease::acquire_as(client, &options.lease, holder).await?;
    match ReplicaFiles::list(client, levels).await {
        Ok(files) => Ok((lease, files)),
        Err(e) => {
            release_all([lease]).await;
            Err(e)
        }
    }
}

/// Errors that must stop a start rather than be retried: another writer
/// owns the replica (or its lease file is damaged).
fn is_fatal_at_start(error: &Error) -> bool {
    matches!(error, Error::LeaseHeld { .. } | Error::CorruptFile { .. })
}

/// Releases leases after a failed start or at shutdown. A lease that cannot
/// be released lapses after its TTL, so failures are only logged.
async fn release_all(leases: impl IntoIterator<Item = Lease>) {
    for lease in leases {
        if let Err(e) = lease.release().await {
            tracing::warn!(error = %e, "could not release a replica lease; it lapses after its TTL");
        }
    }
}

impl ReplicatorHandle {
    /// Tells the replicator a transaction was committed in this process:
    /// a sync starts within milliseconds, or at the end of the current
    /// `sync_interval` when one just ran (commits in between coalesce).
    pub fn notify_commit(&self) {
        self.waiter.notify_commit();
    }

    /// Syncs now (ignoring `sync_interval`), waits until every replica
    /// holds the result, and returns its TXID.
    pub async fn sync_now(&self) -> Result<u64> {
        self.waiter.sync_now().await
    }

    /// Resolves when every replica holds `txid`. Makes no request itself.
    pub async fn wait_replicated(&self, txid: u64) -> Result<()> {
        self.waiter.wait_replicated(txid).await
    }

    /// A handle for writers: to report commits, or to wait for the
    /// replicas (durable mode).
    pub fn waiter(&self) -> ReplicaWaiter {
        self.waiter.clone()
    }

    /// Current counters and positions.
    pub fn status(&self) -> ReplicationStatus {
        self.waiter.status()
    }

    /// Syncs what is committed, keeps uploading until every replica holds
    /// it or `shutdown_sync_timeout` passes, then stops every task, releases
    /// the leases and closes the database (without checkpointing it).
    /// Returns [`Error::LeaseLost`] if a replica's lease was taken over.
    pub async fn shutdown(self) -> Result<()> {
        let timeout = self.waiter.shared.options.shutdown_sync_timeout;
        let result = self.waiter.sync_now_within(timeout).await.map(drop);
        self.stop().await?;
        result
    }

    /// Stops every task, releases the leases and closes the database
    /// without a final sync: for a caller that already knows the replicas
    /// cannot be reached. Returns [`Error::LeaseLost`] if a replica's lease
    /// was taken over.
    pub async fn stop(self) -> Result<()> {
        self.stop.send_replace(true);
        for task in self.tasks {
            let _ = task.await;
        }
        let mut held = Vec::new();
        let mut lost = None;
        for task in self.leases {
            match task.await {
                Ok(Ok(lease)) => held.extend(lease),
                Ok(Err(e)) => lost = lost.or(Some(e)),
                // A panicked lease task renews no more: the lease lapses.
                Err(_) => {}
            }
        }
        release_all(held).await;
        let shared = Arc::clone(&self.waiter.shared);
        blocking(&shared.db_path.clone(), move || shared.lock_db().close()).await?;
        lost.map_or(Ok(()), Err)
    }
}

impl ReplicaWaiter {
    /// See [`ReplicatorHandle::notify_commit`].
    pub fn notify_commit(&self) {
        self.commit.notify_one();
    }

    /// Syncs now (ignoring `sync_interval`) and waits until every replica
    /// holds the result; returns its TXID. Concurrent callers share one
    /// sync and one upload per replica.
    pub async fn sync_now(&self) -> Result<u64> {
        let txid = self.sync_local().await?;
        self.wait_replicated(txid).await?;
        Ok(txid)
    }

    /// [`ReplicaWaiter::sync_now`], failing with [`Error::NotReplicated`]
    /// (naming the lagging replica) after `timeout`.
    pub async fn sync_now_within(&self, timeout: Duration) -> Result<u64> {
        let txid = self.sync_local().await?;
        match tokio::time::timeout(timeout, self.wait_replicated(txid)).await {
            Ok(done) => done.map(|()| txid),
            Err(_) => Err(self.not_replicated(txid, timeout)),
        }
    }

    /// Resolves when every replica holds `txid`. Makes no request itself.
    pub async fn wait_replicated(&self, txid: u64) -> Result<()> {
        for rx in &self.replica_txids {
            let mut rx = rx.clone();
            if rx.wait_for(|&held| held >= txid).await.is_err() {
                return Err(self.stopped());
            }
        }
        Ok(())
    }

    /// Current counters and positions.
    pub fn status(&self) -> ReplicationStatus {
        lock(&self.shared.status).clone()
    }

    /// Asks the database task for an immediate sync; returns the local TXID.
    async fn sync_local(&self) -> Result<u64> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(reply)
            .await
            .map_err(|_| self.stopped())?;
        answer.await.map_err(|_| self.stopped())?
    }

    fn stopped(&self) -> Error {
        Error::Stopped {
            path: self.shared.db_path.display().to_string(),
            reason: self.status().last_error,
        }
    }

    /// Names the first replica that does not hold `txid`.
    fn not_replicated(&self, txid: u64, waited: Duration) -> Error {
        let status = self.status();
        let lagging = status
            .replicas
            .into_iter()
            .find(|r| r.txid < txid)
            .unwrap_or_default();
        Error::NotReplicated {
            url: lagging.url,
            txid,
            replicated: lagging.txid,
            seconds: waited.as_secs(),
            last_error: lagging.last_error,
        }
    }
}

impl Shared {
    fn lock_db(&self) -> MutexGuard<'_, Db> {
        lock(&self.db)
    }

    fn publish_db_stats(&self) {
        let db = self.lock_db();
        let stats = db.stats();
        let txid = db.txid();
        drop(db);
        let mut status = lock(&self.status);
        status.txid = txid;
        status.syncs = stats.syncs;
        status.full_images = stats.full_images;
        status.checkpoints = stats.checkpoints;
        status.wal_size = stats.wal_size;
        status.last_error = lock(&self.lease_lost).clone();
    }

    /// True when every replica holds the newest local TXID (no upload in
    /// flight or waiting).
    fn replicas_idle(&self) -> bool {
        let status = lock(&self.status);
        status
            .replicas
            .iter()
            .all(|replica| replica.txid >= status.txid)
    }

    /// Records a failed request to replica `index`.
    fn replica_failed(&self, index: usize, message: String) {
        self.update_replica(index, |status| {
            status.errors += 1;
            status.last_error = Some(message);
        });
    }

    fn update_replica(&self, index: usize, update: impl FnOnce(&mut ReplicaStatus)) {
        if let Some(replica) = lock(&self.status).replicas.get_mut(index) {
            update(replica);
        }
    }

    /// Records that replica `index` no longer needs local L0 files up to
    /// `txid`, and deletes those no replica needs.
    fn release_local_l0(&self, index: usize, txid: u64) {
        let removable = {
            let mut released = lock(&self.released_l0);
            if let Some(slot) = released.get_mut(index) {
                *slot = (*slot).max(txid);
            }
            released.iter().copied().min().unwrap_or(0)
        };
        if let Err(e) = self.meta.remove_l0_where(|t| t <= removable) {
            tracing::warn!(error = %e, "could not remove local L0 files");
        }
    }
}

/// Locks `mutex`, recovering the data if a panicking thread poisoned it
/// (every update leaves the data consistent).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs blocking database work on tokio's blocking pool.
async fn blocking<T: Send + 'static>(
    db_path: &std::path::Path,
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Stopped {
            path: db_path.display().to_string(),
            reason: Some(format!("database task failed: {e}")),
        })?
}
