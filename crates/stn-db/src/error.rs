//! The database layer's errors: one enum, variants by meaning, each with a hint.
//!
//! No variant ever carries an auth token: URLs are stored redacted
//! ([`crate::DatabaseUrl::redacted`]) and server messages never echo the token.

/// What went wrong talking to a database.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    /// The database URL could not be understood.
    #[error("invalid database URL `{url}`: {reason}")]
    InvalidUrl {
        /// The URL as given, token redacted.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The server rejected the token (HTTP 401): missing, wrong, or expired.
    #[error("{url} rejected the auth token: {detail}")]
    Unauthorized {
        /// The server, redacted.
        url: String,
        /// The server's reason, e.g. "The JWT has expired".
        detail: String,
    },
    /// The token is valid but may not do this (HTTP 403), e.g. a read-only token writing.
    #[error("{url} refused the operation for this token: {detail}")]
    Forbidden {
        /// The server, redacted.
        url: String,
        /// The server's reason.
        detail: String,
    },
    /// The server has no such database or namespace (HTTP 404).
    #[error("{url} has no such database: {detail}")]
    NotFound {
        /// The server, redacted.
        url: String,
        /// The server's reason.
        detail: String,
    },
    /// Nothing answered at the address, or the connection broke.
    #[error("cannot reach {url}: {detail}")]
    Unreachable {
        /// The server, redacted.
        url: String,
        /// The transport error.
        detail: String,
    },
    /// The server did not connect or answer within its deadline.
    #[error("{url} did not answer within {seconds} s ({limit})")]
    Timeout {
        /// The server, redacted.
        url: String,
        /// The deadline that passed.
        seconds: f64,
        /// Which limit it was and how to change it.
        limit: &'static str,
    },
    /// A TLS URL (`libsql://`, `https://`) pointed at a server that speaks plain HTTP.
    #[error("TLS handshake with {url} failed: the server does not speak TLS ({detail})")]
    TlsMismatch {
        /// The server, redacted.
        url: String,
        /// The TLS error.
        detail: String,
    },
    /// The server answered with an unexpected HTTP status.
    #[error("{url} answered HTTP {status}: {detail}")]
    Server {
        /// The server, redacted.
        url: String,
        /// The HTTP status code.
        status: u16,
        /// The body or reason.
        detail: String,
    },
    /// The server's answer did not follow the Hrana protocol.
    #[error("unexpected answer from {url}: {detail}")]
    Protocol {
        /// The server, redacted.
        url: String,
        /// What was wrong.
        detail: String,
    },
    /// A constraint (UNIQUE, FOREIGN KEY, CHECK, NOT NULL) was violated.
    #[error("constraint failed: {message}")]
    Constraint {
        /// SQLite's message, e.g. "UNIQUE constraint failed: agents.name".
        message: String,
    },
    /// A row refers to a row that does not exist, found by `PRAGMA
    /// foreign_key_check` at the end of a batch that ran with foreign keys off.
    #[error("row {rowid} of table {table} refers to a missing row of {parent}")]
    ForeignKey {
        /// The table holding the reference.
        table: String,
        /// The referring row's rowid.
        rowid: i64,
        /// The table it refers to.
        parent: String,
    },
    /// The database stayed locked by another writer past the busy timeout.
    #[error("database is busy: {message}")]
    Busy {
        /// SQLite's message.
        message: String,
    },
    /// SQLite reported an error for a statement.
    #[error("SQL error: {message}")]
    Sql {
        /// SQLite's or the server's error code, when known.
        code: Option<String>,
        /// SQLite's message.
        message: String,
    },
    /// The local file exists but is not an SQLite database (or is corrupt).
    #[error("{path} is not a valid SQLite database: {detail}")]
    NotADatabase {
        /// The file.
        path: String,
        /// SQLite's message.
        detail: String,
    },
    /// The local database file does not exist, and the caller asked not to
    /// create it (read-only commands never create a database).
    #[error("the database {path} does not exist")]
    Missing {
        /// The file.
        path: String,
    },
    /// Another process has the local database open, so it must not be
    /// replaced underneath it.
    #[error("the database {path} is in use by {holder}")]
    InUse {
        /// The file.
        path: String,
        /// Who holds it: process id and command line.
        holder: String,
    },
    /// The local database file could not be opened or created.
    #[error("cannot open {path}: {detail}")]
    Open {
        /// The file.
        path: String,
        /// The OS or SQLite error.
        detail: String,
    },
    /// A column could not be read as the requested type.
    #[error("column `{column}`: {detail}")]
    Column {
        /// Name or index of the column.
        column: String,
        /// What did not fit.
        detail: String,
    },
    /// An applied migration's SQL differs from the one built into this binary.
    #[error(
        "migration {version} ({name}) was applied with different SQL (checksum {applied} in the database, {expected} in this build)"
    )]
    MigrationChanged {
        /// The migration's version.
        version: u32,
        /// The migration's name.
        name: String,
        /// Checksum recorded in the database.
        applied: String,
        /// Checksum of the built-in SQL.
        expected: String,
    },
    /// The database has migrations this binary does not know.
    #[error("the database schema is at version {database}, newer than this build knows ({known})")]
    SchemaTooNew {
        /// Highest version applied in the database.
        database: u32,
        /// Highest version built in.
        known: u32,
    },
    /// The write committed locally, but durable mode could not confirm that
    /// the replica holds it, so it is not acknowledged.
    #[error("the write was committed locally but is not confirmed in the replica: {0}")]
    NotReplicated(String),
    /// A blocking task failed to complete.
    #[error("internal error: {0}")]
    Internal(String),
}

