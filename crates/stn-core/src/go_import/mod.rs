//! Moving from the Go original: a `station.db` written by Go Station (goose
//! migrations, table `goose_db_version`, up to version 48) is converted in
//! place into Station's schema, in one transaction, after a byte copy of the
//! file is saved beside it.
//!
//! The conversion renames the Go tables aside, creates our schema, copies every
//! row with `INSERT … SELECT` (see [`mapping`]), re-hashes Go's clear-text user
//! API keys into `api_keys`, checks the row count of every table, and drops the
//! Go tables. Rows our schema would refuse are found before anything changes
//! and named in the error.

pub mod mapping;

use std::path::{Path, PathBuf};

use serde::Serialize;
use stn_db::{Database, Statement, migration_statements, params};

use crate::error::{CoreError, Result};
use crate::files::write_atomic;
use crate::migrations::{MIGRATIONS, TABLES};
use crate::store::{hash_key, key_prefix};
use mapping::{GoColumns, ROW_CHECKS, aside, insert_select};

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

/// What the conversion did.
#[derive(Debug, Clone, Serialize)]
pub struct GoImportReport {
    /// The database file converted.
    pub database: String,
    /// The byte copy of the Go database, beside it.
    pub backup: String,
    /// The Go schema's goose version.
    pub goose_version: i64,
    /// Every converted table, before and after (equal: no row lost).
    pub tables: Vec<TableCount>,
    /// Go tables Station has no use for (workflows, reports, benchmarks, faker):
    /// their rows stay only in the backup.
    pub not_carried_over: Vec<TableCount>,
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
    let backup = backup_beside(path)?;
    let url = stn_db::DatabaseUrl::parse(&path.display().to_string())?;
    let db = Database::open(&url).await?;
    let converted = convert(&db, path, &backup).await;
    drop(db);
    if converted.is_err() {
        // The transaction rolled back, but opening switched the file to WAL
        // mode: put back the original bytes so a failed attempt leaves no trace.
        restore_original(path, &backup)?;
    }
    converted.map(Some)
}

fn restore_original(path: &Path, backup: &Path) -> Result<()> {
    for suffix in ["-wal", "-shm"] {
        let side = PathBuf::from(format!("{}{suffix}", path.display()));
        match std::fs::remove_file(&side) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(CoreError::io(&side, e)),
        }
    }
    let backup_wal = PathBuf::from(format!("{}-wal", backup.display()));
    if backup_wal.exists() {
        let bytes = std::fs::read(&backup_wal).map_err(|e| CoreError::io(&backup_wal, e))?;
        let wal = PathBuf::from(format!("{}-wal", path.display()));
        write_atomic(&wal, &bytes).map_err(|e| CoreError::io(&wal, e))?;
    }
    let bytes = std::fs::read(backup).map_err(|e| CoreError::io(backup, e))?;
    write_atomic(path, &bytes).map_err(|e| CoreError::io(path, e))
}

/// Copies `path` byte for byte to `<path>.go-backup-<UTC timestamp>` (temp
/// file, fsync, rename), with its `-wal` file when there is one.
pub fn backup_beside(path: &Path) -> Result<PathBuf> {
    let stamp = time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!(
            "[year][month][day]T[hour][minute][second]Z"
        ))
        .unwrap_or_default();
    let backup = PathBuf::from(format!("{}.go-backup-{stamp}", path.display()));
    let wal = PathBuf::from(format!("{}-wal", path.display()));
    if std::fs::metadata(&wal).is_ok_and(|m| m.len() > 0) {
        let bytes = std::fs::read(&wal).map_err(|e| CoreError::io(&wal, e))?;
        let target = PathBuf::from(format!("{}-wal", backup.display()));
        write_atomic(&target, &bytes).map_err(|e| CoreError::io(&target, e))?;
    }
    let bytes = std::fs::read(path).map_err(|e| CoreError::io(path, e))?;
    write_atomic(&backup, &bytes).map_err(|e| CoreError::io(&backup, e))?;
    Ok(backup)
}

