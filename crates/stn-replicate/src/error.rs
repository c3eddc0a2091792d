//! Replication's errors. Every variant names the thing (file, object key,
//! URL) and most carry what to do about it in [`Error::hint`].

/// What went wrong replicating or restoring.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A replica URL could not be understood.
    #[error("invalid replica URL `{url}`: {reason}")]
    InvalidUrl {
        /// The URL, secrets redacted.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// The configuration file is wrong.
    #[error("{file}: {detail}")]
    Config {
        /// The file (or "command line").
        file: String,
        /// What is wrong, naming the key.
        detail: String,
    },
    /// An object-storage operation failed.
    #[error("{op} {key}: {source}")]
    Storage {
        /// get, put, list, delete, head.
        op: &'static str,
        /// Object key or prefix.
        key: String,
        /// The object store's error.
        #[source]
        source: object_store::Error,
    },
    /// An LTX file is corrupt or does not fit the chain.
    #[error("LTX file {file}: {source}")]
    Ltx {
        /// Object key or local path.
        file: String,
        /// The format error.
        #[source]
        source: stn_ltx::Error,
    },
    /// SQLite failed on the local database.
    #[error("{path}: {source}")]
    Sqlite {
        /// The database file.
        path: String,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// A local file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The WAL is not what it should be (bad header, checksum mismatch, reset by someone else).
    #[error("WAL {path}: {detail}")]
    Wal {
        /// The WAL file.
        path: String,
        /// What is wrong.
        detail: String,
    },
    /// The replica holds no backup to restore.
    #[error("no backup found at {url}")]
    NoBackup {
        /// The replica, redacted.
        url: String,
    },
    /// The replica's files do not form a chain that reaches the target.
    #[error("cannot restore from {url}: {detail}")]
    Plan {
        /// The replica, redacted.
        url: String,
        /// What is missing.
        detail: String,
    },
    /// The output database exists and the user did not ask to replace it.
    #[error("{path} already exists")]
    OutputExists {
        /// The file.
        path: String,
    },
    /// The restored database failed `PRAGMA integrity_check`.
    #[error("restored database {path} failed integrity_check: {detail}")]
    Integrity {
        /// The temporary file that failed (left in place for inspection).
        path: String,
        /// SQLite's report.
        detail: String,
    },
    // --- variants added by the read side (restore, legacy, storage) go here ---
    /// A replica file is damaged or is not what its name says.
    #[error("replica file {file} is corrupt: {detail}")]
    CorruptFile {
        /// Object key or local path.
        file: String,
        /// What is wrong with it.
        detail: String,
    },

    // --- variants added by the write side (wal, db, replicator, compaction) go here ---
    /// SQLite's write lock stayed busy longer than the busy timeout.
    #[error(
        "{path}: could not {what}: the database stayed locked; retry, or raise busy-timeout if a writer holds long transactions"
    )]
    DatabaseBusy {
        /// The database file.
        path: String,
        /// What needed the lock.
        what: String,
    },
    /// The database could not be switched to WAL mode.
    #[error(
        "{path}: journal mode is `{mode}`, replication needs WAL; close connections that use another journal mode and retry"
    )]
    NotWalMode {
        /// The database file.
        path: String,
        /// The journal mode SQLite reported.
        mode: String,
    },
    /// The replicator has stopped (shut down, or its task failed).
    #[error("replication of {path} has stopped{}", reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default())]
    Stopped {
        /// The database file.
        path: String,
        /// The last error, if it stopped because of one.
        reason: Option<String>,
    },
    /// A sync shared by several writers failed (the first gets the
    /// original error, the others its text).
    #[error("sync failed: {0}")]
    SyncFailed(String),
    /// Not every replica reached a TXID in time.
    #[error("{url}: TXID {txid:016x} not replicated within {seconds} s (replica holds {replicated:016x}){}", last_error.as_deref().map(|e| format!("; last error: {e}")).unwrap_or_default())]
    NotReplicated {
        /// The lagging replica, redacted.
        url: String,
        /// The TXID waited for.
        txid: u64,
        /// The TXID the replica holds.
        replicated: u64,
        /// How long was waited.
        seconds: u64,
        /// The replica's last upload error.
        last_error: Option<String>,
    },
    /// Another process holds the replica's single-writer lease.
    #[error(
        "replica {url} is in use: its lease is held by {holder} until {expires}; only one `stn replicate` or `stn serve` may write to a replica: stop that one, or pass --takeover if it is gone"
    )]
    LeaseHeld {
        /// The replica, redacted.
        url: String,
        /// Host name, pid and start time of the holder.
        holder: String,
        /// When the lease lapses unless renewed (RFC 3339).
        expires: String,
    },
    /// The replica's lease was taken by another process; uploads to it stopped.
    #[error("lost the lease on replica {url}: {detail}; stopped uploading to it")]
    LeaseLost {
        /// The replica, redacted.
        url: String,
        /// Who has it now, or what happened.
        detail: String,
    },
}

impl Error {
    /// One line telling the user what to do, when there is something to do.
    pub fn hint(&self) -> Option<&'static str> {
        Some(match self {
            Error::InvalidUrl { .. } => {
                "use file:///PATH, s3://BUCKET/PATH, gs://BUCKET/PATH or abs://[ACCOUNT@]CONTAINER/PATH"
            }
            Error::NoBackup { .. } => {
                "check the replica URL and path; `stn ltx URL` lists what is there"
            }
            Error::OutputExists { .. } => {
                "pass -o to restore elsewhere, or --if-db-not-exists to skip when it exists; the existing file was not changed"
            }
            Error::Integrity { .. } => {
                "the replica may be damaged; try an earlier --timestamp or --txid"
            }
            _ => return None,
        })
    }

    /// True when retrying later may succeed (network, throttling, server errors).
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Storage { source, .. } => !matches!(
                source,
                object_store::Error::NotFound { .. }
                    | object_store::Error::AlreadyExists { .. }
                    | object_store::Error::Precondition { .. }
                    | object_store::Error::PermissionDenied { .. }
                    | object_store::Error::Unauthenticated { .. }
                    | object_store::Error::NotSupported { .. }
            ),
            Error::Io { .. } => true,
            _ => false,
        }
    }
}

/// Replication's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
