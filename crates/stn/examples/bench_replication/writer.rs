//! The application side: a writer at a fixed or maximum rate, and the preloaded database.

use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use rusqlite::Connection;

/// What one writer run did.
pub(crate) struct Load {
    /// When each COMMIT returned; the row of commit `i` has `seq = i + 1`.
    pub(crate) commits: Vec<Instant>,
    pub(crate) latencies: Vec<Duration>,
    pub(crate) errors: u64,
    pub(crate) done: u64,
    pub(crate) elapsed: Duration,
}

impl Load {
    pub(crate) fn latencies_ms(&self) -> Vec<f64> {
        self.latencies
            .iter()
            .map(|d| d.as_secs_f64() * 1000.0)
            .collect()
    }

    /// The latencies of the commits begun at or after `at`.
    pub(crate) fn latencies_ms_since(&self, at: Instant) -> Vec<f64> {
        self.commits
            .iter()
            .zip(&self.latencies)
            .filter(|&(&ended, &latency)| {
                ended.checked_sub(latency).is_some_and(|began| began >= at)
            })
            .map(|(_, latency)| latency.as_secs_f64() * 1000.0)
            .collect()
    }

    pub(crate) fn tx_per_s(&self) -> f64 {
        self.done as f64 / self.elapsed.as_secs_f64()
    }
}

pub(crate) fn open(db: &Path) -> Connection {
    let conn = Connection::open(db).expect("open the database");
    conn.busy_timeout(Duration::from_secs(5))
        .expect("busy_timeout");
    conn.pragma_update(None, "journal_mode", "WAL")
        .expect("WAL mode");
    conn.pragma_update(None, "synchronous", "NORMAL")
        .expect("synchronous");
    conn
}

pub(crate) fn create_db(db: &Path) {
    open(db).execute_batch(SCHEMA).expect("create the schema");
}

pub(crate) const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, seq INTEGER NOT NULL, body TEXT NOT NULL)";

/// One transaction per row, paced at `rate` per second (or unpaced).
pub(crate) fn write_load(db: &Path, rate: Option<f64>, duration: Duration) -> Load {
    let started = Instant::now();
    write_while(db, rate, || started.elapsed() < duration)
}

/// As [`write_load`], for as long as `go_on` says.
pub(crate) fn write_while(db: &Path, rate: Option<f64>, mut go_on: impl FnMut() -> bool) -> Load {
    let conn = open(db);
    let body = "x".repeat(100);
    let mut load = Load {
        commits: Vec::new(),
        latencies: Vec::new(),
        errors: 0,
        done: 0,
        elapsed: Duration::ZERO,
    };
    let started = Instant::now();
    let mut seq = 0i64;
    while go_on() {
        if let Some(rate) = rate {
            let at = started + Duration::from_secs_f64(seq as f64 / rate);
            if let Some(wait) = at.checked_duration_since(Instant::now()) {
                thread::sleep(wait);
            }
        }
        let began = Instant::now();
        let result = (|| -> rusqlite::Result<()> {
            conn.execute_batch("BEGIN IMMEDIATE")?;
            conn.prepare_cached("INSERT INTO t (seq, body) VALUES (?1, ?2)")?
                .execute(rusqlite::params![seq + 1, body])?;
            conn.execute_batch("COMMIT")
        })();
        let ended = Instant::now();
        match result {
            Ok(()) => {
                seq += 1;
                load.done += 1;
                load.commits.push(ended);
                load.latencies.push(ended - began);
            }
            Err(e) => {
                if load.errors == 0 {
                    eprintln!("bench: writer error: {e}");
                }
                load.errors += 1;
                let _ = conn.execute_batch("ROLLBACK");
            }
        }
    }
    load.elapsed = started.elapsed();
    load
}

/// A database of about `megabytes` MB: one 4000-byte row per 4 KB page,
/// half random bytes and half zeros.
pub(crate) fn preload(db: &Path, megabytes: u64) {
    let conn = Connection::open(db).expect("open the database");
    conn.execute_batch(
        "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;
         CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB NOT NULL);",
    )
    .expect("create blobs");
    conn.execute_batch(SCHEMA).expect("create t");
    conn.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
         INSERT INTO blobs (data) SELECT randomblob(2000) || zeroblob(2000) FROM n",
        [megabytes as i64 * 256],
    )
    .expect("fill blobs");
    conn.pragma_update(None, "journal_mode", "WAL")
        .expect("WAL mode");
}

pub(crate) fn count(db: &Path, sql: &str) -> i64 {
    let Ok(conn) = Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        return -1;
    };
    conn.query_row(sql, [], |r| r.get(0)).unwrap_or(-1)
}
