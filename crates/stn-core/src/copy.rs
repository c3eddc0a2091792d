//! `stn db copy`: copy a whole Station database between any two URLs (local
//! file ↔ Turso/sqld), then verify the row counts table by table.
//!
//! The source is only read, and a copy onto itself is refused (the same file
//! by device and inode, the same server by normalized URL). If the
//! destination holds anything beyond what migrations seed, the copy refuses
//! unless forced. Parents go before children, with foreign-key checks
//! deferred to each commit.
//!
//! A local destination is never changed in place: the copy is built in a
//! temporary file beside it, verified, flushed and renamed over it, so any
//! failure leaves the old file as it was. A remote destination is replaced in
//! as few transactions as the server takes (the clearing commits together
//! with the first rows); if a later one fails, the error says exactly which
//! tables the destination holds and how to finish.

use std::path::{Path, PathBuf};

use serde::Serialize;
use stn_db::{Database, DatabaseUrl, Location, OpenOptions, Statement, Value, params};

use crate::error::{CoreError, Result};
use crate::migrations::{MIGRATIONS, TABLES};

/// Rows per transaction; keeps remote requests well under server limits.
const CHUNK_ROWS: usize = 500;

/// Rows copied per table.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TableCopy {
    /// The table.
    pub table: String,
    /// Rows in the source.
    pub source_rows: u64,
    /// Rows in the destination after the copy.
    pub destination_rows: u64,
}

/// Progress of a copy, for a progress bar.
#[derive(Debug, Clone, Copy)]
pub struct CopyProgress<'a> {
    /// Table being copied.
    pub table: &'a str,
    /// Rows copied so far, all tables.
    pub rows_done: u64,
    /// Rows to copy, all tables.
    pub rows_total: u64,
}

/// Copies `src` into the database at `dst`, opened with `dst_options` (a
/// remote destination's deadlines). `force` replaces a destination that has
/// data.
pub async fn copy_database(
    src: &Database,
    dst: &DatabaseUrl,
    dst_options: &OpenOptions,
    force: bool,
    progress: &mut dyn FnMut(CopyProgress<'_>),
) -> Result<Vec<TableCopy>> {
    if same_database(src.url(), dst) {
        return Err(CoreError::Invalid(format!(
            "the source and the destination are the same database ({dst}); a copy onto itself would delete every row"
        )));
    }
    let status = src.migration_status(MIGRATIONS).await?;
    if !status.pending.is_empty() {
        return Err(CoreError::Invalid(format!(
            "the source {} has {} pending migration(s); run `stn db migrate --database SRC` first (the copy never changes the source)",
            src.url(),
            status.pending.len()
        )));
    }
    let mut counts = Vec::new();
    for table in TABLES {
        counts.push(count(src, table).await?);
    }
    let mut copy = CopyRun {
        src,
        counts,
        rows_done: 0,
        progress,
    };
    match dst.location() {
        Location::Local(path) => copy.replace_file(dst, path, force).await,
        Location::Remote(_) => {
            copy.replace_on_server(&Database::open_with(dst, dst_options).await?, force)
                .await
        }
    }
}

/// True when both URLs name one database: the same file (however it is
/// spelled: `./x`, `file:x`, a symlink, a hard link) or the same server.
fn same_database(a: &DatabaseUrl, b: &DatabaseUrl) -> bool {
    match (a.location(), b.location()) {
        (Location::Local(a), Location::Local(b)) => same_file(a, b),
        // Parsing normalized both: scheme and host case, default port, libsql:// as https://.
        (Location::Remote(a), Location::Remote(b)) => a == b,
        _ => false,
    }
}

#[cfg(unix)]
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// One copy in progress.
struct CopyRun<'a, 'p> {
    src: &'a Database,
    /// Rows per table in the source, in [`TABLES`] order.
    counts: Vec<u64>,
    rows_done: u64,
    progress: &'p mut dyn FnMut(CopyProgress<'_>),
}

