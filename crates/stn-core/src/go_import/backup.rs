//! The byte copy of a Go database saved beside it before the conversion,
//! and putting it back after a failed attempt.
//!
//! One copy per unchanged source: an attempt that failed (a row refused, the
//! user fixes it elsewhere, tries again) must not leave one more copy of the
//! same bytes each time, so a copy whose bytes equal the source is reused.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{CoreError, Result};
use crate::files::write_atomic;

/// Where the source's bytes are saved.
#[derive(Debug, Clone)]
pub struct Backup {
    /// The copy of the database file (its `-wal` beside it when it had one).
    pub path: PathBuf,
    /// True when an earlier attempt's copy of the same bytes was reused.
    pub reused: bool,
}

/// Saves `path` (and its non-empty `-wal`) as `<path>.go-backup-<UTC
/// timestamp>` (temp file, fsync, rename), or finds an earlier copy with the
/// same bytes and uses that.
pub fn save_beside(path: &Path) -> Result<Backup> {
    let source = Snapshot::read(path)?;
    if let Some(existing) = find_equal(path, &source)? {
        return Ok(Backup {
            path: existing,
            reused: true,
        });
    }
    let stamp = time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!(
            "[year][month][day]T[hour][minute][second]Z"
        ))
        .unwrap_or_default();
    // A different source copied in the same second must not replace the
    // first copy.
    let base = format!("{}{}{stamp}", path.display(), SUFFIX);
    let backup = (1..)
        .map(|n| match n {
            1 => PathBuf::from(&base),
            n => PathBuf::from(format!("{base}.{n}")),
        })
        .find(|p| !p.exists() && !side(p, "-wal").exists())
        .unwrap_or_else(|| PathBuf::from(&base));
    if let Some(wal) = &source.wal {
        let target = side(&backup, "-wal");
        write_atomic(&target, wal).map_err(|e| CoreError::io(&target, e))?;
    }
    write_atomic(&backup, &source.main).map_err(|e| CoreError::io(&backup, e))?;
    Ok(Backup {
        path: backup,
        reused: false,
    })
}

/// Puts the backup's bytes back in place of `path` and removes the `-wal`
/// and `-shm` files the attempt left (opening switched the file to WAL).
pub fn restore(path: &Path, backup: &Path) -> Result<()> {
    for suffix in ["-wal", "-shm"] {
        let file = side(path, suffix);
        match std::fs::remove_file(&file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(CoreError::io(&file, e)),
        }
    }
    let saved = Snapshot::read(backup)?;
    if let Some(wal) = &saved.wal {
        let target = side(path, "-wal");
        write_atomic(&target, wal).map_err(|e| CoreError::io(&target, e))?;
    }
    write_atomic(path, &saved.main).map_err(|e| CoreError::io(path, e))
}

const SUFFIX: &str = ".go-backup-";

/// A database file's bytes and those of its non-empty `-wal`.
struct Snapshot {
    main: Vec<u8>,
    wal: Option<Vec<u8>>,
}

impl Snapshot {
    fn read(path: &Path) -> Result<Self> {
        let main = std::fs::read(path).map_err(|e| CoreError::io(path, e))?;
        let wal_path = side(path, "-wal");
        let wal = match std::fs::read(&wal_path) {
            Ok(bytes) if !bytes.is_empty() => Some(bytes),
            Ok(_) => None,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(CoreError::io(&wal_path, e)),
        };
        Ok(Self { main, wal })
    }

    fn digest(&self) -> (Vec<u8>, Option<Vec<u8>>) {
        (
            Sha256::digest(&self.main).to_vec(),
            self.wal.as_ref().map(|w| Sha256::digest(w).to_vec()),
        )
    }
}

/// An earlier backup of `path` whose file and `-wal` hash like `source`'s.
fn find_equal(path: &Path, source: &Snapshot) -> Result<Option<PathBuf>> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return Ok(None);
    };
    let prefix = format!("{name}{SUFFIX}");
    let entries = std::fs::read_dir(dir).map_err(|e| CoreError::io(dir, e))?;
    let mut candidates: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix) && !n.ends_with("-wal"))
        })
        .collect();
    // The newest first: their names end in a sortable timestamp.
    candidates.sort();
    candidates.reverse();
    let wanted = source.digest();
    for candidate in candidates {
        if Snapshot::read(&candidate)?.digest() == wanted {
            return Ok(Some(candidate));
        }
    }
    Ok(None)
}

fn side(path: &Path, suffix: &str) -> PathBuf {
    PathBuf::from(format!("{}{suffix}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unchanged_source_keeps_one_backup_and_a_changed_one_gets_another() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("station.db");
        std::fs::write(&db, b"go bytes").unwrap();
        let first = save_beside(&db).unwrap();
        assert!(!first.reused);
        let second = save_beside(&db).unwrap();
        assert!(second.reused);
        assert_eq!(second.path, first.path);

        // Changed within the same second: a copy of its own, the first kept.
        std::fs::write(&db, b"other bytes").unwrap();
        let third = save_beside(&db).unwrap();
        assert!(!third.reused);
        assert_ne!(third.path, first.path);
        assert_eq!(std::fs::read(&third.path).unwrap(), b"other bytes");
        assert_eq!(std::fs::read(&first.path).unwrap(), b"go bytes");
    }
}
