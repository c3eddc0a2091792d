//! `stn db copy`: copy a whole Station database between any two URLs (local
//! file ↔ Turso/sqld), then verify the row counts table by table.
//!
//! The source is only read. The destination is migrated first; if it holds
//! anything beyond what migrations seed, the copy refuses unless forced.
//! Rows go over in chunks, each chunk one transaction (one request remote),
//! parents before children with foreign-key checks deferred to each commit.

use serde::Serialize;
use stn_db::{Database, Statement, Value, params};

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

/// Copies `src` into `dst`. `force` replaces a destination that has data.
pub async fn copy_database(
    src: &Database,
    dst: &Database,
    force: bool,
    progress: &mut dyn FnMut(CopyProgress<'_>),
) -> Result<Vec<TableCopy>> {
    let status = src.migration_status(MIGRATIONS).await?;
    if !status.pending.is_empty() {
        return Err(CoreError::Invalid(format!(
            "the source {} has {} pending migration(s); run `stn db migrate --database SRC` first (the copy never changes the source)",
            src.url(),
            status.pending.len()
        )));
    }
    dst.migrate(MIGRATIONS).await?;
    let seeded_only = has_only_seed_rows(dst).await?;
    if !seeded_only && !force {
        return Err(CoreError::Invalid(format!(
            "the destination {} already holds Station data; use --force to replace it",
            dst.url()
        )));
    }
    let mut counts = Vec::new();
    for table in TABLES {
        counts.push(count(src, table).await?);
    }
    let rows_total = counts.iter().sum();
    // Children first, so each delete's cascades find nothing left to do.
    let clear = TABLES
        .iter()
        .rev()
        .map(|t| Statement::plain(format!("DELETE FROM {t}")))
        .collect();
    dst.batch(clear).await?;

    let mut rows_done = 0;
    for table in TABLES {
        let columns = columns(src, table).await?;
        let select = format!(
            "SELECT {} FROM {table} WHERE id > ?1 ORDER BY id LIMIT {CHUNK_ROWS}",
            columns.join(", ")
        );
        let insert = format!("INSERT INTO {table} ({}) VALUES ", columns.join(", "));
        let mut last_id = i64::MIN;
        loop {
            let rs = src.query(&select, params![last_id]).await?;
            let Some(last) = rs.rows.last() else { break };
            last_id = last.get(0)?;
            let mut stmts = vec![Statement::plain("PRAGMA defer_foreign_keys = ON")];
            stmts.extend(rs.rows.iter().map(|row| insert_row(&insert, row.values())));
            dst.batch(stmts).await?;
            rows_done += rs.rows.len() as u64;
            progress(CopyProgress {
                table,
                rows_done,
                rows_total,
            });
        }
    }

    let mut report = Vec::new();
    for (table, source_rows) in TABLES.iter().zip(counts) {
        let destination_rows = count(dst, table).await?;
        if destination_rows != source_rows {
            return Err(CoreError::Invalid(format!(
                "verification failed: table {table} has {source_rows} rows in the source but {destination_rows} in the destination"
            )));
        }
        report.push(TableCopy {
            table: (*table).to_owned(),
            source_rows,
            destination_rows,
        });
    }
    Ok(report)
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

/// True when the database holds nothing but what the migrations seed
/// (the `console` user and the `default` environment).
async fn has_only_seed_rows(db: &Database) -> Result<bool> {
    for table in TABLES {
        let seeded = match *table {
            "users" | "environments" => 1,
            _ => 0,
        };
        if count(db, table).await? > seeded {
            return Ok(false);
        }
    }
    Ok(true)
}
