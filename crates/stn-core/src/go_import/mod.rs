//! Moving from the Go original: a `station.db` written by Go Station (goose
//! migrations, table `goose_db_version`, up to version 48) is converted in
//! place into Station's schema, in one transaction, after a byte copy of the
//! file is saved beside it.
//!
//! The conversion renames the Go tables aside, creates our schema, copies every
//! row with `INSERT … SELECT` (see [`mapping`]), turns the runs' JSON history
//! into step and log rows ([`history`]), re-hashes Go's clear-text user API
//! keys into `api_keys`, checks the row count of every table, and drops the
//! Go tables. It runs with foreign keys off, so Go tables with references
//! between them (any future ones too) drop in any order, and checks every
//! reference with `PRAGMA foreign_key_check` before it commits. Rows our
//! schema would refuse are found before anything changes and named in the
//! error. Whatever is not carried over is named in the report.

mod backup;
pub mod error;
pub mod history;
pub mod mapping;

use std::path::Path;

use serde::Serialize;
use stn_db::{Database, Statement, migration_statements, params};

pub use backup::{Backup, restore, save_beside};
pub use error::GoImportError;
pub use history::HistoryCounts;

use crate::error::Result;
use crate::migrations::{MIGRATIONS, TABLES};
use crate::store::{hash_key, key_prefix};
use mapping::{GoColumns, ROW_CHECKS, aside, insert_select, why_not_carried};

/// Go's migration table.
pub const GOOSE_TABLE: &str = "goose_db_version";

/// Rows of one table before and after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableCount {
    /// Our table (or, for tables not carried over, Go's).
    pub table: String,
    /// Rows in the Go database.
    pub go_rows: u64,
    /// Rows in ours after the conversion.
    pub stn_rows: u64,
}

/// A Go column whose values Station has no place for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ColumnNotCarried {
    /// The Go table.
    pub table: String,
    /// The Go column.
    pub column: String,
    /// Rows with a value in it (not NULL, not empty): what only the backup keeps.
    pub rows_with_value: u64,
    /// Why, and what to do instead.
    pub reason: &'static str,
}

/// What the conversion did.
#[derive(Debug, Clone, Serialize)]
pub struct GoImportReport {
    /// The database file converted.
    pub database: String,
    /// The byte copy of the Go database, beside it.
    pub backup: String,
    /// True when an earlier attempt's copy of the same bytes was reused.
    pub backup_reused: bool,
    /// The Go schema's goose version.
    pub goose_version: i64,
    /// Every converted table, before and after (equal: no row lost).
    pub tables: Vec<TableCount>,
    /// Step and log rows made from the runs' JSON columns.
    pub history: HistoryCounts,
    /// Go tables Station has no use for (workflows, reports, benchmarks,
    /// faker, notification logs, goose's own): their rows stay only in the backup.
    pub not_carried_over: Vec<TableCount>,
    /// Go views, dropped (they hold no rows of their own).
    pub views_not_carried_over: Vec<String>,
    /// Columns of converted tables that Station has no place for.
    pub columns_not_carried_over: Vec<ColumnNotCarried>,
    /// Agents with an enabled cron schedule: their first slot is the next one
    /// after `stn serve` starts; no slot due before is run as a missed one.
    pub scheduled_agents: u64,
}

/// True when the file at `path` is a Go Station database not yet converted.
/// Reads the file without changing it.
pub fn is_go_database(path: &Path) -> Result<bool> {
    let tables = stn_db::table_names(path)?;
    Ok(tables.iter().any(|t| t == GOOSE_TABLE)
        && !tables.iter().any(|t| t == "stn_schema_migrations"))
}

/// Converts the Go database at `path` when it is one (backup first); `None`
/// when it is not a Go database.
pub async fn upgrade_if_go(path: &Path) -> Result<Option<GoImportReport>> {
    if !is_go_database(path)? {
        return Ok(None);
    }
    let backup = save_beside(path)?;
    let url = stn_db::DatabaseUrl::parse(&path.display().to_string())?;
    let db = Database::open(&url).await?;
    let converted = convert(&db, path, &backup).await;
    drop(db);
    if converted.is_err() {
        // The transaction rolled back, but opening switched the file to WAL
        // mode: put back the original bytes so a failed attempt leaves no trace.
        restore(path, &backup.path)?;
    }
    converted.map(Some)
}