impl CopyRun<'_, '_> {
    /// Builds the copy in a temporary file beside `path` and renames it over
    /// `path` once verified: the old file survives any failure.
    async fn replace_file(
        &mut self,
        url: &DatabaseUrl,
        path: &Path,
        force: bool,
    ) -> Result<Vec<TableCopy>> {
        // A symlink is replaced at its target, not turned into a file.
        let path = match std::fs::canonicalize(path) {
            Ok(real) => real,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => path.to_path_buf(),
            Err(e) => return Err(CoreError::io(path, e)),
        };
        if path.exists() {
            // A server still using the old file would go on writing to it
            // after the rename, and every such write would be lost.
            stn_db::ensure_not_in_use(&path)?;
            let existing = Database::open_existing(url).await?;
            let holds_data = holds_station_data(&existing).await?;
            // Closing moves its WAL into the file, so no stale -wal file is
            // left to be replayed into the new one.
            existing.close().await?;
            if holds_data && !force {
                return Err(already_holds_data(url));
            }
        }
        let temp = temp_path(&path);
        remove_database_files(&temp);
        let built = self.build_file(&temp).await;
        let published = built.and_then(|report| publish(&temp, &path).map(|()| report));
        if published.is_err() {
            remove_database_files(&temp);
        }
        published.map_err(|e| CoreError::CopyStopped {
            state: format!("{} was not changed", path.display()),
            source: Box::new(e),
        })
    }

    async fn build_file(&mut self, temp: &Path) -> Result<Vec<TableCopy>> {
        let url = DatabaseUrl::parse(&temp.display().to_string())?;
        let db = Database::open(&url).await?;
        db.migrate(MIGRATIONS).await?;
        db.batch(clear_statements()).await?;
        for index in 0..TABLES.len() {
            self.copy_table(index, |stmts| {
                let mut batch = vec![Statement::plain("PRAGMA defer_foreign_keys = ON")];
                batch.extend(stmts);
                let db = db.clone();
                async move { db.batch(batch).await.map(drop) }
            })
            .await
            .map_err(ChunkError::into_core)?;
        }
        let report = self.verify(&db).await?;
        db.close().await?;
        Ok(report)
    }

    /// Replaces the rows of a remote database. The clearing commits with the
    /// first chunk of rows, so the destination is never left merely emptied.
    async fn replace_on_server(&mut self, dst: &Database, force: bool) -> Result<Vec<TableCopy>> {
        dst.migrate(MIGRATIONS).await?;
        if holds_station_data(dst).await? && !force {
            return Err(already_holds_data(dst.url()));
        }
        let mut pending = clear_statements();
        let mut committed = Vec::new();
        for (index, table) in TABLES.iter().enumerate() {
            let copied = self
                .copy_table(index, |stmts| {
                    pending.extend(stmts);
                    let batch = std::mem::take(&mut pending);
                    async move {
                        let mut stmts = vec![Statement::plain("PRAGMA defer_foreign_keys = ON")];
                        stmts.extend(batch);
                        dst.batch(stmts).await.map(drop)
                    }
                })
                .await;
            match copied {
                Ok(()) => committed.push(*table),
                Err(e) => return Err(self.stopped_remote(dst, &committed, e).await),
            }
        }
        if !pending.is_empty() {
            // Nothing to copy at all: still replace what was there.
            dst.batch(pending)
                .await
                .map_err(|e| CoreError::CopyStopped {
                    state: format!("{} was not changed", dst.url()),
                    source: Box::new(e.into()),
                })?;
        }
        self.verify(dst).await
    }

