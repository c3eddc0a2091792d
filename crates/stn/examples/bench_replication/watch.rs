//! Watching a replica directory: when each TXID became durable, bytes and objects written.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime};

use crate::tools::{Replicator, restore, vm_hwm_kb};
use crate::writer::count;
use crate::{Bench, Tool};

/// What was seen under a replica directory.
#[derive(Default)]
pub(crate) struct Seen {
    /// Every L0 file: when it first appeared, min and max TXID.
    pub(crate) l0: Vec<(Instant, u64, u64)>,
    /// Current `*.ltx` files.
    pub(crate) files: HashMap<PathBuf, Version>,
    /// Created, changed or removed `*.ltx` files, when noticed.
    pub(crate) events: Vec<(Instant, PathBuf)>,
    /// Every distinct file version seen.
    pub(crate) objects_written: u64,
    /// Bytes of those versions, except hard links to a file that was
    /// already there (how object_store's file backend does a server-side
    /// copy; on S3 a CopyObject uploads nothing either).
    pub(crate) bytes_written: u64,
    pub(crate) peak_rss_kb: u64,
}

impl Seen {
    pub(crate) fn objects(&self) -> u64 {
        self.objects_written
    }

    pub(crate) fn bytes_kb(&self) -> f64 {
        self.bytes_written as f64 / 1024.0
    }

    pub(crate) fn peak_rss_mb(&self) -> f64 {
        self.peak_rss_kb as f64 / 1024.0
    }

    pub(crate) fn scan(&mut self, replica: &Path) {
        let now = Instant::now();
        let mut current = HashMap::new();
        list_ltx(replica, &mut current);
        for (path, version) in &current {
            if self.files.get(path) != Some(version) {
                self.objects_written += 1;
                let copy = self
                    .files
                    .iter()
                    .chain(&current)
                    .any(|(other, seen)| other != path && seen == version);
                if !copy {
                    self.bytes_written += version.len;
                }
                self.events.push((now, path.clone()));
            }
        }
        for path in self.files.keys() {
            if !current.contains_key(path) {
                self.events.push((now, path.clone()));
            }
        }
        self.files = current;
    }
}

/// One version of a replica file; equal versions under two names are
/// hard links of one file.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Version {
    pub(crate) len: u64,
    pub(crate) mtime: SystemTime,
    pub(crate) inode: u64,
}

pub(crate) fn list_ltx(dir: &Path, out: &mut HashMap<PathBuf, Version>) {
    use std::os::unix::fs::MetadataExt;

    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let Ok(meta) = entry.metadata() else { continue };
        let path = entry.path();
        if meta.is_dir() {
            list_ltx(&path, out);
        } else if path.extension().is_some_and(|e| e == "ltx") {
            let version = Version {
                len: meta.len(),
                mtime: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                inode: meta.ino(),
            };
            out.insert(path, version);
        }
    }
}

/// Polls a replica directory (ltx/0 every 5 ms, everything every 100 ms)
/// and the replicator's VmHWM (every 100 ms) on its own thread.
pub(crate) struct Watcher {
    pub(crate) stop: Arc<AtomicBool>,
    pub(crate) seen: Arc<Mutex<Seen>>,
    pub(crate) pid: u32,
    pub(crate) thread: Option<JoinHandle<()>>,
}

impl Watcher {
    pub(crate) fn start(replica: &Path, pid: u32) -> Watcher {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Seen::default()));
        let (flag, shared, replica) = (stop.clone(), seen.clone(), replica.to_path_buf());
        let thread = thread::spawn(move || {
            let l0_dir = replica.join("ltx").join("0");
            let mut known = std::collections::HashSet::new();
            let mut tick = 0u64;
            while !flag.load(Ordering::Relaxed) {
                let now = Instant::now();
                let mut new = Vec::new();
                if let Ok(entries) = std::fs::read_dir(&l0_dir) {
                    for entry in entries.flatten() {
                        let name = entry.file_name().to_string_lossy().into_owned();
                        if let Some(range) = parse_ltx_name(&name)
                            && known.insert(range)
                        {
                            new.push((now, range.0, range.1));
                        }
                    }
                }
                let mut seen = shared.lock().expect("lock");
                seen.l0.extend(new);
                if tick.is_multiple_of(20) {
                    seen.scan(&replica);
                    let rss = vm_hwm_kb(pid).unwrap_or(0);
                    seen.peak_rss_kb = seen.peak_rss_kb.max(rss);
                }
                drop(seen);
                tick += 1;
                thread::sleep(Duration::from_millis(5));
            }
        });
        Watcher {
            stop,
            seen,
            pid,
            thread: Some(thread),
        }
    }

    pub(crate) fn sample_rss(&self) {
        let rss = vm_hwm_kb(self.pid).unwrap_or(0);
        let mut seen = self.seen.lock().expect("lock");
        seen.peak_rss_kb = seen.peak_rss_kb.max(rss);
    }

    /// Waits for the start-up snapshot to show up in the replica.
    pub(crate) fn wait_first_l0(&self, proc: &Replicator, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.seen.lock().expect("lock").l0.is_empty() {
            assert!(
                proc.alive(),
                "{} exited early; log:\n{}",
                proc.tool.name(),
                std::fs::read_to_string(&proc.log).unwrap_or_default()
            );
            assert!(
                Instant::now() < deadline,
                "{}: no L0 file in the replica after {timeout:?}",
                proc.tool.name()
            );
            thread::sleep(Duration::from_millis(5));
        }
    }

    pub(crate) fn stop(mut self) -> Seen {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.join().expect("watcher thread");
        }
        std::mem::take(&mut *self.seen.lock().expect("lock"))
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// `<min %016x>-<max %016x>.ltx`.
pub(crate) fn parse_ltx_name(name: &str) -> Option<(u64, u64)> {
    let (min, max) = name.strip_suffix(".ltx")?.split_once('-')?;
    Some((
        u64::from_str_radix(min, 16).ok()?,
        u64::from_str_radix(max, 16).ok()?,
    ))
}

pub(crate) fn dir_ltx_bytes(replica: &Path) -> u64 {
    let mut files = HashMap::new();
    list_ltx(replica, &mut files);
    files.values().map(|version| version.len).sum()
}

/// Lag of every commit in ms (see METHODS), or why it could not be measured.
pub(crate) fn commit_lag(
    bench: &Bench,
    tool: Tool,
    replica: &Path,
    l0: &[(Instant, u64, u64)],
    commits: &[Instant],
) -> Result<Vec<f64>, String> {
    let mut files = l0.to_vec();
    files.sort_by_key(|f| f.2);
    let out = bench.root.path().join("lag.restored");
    let mut lags = Vec::with_capacity(commits.len());
    for (appeared, _, max_txid) in files {
        if lags.len() == commits.len() {
            break;
        }
        let (_, ok) = restore(bench, tool, replica, &out, Some(max_txid));
        if !ok {
            return Err(format!("restore --txid {max_txid:x} failed"));
        }
        let max_seq = count(&out, "SELECT coalesce(max(seq), 0) FROM t");
        let _ = std::fs::remove_file(&out);
        while lags.len() < commits.len() && (lags.len() as i64) < max_seq {
            let committed = commits[lags.len()];
            lags.push(appeared.saturating_duration_since(committed).as_secs_f64() * 1000.0);
        }
    }
    if lags.len() < commits.len() {
        return Err(format!(
            "{} of {} commits in no L0 file",
            commits.len() - lags.len(),
            commits.len()
        ));
    }
    Ok(lags)
}
