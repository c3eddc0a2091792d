//! The local engine: an SQLite file through rusqlite.
//!
//! One writer connection behind a mutex and a small pool of readers. Writers
//! queue in-process instead of racing for SQLite's lock, so the server's own
//! concurrency never sees "database is locked"; other processes wait up to the
//! 5 s busy timeout. rusqlite is blocking, so every call runs on tokio's
//! blocking pool.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags, OptionalExtension as _, types::ValueRef};

use crate::CommitHook;
use crate::error::DbError;
use crate::value::{ResultSet, Row, Statement, Value};

/// Readers kept open for reuse; more are opened on demand and closed after use.
const READER_POOL: usize = 4;

/// How long a statement waits for another process's lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

pub(crate) struct LocalDb {
    path: PathBuf,
    options: LocalOptions,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
}

/// How the local engine treats the file; see [`crate::OpenOptions`].
#[derive(Clone, Default)]
pub(crate) struct LocalOptions {
    pub(crate) must_exist: bool,
    pub(crate) checkpoint_externally: bool,
    pub(crate) on_commit: Option<CommitHook>,
}

impl LocalDb {
    pub(crate) async fn open(path: PathBuf, options: LocalOptions) -> Result<Arc<Self>, DbError> {
        blocking(move || {
            if options.must_exist {
                match std::fs::metadata(&path) {
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        return Err(DbError::Missing {
                            path: path.display().to_string(),
                        });
                    }
                    Err(e) => {
                        return Err(DbError::Open {
                            path: path.display().to_string(),
                            detail: e.to_string(),
                        });
                    }
                }
            } else {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent).map_err(|e| DbError::Open {
                        path: parent.display().to_string(),
                        detail: e.to_string(),
                    })?;
                }
                create_private(&path)?;
            }
            let writer = open_writer(&path, &options)?;
            Ok(Arc::new(Self {
                path,
                options,
                writer: Mutex::new(writer),
                readers: Mutex::new(Vec::new()),
            }))
        })
        .await
    }

    pub(crate) async fn close(self: Arc<Self>) -> Result<(), DbError> {
        blocking(move || {
            let this = Arc::try_unwrap(self).map_err(|_| {
                DbError::Internal("cannot close a database that is still in use".to_owned())
            })?;
            let path = this.path;
            drop(this.readers);
            let writer = this.writer.into_inner().unwrap_or_else(|p| p.into_inner());
            // The only connection left: leaving WAL mode checkpoints everything
            // and removes the -wal file.
            let mode: String = writer
                .query_row("PRAGMA journal_mode=DELETE", [], |r| r.get(0))
                .map_err(|e| file_error(&path, e))?;
            if !mode.eq_ignore_ascii_case("delete") {
                return Err(DbError::Open {
                    path: path.display().to_string(),
                    detail: format!("could not leave WAL mode (journal_mode is {mode})"),
                });
            }
            writer.close().map_err(|(_, e)| file_error(&path, e))
        })
        .await
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) async fn query(self: &Arc<Self>, stmt: Statement) -> Result<ResultSet, DbError> {
        let this = Arc::clone(self);
        let (result, wrote) = blocking(move || {
            let reader = this.take_reader()?;
            let readonly = reader
                .prepare_cached(&stmt.sql)
                .map(|s| s.readonly())
                .map_err(|e| this.error(e));
            let result = match readonly {
                Ok(true) => (run(&reader, &stmt).map_err(|e| this.error(e)), false),
                // Writes (INSERT … RETURNING and friends) go through the writer.
                Ok(false) => {
                    let written = this.with_writer(|w| run(w, &stmt));
                    let wrote = written.is_ok();
                    (written, wrote)
                }
                Err(e) => (Err(e), false),
            };
            this.return_reader(reader);
            Ok(result)
        })
        .await?;
        if wrote {
            self.committed().await?;
        }
        result
    }

    pub(crate) async fn batch(
        self: &Arc<Self>,
        stmts: Vec<Statement>,
    ) -> Result<Vec<ResultSet>, DbError> {
        let this = Arc::clone(self);
        let result = blocking(move || {
            this.with_writer(|w| {
                let tx = rusqlite::Transaction::new_unchecked(
                    w,
                    rusqlite::TransactionBehavior::Immediate,
                )?;
                let results = stmts
                    .iter()
                    .map(|stmt| run(&tx, stmt))
                    .collect::<Result<Vec<_>, _>>()?;
                tx.commit()?;
                Ok(results)
            })
        })
        .await?;
        self.committed().await?;
        Ok(result)
    }

    /// [`Self::batch`] with foreign keys off (a pragma that only takes effect
    /// outside a transaction), checked whole by `PRAGMA foreign_key_check`
    /// before the commit; the first violation rolls everything back. Foreign
    /// keys are back on afterwards, whatever happened.
    pub(crate) async fn batch_foreign_keys_checked_at_end(
        self: &Arc<Self>,
        stmts: Vec<Statement>,
    ) -> Result<Vec<ResultSet>, DbError> {
        let this = Arc::clone(self);
        let result = blocking(move || {
            let writer = this.writer.lock().unwrap_or_else(|p| p.into_inner());
            writer
                .pragma_update(None, "foreign_keys", false)
                .map_err(|e| this.error(e))?;
            let result = checked_batch(&writer, &stmts).map_err(|e| match e {
                Checked::Sql(e) => this.error(e),
                Checked::Violation(v) => v,
            });
            let restored = writer
                .pragma_update(None, "foreign_keys", true)
                .map_err(|e| this.error(e));
            let results = result?;
            restored?;
            Ok(results)
        })
        .await?;
        self.committed().await?;
        Ok(result)
    }

    /// Tells the replicator (if any) that a transaction just committed, and
    /// waits for what it asks (nothing, or the replica in durable mode).
    async fn committed(&self) -> Result<(), DbError> {
        if crate::commit_wait_deferred() {
            return Ok(());
        }
        self.confirm_commits().await
    }

    pub(crate) async fn confirm_commits(&self) -> Result<(), DbError> {
        match &self.options.on_commit {
            Some(on_commit) => on_commit().await.map_err(DbError::NotReplicated),
            None => Ok(()),
        }
    }

    fn with_writer<T>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, DbError> {
        // A panic while holding the lock cannot leave SQLite half-written (the
        // transaction rolls back on drop), so a poisoned lock is still usable.
        let writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        f(&writer).map_err(|e| self.error(e))
    }

    fn take_reader(&self) -> Result<Connection, DbError> {
        let pooled = self.readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
        match pooled {
            Some(conn) => Ok(conn),
            None => open_connection(&self.path, &self.options, false),
        }
    }

    fn return_reader(&self, conn: Connection) {
        let mut readers = self.readers.lock().unwrap_or_else(|p| p.into_inner());
        if readers.len() < READER_POOL {
            readers.push(conn);
        }
    }

    fn error(&self, e: rusqlite::Error) -> DbError {
        file_error(&self.path, e)
    }
}