impl DbError {
    /// One line telling the user what to do about the error, when there is something to do.
    pub fn hint(&self) -> Option<String> {
        let hint = match self {
            DbError::InvalidUrl { .. } => {
                "use a file path, file:PATH, libsql://HOST, https://HOST or http://HOST:PORT"
            }
            DbError::Unauthorized { .. } => {
                "check the token in ?authToken=, DATABASE_AUTH_TOKEN or TURSO_AUTH_TOKEN; create a new one with `turso db tokens create DB` if it expired"
            }
            DbError::Forbidden { .. } => {
                "this token is read-only or scoped to another database; use a full-access token for writes"
            }
            DbError::NotFound { .. } => {
                "check the database name in the URL (`turso db list` shows the hostnames)"
            }
            DbError::Unreachable { .. } => {
                "check that the server is running and the host and port in the URL are right"
            }
            DbError::Timeout { .. } => {
                "the server accepts connections but does not answer: check that it is healthy and not overloaded"
            }
            DbError::TlsMismatch { .. } => {
                "for a server without TLS (a local sqld) use http://HOST:PORT instead of libsql:// or https://"
            }
            DbError::Busy { .. } => {
                "another process holds the write lock; retry, or stop the other writer"
            }
            DbError::NotADatabase { .. } => {
                "restore the file from a replica (`stn restore`) or point DATABASE_URL at another file; the file was not changed"
            }
            DbError::Missing { .. } => {
                "create it with `stn init` (or `stn db migrate`), or check --database / DATABASE_URL for a typo"
            }
            DbError::InUse { .. } => {
                "stop that process first (a running `stn serve` or `stn replicate` keeps the file open), then try again"
            }
            DbError::Open { .. } => "check that the directory exists and is writable",
            DbError::MigrationChanged { .. } => {
                "an applied migration must never change; install the stn version that applied it"
            }
            DbError::SchemaTooNew { .. } => "upgrade stn to a version that knows this schema",
            DbError::NotReplicated(_) => {
                "the replica is unreachable or slow; the write reaches it once replication recovers (the server's log and /metrics show the replica's lag and last error)"
            }
            DbError::Server { .. }
            | DbError::Protocol { .. }
            | DbError::Constraint { .. }
            | DbError::ForeignKey { .. }
            | DbError::Sql { .. }
            | DbError::Column { .. }
            | DbError::Internal(_) => return None,
        };
        Some(hint.to_owned())
    }

    /// True when the database cannot serve right now (down, locked, refusing
    /// the token, a schema of another version), as opposed to a bug in a query.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            DbError::Unreachable { .. }
                | DbError::Unauthorized { .. }
                | DbError::Forbidden { .. }
                | DbError::NotFound { .. }
                | DbError::TlsMismatch { .. }
                | DbError::Server { .. }
                | DbError::Protocol { .. }
                | DbError::Busy { .. }
                | DbError::NotADatabase { .. }
                | DbError::Open { .. }
                | DbError::MigrationChanged { .. }
                | DbError::SchemaTooNew { .. }
                | DbError::NotReplicated(_)
        )
    }

    /// True for errors that may go away by themselves (network blips, busy database).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            DbError::Unreachable { .. }
                | DbError::Busy { .. }
                | DbError::NotReplicated(_)
                | DbError::Server { status: 500.., .. }
        )
    }
}

/// The database layer's result type.
pub type Result<T, E = DbError> = std::result::Result<T, E>;
