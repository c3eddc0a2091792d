//! Helpers for stn-mcp's tests: the real MCP servers from
//! `scripts/test-services.sh install`, and counting processes.

#![allow(dead_code)] // each test binary uses a part

pub mod echo;

use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A `STN_TEST_*` path, or `None` (skip) outside CI; panics under CI.
pub fn service(var: &str) -> Option<String> {
    stn_testkit::service(var)
}

/// A built example of this crate (cargo builds examples with the tests).
pub fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> -> target/<profile>/examples/<name>
    let path = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test executable lives in target/<profile>/deps")
        .join("examples")
        .join(name);
    assert!(
        path.exists(),
        "example {} is not built (cargo build -p stn-mcp --examples)",
        path.display()
    );
    path
}

/// One process from `/proc/<pid>/stat`.
#[derive(Debug, Clone, Copy)]
pub struct Proc {
    pub pid: u32,
    pub ppid: u32,
    pub pgrp: u32,
}

/// Every living (non-zombie) process.
pub fn processes() -> Vec<Proc> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc") {
        let Ok(entry) = entry else { continue };
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some(rest) = stat.rfind(')').map(|at| &stat[at + 1..]) else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.len() < 3 || fields[0] == "Z" || fields[0] == "X" {
            continue;
        }
        all.push(Proc {
            pid,
            ppid: fields[1].parse().unwrap_or(0),
            pgrp: fields[2].parse().unwrap_or(0),
        });
    }
    all
}

/// Living processes of process group `pgid`.
pub fn group_members(pgid: u32) -> Vec<u32> {
    processes()
        .into_iter()
        .filter(|p| p.pgrp == pgid)
        .map(|p| p.pid)
        .collect()
}

/// Living direct children of this test process.
pub fn our_children() -> Vec<u32> {
    let me = std::process::id();
    processes()
        .into_iter()
        .filter(|p| p.ppid == me)
        .map(|p| p.pid)
        .collect()
}

/// Polls `done` every 20 ms until it holds or `timeout` passes.
pub fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if done() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
