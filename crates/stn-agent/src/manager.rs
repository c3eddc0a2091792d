//! The runs of one process (`stn serve`, `stn agent run`): at most N execute
//! at once and the rest wait as `queued`; each has a live event stream and a
//! cancel switch; shutdown cancels what is left and waits for every run to
//! record its end before the MCP servers are stopped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{Semaphore, broadcast};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::engine::{Engine, RunOutcome, RunRequest};
use crate::error::AgentError;
use crate::events::{self, EventSender, RunEvent};

/// The default for `--max-concurrent-runs`.
pub const DEFAULT_MAX_CONCURRENT_RUNS: usize = 8;

/// Starts, watches and cancels runs. Cheap to clone.
#[derive(Clone)]
pub struct RunManager {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    permits: Arc<Semaphore>,
    live: Mutex<HashMap<i64, Live>>,
    tasks: TaskTracker,
    /// Parent of every run's cancel token: cancelled at shutdown.
    stopping: CancellationToken,
}

struct Live {
    cancel: CancellationToken,
    events: EventSender,
}

/// A run just started: its id, its events from the very first one, and its end.
pub struct Started {
    /// The run.
    pub run_id: i64,
    /// Its events (subscribed before it could emit any).
    pub events: broadcast::Receiver<RunEvent>,
    /// Resolves with how it ended.
    pub outcome: tokio::task::JoinHandle<RunOutcome>,
}

impl RunManager {
    /// A manager running at most `max_concurrent` runs at once (at least 1).
    pub fn new(engine: Engine, max_concurrent: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                engine,
                permits: Arc::new(Semaphore::new(max_concurrent.max(1))),
                live: Mutex::new(HashMap::new()),
                tasks: TaskTracker::new(),
                stopping: CancellationToken::new(),
            }),
        }
    }

    /// The engine underneath.
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// Records the run as `queued` and starts it when a slot is free. Returns
    /// at once: a slow model never holds up the caller.
    pub async fn submit(&self, req: RunRequest) -> Result<Started, AgentError> {
        if self.inner.stopping.is_cancelled() {
            return Err(AgentError::ShuttingDown);
        }
        let run_id = self.inner.engine.queue(&req, None).await?;
        let cancel = self.inner.stopping.child_token();
        let sender = events::channel();
        let events = sender.subscribe();
        self.lock().insert(
            run_id,
            Live {
                cancel: cancel.clone(),
                events: sender.clone(),
            },
        );
        let inner = Arc::clone(&self.inner);
        let outcome = self.inner.tasks.spawn(async move {
            // Waiting for a slot can be cancelled too; the run then ends
            // `cancelled` without ever starting.
            let permit = tokio::select! {
                permit = Arc::clone(&inner.permits).acquire_owned() => permit.ok(),
                () = cancel.cancelled() => None,
            };
            let outcome = inner.engine.execute(run_id, req, cancel, sender).await;
            drop(permit);
            inner
                .live
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&run_id);
            outcome
        });
        Ok(Started {
            run_id,
            events,
            outcome,
        })
    }

    /// Live events of a run this process executes; `None` when it does not
    /// (finished, or executed by another process: read the database then).
    pub fn subscribe(&self, run_id: i64) -> Option<broadcast::Receiver<RunEvent>> {
        self.lock().get(&run_id).map(|live| live.events.subscribe())
    }

    /// Cancels a run this process executes; false when it does not.
    pub fn cancel(&self, run_id: i64) -> bool {
        match self.lock().get(&run_id) {
            Some(live) => {
                live.cancel.cancel();
                true
            }
            None => false,
        }
    }

    /// Takes no new runs, cancels the ones left, waits until each has
    /// recorded its end, then stops every MCP server.
    pub async fn shutdown(&self) {
        self.inner.stopping.cancel();
        self.inner.tasks.close();
        self.inner.tasks.wait().await;
        self.inner.engine.shutdown().await;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Live>> {
        self.inner.live.lock().unwrap_or_else(|e| e.into_inner())
    }
}
