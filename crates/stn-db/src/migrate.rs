//! Ordered, checksummed migrations that apply exactly once.
//!
//! The record of applied migrations lives in `stn_schema_migrations`, whose
//! primary key is the version. Each pending migration's record is inserted in
//! the same transaction as its SQL, *before* the SQL: when two migrators race,
//! the loser's batch fails on that key and rolls back whole, and the loser
//! then reads the status again and finds nothing left to do. Remote, a full
//! migration from scratch is two HTTP requests: read the status, apply
//! everything pending in one atomic batch.

use sha2::{Digest, Sha256};

use crate::error::DbError;
use crate::split::split_statements;
use crate::value::Statement;
use crate::{Database, params};

/// Attempts before giving up on a migration that keeps losing races.
const RACE_ATTEMPTS: usize = 5;

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS stn_schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    checksum TEXT NOT NULL,
    applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
)";

/// One schema change, built into the binary.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Position in the order; unique, ascending.
    pub version: u32,
    /// Short name, e.g. `initial_schema`.
    pub name: &'static str,
    /// The SQL script; may hold several statements.
    pub sql: &'static str,
}

impl Migration {
    /// SHA-256 of the SQL text, hex.
    pub fn checksum(&self) -> String {
        Sha256::digest(self.sql.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// A migration recorded as applied in the database.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AppliedMigration {
    /// Its version.
    pub version: u32,
    /// Its name.
    pub name: String,
    /// Checksum recorded when it was applied.
    pub checksum: String,
    /// When it was applied (RFC 3339, UTC).
    pub applied_at: String,
}

/// What is applied and what is pending.
#[derive(Debug, Clone)]
pub struct MigrationStatus {
    /// Applied migrations, in order.
    pub applied: Vec<AppliedMigration>,
    /// Built-in migrations not yet applied, in order.
    pub pending: Vec<Migration>,
}

impl MigrationStatus {
    /// The highest applied version (0 for an empty database).
    pub fn version(&self) -> u32 {
        self.applied.last().map_or(0, |m| m.version)
    }
}

impl Database {
    /// Reads which of `migrations` are applied (one request remote) and checks
    /// that every applied one still has the same SQL.
    pub async fn migration_status(
        &self,
        migrations: &[Migration],
    ) -> Result<MigrationStatus, DbError> {
        let applied = match self
            .query(
                "SELECT version, name, checksum, applied_at FROM stn_schema_migrations ORDER BY version",
                params![],
            )
            .await
        {
            Ok(rs) => rs
                .rows
                .iter()
                .map(|r| {
                    Ok(AppliedMigration {
                        version: r.get(0)?,
                        name: r.get(1)?,
                        checksum: r.get(2)?,
                        applied_at: r.get(3)?,
                    })
                })
                .collect::<Result<Vec<_>, DbError>>()?,
            // A fresh database has no table yet; SQLite says so only in the message.
            Err(DbError::Sql { message, .. }) if message.contains("no such table") => Vec::new(),
            Err(e) => return Err(e),
        };
        let known = migrations.iter().map(|m| m.version).max().unwrap_or(0);
        for record in &applied {
            match migrations.iter().find(|m| m.version == record.version) {
                Some(m) if m.checksum() != record.checksum => {
                    return Err(DbError::MigrationChanged {
                        version: m.version,
                        name: m.name.to_owned(),
                        applied: record.checksum.clone(),
                        expected: m.checksum(),
                    });
                }
                Some(_) => {}
                None => {
                    return Err(DbError::SchemaTooNew {
                        database: applied.last().map_or(0, |m| m.version),
                        known,
                    });
                }
            }
        }
        let pending = migrations
            .iter()
            .filter(|m| !applied.iter().any(|a| a.version == m.version))
            .copied()
            .collect();
        Ok(MigrationStatus { applied, pending })
    }

    /// Applies every pending migration in one transaction; returns the
    /// versions this call applied (empty when already up to date). Safe to
    /// run from several processes at once.
    pub async fn migrate(&self, migrations: &[Migration]) -> Result<Vec<u32>, DbError> {
        let mut last_error = None;
        for _ in 0..RACE_ATTEMPTS {
            let status = match self.migration_status(migrations).await {
                Ok(status) => status,
                // Another migrator is creating the schema right now.
                Err(e @ DbError::Busy { .. }) => {
                    tracing::debug!(error = %e, "migration status busy; reading it again");
                    last_error = Some(e);
                    continue;
                }
                Err(e) => return Err(e),
            };
            if status.pending.is_empty() {
                return Ok(Vec::new());
            }
            match self.batch(migration_statements(&status.pending)).await {
                Ok(_) => return Ok(status.pending.iter().map(|m| m.version).collect()),
                // Another migrator may have won the race: look again.
                Err(
                    e @ (DbError::Constraint { .. } | DbError::Busy { .. } | DbError::Sql { .. }),
                ) => {
                    tracing::debug!(error = %e, "migration batch failed; re-reading status");
                    last_error = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last_error
            .unwrap_or_else(|| DbError::Internal("migration did not converge".to_owned())))
    }
}

/// The statements that apply `pending` and record them, for running inside a
/// larger batch (e.g. converting another schema in the same transaction).
pub fn migration_statements(pending: &[Migration]) -> Vec<Statement> {
    let mut stmts = vec![Statement::plain(CREATE_TABLE)];
    for m in pending {
        stmts.push(Statement::new(
            "INSERT INTO stn_schema_migrations (version, name, checksum) VALUES (?1, ?2, ?3)",
            params![m.version, m.name, m.checksum()],
        ));
        stmts.extend(split_statements(m.sql).into_iter().map(Statement::plain));
    }
    stmts
}
