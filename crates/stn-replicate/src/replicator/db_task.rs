//! The task that owns the database: syncs when told of a commit or when
//! the WAL changed, checkpoints, and serves sync requests with group commit.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, mpsc, watch};
use tokio::time::{Instant, sleep_until};

use super::{Shared, SyncRequest, blocking, lock};
use crate::db::Db;
use crate::error::{Error, Result};

/// Longest a sync request waits for replicas busy with an earlier upload
/// before it is synced anyway (a replica may be down for good).
const MAX_GROUP_WAIT: Duration = Duration::from_secs(1);

/// The task that owns the database: syncs, checkpoints, answers `sync_now`.
pub(super) struct DbTask {
    pub(super) shared: Arc<Shared>,
    pub(super) commit: Arc<Notify>,
    pub(super) requests: mpsc::Receiver<SyncRequest>,
    pub(super) stop: watch::Receiver<bool>,
    pub(super) local_txid: watch::Sender<u64>,
}

impl DbTask {
    pub(super) async fn run(mut self) {
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
