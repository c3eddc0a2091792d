//! Processes a local deployment started and must stop: found by pid file,
//! checked in /proc (a zombie or a reused pid does not count), signalled
//! with kill(1) like `stn replicate --exec` does.

use std::path::Path;
use std::time::{Duration, Instant};

/// The pid in `path`, if the file exists and holds one.
pub fn read_pid(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Whether `pid` runs (not a zombie) with `needle` in its command line.
pub fn alive(pid: u32, needle: &str) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // The state follows the parenthesised command name, which may hold spaces.
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next());
    if matches!(state, None | Some('Z' | 'X')) {
        return false;
    }
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    String::from_utf8_lossy(&cmdline)
        .replace('\0', " ")
        .contains(needle)
}

/// Sends `signal` (TERM, KILL, …) to `pid`, or to its process group when `pid` is negative.
pub fn signal(pid: i64, signal: &str) {
    let _ = std::process::Command::new("kill")
        .args([&format!("-{signal}"), "--", &pid.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
}

/// Waits until `pid` no longer runs; false after `within`.
pub fn wait_gone(pid: u32, needle: &str, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if !alive(pid, needle) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    !alive(pid, needle)
}

/// A supervisor or server of a deployment, as found in /proc.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Found {
    pub pid: u32,
    pub supervisor: bool,
    pub cmdline: String,
}

/// The supervisors and servers of the deployment in `dir`, found in /proc by
/// their arguments (`deploy supervise DIR`, `serve … --bundle DIR/…`): also
/// those no pid file names any more, e.g. of a deploy that lost a race or
/// crashed.
pub fn of_deployment(dir: &Path) -> Vec<Found> {
    let dir = dir.to_string_lossy();
    let inside = format!("{dir}/");
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if pid == std::process::id() {
            continue;
        }
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline);
        let args: Vec<&str> = cmdline.split('\0').filter(|a| !a.is_empty()).collect();
        let mentions = args.iter().any(|a| *a == dir || a.starts_with(&inside));
        let supervisor = args.contains(&"supervise");
        if mentions && (supervisor || args.contains(&"serve")) && alive(pid, "") {
            found.push(Found {
                pid,
                supervisor,
                cmdline: args.join(" "),
            });
        }
    }
    found.sort();
    found
}