/// Creates a missing database file with mode 0600: it holds transcripts,
/// users and keys. SQLite gives the `-wal` and `-shm` files it makes later
/// the database file's mode, so they are 0600 too. An existing file is
/// left as it is.
fn create_private(path: &Path) -> Result<(), DbError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(DbError::Open {
            path: path.display().to_string(),
            detail: e.to_string(),
        }),
    }
}

/// Opens the writer and makes sure the file is in WAL mode (a property of the
/// file: set once by the writer, seen by all).
///
/// Two processes opening a new file at once both switch it to WAL. SQLite
/// answers one of them `SQLITE_BUSY` at once, without calling the busy
/// handler (both hold a read lock and want to write: waiting would deadlock).
/// The loser closes its connection, so the winner can finish, and tries again.
fn open_writer(path: &Path, options: &LocalOptions) -> Result<Connection, DbError> {
    let deadline = Instant::now() + BUSY_TIMEOUT;
    let mut pause = Duration::from_millis(5);
    loop {
        match open_wal_writer(path, options) {
            Err(DbError::Busy { message }) if Instant::now() < deadline => {
                tracing::debug!(%message, "database busy while opening; trying again");
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(100));
            }
            result => return result,
        }
    }
}

fn open_wal_writer(path: &Path, options: &LocalOptions) -> Result<Connection, DbError> {
    let writer = open_connection(path, options, !options.must_exist)?;
    let mode: String = writer
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .map_err(|e| file_error(path, e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(DbError::Open {
            path: path.display().to_string(),
            detail: format!("could not switch to WAL mode (journal_mode is {mode})"),
        });
    }
    Ok(writer)
}

fn open_connection(
    path: &Path,
    options: &LocalOptions,
    create: bool,
) -> Result<Connection, DbError> {
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    if create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let conn = Connection::open_with_flags(path, flags).map_err(|e| file_error(path, e))?;
    // busy_timeout first, so the remaining pragmas already wait on a busy file.
    conn.busy_timeout(BUSY_TIMEOUT)
        .and_then(|()| conn.execute_batch("PRAGMA foreign_keys=ON; PRAGMA synchronous=NORMAL;"))
        .map_err(|e| file_error(path, e))?;
    if options.checkpoint_externally {
        // The replicator checkpoints after it has copied the WAL; a checkpoint
        // of ours could reset the WAL under it.
        conn.pragma_update(None, "wal_autocheckpoint", 0)
            .map_err(|e| file_error(path, e))?;
    }
    // Reading the schema makes a non-database file fail here, at open, by name.
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))
        .map_err(|e| file_error(path, e))?;
    Ok(conn)
}