/// Converts an open Go database (see the module docs).
pub async fn convert(db: &Database, path: &Path, backup: &Backup) -> Result<GoImportReport> {
    let database = path.display().to_string();
    let backup_text = backup.path.display().to_string();
    let go = go_columns(db).await?;
    let version_row = db
        .query_opt(
            &format!("SELECT coalesce(max(version_id), 0) FROM {GOOSE_TABLE} WHERE is_applied"),
            params![],
        )
        .await?;
    let goose_version: i64 = version_row.map(|r| r.get(0)).transpose()?.unwrap_or(0);
    check_rows(db, &go, &database, &backup_text).await?;

    // Our tables the Go database has too, parents before children (TABLES' order).
    let converts: Vec<(&str, mapping::Mapped)> = TABLES
        .iter()
        .filter(|t| go.contains_key(**t))
        .filter_map(|t| insert_select(t, &go).map(|m| (*t, m)))
        .collect();
    let present: Vec<&str> = converts.iter().map(|(t, _)| *t).collect();
    let others: Vec<String> = go
        .keys()
        .filter(|t| !present.contains(&t.as_str()))
        .cloned()
        .collect();
    let mut not_carried_over = Vec::new();
    for table in &others {
        not_carried_over.push(TableCount {
            table: table.clone(),
            go_rows: count(db, table).await?,
            stn_rows: 0,
        });
    }
    let mut columns_not_carried_over = Vec::new();
    for (table, mapped) in &converts {
        for column in go[*table].difference(&mapped.used) {
            columns_not_carried_over.push(ColumnNotCarried {
                table: (*table).to_owned(),
                column: column.clone(),
                rows_with_value: count_values(db, table, column).await?,
                reason: why_not_carried(table, column),
            });
        }
    }
    let keys = go_api_keys(db, &go).await?;
    let (history_stmts, history) = history::statements(db, &go).await?;
    let mut tables = Vec::new();
    for table in &present {
        tables.push(TableCount {
            table: (*table).to_owned(),
            go_rows: count(db, table).await?,
            stn_rows: 0,
        });
    }
    tables.push(TableCount {
        table: "api_keys".to_owned(),
        go_rows: keys.len() as u64,
        stn_rows: 0,
    });
    let objects = go_objects(db).await?;
    let views_not_carried_over = objects
        .iter()
        .filter(|(kind, _)| *kind == "VIEW")
        .map(|(_, name)| name.clone())
        .collect();

    let mut stmts = Vec::new();
    for (kind, name) in &objects {
        stmts.push(Statement::plain(format!(
            "DROP {kind} IF EXISTS \"{name}\""
        )));
    }
    for table in present
        .iter()
        .copied()
        .chain(others.iter().map(String::as_str))
    {
        stmts.push(Statement::plain(format!(
            "ALTER TABLE \"{table}\" RENAME TO \"{}\"",
            aside(table)
        )));
    }
    stmts.extend(migration_statements(MIGRATIONS));
    // Our schema seeds `console` and `default`; the Go rows replace them.
    for table in TABLES.iter().rev() {
        stmts.push(Statement::plain(format!("DELETE FROM {table}")));
    }
    for (_, mapped) in converts {
        stmts.push(Statement::plain(mapped.sql));
    }
    for (user_id, key) in &keys {
        stmts.push(Statement::new(
            "INSERT INTO api_keys (user_id, name, prefix, key_hash) VALUES (?1, 'go-import', ?2, ?3)",
            params![*user_id, key_prefix(key), hash_key(key)],
        ));
    }
    stmts.extend(history_stmts);
    let mut expected: Vec<(&str, String)> = present
        .iter()
        .map(|t| (*t, format!("(SELECT count(*) FROM \"{}\")", aside(t))))
        .collect();
    expected.push(("api_keys", keys.len().to_string()));
    expected.push(("agent_run_steps", history.steps.to_string()));
    expected.push(("agent_run_logs", history.logs.to_string()));
    stmts.extend(count_guards(&expected));
    // Foreign keys are off: children and parents drop in any order.
    for table in present
        .iter()
        .copied()
        .chain(others.iter().map(String::as_str))
    {
        stmts.push(Statement::plain(format!("DROP TABLE \"{}\"", aside(table))));
    }

    db.batch_foreign_keys_checked_at_end(stmts)
        .await
        .map_err(|e| GoImportError::rolled_back(database.clone(), backup_text.clone(), e))?;

    for table in &mut tables {
        table.stn_rows = count(db, &table.table).await?;
    }
    let scheduled_agents = db
        .query_opt(
            "SELECT count(*) FROM agents WHERE schedule_enabled = 1 \
             AND cron_schedule IS NOT NULL AND cron_schedule != ''",
            params![],
        )
        .await?
        .map(|r| r.get::<i64>(0))
        .transpose()?
        .unwrap_or(0) as u64;
    Ok(GoImportReport {
        database,
        backup: backup_text,
        backup_reused: backup.reused,
        goose_version,
        tables,
        history,
        not_carried_over,
        views_not_carried_over,
        columns_not_carried_over,
        scheduled_agents,
    })
}

