//! Following a run: what already happened (from the database), then what
//! happens (live events when this process executes the run, otherwise by
//! polling the database, as for a run of another process), ending with its
//! final status. Behind the API's server-sent events and `stn runs show --follow`.

use std::collections::HashSet;
use std::time::Duration;

use stn_core::Station;
use stn_core::model::Run;
use tokio::sync::{broadcast, mpsc};

use crate::error::AgentError;
use crate::events::RunEvent;

/// How often the database is read for a run executed elsewhere.
const POLL: Duration = Duration::from_millis(200);

/// The events of run `run_id`, replayed then followed. `live` is the run's
/// event stream when this process executes it (subscribe before calling, so
/// nothing falls between the replay and the live events). The stream ends
/// after the final status, or when the receiver is dropped.
pub async fn watch(
    station: Station,
    live: Option<broadcast::Receiver<RunEvent>>,
    run_id: i64,
) -> Result<mpsc::Receiver<RunEvent>, AgentError> {
    // Fails now (not in the stream) for a run that does not exist.
    station.store().run(run_id).await?;
    let (tx, rx) = mpsc::channel(256);
    tokio::spawn(async move {
        if let Err(e) = feed(&station, live, run_id, &tx).await {
            tracing::warn!(run_id, error = %e, "watching a run failed");
        }
    });
    Ok(rx)
}

/// Steps already sent, by seq: steps of concurrent tool calls may be stored
/// out of order, and a step may arrive both from the database and live.
struct Feed<'a> {
    station: &'a Station,
    run_id: i64,
    sent: HashSet<i64>,
    tx: &'a mpsc::Sender<RunEvent>,
}

impl Feed<'_> {
    /// Sends the stored steps not sent yet, then the run's status when it is
    /// final. Returns the run, or `None` when the receiver is gone.
    async fn catch_up(&mut self) -> Result<Option<Run>, AgentError> {
        for step in self.station.store().run_steps(self.run_id).await? {
            // A call written ahead of its execution is sent when it finishes.
            if step.is_finished()
                && self.sent.insert(step.seq)
                && self.tx.send(RunEvent::StepFinished { step }).await.is_err()
            {
                return Ok(None);
            }
        }
        let run = self.station.store().run(self.run_id).await?;
        if run.status.is_final() && self.tx.send(status(&run)).await.is_err() {
            return Ok(None);
        }
        Ok(Some(run))
    }
}

fn status(run: &Run) -> RunEvent {
    RunEvent::Status {
        run_id: run.id,
        status: run.status,
        error: run.error.clone(),
        final_response: run.final_response.clone(),
    }
}

async fn feed(
    station: &Station,
    live: Option<broadcast::Receiver<RunEvent>>,
    run_id: i64,
    tx: &mpsc::Sender<RunEvent>,
) -> Result<(), AgentError> {
    let mut feed = Feed {
        station,
        run_id,
        sent: HashSet::new(),
        tx,
    };
    let Some(run) = feed.catch_up().await? else {
        return Ok(());
    };
    if run.status.is_final() {
        return Ok(());
    }
    if tx.send(status(&run)).await.is_err() {
        return Ok(());
    }
    let Some(mut live) = live else {
        // Executed by another process: its steps reach us through the database.
        loop {
            tokio::time::sleep(POLL).await;
            match feed.catch_up().await? {
                Some(run) if !run.status.is_final() => {}
                _ => return Ok(()),
            }
        }
    };
    loop {
        let event = match live.recv().await {
            Ok(event) => event,
            // Too slow for the live stream: what was missed is in the database.
            Err(broadcast::error::RecvError::Lagged(_)) => match feed.catch_up().await? {
                Some(run) if !run.status.is_final() => continue,
                _ => return Ok(()),
            },
            // The run ended and its sender is gone: the end is in the database.
            Err(broadcast::error::RecvError::Closed) => {
                feed.catch_up().await?;
                return Ok(());
            }
        };
        if let RunEvent::StepFinished { step } = &event
            && !feed.sent.insert(step.seq)
        {
            continue;
        }
        let last = event.is_final();
        if tx.send(event).await.is_err() || last {
            return Ok(());
        }
    }
}
