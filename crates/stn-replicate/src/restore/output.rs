//! The output side of every restore (LTX and v0.3 alike): build the
//! database as `OUT.tmp`, check it, then rename it into place and sync the
//! directory, so a crash leaves either the old file or the complete new one.

use std::path::{Path, PathBuf};

use super::options::{IntegrityCheck, RestoreOptions, RestoreProgress};
use crate::error::{Error, Result};
use crate::fs::{fsync_dir, io_error, remove_if_exists, with_suffix};

/// Creates the output's directory and clears a `OUT.tmp` left by an
/// interrupted run; returns the temporary path to build the database at.
pub(crate) fn prepare(output: &Path) -> Result<PathBuf> {
    if let Some(parent) = output.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io_error(parent))?;
    }
    let tmp = with_suffix(output, ".tmp");
    for path in [&tmp, &with_suffix(&tmp, "-wal"), &with_suffix(&tmp, "-shm")] {
        remove_if_exists(path)?;
    }
    Ok(tmp)
}

/// Checks the synced database at `tmp` as `options` ask, then renames it
/// over `options.output`.
pub(crate) async fn finish(tmp: &Path, options: &RestoreOptions) -> Result<()> {
    if options.integrity_check != IntegrityCheck::None {
        options.report(RestoreProgress::Checking);
        let (path, check) = (tmp.to_path_buf(), options.integrity_check);
        blocking(move || integrity_check(&path, check)).await?;
    }
    install(tmp, &options.output, options.force)
}

/// Removes `tmp` after `err`, except a database that failed its integrity
/// check, which stays for inspection as the error says.
pub(crate) fn discard(tmp: &Path, err: &Error) {
    if !matches!(err, Error::Integrity { .. }) {
        // Best effort: the restore already failed with a better error.
        let _ = std::fs::remove_file(tmp);
    }
}

/// Runs `PRAGMA quick_check` or `integrity_check` on the restored file.
fn integrity_check(path: &Path, check: IntegrityCheck) -> Result<()> {
    let pragma = match check {
        IntegrityCheck::None => return Ok(()),
        IntegrityCheck::Quick => "PRAGMA quick_check",
        IntegrityCheck::Full => "PRAGMA integrity_check",
    };
    let sqlite_error = |source| Error::Sqlite {
        path: path.display().to_string(),
        source,
    };
    let rows = {
        let conn = rusqlite::Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE,
        )
        .map_err(sqlite_error)?;
        let mut statement = conn.prepare(pragma).map_err(sqlite_error)?;
        statement
            .query_map([], |row| row.get::<_, String>(0))
            .map_err(sqlite_error)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(sqlite_error)?
    };
    // The file keeps Litestream's WAL-mode header, so the check's
    // connection may leave a -wal/-shm behind; they must not travel with it.
    for suffix in ["-wal", "-shm"] {
        remove_if_exists(&with_suffix(path, suffix))?;
    }
    if rows == ["ok"] {
        Ok(())
    } else {
        Err(Error::Integrity {
            path: path.display().to_string(),
            detail: rows.join("; "),
        })
    }
}

/// Renames `tmp` over `output` and syncs the directory. Without `force` an
/// output that appeared meanwhile is left alone.
fn install(tmp: &Path, output: &Path, force: bool) -> Result<()> {
    if output.exists() && !force {
        return Err(Error::OutputExists {
            path: output.display().to_string(),
        });
    }
    // A WAL of the replaced database would be replayed into the new one.
    for suffix in ["-wal", "-shm"] {
        remove_if_exists(&with_suffix(output, suffix))?;
    }
    std::fs::rename(tmp, output).map_err(io_error(output))?;
    match output.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(dir) => fsync_dir(dir),
        None => fsync_dir(Path::new(".")),
    }
}

/// Runs CPU- or disk-bound work off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|err| Error::Io {
            path: "restore worker thread".to_owned(),
            source: std::io::Error::other(err.to_string()),
        })?
}

/// The restored database being written: sequential writes through a large
/// buffer, with the disk kept busy on the way. Every [`WRITEBACK_EVERY`]
/// bytes a helper thread flushes what is written so far (`fdatasync`), so
/// writeback overlaps decoding and the final fsync only waits for the tail
/// instead of the whole file.
pub(crate) struct ImageFile {
    out: std::io::BufWriter<std::fs::File>,
    written: u64,
    next_writeback: u64,
    writeback: Option<Writeback>,
}

/// Bytes between two early writebacks.
const WRITEBACK_EVERY: u64 = 32 << 20;
/// Write buffer: a restore moves the whole database.
const WRITE_BUFFER: usize = 4 << 20;

struct Writeback {
    wake: std::sync::mpsc::SyncSender<()>,
    thread: std::thread::JoinHandle<std::io::Result<()>>,
}

impl ImageFile {
    pub(crate) fn create(path: &Path) -> Result<ImageFile> {
        // 0600 like every database Station creates: it holds transcripts and keys.
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(path).map_err(io_error(path))?;
        // Without a second handle the file is just synced at the end.
        let writeback = file.try_clone().ok().map(|handle| {
            // One pending wake-up is enough: a flush syncs all written so far.
            let (wake, woken) = std::sync::mpsc::sync_channel::<()>(1);
            let thread = std::thread::spawn(move || {
                while woken.recv().is_ok() {
                    handle.sync_data()?;
                }
                Ok(())
            });
            Writeback { wake, thread }
        });
        Ok(ImageFile {
            out: std::io::BufWriter::with_capacity(WRITE_BUFFER, file),
            written: 0,
            next_writeback: WRITEBACK_EVERY,
            writeback,
        })
    }

    /// Writes what is buffered, waits for the writeback helper and syncs
    /// the whole file.
    pub(crate) fn finish(mut self) -> std::io::Result<()> {
        std::io::Write::flush(&mut self.out)?;
        if let Some(Writeback { wake, thread }) = self.writeback.take() {
            drop(wake);
            thread
                .join()
                .map_err(|_| std::io::Error::other("the writeback thread panicked"))??;
        }
        self.out.get_ref().sync_all()
    }
}

impl std::io::Write for ImageFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.out.write(buf)?;
        self.written += n as u64;
        if self.written >= self.next_writeback {
            self.next_writeback = self.written + WRITEBACK_EVERY;
            if let Some(writeback) = &self.writeback {
                // Full means a flush is already due, which covers this one.
                let _ = writeback.wake.try_send(());
            }
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}
