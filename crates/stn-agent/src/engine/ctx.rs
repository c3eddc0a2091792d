//! What one executing run carries through its loop, and the timing of a step.

use std::sync::Mutex;
use std::time::Instant;

use stn_core::model::{RunStep, StepKind, StepState};
use tokio_util::sync::CancellationToken;

use crate::events::{EventSender, RunEvent};

/// One executing run.
pub(crate) struct RunCtx {
    pub run_id: i64,
    pub depth: u32,
    /// Agents from the top run down to this one, to refuse cycles.
    pub ancestors: Vec<i64>,
    pub cancel: CancellationToken,
    /// Cancelled when this run ends, so sub-agent runs never outlive it.
    pub scope: CancellationToken,
    pub events: EventSender,
    /// The model's last text, kept as the answer of a run that stops early.
    pub last_text: Mutex<Option<String>>,
}

impl RunCtx {
    pub(crate) fn new(
        run_id: i64,
        depth: u32,
        ancestors: Vec<i64>,
        cancel: CancellationToken,
        events: EventSender,
    ) -> Self {
        Self {
            run_id,
            depth,
            ancestors,
            scope: cancel.child_token(),
            cancel,
            events,
            last_text: Mutex::new(None),
        }
    }

    pub(crate) fn emit(&self, event: RunEvent) {
        // Nobody listening is normal (a scheduled run, a sub-agent).
        let _ = self.events.send(event);
    }

    pub(crate) fn step_started(&self, seq: i64, kind: StepKind, name: &str) -> Started {
        self.emit(RunEvent::StepStarted {
            run_id: self.run_id,
            seq,
            kind,
            name: name.to_owned(),
        });
        Started::now(self.run_id, seq)
    }

    pub(crate) fn set_last_text(&self, text: &str) {
        if !text.trim().is_empty() {
            *self.last_text.lock().unwrap_or_else(|e| e.into_inner()) = Some(text.to_owned());
        }
    }

    pub(crate) fn take_last_text(&self) -> Option<String> {
        self.last_text
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .filter(|t| !t.trim().is_empty())
    }
}

/// When a step began, for its row.
pub(crate) struct Started {
    run_id: i64,
    seq: i64,
    at: String,
    clock: Instant,
}

impl Started {
    pub(crate) fn now(run_id: i64, seq: i64) -> Self {
        Self {
            run_id,
            seq,
            at: timestamp(),
            clock: Instant::now(),
        }
    }

    /// The step row, with its duration up to now.
    pub(crate) fn step(self, kind: StepKind, name: &str) -> RunStep {
        RunStep {
            run_id: self.run_id,
            seq: self.seq,
            kind,
            name: name.to_owned(),
            input: None,
            output: None,
            is_error: false,
            input_tokens: None,
            output_tokens: None,
            total_tokens: None,
            child_run_id: None,
            started_at: self.at,
            duration_ms: i64::try_from(self.clock.elapsed().as_millis()).unwrap_or(i64::MAX),
            state: StepState::Finished,
            call_id: None,
            server: None,
        }
    }
}

/// Now, as step rows store it.
pub(crate) fn timestamp() -> String {
    const FORMAT: &[time::format_description::BorrowedFormatItem<'_>] = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time::OffsetDateTime::now_utc()
        .format(FORMAT)
        .unwrap_or_default()
}
