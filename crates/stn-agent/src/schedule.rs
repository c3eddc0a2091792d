//! Cron schedules (`schedule: {cron, enabled, variables}` in the front
//! matter), run by `stn serve`. Times are UTC; a 6-field expression has
//! seconds first.
//!
//! Each agent's next slot is stored on its row. A slot is run only after it
//! is claimed with a conditional update (`… WHERE next_scheduled_run = slot`),
//! so a restart, or a second server on the same database, never runs a slot
//! twice. Slots missed while no server ran collapse into one run at start.
//!
//! This loop is the one periodic database work of `stn serve`: on a remote
//! database every look is a billed request, so it sleeps until the earliest
//! planned slot, and looks at most every [`IDLE_POLL`] to learn of schedules
//! changed elsewhere (an API call, `stn sync`, another server). An idle
//! server therefore sends one request per [`IDLE_POLL`]. Further periodic
//! work (a lease heartbeat) belongs in the same [`tick`], ideally the same
//! request.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use croner::Cron;
use serde_json::{Map, Value};
use stn_core::store::ScheduledAgent;
use tokio_util::sync::CancellationToken;

use crate::engine::{Origin, RunRequest};
use crate::error::AgentError;
use crate::manager::RunManager;

/// Longest time between two looks at the schedules. A schedule created or
/// changed meanwhile gets its first slot planned at the next look.
pub const IDLE_POLL: Duration = Duration::from_secs(10);

pub use stn_core::agent_check::parse_cron as parse;

/// The first slot of `cron` strictly after `after`.
pub fn next_after(cron: &Cron, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    cron.find_next_occurrence(&after, false).ok()
}

/// The scheduler of `stn serve`, running in the background.
pub struct Scheduler {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Scheduler {
    /// Starts checking for due schedules: at each planned slot, and every [`IDLE_POLL`].
    pub fn start(manager: RunManager) -> Self {
        let stop = CancellationToken::new();
        let task = tokio::spawn(run(manager, stop.clone()));
        Self { stop, task }
    }

    /// Stops starting runs (runs already started are the manager's).
    pub async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

/// Starts due scheduled runs until `stop` is cancelled.
async fn run(manager: RunManager, stop: CancellationToken) {
    let mut warned = HashSet::new();
    loop {
        let wait = match tick(&manager, &mut warned, Utc::now()).await {
            Ok(done) => until(done.next_slot, Utc::now()),
            Err(e) => {
                tracing::warn!(error = %e, "schedules: cannot check for due runs");
                IDLE_POLL
            }
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = stop.cancelled() => return,
        }
    }
}

/// How long to sleep before the slot `next`: at most [`IDLE_POLL`], nothing
/// when it passed while the tick ran.
fn until(next: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Duration {
    next.map_or(IDLE_POLL, |slot| {
        (slot - now)
            .to_std()
            .unwrap_or(Duration::ZERO)
            .min(IDLE_POLL)
    })
}

/// What one [`tick`] did.
#[derive(Debug, Default)]
pub struct Tick {
    /// The runs started.
    pub started: Vec<i64>,
    /// The earliest slot planned for later, when there is one.
    pub next_slot: Option<DateTime<Utc>>,
}

impl Tick {
    fn plan(&mut self, slot: DateTime<Utc>) {
        self.next_slot = Some(self.next_slot.map_or(slot, |earliest| earliest.min(slot)));
    }
}

/// One pass: plans first slots and starts the runs of due ones.
pub async fn tick(
    manager: &RunManager,
    warned: &mut HashSet<(i64, String)>,
    now: DateTime<Utc>,
) -> Result<Tick, AgentError> {
    let store = manager.engine().station().store();
    let mut done = Tick::default();
    for agent in store.scheduled_agents().await? {
        let cron = match parse(&agent.cron) {
            Ok(cron) => cron,
            Err(e) => {
                // Once per expression, not every tick.
                if warned.insert((agent.agent_id, agent.cron.clone())) {
                    tracing::warn!(agent = %agent.name, environment = %agent.environment, error = %e, "schedule ignored");
                }
                continue;
            }
        };
        let Some(next) = next_after(&cron, now) else {
            continue;
        };
        let next_text = format_time(next);
        let Some(slot_text) = agent.next_run.clone() else {
            store.plan_schedule(agent.agent_id, &next_text).await?;
            done.plan(next);
            continue;
        };
        // An unreadable stored slot counts as due, so it is replaced.
        let slot = DateTime::parse_from_rfc3339(&slot_text).map(|s| s.with_timezone(&Utc));
        if let Ok(slot) = slot
            && slot > now
        {
            done.plan(slot);
            continue;
        }
        // Whoever wins the claim plans `next`; either way it is the next slot.
        done.plan(next);
        if !store
            .claim_schedule_slot(agent.agent_id, &slot_text, &next_text)
            .await?
        {
            continue;
        }
        let run = manager.submit(request(&agent, &slot_text)).await?;
        tracing::info!(agent = %agent.name, environment = %agent.environment, slot = %slot_text, run_id = run.run_id, "scheduled run started");
        done.started.push(run.run_id);
    }
    Ok(done)
}

fn request(agent: &ScheduledAgent, slot: &str) -> RunRequest {
    let variables: Map<String, Value> = match &agent.variables {
        Some(Value::Object(map)) => map.clone(),
        _ => Map::new(),
    };
    // A `task` variable is the task; otherwise the slot says what this is.
    let task = variables
        .get("task")
        .and_then(Value::as_str)
        .map_or_else(|| format!("Scheduled run ({slot})"), str::to_owned);
    RunRequest {
        agent_id: agent.agent_id,
        task,
        variables,
        origin: Origin::Schedule,
    }
}

fn format_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_and_six_fields() {
        let at = DateTime::parse_from_rfc3339("2026-01-01T10:00:30Z")
            .unwrap()
            .with_timezone(&Utc);
        let hourly = parse("0 * * * *").unwrap();
        assert_eq!(
            format_time(next_after(&hourly, at).unwrap()),
            "2026-01-01T11:00:00Z"
        );
        let every_second = parse("* * * * * *").unwrap();
        assert_eq!(
            format_time(next_after(&every_second, at).unwrap()),
            "2026-01-01T10:00:31Z"
        );
        assert!(parse("not cron").is_err());
    }

    #[test]
    fn sleeps_until_the_next_slot_or_the_idle_poll() {
        let now = Utc::now();
        assert_eq!(until(None, now), IDLE_POLL);
        assert_eq!(
            until(Some(now + chrono::Duration::seconds(2)), now),
            Duration::from_secs(2)
        );
        assert_eq!(
            until(Some(now + chrono::Duration::hours(1)), now),
            IDLE_POLL
        );
        assert_eq!(
            until(Some(now - chrono::Duration::seconds(1)), now),
            Duration::ZERO
        );
    }
}
