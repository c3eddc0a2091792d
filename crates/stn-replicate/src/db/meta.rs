//! The local state of one replicated database, in `.<dbname>-stn/` beside it:
//!
//! ```text
//! .<dbname>-stn/
//!   position.json          where replication stands (see Position)
//!   ltx/0/<min>-<max>.ltx  level-0 files kept until every replica compacted them
//! ```
//!
//! Every file is written to `<name>.tmp`, fsynced, renamed into place and
//! the directory fsynced, so a crash leaves either the old or the new file.
//! An L0 file is written before the position that names it, so a position
//! never points at a file that is not there; files past the position are
//! leftovers of a crash and are removed at startup.

use std::fs::File;
use std::io::{BufWriter, ErrorKind};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::fs::{fsync_dir, io_error, remove_if_exists, with_suffix};
use crate::wal::{WalCursor, WalId};

const POSITION_FILE: &str = "position.json";

/// Where replication of the database stands after the last L0 file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// TXID of the last L0 file written (0 before the first).
    pub txid: u64,
    /// Database page size.
    pub page_size: u32,
    /// Database size in pages at `txid`.
    pub commit: u32,
    /// The WAL read so far and how far; `None` when there was no WAL.
    pub wal: Option<WalPosition>,
}

/// How far one WAL generation has been read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalPosition {
    /// Which WAL generation.
    pub id: WalId,
    /// Just after the last commit frame turned into an L0 file.
    pub cursor: WalCursor,
}

/// The `.<dbname>-stn/` directory of one database.
#[derive(Clone, Debug)]
pub struct MetaDir {
    dir: PathBuf,
}

impl MetaDir {
    /// The meta directory for the database at `db_path` (not created yet).
    pub fn for_database(db_path: &Path) -> MetaDir {
        let name = db_path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let parent = db_path.parent().unwrap_or(Path::new("."));
        MetaDir {
            dir: parent.join(format!(".{name}-stn")),
        }
    }

    /// The directory itself.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Creates the directory tree if missing.
    pub fn create(&self) -> Result<()> {
        let l0 = self.l0_dir();
        std::fs::create_dir_all(&l0).map_err(io_error(&l0))
    }

    /// Directory of the local level-0 files.
    fn l0_dir(&self) -> PathBuf {
        self.dir.join("ltx").join("0")
    }

    /// Path of the local L0 file for `txid`.
    pub fn l0_path(&self, txid: u64) -> PathBuf {
        self.l0_dir().join(stn_ltx::file_name(txid, txid))
    }

    /// The saved position, or `None` if replication never ran here.
    pub fn read_position(&self) -> Result<Option<Position>> {
        let path = self.dir.join(POSITION_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(io_error(&path)(source)),
        };
        // A damaged position only costs a full image, so it is not fatal.
        match serde_json::from_slice(&bytes) {
            Ok(position) => Ok(Some(position)),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "ignoring unreadable replication position");
                Ok(None)
            }
        }
    }

    /// Saves `position` atomically.
    pub fn write_position(&self, position: &Position) -> Result<()> {
        let path = self.dir.join(POSITION_FILE);
        write_atomically(&path, |out| {
            serde_json::to_writer_pretty(&mut *out, position)
                .map_err(|e| io_error(&path)(std::io::Error::other(e)))
        })
    }

    /// TXIDs of the local L0 files, ascending.
    pub fn l0_txids(&self) -> Result<Vec<u64>> {
        let dir = self.l0_dir();
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(io_error(&dir)(source)),
        };
        let mut txids = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io_error(&dir))?;
            let name = entry.file_name();
            if let Ok((min, max)) = stn_ltx::parse_file_name(&name.to_string_lossy())
                && min == max
            {
                txids.push(min);
            }
        }
        txids.sort_unstable();
        Ok(txids)
    }

    /// Removes `.tmp` files a crash left behind. Only safe while nothing
    /// is being written, i.e. at startup.
    pub fn remove_temporary_files(&self) -> Result<()> {
        for dir in [self.dir.clone(), self.l0_dir()] {
            let entries = std::fs::read_dir(&dir).map_err(io_error(&dir))?;
            for entry in entries {
                let entry = entry.map_err(io_error(&dir))?;
                if entry.file_name().to_string_lossy().ends_with(".tmp") {
                    remove_if_exists(&entry.path())?;
                }
            }
        }
        Ok(())
    }

    /// Removes the local L0 files whose TXID satisfies `remove`.
    pub fn remove_l0_where(&self, remove: impl Fn(u64) -> bool) -> Result<()> {
        for txid in self.l0_txids()? {
            if remove(txid) {
                remove_if_exists(&self.l0_path(txid))?;
            }
        }
        Ok(())
    }
}

/// Write buffer of [`write_atomically`], under glibc's 128 KiB mmap
/// threshold for the reason given at `wal::READ_BUFFER`.
const WRITE_BUFFER: usize = 64 << 10;

/// Writes `path` through `<path>.tmp`: write, flush, fsync, rename, fsync
/// the directory. On error the temporary file is removed and `path` is
/// untouched.
pub fn write_atomically<T>(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> Result<T>,
) -> Result<T> {
    let tmp = with_suffix(path, ".tmp");
    let result = (|| {
        let file = File::create(&tmp).map_err(io_error(&tmp))?;
        let mut out = BufWriter::with_capacity(WRITE_BUFFER, file);
        let value = write(&mut out)?;
        let file = out
            .into_inner()
            .map_err(|e| io_error(&tmp)(e.into_error()))?;
        file.sync_all().map_err(io_error(&tmp))?;
        std::fs::rename(&tmp, path).map_err(io_error(path))?;
        fsync_dir(path.parent().unwrap_or(Path::new(".")))?;
        Ok(value)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wal::Checksum;
    use std::io::Write;

    #[test]
    fn position_round_trips_and_l0_files_are_listed() {
        let dir = tempfile::tempdir().unwrap();
        let meta = MetaDir::for_database(&dir.path().join("app.db"));
        assert!(meta.path().ends_with(".app.db-stn"));
        meta.create().unwrap();
        assert_eq!(meta.read_position().unwrap(), None);

        let position = Position {
            txid: 7,
            page_size: 4096,
            commit: 12,
            wal: Some(WalPosition {
                id: WalId {
                    checkpoint_seq: 3,
                    salt1: 10,
                    salt2: 20,
                },
                cursor: WalCursor {
                    offset: 32 + 4120,
                    checksum: Checksum(1, 2),
                },
            }),
        };
        meta.write_position(&position).unwrap();
        assert_eq!(meta.read_position().unwrap(), Some(position));

        for txid in [3, 1, 2] {
            write_atomically(&meta.l0_path(txid), |out| {
                out.write_all(b"x").map_err(io_error(&meta.l0_path(txid)))
            })
            .unwrap();
        }
        std::fs::write(meta.l0_dir().join("x.ltx.tmp"), b"").unwrap();
        assert_eq!(meta.l0_txids().unwrap(), [1, 2, 3]);
        meta.remove_temporary_files().unwrap();
        assert!(!meta.l0_dir().join("x.ltx.tmp").exists());
        meta.remove_l0_where(|txid| txid >= 2).unwrap();
        assert_eq!(meta.l0_txids().unwrap(), [1]);
    }

    #[test]
    fn failed_write_leaves_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"old").unwrap();
        let result: Result<()> = write_atomically(&path, |out| {
            out.write_all(b"new").unwrap();
            Err(io_error(&path)(std::io::Error::other("boom")))
        });
        assert!(result.is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert!(!dir.path().join("f.tmp").exists());
    }
}
