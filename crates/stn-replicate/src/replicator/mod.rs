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
use crate::lease::{Holder, Lease};
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
    /// Local syncs and checkpoints that failed.
    pub sync_errors: u64,
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
    /// Failed uploads, compactions, listings and lease requests.
    pub errors: u64,
    /// Since when the replica has lacked a local TXID (`None` while it
    /// holds all of them): the replication lag.
    pub behind_since: Option<std::time::SystemTime>,
    /// The last error, cleared by the next successful upload.
    pub last_error: Option<String>,
}

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

/// Takes one replica's lease if the start could not, then renews it every
/// `lease.renew_every` until stopped; if the lease is lost (or turns out to
/// be held by another process), stops that replica's task and records why.
struct LeaseTask {
    index: usize,
    client: ReplicaClient,
    /// Who this replicator is in the lease, for every attempt.
    holder: Holder,
    /// `None` when the replica was not reachable at start.
    lease: Option<Lease>,
    /// Tells a replica that was not reachable at start that it may list.
    leased: Option<oneshot::Sender<()>>,
    shared: Arc<Shared>,
    stop: watch::Receiver<bool>,
    /// The replica's upload task.
    replica: AbortHandle,
}

impl LeaseTask {
    async fn run(mut self) -> Result<Option<Lease>> {
        let mut lease = match self.lease.take() {
            Some(lease) => lease,
            None => match self.acquire().await {
                Some(Ok(lease)) => lease,
                Some(Err(e)) => return Err(self.give_up(e)),
                None => return Ok(None),
            },
        };
        // Already attached replicas dropped the receiver: nothing to tell.
        if let Some(leased) = self.leased.take() {
            let _ = leased.send(());
        }
        let every = self.shared.options.lease.renew_every;
        let mut next = Instant::now() + every;
        loop {
            tokio::select! {
                // Also when the handle is dropped: the lease then lapses.
                _ = self.stop.changed() => return Ok(Some(lease)),
                () = sleep_until(next) => {}
            }
            match lease.renew().await {
                Ok(()) => next = Instant::now() + every,
                Err(e @ Error::LeaseLost { .. }) => return Err(self.give_up(e)),
                Err(e) => {
                    // Retry sooner. Renewal swaps only our own last version,
                    // so a late retry can never overwrite a new holder.
                    tracing::warn!(error = %e, "lease renewal failed; retrying");
                    let message = format!("lease renewal: {e}");
                    self.shared.replica_failed(self.index, message);
                    next = Instant::now() + every / 4;
                }
            }
        }
    }

    /// Tries to take the lease until it is taken, refused for good
    /// (`Some(Err)`), or the replicator stops (`None`).
    async fn acquire(&mut self) -> Option<Result<Lease>> {
        let mut backoff = Duration::ZERO;
        loop {
            let options = &self.shared.options.lease;
            match Lease::acquire_as(&self.client, options, &self.holder).await {
                Ok(lease) => {
                    tracing::info!(
                        replica = self.client.url(),
                        "replica reachable; took its lease"
                    );
                    return Some(Ok(lease));
                }
                Err(e) if is_fatal_at_start(&e) => return Some(Err(e)),
                Err(e) => {
                    backoff = replica::next_backoff(backoff);
                    tracing::warn!(replica = self.client.url(), error = %e, retry_in = ?backoff,
                        "cannot take the replica's lease");
                    self.shared
                        .replica_failed(self.index, format!("lease: {e}"));
                }
            }
            tokio::select! {
                _ = self.stop.changed() => return None,
                () = tokio::time::sleep(backoff) => {}
            }
        }
    }

    /// Stops the replica for good: nothing more is uploaded there.
    fn give_up(&self, e: Error) -> Error {
        self.replica.abort();
        tracing::error!(error = %e, "stopped replicating to a replica");
        let message = e.to_string();
        // Local L0 files need not wait for this replica any more.
        self.shared.release_local_l0(self.index, u64::MAX);
        self.shared.update_replica(self.index, |status| {
            status.last_error = Some(message.clone());
        });
        lock(&self.shared.status).last_error = Some(message.clone());
        *lock(&self.shared.lease_lost) = Some(message);
        e
    }
}

/// Longest a sync request waits for replicas busy with an earlier upload
/// before it is synced anyway (a replica may be down for good).
const MAX_GROUP_WAIT: Duration = Duration::from_secs(1);

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
        // Sync requests not yet served, and since when the first waits.
        let mut replies: Vec<SyncRequest> = Vec::new();
        let mut waiting: Option<Instant> = None;
        loop {
            tokio::select! {
                _ = self.stop.changed() => return,
                request = self.requests.recv() => {
                    let Some(request) = request else { return };
                    waiting.get_or_insert_with(Instant::now);
                    replies.push(request);
                    while let Ok(more) = self.requests.try_recv() {
                        replies.push(more);
                    }
                }
                () = self.shared.uploaded.notified(), if !replies.is_empty() => {}
                () = sleep_until(waiting.unwrap_or_else(Instant::now) + MAX_GROUP_WAIT),
                    if waiting.is_some() => {}
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
            // Group commit: while a replica is still uploading the last
            // sync, requests gather, and then share one sync and one upload.
            let waited_long = waiting.is_some_and(|since| since.elapsed() >= MAX_GROUP_WAIT);
            if !replies.is_empty() && (waited_long || self.shared.replicas_idle()) {
                let result = self.sync().await;
                last_sync = Instant::now();
                due = None;
                waiting = None;
                answer(std::mem::take(&mut replies), result);
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
                let now = std::time::SystemTime::now();
                for replica in &mut lock(&self.shared.status).replicas {
                    if replica.txid < *txid {
                        replica.behind_since.get_or_insert(now);
                    }
                }
                self.local_txid.send_if_modified(|held| {
                    let moved = *held != *txid;
                    *held = *txid;
                    moved
                });
            }
            Err(e) => {
                tracing::warn!(db = %self.shared.db_path.display(), error = %e, "sync failed");
                let mut status = lock(&self.shared.status);
                status.last_error = Some(e.to_string());
                status.sync_errors += 1;
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
