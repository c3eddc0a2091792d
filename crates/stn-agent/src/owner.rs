//! Which process executes a run, so that a starting server can tell a run
//! whose process died (mark it interrupted) from one another process is still
//! executing (leave it alone): `stn agent run` in a terminal and `stn serve`
//! may share one database.
//!
//! An owner is `host/boot id/pid/process start time`. The boot id and the
//! start time make a reused pid or a rebooted machine count as a different
//! process. Runs owned by another host are never judged from here: without a
//! heartbeat a remote process cannot be told dead from slow.

use std::sync::OnceLock;

/// This process, as recorded on the runs it executes.
pub fn current() -> &'static str {
    static OWNER: OnceLock<String> = OnceLock::new();
    OWNER.get_or_init(|| {
        let pid = std::process::id();
        format!(
            "{}/{}/{}/{}",
            hostname(),
            boot_id(),
            pid,
            start_time(pid).unwrap_or_default()
        )
    })
}

/// True when the owner of a queued or running run is known to be gone: a
/// process of this host that no longer exists (or is not the same process),
/// or one from before the last boot. A run without an owner was written by
/// code that never resumes runs, so it is gone too.
pub fn is_gone(owner: Option<&str>) -> bool {
    let Some(owner) = owner else {
        return true;
    };
    let mut parts = owner.splitn(4, '/');
    let (Some(host), Some(boot), Some(pid), Some(start)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return true;
    };
    if host != hostname() {
        return false;
    }
    if boot != boot_id() {
        return true;
    }
    match pid.parse::<u32>() {
        Ok(pid) => start_time(pid).is_none_or(|now| now != start),
        Err(_) => true,
    }
}

fn hostname() -> String {
    read_trimmed("/proc/sys/kernel/hostname")
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".to_owned())
}

fn boot_id() -> String {
    read_trimmed("/proc/sys/kernel/random/boot_id").unwrap_or_default()
}

/// Field 22 of `/proc/<pid>/stat` (clock ticks after boot), read after the
/// command name, which may itself contain spaces and parentheses.
fn start_time(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(19).map(str::to_owned)
}

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_dead_one_is_gone() {
        assert!(!is_gone(Some(current())));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        let owner = format!(
            "{}/{}/{pid}/{}",
            hostname(),
            boot_id(),
            start_time(pid).unwrap_or_default()
        );
        child.wait().unwrap();
        assert!(is_gone(Some(&owner)));
        // Same pid, another process (reused pid): gone.
        let reused = format!("{}/{}/{}/1", hostname(), boot_id(), std::process::id());
        assert!(is_gone(Some(&reused)));
        // Another boot: gone. Another host: not ours to judge.
        assert!(is_gone(Some(&format!("{}/other-boot/1/1", hostname()))));
        assert!(!is_gone(Some("some-other-host/b/1/1")));
        assert!(is_gone(None));
    }
}