/// Converts an open Go database (see the module docs).
pub async fn convert(db: &Database, path: &Path, backup: &Path) -> Result<GoImportReport> {
    let go = go_columns(db).await?;
    let version_row = db
        .query_opt(
            &format!("SELECT coalesce(max(version_id), 0) FROM {GOOSE_TABLE} WHERE is_applied"),
            params![],
        )
        .await?;
    let goose_version: i64 = version_row.map(|r| r.get(0)).transpose()?.unwrap_or(0);
    check_rows(db, &go, path, backup).await?;

    // Our tables the Go database has too, parents before children (TABLES' order).
    let converts: Vec<(&str, String)> = TABLES
        .iter()
        .filter(|t| go.contains_key(**t))
        .filter_map(|t| insert_select(t, &go).map(|sql| (*t, sql)))
        .collect();
    let present: Vec<&str> = converts.iter().map(|(t, _)| *t).collect();
    let others: Vec<String> = go
        .keys()
        .filter(|t| !present.contains(&t.as_str()) && t.as_str() != GOOSE_TABLE)
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
    let keys = go_api_keys(db, &go).await?;
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

    let mut stmts = vec![Statement::plain("PRAGMA defer_foreign_keys = ON")];
    for (kind, name) in go_objects(db).await? {
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
    for (_, sql) in converts {
        stmts.push(Statement::plain(sql));
    }
    for (user_id, key) in &keys {
        stmts.push(Statement::new(
            "INSERT INTO api_keys (user_id, name, prefix, key_hash) VALUES (?1, 'go-import', ?2, ?3)",
            params![*user_id, key_prefix(key), hash_key(key)],
        ));
    }
    stmts.extend(count_guards(&present, keys.len()));
    for table in others
        .iter()
        .map(String::as_str)
        .chain(present.iter().rev().copied())
    {
        stmts.push(Statement::plain(format!("DROP TABLE \"{}\"", aside(table))));
    }
    stmts.push(Statement::plain(format!("DROP TABLE {GOOSE_TABLE}")));

    db.batch(stmts).await.map_err(|e| {
        CoreError::Invalid(format!(
            "converting the Go database {} failed and was rolled back, nothing changed: {e}",
            path.display()
        ))
    })?;

    for table in &mut tables {
        table.stn_rows = count(db, &table.table).await?;
    }
    Ok(GoImportReport {
        database: path.display().to_string(),
        backup: backup.display().to_string(),
        goose_version,
        tables,
        not_carried_over,
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
async fn check_rows(db: &Database, go: &GoColumns, path: &Path, backup: &Path) -> Result<()> {
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
            let id: i64 = row.get(0)?;
            return Err(CoreError::Invalid(format!(
                "cannot convert the Go database {}: table {}, row id {id}: {}. Nothing was changed; \
                 fix or delete that row (a copy of the database is at {}) and run `stn db migrate` again",
                path.display(),
                check.table,
                check.problem,
                backup.display()
            )));
        }
    }
    Ok(())
}

/// Statements that abort the transaction when a table lost or gained rows:
/// each table's constraint is named after it, so the error says which.
fn count_guards(present: &[&str], api_keys: usize) -> Vec<Statement> {
    let mut constraints: Vec<String> = present
        .iter()
        .chain(std::iter::once(&"api_keys"))
        .map(|t| {
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
    for table in present {
        stmts.push(Statement::plain(format!(
            "INSERT INTO temp.stn_go_import_counts VALUES ('{table}', \
             (SELECT count(*) FROM \"{}\"), (SELECT count(*) FROM {table}))",
            aside(table)
        )));
    }
    stmts.push(Statement::new(
        "INSERT INTO temp.stn_go_import_counts VALUES ('api_keys', ?1, (SELECT count(*) FROM api_keys))",
        params![api_keys as i64],
    ));
    stmts.push(Statement::plain("DROP TABLE temp.stn_go_import_counts"));
    stmts
}
