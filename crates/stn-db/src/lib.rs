//! Station's database layer.
//!
//! [`Database`] is one handle over either kind of database, chosen by its URL:
//! a local SQLite file (rusqlite; WAL, 5 s busy timeout, foreign keys on,
//! `synchronous=NORMAL` on every connection) or a remote libSQL server
//! (Turso, sqld) over Hrana v3 HTTP. Callers see the same behaviour on both:
//! foreign-key cascades, atomic batches, the same errors.
//!
//! This crate knows nothing about Station's tables: the schema arrives as a
//! list of [`Migration`]s from the application.

#![warn(missing_docs)]

mod error;
mod in_use;
mod local;
mod migrate;
mod remote;
mod split;
mod url;
mod value;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub use crate::error::{DbError, Result};
pub use crate::in_use::ensure_not_in_use;
pub use crate::local::table_names;
pub use crate::migrate::{AppliedMigration, Migration, MigrationStatus, migration_statements};
pub use crate::split::split_statements;
pub use crate::url::{AuthToken, DatabaseUrl, Location};
pub use crate::value::{FromValue, ResultSet, Row, Statement, Value};

use crate::local::{LocalDb, LocalOptions};

/// Options for opening a local database. Remote databases ignore them.
#[derive(Clone, Default)]
pub struct OpenOptions {
    /// Fail with [`DbError::Missing`] instead of creating a missing file (and
    /// its directory): what read-only commands want, so a typo in a path
    /// never leaves an empty database behind.
    pub must_exist: bool,
    /// Never checkpoint from these connections (`wal_autocheckpoint=0`): the
    /// replicator checkpoints once it has copied the WAL.
    pub checkpoint_externally: bool,
    /// Called after every committed write, so a replicator can sync at once
    /// instead of waiting for its next poll. The write returns once the
    /// returned future resolves: at once for asynchronous replication, after
    /// the replica holds it in durable mode. An `Err` (why the replica does
    /// not hold it) becomes [`DbError::NotReplicated`].
    pub on_commit: Option<CommitHook>,
    /// How long a remote database may take to connect and to answer.
    pub remote_timeouts: RemoteTimeouts,
}

/// Deadlines for a remote database. A server that accepts connections and
/// never answers must not hang a command: every request fails after
/// `request`, naming the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RemoteTimeouts {
    /// Time to open a TCP (and TLS) connection.
    pub connect: std::time::Duration,
    /// Time for one whole request, connect included, until its answer is read.
    pub request: std::time::Duration,
}

impl RemoteTimeouts {
    /// Environment variable for [`RemoteTimeouts::connect`], in seconds.
    pub const CONNECT_VAR: &'static str = "STN_DB_CONNECT_TIMEOUT";
    /// Environment variable for [`RemoteTimeouts::request`], in seconds.
    pub const REQUEST_VAR: &'static str = "STN_DB_TIMEOUT";
}

impl Default for RemoteTimeouts {
    /// Short enough for a command line, long enough for a big batch over a slow link.
    fn default() -> Self {
        Self {
            connect: std::time::Duration::from_secs(5),
            request: std::time::Duration::from_secs(30),
        }
    }
}

/// See [`OpenOptions::on_commit`].
pub type CommitHook = Arc<dyn Fn() -> CommitWait + Send + Sync>;

/// What a committed write waits for before it returns.
pub type CommitWait = Pin<Box<dyn Future<Output = std::result::Result<(), String>> + Send>>;

tokio::task_local! {
    static DEFER_COMMIT_WAIT: ();
}

/// Runs `f` with [`OpenOptions::on_commit`] skipped for the writes inside it:
/// they return as soon as they commit locally. The next write outside waits
/// for everything committed before it, so a caller can first keep the result
/// of a locally committed write (an idempotent request's answer) and then
/// learn whether the replica holds both.
pub async fn defer_commit_wait<F: Future>(f: F) -> F::Output {
    DEFER_COMMIT_WAIT.scope((), f).await
}

/// True inside [`defer_commit_wait`].
fn commit_wait_deferred() -> bool {
    DEFER_COMMIT_WAIT.try_with(|()| ()).is_ok()
}

impl std::fmt::Debug for OpenOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenOptions")
            .field("must_exist", &self.must_exist)
            .field("checkpoint_externally", &self.checkpoint_externally)
            .field("on_commit", &self.on_commit.is_some())
            .field("remote_timeouts", &self.remote_timeouts)
            .finish()
    }
}
use crate::remote::RemoteDb;

/// An open database, local or remote. Cheap to clone; clones share connections.
#[derive(Clone)]
pub struct Database {
    url: DatabaseUrl,
    engine: Engine,
}

#[derive(Clone)]
enum Engine {
    Local(Arc<LocalDb>),
    Remote(Arc<RemoteDb>),
}

impl Database {
    /// Opens the database at `url` with default options. A local file (and its
    /// directory) is created if missing; a remote server is not contacted until
    /// the first call.
    pub async fn open(url: &DatabaseUrl) -> Result<Self> {
        Self::open_with(url, &OpenOptions::default()).await
    }

