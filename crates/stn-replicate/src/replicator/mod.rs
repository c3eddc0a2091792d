//! The running replication service for one database and its replicas.
//!
//! One task owns the [`Db`]: it syncs when told of a commit
//! ([`ReplicatorHandle::notify_commit`]) or when a `stat` every
//! `monitor_interval` shows the WAL changed (writes by other processes),
//! at most once per `sync_interval`, and runs checkpoints. One task per
//! replica uploads, compacts and enforces retention on its own (see
//! [`replica`](self)), so a slow or failing replica never holds back the
//! others. Blocking SQLite and file work runs on tokio's blocking pool.
//!
//! Before anything is uploaded, the replicator takes each replica's
//! single-writer [`Lease`]; one more task per replica renews it every
//! `lease.renew_every`. If another process takes it over, that replica's
//! task is stopped at once (mid-upload if need be: uploads are whole-object
//! PUTs, so nothing half-written stays) and the loss is reported.

mod options;
mod replica;

pub use options::{Durability, ReplicationOptions};

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{Notify, mpsc, oneshot, watch};
use tokio::task::{AbortHandle, JoinHandle};
use tokio::time::{Instant, sleep_until};

use crate::compaction::{ReplicaFiles, SNAPSHOT_LEVEL};
use crate::db::{Db, MetaDir};
use crate::error::{Error, Result};
use crate::lease::Lease;
use crate::storage::ReplicaClient;
use replica::ReplicaTask;

/// Starts replication; see [`Replicator::start`].
pub struct Replicator;

/// Controls a running replicator. Dropping it without
/// [`ReplicatorHandle::shutdown`] stops the tasks without a final upload.
pub struct ReplicatorHandle {
    waiter: ReplicaWaiter,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    /// One per replica: ends with the lease to release, or with
    /// [`Error::LeaseLost`].
    leases: Vec<JoinHandle<Result<Lease>>>,
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

/// A point-in-time view of replication, for status output and metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplicationStatus {
    /// TXID of the last local L0 file.
    pub txid: u64,
    /// L0 files written locally.
    pub syncs: u64,
    /// Full images among them (first sync and recoveries).
    pub full_images: u64,
    /// Checkpoints run.
    pub checkpoints: u64,
    /// WAL file size at the last sync, in bytes.
    pub wal_size: u64,
    /// The last local sync or checkpoint error, cleared by a success; a
    /// lost replica lease stays here until shutdown.
    pub last_error: Option<String>,
    /// One entry per replica, in the order given to [`Replicator::start`].
    pub replicas: Vec<ReplicaStatus>,
}

/// Progress of one replica.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplicaStatus {
    /// The replica URL (redacted).
    pub url: String,
    /// Highest TXID the replica holds.
    pub txid: u64,
    /// Files uploaded (L0 and snapshots).
    pub uploads: u64,
    /// Compacted files written.
    pub compactions: u64,
    /// Bytes uploaded.
    pub bytes: u64,
    /// Files deleted by retention.
    pub deletes: u64,
    /// The last error, cleared by the next successful upload.
    pub last_error: Option<String>,
}

/// State shared by the database task, the replica tasks and the handle.
struct Shared {
    db: Mutex<Db>,
    db_path: PathBuf,
    meta: MetaDir,
    options: ReplicationOptions,
    status: Mutex<ReplicationStatus>,
    /// Per replica: local L0 files up to this TXID are no longer needed.
    released_l0: Mutex<Vec<u64>>,
    /// Why a replica's lease was lost, once one was.
    lease_lost: Mutex<Option<String>>,
}

