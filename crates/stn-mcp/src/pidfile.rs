//! Which process groups we started, on disk, so a restart after `kill -9`
//! can stop the MCP servers the dead process left behind.
//!
//! PR_SET_PDEATHSIG would need `unsafe` (`pre_exec`) and fires when the
//! spawning *thread* exits, which tokio's blocking pool does routinely; and it
//! reaches only the direct child, not `npx`'s grandchildren. So instead every
//! stdio server's process group is recorded in `mcp-<pgid>.pid` while it runs,
//! and [`reap_orphans`] kills the groups whose owner is gone.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// The process groups one pool (or one discovery) has running.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    groups: Mutex<BTreeSet<u32>>,
    pid_dir: Option<PathBuf>,
}

impl Registry {
    pub(crate) fn new(pid_dir: Option<PathBuf>) -> Self {
        Registry {
            groups: Mutex::default(),
            pid_dir,
        }
    }

    /// Remembers a new group (and records it on disk when there is a pid dir).
    pub(crate) fn register(&self, pgid: u32) {
        self.lock().insert(pgid);
        if let Some(dir) = &self.pid_dir {
            let record = PidRecord {
                pgid,
                start: start_time(pgid),
                owner: std::process::id(),
                owner_start: start_time(std::process::id()),
            };
            let write = std::fs::create_dir_all(dir)
                .and_then(|()| std::fs::write(pid_file(dir, pgid), record.to_line()));
            if let Err(e) = write {
                tracing::warn!(dir = %dir.display(), pgid, "cannot record MCP server process group: {e}");
            }
        }
    }

    /// Forgets a group that is gone.
    pub(crate) fn forget(&self, pgid: u32) {
        self.lock().remove(&pgid);
        if let Some(dir) = &self.pid_dir {
            let _ = std::fs::remove_file(pid_file(dir, pgid));
        }
    }

    pub(crate) fn groups(&self) -> Vec<u32> {
        self.lock().iter().copied().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeSet<u32>> {
        // The set stays consistent even if a holder panicked: it is only inserted into and removed from.
        self.groups.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn pid_file(dir: &Path, pgid: u32) -> PathBuf {
    dir.join(format!("mcp-{pgid}.pid"))
}

/// One line per file: `pgid start owner owner_start` (`-` for an unknown start time).
#[derive(Debug, PartialEq, Eq)]
struct PidRecord {
    pgid: u32,
    start: Option<u64>,
    owner: u32,
    owner_start: Option<u64>,
}

impl PidRecord {
    fn to_line(&self) -> String {
        let opt = |v: Option<u64>| v.map_or_else(|| "-".to_owned(), |v| v.to_string());
        format!(
            "{} {} {} {}\n",
            self.pgid,
            opt(self.start),
            self.owner,
            opt(self.owner_start)
        )
    }

    fn parse(text: &str) -> Option<PidRecord> {
        let mut fields = text.split_whitespace();
        let mut next = || fields.next();
        let opt = |v: &str| {
            if v == "-" {
                Some(None)
            } else {
                v.parse().ok().map(Some)
            }
        };
        Some(PidRecord {
            pgid: next()?.parse().ok()?,
            start: opt(next()?)?,
            owner: next()?.parse().ok()?,
            owner_start: opt(next()?)?,
        })
    }
}

/// Kills the MCP server process groups recorded in `pid_dir` whose owning
/// process is gone (a `stn serve` that was SIGKILLed or crashed), and removes
/// their files. Groups of a still-running owner are left alone. Returns the
/// process groups killed. Call it once at start, before creating the pool.
pub fn reap_orphans(pid_dir: &Path) -> std::io::Result<Vec<u32>> {
    let entries = match std::fs::read_dir(pid_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut killed = Vec::new();
    for entry in entries {
        let path = entry?.path();
        let is_ours = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("mcp-") && n.ends_with(".pid"));
        if !is_ours {
            continue;
        }
        let Some(record) = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| PidRecord::parse(&t))
        else {
            let _ = std::fs::remove_file(&path);
            continue;
        };
        if alive_as(record.owner, record.owner_start) {
            continue;
        }
        if group_is_ours(&record) {
            match killpg(Pid::from_raw(record.pgid as i32), Signal::SIGKILL) {
                Ok(()) => {
                    tracing::info!(
                        pgid = record.pgid,
                        "killed an MCP server left by a previous run"
                    );
                    killed.push(record.pgid);
                }
                Err(nix::errno::Errno::ESRCH) => {}
                Err(e) => {
                    tracing::warn!(pgid = record.pgid, "cannot kill a leftover MCP server: {e}")
                }
            }
        }
        std::fs::remove_file(&path)?;
    }
    Ok(killed)
}

/// Whether `pid` runs and is the process that had start time `start`
/// (a recycled pid has another start time).
fn alive_as(pid: u32, start: Option<u64>) -> bool {
    let exists = nix::sys::signal::kill(Pid::from_raw(pid as i32), None).is_ok();
    exists && (start.is_none() || start_time(pid) == start)
}

/// The recorded group still exists and is the one we started: its leader is
/// the same process, or the leader is gone and members remain (Linux does not
/// reuse a pid while a process group carries its number).
fn group_is_ours(record: &PidRecord) -> bool {
    let leader_now = start_time(record.pgid);
    match (leader_now, record.start) {
        (Some(now), Some(then)) => now == then,
        _ => killpg(Pid::from_raw(record.pgid as i32), None).is_ok(),
    }
}

/// A process's start time in clock ticks since boot (Linux `/proc`), which
/// tells a process from a later one that got the same pid.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces and parentheses: fields
    // are counted from the last ')'. starttime is field 22, the 20th after it.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trips() {
        let record = PidRecord {
            pgid: 42,
            start: Some(7),
            owner: 9,
            owner_start: None,
        };
        assert_eq!(PidRecord::parse(&record.to_line()), Some(record));
        assert_eq!(PidRecord::parse("garbage"), None);
    }

    #[test]
    fn start_time_of_ourselves_is_known_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(start_time(std::process::id()).is_some());
        }
    }
}