    /// Opens an existing database: a missing local file is
    /// [`DbError::Missing`], and nothing is created.
    pub async fn open_existing(url: &DatabaseUrl) -> Result<Self> {
        let options = OpenOptions {
            must_exist: true,
            ..OpenOptions::default()
        };
        Self::open_with(url, &options).await
    }

    /// [`Database::open`] with options: a replicated local file, remote deadlines.
    pub async fn open_with(url: &DatabaseUrl, options: &OpenOptions) -> Result<Self> {
        let engine = match url.location() {
            Location::Local(path) => {
                let local = LocalOptions {
                    must_exist: options.must_exist,
                    checkpoint_externally: options.checkpoint_externally,
                    on_commit: options.on_commit.clone(),
                };
                Engine::Local(LocalDb::open(path.clone(), local).await?)
            }
            Location::Remote(base) => Engine::Remote(Arc::new(RemoteDb::new(
                base,
                url.token().cloned(),
                options.remote_timeouts,
            )?)),
        };
        Ok(Self {
            url: url.clone(),
            engine,
        })
    }

    /// The URL this handle was opened with (its `Display` is redacted).
    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    /// True for a libSQL server.
    pub fn is_remote(&self) -> bool {
        matches!(self.engine, Engine::Remote(_))
    }

    /// Runs one statement and returns its rows. Meant for reads; a write runs
    /// in its own transaction.
    pub async fn query(&self, sql: &str, params: Vec<Value>) -> Result<ResultSet> {
        let stmt = Statement::new(sql, params);
        match &self.engine {
            Engine::Local(db) => db.query(stmt).await,
            Engine::Remote(db) => db.query(stmt).await,
        }
    }

    /// Runs a query and returns its first row, if any.
    pub async fn query_opt(&self, sql: &str, params: Vec<Value>) -> Result<Option<Row>> {
        Ok(self.query(sql, params).await?.rows.into_iter().next())
    }

    /// Runs one write statement atomically.
    pub async fn execute(&self, sql: &str, params: Vec<Value>) -> Result<ResultSet> {
        let mut results = self.batch(vec![Statement::new(sql, params)]).await?;
        results
            .pop()
            .ok_or_else(|| DbError::Internal("batch returned no result".to_owned()))
    }

    /// Runs statements in one `BEGIN IMMEDIATE` transaction: all commit or none
    /// does. Remote, this is a single HTTP request.
    pub async fn batch(&self, stmts: Vec<Statement>) -> Result<Vec<ResultSet>> {
        if stmts.is_empty() {
            return Ok(Vec::new());
        }
        match &self.engine {
            Engine::Local(db) => db.batch(stmts).await,
            Engine::Remote(db) => db.batch(stmts).await,
        }
    }

    /// [`Database::batch`] with foreign keys enforced only at the end: off
    /// while the statements run (so tables with foreign keys between them can
    /// be dropped in any order), then `PRAGMA foreign_key_check` over the
    /// whole database before the commit; a dangling reference rolls it all
    /// back as [`DbError::ForeignKey`]. Local databases only (a schema
    /// conversion of a file).
    pub async fn batch_foreign_keys_checked_at_end(
        &self,
        stmts: Vec<Statement>,
    ) -> Result<Vec<ResultSet>> {
        match &self.engine {
            Engine::Local(db) => db.batch_foreign_keys_checked_at_end(stmts).await,
            Engine::Remote(_) => Err(DbError::Internal(
                "a batch with foreign keys off needs a local database".to_owned(),
            )),
        }
    }

    /// Waits for what [`OpenOptions::on_commit`] asks of every write (the
    /// replica holding everything committed so far, in durable mode), for
    /// writes made inside [`defer_commit_wait`]. Remote: nothing to wait for.
    pub async fn confirm_commits(&self) -> Result<()> {
        match &self.engine {
            Engine::Local(db) => db.confirm_commits().await,
            Engine::Remote(_) => Ok(()),
        }
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<()> {
        self.query("SELECT 1", Vec::new()).await.map(drop)
    }

    /// Size of the database in bytes (pages × page size).
    pub async fn size_bytes(&self) -> Result<u64> {
        let row = self
            .query_opt(
                "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()",
                Vec::new(),
            )
            .await?;
        row.map_or(Ok(0), |r| r.get(0))
    }

    /// Closes a local database so that its file alone holds every commit:
    /// the WAL is checkpointed into it and the file switched back to a
    /// rollback journal, so it can be renamed or copied as one file. Fails
    /// when clones of this handle are still alive. Remote: nothing to do.
    pub async fn close(self) -> Result<()> {
        match self.engine {
            Engine::Local(db) => LocalDb::close(db).await,
            Engine::Remote(_) => Ok(()),
        }
    }

    /// The local file, for a local database.
    pub fn local_path(&self) -> Option<&std::path::Path> {
        match &self.engine {
            Engine::Local(db) => Some(db.path()),
            Engine::Remote(_) => None,
        }
    }
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database").field("url", &self.url).finish()
    }
}
