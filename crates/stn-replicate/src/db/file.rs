//! The database file as the replicator reads it: one descriptor per file,
//! kept open for the life of the process.
//!
//! POSIX record locks belong to a process and a file, not to a descriptor:
//! closing *any* descriptor of the database file drops every lock the
//! process holds on it, among them the SHARED lock that each of SQLite's
//! WAL-mode connections keeps while it is open. Without that lock, another
//! process closing its last connection takes ours for gone, checkpoints and
//! deletes the WAL our connections still use, and `stn serve` holds its own
//! connections on the file it replicates. SQLite's VFS never closes a
//! descriptor while its process holds locks on the file; a second reader of
//! the same file must not either. A process replicates a handful of files,
//! so keeping one descriptor each costs nothing.

use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

/// A file's identity: (device, inode).
type FileId = (u64, u64);

/// Every database file opened here, with its identity.
static KEPT: Mutex<Vec<(FileId, Arc<File>)>> = Mutex::new(Vec::new());

/// The database file at `path`, read-only, opened at most once per file.
pub fn open(path: &Path) -> io::Result<Arc<File>> {
    let mut kept = KEPT.lock().unwrap_or_else(PoisonError::into_inner);
    if let Ok(meta) = std::fs::metadata(path) {
        let id = (meta.dev(), meta.ino());
        if let Some((_, file)) = kept.iter().find(|(kept_id, _)| *kept_id == id) {
            return Ok(Arc::clone(file));
        }
    }
    let file = File::open(path)?;
    let id = match file.metadata() {
        Ok(meta) => (meta.dev(), meta.ino()),
        Err(e) => {
            // Not closed either: see the module's note.
            std::mem::forget(file);
            return Err(e);
        }
    };
    let file = Arc::new(file);
    kept.push((id, Arc::clone(&file)));
    Ok(file)
}

/// Fills `buf` from `offset` of `file` (a positioned read, so threads
/// sharing the descriptor do not move each other's offset), with zeros past
/// its end: a grown database has pages its file does not have yet.
pub fn read_zero_filled(file: &File, offset: u64, buf: &mut [u8]) -> io::Result<()> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read_at(&mut buf[filled..], offset + filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf[filled..].fill(0);
    Ok(())
}
