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