async fn count(db: &Database, table: &str) -> Result<u64> {
    let row = db
        .query_opt(&format!("SELECT count(*) FROM \"{table}\""), params![])
        .await?;
    Ok(row.map(|r| r.get::<i64>(0)).transpose()?.unwrap_or(0) as u64)
}

/// The Go database's tables (but SQLite's own) and their columns.
async fn go_columns(db: &Database) -> Result<GoColumns> {
    let rows = db
        .query(
            "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'",
            params![],
        )
        .await?;
    let mut go = GoColumns::new();
    for row in &rows.rows {
        let table: String = row.get(0)?;
        let column: String = row.get(1)?;
        go.entry(table).or_default().insert(column);
    }
    Ok(go)
}

/// Views, triggers and indexes of the Go schema: dropped first, as some of
/// Go's views are broken (they would stop the renames) and index names would
/// clash with ours.
async fn go_objects(db: &Database) -> Result<Vec<(&'static str, String)>> {
    let rows = db
        .query(
            "SELECT type, name FROM sqlite_master WHERE type IN ('view', 'trigger') \
             OR (type = 'index' AND sql IS NOT NULL) ORDER BY type DESC, name",
            params![],
        )
        .await?;
    let mut out = Vec::new();
    for row in &rows.rows {
        let kind: String = row.get(0)?;
        let kind = match kind.as_str() {
            "view" => "VIEW",
            "trigger" => "TRIGGER",
            _ => "INDEX",
        };
        out.push((kind, row.get(1)?));
    }
    Ok(out)
}

/// Go's clear-text `users.api_key` values, by user id. Held only to hash them.
async fn go_api_keys(db: &Database, go: &GoColumns) -> Result<Vec<(i64, String)>> {
    if !go.get("users").is_some_and(|c| c.contains("api_key")) {
        return Ok(Vec::new());
    }
    let rows = db
        .query(
            "SELECT id, api_key FROM users WHERE api_key IS NOT NULL AND api_key != '' ORDER BY id",
            params![],
        )
        .await?;
    rows.rows
        .iter()
        .map(|r| Ok((r.get(0)?, r.get(1)?)))
        .collect()
}

/// Finds the first row our schema would refuse, before anything changes.
async fn check_rows(db: &Database, go: &GoColumns, database: &str, backup: &str) -> Result<()> {
    for check in ROW_CHECKS {
        let Some(columns) = go.get(check.table) else {
            continue;
        };
        if !check.needs.iter().all(|c| columns.contains(*c)) {
            continue;
        }
        let row = db
            .query_opt(
                &format!(
                    "SELECT x.id FROM \"{}\" x WHERE {} ORDER BY x.id LIMIT 1",
                    check.table, check.condition
                ),
                params![],
            )
            .await?;
        if let Some(row) = row {
            return Err(GoImportError::RowRefused {
                database: database.to_owned(),
                table: check.table.to_owned(),
                row: row.get(0)?,
                problem: check.problem,
                backup: backup.to_owned(),
            }
            .into());
        }
    }
    Ok(())
}

/// Rows of a Go table with a value in `column`.
async fn count_values(db: &Database, table: &str, column: &str) -> Result<u64> {
    let row = db
        .query_opt(
            &format!(
                "SELECT count(*) FROM \"{table}\" WHERE \"{column}\" IS NOT NULL \
                 AND CAST(\"{column}\" AS TEXT) != ''"
            ),
            params![],
        )
        .await?;
    Ok(row.map(|r| r.get::<i64>(0)).transpose()?.unwrap_or(0) as u64)
}

/// Statements that abort the transaction when a table has other than the
/// rows expected (an SQL expression each): each table's constraint is named
/// after it, so the error says which.
fn count_guards(expected: &[(&str, String)]) -> Vec<Statement> {
    let mut constraints: Vec<String> = expected
        .iter()
        .map(|(t, _)| {
            format!(
                "CONSTRAINT \"row count of {t} differs\" CHECK (tbl != '{t}' OR go_rows = stn_rows)"
            )
        })
        .collect();
    constraints.insert(
        0,
        "tbl TEXT NOT NULL, go_rows INTEGER NOT NULL, stn_rows INTEGER NOT NULL".to_owned(),
    );
    let mut stmts = vec![Statement::plain(format!(
        "CREATE TEMP TABLE stn_go_import_counts ({})",
        constraints.join(", ")
    ))];
    for (table, rows) in expected {
        stmts.push(Statement::plain(format!(
            "INSERT INTO temp.stn_go_import_counts VALUES ('{table}', {rows}, \
             (SELECT count(*) FROM {table}))"
        )));
    }
    stmts.push(Statement::plain("DROP TABLE temp.stn_go_import_counts"));
    stmts
}
