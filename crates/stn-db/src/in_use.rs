//! Is a local database open in another process right now?
//!
//! Asked before a file is replaced underneath (`stn restore --force`, `stn db
//! copy --force`): a process that keeps the old file open would go on writing
//! to an unlinked inode, answering "saved" for writes nobody will ever see.
//!
//! The answer comes from SQLite's own locks, so it covers every holder, not
//! only Station's: in WAL mode, each open connection holds a shared POSIX lock
//! on the dead-man-switch byte of the `-shm` file for as long as it is open,
//! idle or not (`BEGIN EXCLUSIVE` would not see an idle WAL reader). Asking the
//! kernel which lock would block an exclusive lock on that byte (`F_GETLK`)
//! names the holding process, whoever started it.

use std::path::Path;

use crate::error::DbError;

/// Where SQLite's unix VFS keeps the dead-man-switch lock in the `-shm` file:
/// `UNIX_SHM_BASE` (22 + 8 lock slots, 4 bytes each = 120) + 8 lock bytes.
const SHM_DMS_BYTE: i64 = 128;

/// A process holding a database open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Holder {
    /// Its process id.
    pub(crate) pid: u32,
    /// Its command line, when the system tells (Linux `/proc`).
    pub(crate) command: Option<String>,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.command {
            Some(command) => write!(f, "process {} ({command})", self.pid),
            None => write!(f, "process {}", self.pid),
        }
    }
}

/// Fails with [`DbError::InUse`] when another process has the database at
/// `path` open. A missing file, or one no connection has open, is not in use.
///
/// Only for a process with no connection of its own to the database: the
/// `-shm` descriptor opened here is closed again, and closing any descriptor
/// of a file drops every POSIX lock the process holds on it, SQLite's too.
pub fn ensure_not_in_use(path: &Path) -> Result<(), DbError> {
    match holder(path) {
        Ok(None) => Ok(()),
        Ok(Some(holder)) => Err(DbError::InUse {
            path: path.display().to_string(),
            holder: holder.to_string(),
        }),
        Err(e) => Err(DbError::Open {
            path: shm_path(path).display().to_string(),
            detail: format!("cannot tell whether the database is in use: {e}"),
        }),
    }
}

/// The process holding the database at `path` open, if any.
#[cfg(unix)]
pub(crate) fn holder(path: &Path) -> std::io::Result<Option<Holder>> {
    use nix::fcntl::{FcntlArg, fcntl};
    use nix::libc;
    let shm = match std::fs::OpenOptions::new().read(true).open(shm_path(path)) {
        Ok(file) => file,
        // No -shm file: no connection has the database open in WAL mode.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut lock = libc::flock {
        l_type: libc::F_WRLCK as _,
        l_whence: libc::SEEK_SET as _,
        l_start: SHM_DMS_BYTE,
        l_len: 1,
        l_pid: 0,
    };
    fcntl(&shm, FcntlArg::F_GETLK(&mut lock)).map_err(std::io::Error::from)?;
    if i32::from(lock.l_type) == libc::F_UNLCK {
        return Ok(None);
    }
    let pid = u32::try_from(lock.l_pid).unwrap_or(0);
    Ok(Some(Holder {
        pid,
        command: command_line(pid),
    }))
}

/// Without POSIX locks there is no way to ask; nothing is reported.
#[cfg(not(unix))]
pub(crate) fn holder(_path: &Path) -> std::io::Result<Option<Holder>> {
    Ok(None)
}

fn shm_path(path: &Path) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push("-shm");
    name.into()
}

/// The command line of `pid` from `/proc`, arguments joined by spaces.
fn command_line(pid: u32) -> Option<String> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let words: Vec<String> = raw
        .split(|b| *b == 0)
        .filter(|w| !w.is_empty())
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .collect();
    (!words.is_empty()).then(|| words.join(" "))
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    /// The positive case (a real `stn serve` holding the file) runs in the
    /// CLI tests; F_GETLK never reports this process's own locks.
    #[test]
    fn missing_or_unlocked_files_are_not_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        assert_eq!(holder(&path).unwrap(), None);
        std::fs::write(shm_path(&path), vec![0u8; 4096]).unwrap();
        assert_eq!(holder(&path).unwrap(), None);
        assert!(ensure_not_in_use(&path).is_ok());
    }
}
