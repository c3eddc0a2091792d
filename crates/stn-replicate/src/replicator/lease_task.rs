//! The task that takes (when the start could not) and renews one replica's
//! single-writer lease.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{oneshot, watch};
use tokio::task::AbortHandle;
use tokio::time::{Instant, sleep_until};

use super::{Shared, is_fatal_at_start, lock, replica};
use crate::error::{Error, Result};
use crate::lease::{Holder, Lease};
use crate::storage::ReplicaClient;

/// Takes one replica's lease if the start could not, then renews it every
/// `lease.renew_every` until stopped; if the lease is lost (or turns out to
/// be held by another process), stops that replica's task and records why.
pub(super) struct LeaseTask {
    pub(super) index: usize,
    pub(super) client: ReplicaClient,
    /// Who this replicator is in the lease, for every attempt.
    pub(super) holder: Holder,
    /// `None` when the replica was not reachable at start.
    pub(super) lease: Option<Lease>,
    /// Tells a replica that was not reachable at start that it may list.
    pub(super) leased: Option<oneshot::Sender<()>>,
    pub(super) shared: Arc<Shared>,
    pub(super) stop: watch::Receiver<bool>,
    /// The replica's upload task.
    pub(super) replica: AbortHandle,
}

impl LeaseTask {
    pub(super) async fn run(mut self) -> Result<Option<Lease>> {
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