    /// Copies one table in chunks of [`CHUNK_ROWS`] rows, each handed to `commit`.
    async fn copy_table<F, Fut>(
        &mut self,
        index: usize,
        mut commit: F,
    ) -> std::result::Result<(), ChunkError>
    where
        F: FnMut(Vec<Statement>) -> Fut,
        Fut: Future<Output = stn_db::Result<()>>,
    {
        let table = TABLES[index];
        let columns = columns(self.src, table).await.map_err(ChunkError::Source)?;
        let select = format!(
            "SELECT {} FROM {table} WHERE id > ?1 ORDER BY id LIMIT {CHUNK_ROWS}",
            columns.join(", ")
        );
        let insert = format!("INSERT INTO {table} ({}) VALUES ", columns.join(", "));
        let mut last_id = i64::MIN;
        let mut done = 0;
        loop {
            let rs = self
                .src
                .query(&select, params![last_id])
                .await
                .map_err(|e| ChunkError::Source(e.into()))?;
            let Some(last) = rs.rows.last() else { break };
            last_id = last.get(0).map_err(|e| ChunkError::Source(e.into()))?;
            let stmts = rs
                .rows
                .iter()
                .map(|row| insert_row(&insert, row.values()))
                .collect();
            commit(stmts).await.map_err(|e| ChunkError::Destination {
                error: e,
                table,
                copied: done,
                total: self.counts[index],
            })?;
            done += rs.rows.len() as u64;
            self.rows_done += rs.rows.len() as u64;
            (self.progress)(CopyProgress {
                table,
                rows_done: self.rows_done,
                rows_total: self.counts.iter().sum(),
            });
        }
        Ok(())
    }

    /// The error for a remote copy that stopped after the destination was
    /// cleared: which tables it holds now, and how to finish.
    async fn stopped_remote(
        &self,
        dst: &Database,
        committed: &[&str],
        error: ChunkError,
    ) -> CoreError {
        let (source, partial) = match error {
            ChunkError::Source(e) => (e, None),
            ChunkError::Destination {
                error,
                table,
                copied,
                total,
            } => (error.into(), Some((table, copied, total))),
        };
        // The clearing commits with the first rows: no rows, no change.
        let state = if self.rows_done == 0 {
            format!("{} was not changed", dst.url())
        } else {
            let mut state = format!(
                "{} was cleared and holds part of the copy: complete: {}",
                dst.url(),
                if committed.is_empty() {
                    "none".to_owned()
                } else {
                    committed.join(", ")
                }
            );
            if let Some((table, copied, total)) = partial {
                // A batch whose answer was lost may have committed: "at least".
                state.push_str(&format!(
                    "; partly copied: {table} (at least {copied} of {total} rows)"
                ));
            }
            state.push_str(
                "; every other table is empty. The source is unchanged: run the same `stn db copy` with --force again to replace the destination completely",
            );
            state
        };
        CoreError::CopyStopped {
            state,
            source: Box::new(source),
        }
    }

    /// Checks every table's row count in `dst` against the source.
    async fn verify(&self, dst: &Database) -> Result<Vec<TableCopy>> {
        let mut report = Vec::new();
        for (table, source_rows) in TABLES.iter().zip(&self.counts) {
            let destination_rows = count(dst, table).await?;
            if destination_rows != *source_rows {
                return Err(CoreError::Invalid(format!(
                    "verification failed: table {table} has {source_rows} rows in the source but {destination_rows} in the destination"
                )));
            }
            report.push(TableCopy {
                table: (*table).to_owned(),
                source_rows: *source_rows,
                destination_rows,
            });
        }
        Ok(report)
    }
}

/// Why copying one table stopped.
enum ChunkError {
    /// Reading the source failed; the destination's last batch is intact.
    Source(CoreError),
    /// Writing a chunk failed; `copied` of `total` rows of `table` made it.
    Destination {
        error: stn_db::DbError,
        table: &'static str,
        copied: u64,
        total: u64,
    },
}

impl ChunkError {
    fn into_core(self) -> CoreError {
        match self {
            ChunkError::Source(e) => e,
            ChunkError::Destination { error, .. } => error.into(),
        }
    }
}

/// Deletes every row, children first, so each delete's cascades find nothing left to do.
fn clear_statements() -> Vec<Statement> {
    TABLES
        .iter()
        .rev()
        .map(|t| Statement::plain(format!("DELETE FROM {t}")))
        .collect()
}

fn already_holds_data(url: &DatabaseUrl) -> CoreError {
    CoreError::Invalid(format!(
        "the destination {url} already holds Station data; use --force to replace it"
    ))
}