impl Replicator {
    /// Takes each replica's lease (failing with [`Error::LeaseHeld`] when
    /// another process holds one), lists each replica once to learn what it
    /// holds, opens the database, resumes from the local position (or
    /// writes a full image, numbered after the highest replica TXID if a
    /// replica is ahead), and starts the tasks. Fails if a replica cannot be
    /// listed; leases taken by a failed start are released.
    pub async fn start(
        db_path: PathBuf,
        replicas: Vec<ReplicaClient>,
        options: ReplicationOptions,
    ) -> Result<ReplicatorHandle> {
        let mut leases = Vec::with_capacity(replicas.len());
        for client in &replicas {
            match Lease::acquire(client, &options.lease).await {
                Ok(lease) => leases.push(lease),
                Err(e) => {
                    release_all(leases).await;
                    return Err(e);
                }
            }
        }
        let (listed, db) = match open(&db_path, &replicas, &options).await {
            Ok(opened) => opened,
            Err(e) => {
                release_all(leases).await;
                return Err(e);
            }
        };

        let status = ReplicationStatus {
            replicas: replicas
                .iter()
                .zip(&listed)
                .map(|(client, files)| ReplicaStatus {
                    url: client.url().to_owned(),
                    txid: files.max_txid(),
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
            status: Mutex::new(status),
            released_l0: Mutex::new(vec![0; replicas.len()]),
            lease_lost: Mutex::new(None),
        });
        shared.publish_db_stats();

        let (local_tx, local_rx) = watch::channel(local_txid);
        let (stop, stop_rx) = watch::channel(false);
        // Room for every writer of a busy server to queue for the next sync.
        let (requests, requests_rx) = mpsc::channel(1024);
        let commit = Arc::new(Notify::new());
        let mut tasks = Vec::new();
        let mut replica_txids = Vec::new();
        let mut lease_tasks = Vec::new();
        for (index, ((client, files), lease)) in
            replicas.into_iter().zip(listed).zip(leases).enumerate()
        {
            let (txid, txid_rx) = watch::channel(files.max_txid());
            replica_txids.push(txid_rx);
            let task = ReplicaTask {
                index,
                client,
                files,
                shared: Arc::clone(&shared),
                txid,
                local_txid: local_rx.clone(),
                stop: stop_rx.clone(),
            };
            let replica = tokio::spawn(task.run());
            let lease_task = LeaseTask {
                index,
                lease,
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

/// Lists what each replica holds and opens the database at a TXID after
/// all of them.
async fn open(
    db_path: &std::path::Path,
    replicas: &[ReplicaClient],
    options: &ReplicationOptions,
) -> Result<(Vec<ReplicaFiles>, Db)> {
    let mut levels: Vec<u8> = (0..=options.compaction.levels.len() as u8).collect();
    levels.push(SNAPSHOT_LEVEL);
    let mut listed = Vec::with_capacity(replicas.len());
    for client in replicas {
        listed.push(ReplicaFiles::list(client, &levels).await?);
    }
    let replica_max = listed.iter().map(ReplicaFiles::max_txid).max().unwrap_or(0);

    let path = db_path.to_owned();
    let db_options = options.db.clone();
    let db = blocking(db_path, move || {
        let mut db = Db::open(&path, db_options)?;
        db.start(replica_max)?;
        Ok(db)
    })
    .await?;
    Ok((listed, db))
}

/// Releases leases after a failed start or at shutdown. A lease that cannot
/// be released lapses after its TTL, so failures are only logged.
async fn release_all(leases: Vec<Lease>) {
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
        self.stop.send_replace(true);
        for task in self.tasks {
            let _ = task.await;
        }
        let mut held = Vec::new();
        let mut lost = None;
        for task in self.leases {
            match task.await {
                Ok(Ok(lease)) => held.push(lease),
                Ok(Err(e)) => lost = lost.or(Some(e)),
                // A panicked lease task renews no more: the lease lapses.
                Err(_) => {}
            }
        }
        release_all(held).await;
        let shared = Arc::clone(&self.waiter.shared);
        blocking(&shared.db_path.clone(), move || shared.lock_db().close()).await?;
        match lost {
            Some(e) => Err(e),
            None => result,
        }
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

/// Renews one replica's lease every `lease.renew_every` until stopped; if
/// the lease is lost, stops that replica's task and records why.
struct LeaseTask {
    index: usize,
    lease: Lease,
    shared: Arc<Shared>,
    stop: watch::Receiver<bool>,
    /// The replica's upload task.
    replica: AbortHandle,
}

impl LeaseTask {
    async fn run(mut self) -> Result<Lease> {
        let every = self.shared.options.lease.renew_every;
        let mut next = Instant::now() + every;
        loop {
            tokio::select! {
                // Also when the handle is dropped: the lease then lapses.
                _ = self.stop.changed() => return Ok(self.lease),
                () = sleep_until(next) => {}
            }
            match self.lease.renew().await {
                Ok(()) => next = Instant::now() + every,
                Err(e @ Error::LeaseLost { .. }) => {
                    self.replica.abort();
                    tracing::error!(error = %e, "stopped replicating to a replica");
                    let message = e.to_string();
                    // Nothing more is uploaded there; local L0 files need not wait for it.
                    self.shared.release_local_l0(self.index, u64::MAX);
                    self.shared.update_replica(self.index, |status| {
                        status.last_error = Some(message.clone());
                    });
                    lock(&self.shared.status).last_error = Some(message.clone());
                    *lock(&self.shared.lease_lost) = Some(message);
                    return Err(e);
                }
                Err(e) => {
                    // Retry sooner. Renewal swaps only our own last version,
                    // so a late retry can never overwrite a new holder.
                    tracing::warn!(error = %e, "lease renewal failed; retrying");
                    let message = format!("lease renewal: {e}");
                    self.shared
                        .update_replica(self.index, |status| status.last_error = Some(message));
                    next = Instant::now() + every / 4;
                }
            }
        }
    }
}

/// The task that owns the database: syncs, checkpoints, answers `sync_now`.
struct DbTask {
    shared: Arc<Shared>,
    commit: Arc<Notify>,
    requests: mpsc::Receiver<SyncRequest>,
    stop: watch::Receiver<bool>,
    local_txid: watch::Sender<u64>,
}

impl DbTask {
    async fn run(mut self) {
        let options = self.shared.options.clone();
        let mut monitor = tokio::time::interval(options.monitor_interval);
        monitor.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // `Some` while a sync is wanted: when it may run at the earliest.
        let mut due: Option<Instant> = None;
        let mut last_sync = Instant::now() - options.sync_interval;
        loop {
            tokio::select! {
                _ = self.stop.changed() => return,
                request = self.requests.recv() => {
                    let Some(first) = request else { return };
                    // Group commit: everyone who asked before this sync
                    // starts is served by it.
                    let mut replies = vec![first];
                    while let Ok(more) = self.requests.try_recv() {
                        replies.push(more);
                    }
                    let result = self.sync().await;
                    last_sync = Instant::now();
                    due = None;
                    answer(replies, result);
                }
                () = self.commit.notified() => {
                    due.get_or_insert(last_sync + options.sync_interval);
                }
                _ = monitor.tick() => {
                    if self.with_db(|db| Ok(db.wal_changed())).await.unwrap_or(true) {
                        due.get_or_insert(last_sync + options.sync_interval);
                    }
                    self.checkpoint_if_due().await;
                }
                () = sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => {
                    due = None;
                    last_sync = Instant::now();
                    // Errors are recorded in the status; the monitor retries.
                    let _ = self.sync().await;
                }
            }
        }
    }

    /// Syncs and publishes the TXID; errors go to the status too.
    async fn sync(&mut self) -> Result<u64> {
        let result = self
            .with_db(|db| {
                // Stat first: a write after the stat shows on the next tick.
                db.wal_changed();
                db.sync()?;
                Ok(db.txid())
            })
            .await;
        self.after(&result);
        result
    }

    async fn checkpoint_if_due(&mut self) {
        let result = self
            .with_db(|db| {
                db.checkpoint_if_due()?;
                Ok(db.txid())
            })
            .await;
        self.after(&result);
    }

    fn after(&self, result: &Result<u64>) {
        match result {
            Ok(txid) => {
                self.shared.publish_db_stats();
                self.local_txid.send_if_modified(|held| {
                    let moved = *held != *txid;
                    *held = *txid;
                    moved
                });
            }
            Err(e) => {
                tracing::warn!(db = %self.shared.db_path.display(), error = %e, "sync failed");
                lock(&self.shared.status).last_error = Some(e.to_string());
            }
        }
    }

    async fn with_db<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Db) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let shared = Arc::clone(&self.shared);
        blocking(&self.shared.db_path, move || f(&mut shared.lock_db())).await
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

/// Sends one sync's result to everyone it served.
fn answer(replies: Vec<SyncRequest>, result: Result<u64>) {
    match result {
        Ok(txid) => {
            for reply in replies {
                let _ = reply.send(Ok(txid));
            }
        }
        Err(e) => {
            let message = e.to_string();
            let mut replies = replies.into_iter();
            if let Some(first) = replies.next() {
                let _ = first.send(Err(e));
            }
            for reply in replies {
                let _ = reply.send(Err(Error::SyncFailed(message.clone())));
            }
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
