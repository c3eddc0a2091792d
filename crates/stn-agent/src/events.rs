//! What a run reports while it executes: the live stream behind the API's
//! server-sent events and the CLI's transcript. Everything in it except text
//! deltas is also in the database, so a late reader replays from there.

use serde::Serialize;
use stn_core::model::{RunStatus, RunStep, StepKind};
use tokio::sync::broadcast;

/// One event of a run. Serialized with a `type` tag (`status`,
/// `step_started`, `step_finished`, `text_delta`), which is also the SSE event name.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RunEvent {
    /// The run changed state; a final status is the last event of a run.
    Status {
        /// The run.
        run_id: i64,
        /// Its new state.
        status: RunStatus,
        /// Why it failed, was cancelled or timed out.
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        /// The answer, with a final status.
        #[serde(skip_serializing_if = "Option::is_none")]
        final_response: Option<String>,
    },
    /// A model turn or tool call began.
    StepStarted {
        /// The run.
        run_id: i64,
        /// Its place in the run.
        seq: i64,
        /// What it is.
        kind: StepKind,
        /// The model or tool.
        name: String,
    },
    /// A step ended and is in the database.
    StepFinished {
        /// The step as stored.
        step: RunStep,
    },
    /// Text the model streamed in the current turn.
    TextDelta {
        /// The run.
        run_id: i64,
        /// The new text.
        text: String,
    },
}

impl RunEvent {
    /// The event's name (its `type`).
    pub fn name(&self) -> &'static str {
        match self {
            RunEvent::Status { .. } => "status",
            RunEvent::StepStarted { .. } => "step_started",
            RunEvent::StepFinished { .. } => "step_finished",
            RunEvent::TextDelta { .. } => "text_delta",
        }
    }

    /// True for the last event of a run.
    pub fn is_final(&self) -> bool {
        matches!(self, RunEvent::Status { status, .. } if status.is_final())
    }
}

/// Where a run's events go; sending never blocks and nobody listening is fine.
pub type EventSender = broadcast::Sender<RunEvent>;

/// Events kept for a slow listener before it starts missing some (it can
/// replay steps from the database; deltas are lost).
pub const EVENT_BUFFER: usize = 1024;

/// A channel for one run's events.
pub fn channel() -> EventSender {
    broadcast::channel(EVENT_BUFFER).0
}
