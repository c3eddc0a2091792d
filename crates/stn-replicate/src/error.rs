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
    /// An object-storage operation failed. The message is one line (see
    /// [`storage_summary`]), so the store's error is not also its source.
    #[error("{op} {key}: {}", storage_summary(error))]
    Storage {
        /// get, put, list, delete, head.
        op: &'static str,
        /// Object key or prefix.
        key: String,
        /// The object store's error.
        error: object_store::Error,
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
    pub fn hint(&self) -> Option<String> {
        let hint = match self {
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
        };
        Some(hint.to_owned())
    }

    /// True when retrying later may succeed (network, throttling, server errors).
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Storage { error, .. } => !matches!(
                error,
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

/// An object store's error in one line. Its own text repeats every cause
/// and, for an HTTP error, the whole response body: an S3 error document or
/// a web server's HTML page, dozens of lines. Here an HTTP error is the
/// request, the status and S3's error code and message; a request without
/// an answer is the request and the root cause; anything else is the store's
/// text (one line) with the root cause it leaves out.
pub fn storage_summary(error: &object_store::Error) -> String {
    let mut texts = Vec::new();
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = cause {
        texts.push(e.to_string());
        cause = e.source();
    }
    let request = texts.iter().find_map(|t| request_of(t));
    let failure = texts.iter().find_map(|t| http_failure(t));
    let summary = match (request, failure) {
        (Some(request), Some(failure)) => format!("{request}: {failure}"),
        (None, Some(failure)) => failure,
        // A request that got no answer: its root cause says why (refused, timed out).
        (Some(request), None) => format!("{request}: {}", texts.last().map_or("", String::as_str)),
        (None, None) => {
            let mut text = error.to_string();
            if let Some(root) = texts.last().filter(|root| !text.contains(root.as_str())) {
                text.push_str(": ");
                text.push_str(root);
            }
            text
        }
    };
    summary.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// "HTTP 404 Not Found: S3 error NoSuchBucket: The specified bucket does not
/// exist (bucket `b`)" from object_store's "… status code: 404 Not Found: BODY".
fn http_failure(text: &str) -> Option<String> {
    let (_, rest) = text.split_once("status code: ")?;
    // The status is "404 Not Found"; the body follows after ": ".
    let (status, body) = rest.split_once(": ").unwrap_or((rest, ""));
    let mut line = format!("HTTP {status}");
    let tag = |name: &str| {
        let open = format!("<{name}>");
        let start = body.find(&open)? + open.len();
        let len = body[start..].find("</")?;
        Some(body[start..start + len].trim().to_owned())
    };
    let lower = body.to_ascii_lowercase();
    if let Some(code) = tag("Code") {
        line.push_str(&format!(": S3 error {code}"));
        if let Some(message) = tag("Message") {
            line.push_str(&format!(": {message}"));
        }
        if let Some(bucket) = tag("BucketName") {
            line.push_str(&format!(" (bucket `{bucket}`)"));
        }
    } else if lower.contains("<html") || lower.contains("<!doctype") {
        line.push_str(
            ": the server answered with a web page, not S3; check the endpoint in the replica URL",
        );
    } else if !body.trim().is_empty() {
        let first: String = body
            .trim()
            .lines()
            .next()
            .unwrap_or("")
            .chars()
            .take(200)
            .collect();
        line.push_str(&format!(": {first}"));
    }
    Some(line)
}

/// "GET http://host/bucket/key" (query left out) from object_store's
/// "Error performing GET URL in 1.2s …".
fn request_of(text: &str) -> Option<String> {
    let rest = text.split("Error performing ").nth(1)?;
    let mut words = rest.split_whitespace();
    let method = words.next()?;
    let url = words.next()?;
    if !url.contains("://") {
        return None;
    }
    let url = url.split('?').next().unwrap_or(url);
    Some(format!("{method} {url}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_http_failure_is_one_line_with_the_status_and_the_s3_code() {
        let xml = "Error performing GET http://127.0.0.1:9/b?list-type=2 in 8ms - Server returned \
            non-2xx status code: 404 Not Found: <?xml version=\"1.0\"?>\n<Error><Code>NoSuchBucket</Code>\
            <Message>The specified bucket does not exist</Message><BucketName>b</BucketName></Error>";
        assert_eq!(
            http_failure(xml).unwrap(),
            "HTTP 404 Not Found: S3 error NoSuchBucket: The specified bucket does not exist (bucket `b`)"
        );
        assert_eq!(request_of(xml).unwrap(), "GET http://127.0.0.1:9/b");
        let html =
            "status code: 403 Forbidden: <!DOCTYPE html>\n<html><body>\n<h1>No</h1></body></html>";
        let line = http_failure(html).unwrap();
        assert!(
            line.starts_with("HTTP 403 Forbidden: the server answered with a web page"),
            "{line}"
        );
        assert!(http_failure("Connection refused (os error 111)").is_none());
    }
}