/// `.<name>.copy-<pid>` beside `path`: same directory, so the rename is atomic.
fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map_or_else(|| "station.db".into(), |n| n.to_string_lossy().into_owned());
    path.with_file_name(format!(".{name}.copy-{}", std::process::id()))
}

/// Removes a database file and its SQLite companions, ignoring missing ones.
fn remove_database_files(path: &Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(name));
    }
}

/// Flushes the finished temporary file and renames it over `path`.
fn publish(temp: &Path, path: &Path) -> Result<()> {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let wal = PathBuf::from(wal);
    // SQLite would replay a leftover WAL of the old file into the new one.
    if std::fs::metadata(&wal).is_ok_and(|m| m.len() > 0) {
        return Err(CoreError::Invalid(format!(
            "{} exists and is not empty: the old database has unfinished writes; open it once with `stn db status --database {}` and try again",
            wal.display(),
            path.display()
        )));
    }
    std::fs::File::open(temp)
        .and_then(|f| f.sync_all())
        .map_err(|e| CoreError::io(temp, e))?;
    std::fs::rename(temp, path).map_err(|e| CoreError::io(path, e))?;
    crate::files::sync_parent(path).map_err(|e| CoreError::io(path, e))
}

/// One INSERT for one row. REAL values travel as text and are converted by
/// SQLite itself (`CAST(? AS REAL)`): sqld 0.24 parses JSON floats with up to
/// one unit of error in the last place, SQLite's text conversion is exact, and
/// a copy must be bit-for-bit.
fn insert_row(insert: &str, values: &[Value]) -> Statement {
    let mut placeholders = Vec::with_capacity(values.len());
    let mut params = Vec::with_capacity(values.len());
    for (i, value) in values.iter().enumerate() {
        match value {
            Value::Real(f) => {
                placeholders.push(format!("CAST(?{} AS REAL)", i + 1));
                params.push(Value::Text(real_as_text(*f)));
            }
            other => {
                placeholders.push(format!("?{}", i + 1));
                params.push(other.clone());
            }
        }
    }
    Statement::new(format!("{insert}({})", placeholders.join(", ")), params)
}

/// The shortest text that reads back as exactly `f` (SQLite spells infinity 1e999).
fn real_as_text(f: f64) -> String {
    if f.is_infinite() {
        if f > 0.0 { "1e999" } else { "-1e999" }.to_owned()
    } else {
        format!("{f:?}")
    }
}

async fn count(db: &Database, table: &str) -> Result<u64> {
    let row = db
        .query_opt(&format!("SELECT count(*) FROM {table}"), params![])
        .await?;
    Ok(row.map(|r| r.get::<u64>(0)).transpose()?.unwrap_or(0))
}

/// Column names, `id` first (the copy pages by it).
async fn columns(db: &Database, table: &str) -> Result<Vec<String>> {
    let rs = db
        .query(
            "SELECT name FROM pragma_table_info(?1) ORDER BY cid",
            vec![Value::from(table)],
        )
        .await?;
    let mut names: Vec<String> = rs
        .rows
        .iter()
        .map(|r| r.get(0))
        .collect::<stn_db::Result<_>>()?;
    names.retain(|n| n != "id");
    names.insert(0, "id".to_owned());
    Ok(names)
}

/// True when the database holds more than what the migrations seed (the
/// `console` user and the `default` environment). A database without
/// Station's tables (new, or an empty file) holds nothing.
async fn holds_station_data(db: &Database) -> Result<bool> {
    let existing = db
        .query(
            "SELECT name FROM sqlite_master WHERE type = 'table'",
            params![],
        )
        .await?;
    let existing: Vec<String> = existing
        .rows
        .iter()
        .map(|r| r.get(0))
        .collect::<stn_db::Result<_>>()?;
    for table in TABLES.iter().filter(|t| existing.iter().any(|e| e == *t)) {
        let seeded = match *table {
            "users" | "environments" => 1,
            _ => 0,
        };
        if count(db, table).await? > seeded {
            return Ok(true);
        }
    }
    Ok(false)
}