enum Checked {
    Sql(rusqlite::Error),
    Violation(DbError),
}

/// One transaction: the statements, then the foreign key check, then commit.
fn checked_batch(conn: &Connection, stmts: &[Statement]) -> Result<Vec<ResultSet>, Checked> {
    let tx = rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)
        .map_err(Checked::Sql)?;
    let results = stmts
        .iter()
        .map(|stmt| run(&tx, stmt))
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(Checked::Sql)?;
    let violation = tx
        .query_row(
            "SELECT \"table\", coalesce(rowid, 0), parent FROM pragma_foreign_key_check LIMIT 1",
            [],
            |r| {
                Ok(DbError::ForeignKey {
                    table: r.get(0)?,
                    rowid: r.get(1)?,
                    parent: r.get(2)?,
                })
            },
        )
        .optional()
        .map_err(Checked::Sql)?;
    if let Some(violation) = violation {
        return Err(Checked::Violation(violation));
    }
    tx.commit().map_err(Checked::Sql)?;
    Ok(results)
}

fn run(conn: &Connection, stmt: &Statement) -> rusqlite::Result<ResultSet> {
    let mut prepared = conn.prepare_cached(&stmt.sql)?;
    let columns: Arc<[String]> = prepared.column_names().map(str::to_owned).collect();
    let params = rusqlite::params_from_iter(stmt.params.iter().map(to_sql));
    let mut rows = Vec::new();
    let mut cursor = prepared.query(params)?;
    while let Some(row) = cursor.next()? {
        let values = (0..columns.len())
            .map(|i| row.get_ref(i).map(from_sql))
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.push(Row::new(Arc::clone(&columns), values));
    }
    drop(cursor);
    let changed = conn.changes();
    let readonly = prepared.readonly();
    Ok(ResultSet {
        columns: columns.to_vec(),
        rows,
        rows_affected: if readonly { 0 } else { changed },
        last_insert_rowid: (!readonly && changed > 0).then(|| conn.last_insert_rowid()),
    })
}

fn to_sql(value: &Value) -> rusqlite::types::Value {
    use rusqlite::types::Value as V;
    match value {
        Value::Null => V::Null,
        Value::Integer(v) => V::Integer(*v),
        Value::Real(v) => V::Real(*v),
        Value::Text(v) => V::Text(v.clone()),
        Value::Blob(v) => V::Blob(v.clone()),
    }
}

fn from_sql(value: ValueRef<'_>) -> Value {
    match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(v) => Value::Integer(v),
        ValueRef::Real(v) => Value::Real(v),
        ValueRef::Text(v) => Value::Text(String::from_utf8_lossy(v).into_owned()),
        ValueRef::Blob(v) => Value::Blob(v.to_vec()),
    }
}

/// Classifies a rusqlite error by SQLite's result code, never by message text.
fn file_error(path: &Path, e: rusqlite::Error) -> DbError {
    use rusqlite::ErrorCode;
    let message = e.to_string();
    match e.sqlite_error_code() {
        Some(ErrorCode::ConstraintViolation) => DbError::Constraint { message },
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => DbError::Busy { message },
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => DbError::NotADatabase {
            path: path.display().to_string(),
            detail: message,
        },
        Some(ErrorCode::CannotOpen | ErrorCode::PermissionDenied | ErrorCode::ReadOnly) => {
            DbError::Open {
                path: path.display().to_string(),
                detail: message,
            }
        }
        code => DbError::Sql {
            code: code.map(|c| format!("{c:?}")),
            message,
        },
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, DbError> + Send + 'static,
) -> Result<T, DbError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| DbError::Internal(format!("database task failed: {e}")))?
}

/// Names of the tables in the SQLite file at `path`, read without changing the
/// file in any way (read-only, no pragmas, no WAL switch): for deciding what a
/// database is before opening it for writing. A missing file has no tables.
pub fn table_names(path: &Path) -> Result<Vec<String>, DbError> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| file_error(path, e))?;
    let mut stmt = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .map_err(|e| file_error(path, e))?;
    let names = stmt
        .query_map([], |row| row.get::<_, String>(0))
        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
        .map_err(|e| file_error(path, e))?;
    Ok(names)
}
