//! Why a Go database was not converted. Either way nothing changed: the
//! file has its original bytes and the backup beside it is a copy of them.

use stn_db::DbError;

/// A conversion that did not happen.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GoImportError {
    /// A row our schema would refuse, found before anything changed.
    #[error(
        "cannot convert the Go database {database}: table {table}, row id {row}: {problem}. Nothing was changed"
    )]
    RowRefused {
        /// The database file.
        database: String,
        /// The Go table.
        table: String,
        /// The row's id.
        row: i64,
        /// The rule it breaks.
        problem: &'static str,
        /// The copy of the original.
        backup: String,
    },
    /// A statement of the conversion failed; the transaction rolled back.
    #[error(
        "converting the Go database {database} failed and was rolled back, nothing changed: {source}"
    )]
    RolledBack {
        /// The database file.
        database: String,
        /// The table the failure names, when SQLite's message names one.
        table: Option<String>,
        /// The row, when known (a dangling reference).
        row: Option<i64>,
        /// The copy of the original.
        backup: String,
        /// SQLite's error.
        #[source]
        source: DbError,
    },
}

impl GoImportError {
    /// What to do next.
    pub fn hint(&self) -> String {
        match self {
            GoImportError::RowRefused { backup, .. } => format!(
                "fix or delete that row (a copy of the database is at {backup}) and run `stn db migrate` again"
            ),
            GoImportError::RolledBack { backup, .. } => format!(
                "the original is unchanged (a copy is at {backup}); fix the row the error names and run `stn db migrate` again"
            ),
        }
    }

    /// The table named, if any.
    pub fn table(&self) -> Option<&str> {
        match self {
            GoImportError::RowRefused { table, .. } => Some(table),
            GoImportError::RolledBack { table, .. } => table.as_deref(),
        }
    }

    /// The row named, if any.
    pub fn row(&self) -> Option<i64> {
        match self {
            GoImportError::RowRefused { row, .. } => Some(*row),
            GoImportError::RolledBack { row, .. } => *row,
        }
    }

    /// The copy of the original.
    pub fn backup(&self) -> &str {
        match self {
            GoImportError::RowRefused { backup, .. } | GoImportError::RolledBack { backup, .. } => {
                backup
            }
        }
    }

    /// A failed batch, with the table (and row) its error names.
    pub(crate) fn rolled_back(database: String, backup: String, source: DbError) -> Self {
        let (table, row) = match &source {
            DbError::ForeignKey { table, rowid, .. } => (Some(table.clone()), Some(*rowid)),
            // SQLite says e.g. "NOT NULL constraint failed: users.username".
            DbError::Constraint { message } => (
                message
                    .rsplit_once("constraint failed: ")
                    .and_then(|(_, rest)| rest.split_once('.'))
                    .map(|(table, _)| table.to_owned()),
                None,
            ),
            _ => (None, None),
        };
        GoImportError::RolledBack {
            database,
            table,
            row,
            backup,
            source,
        }
    }
}
