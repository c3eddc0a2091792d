//! The replication facts `GET /api/v1/data` and the Data page show. The
//! server does not replicate by itself: the CLI, which runs the replicator,
//! hands in a [`DataFn`] that reads its live state.

use serde::Serialize;

/// Reads the replicator's state when asked (every request of the Data page).
pub type DataFn = std::sync::Arc<dyn Fn() -> Replication + Send + Sync>;

/// A replicated database's state.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Replication {
    /// When writes are acknowledged: `async` or `sync`.
    pub durability: String,
    /// TXID of the newest local LTX file (what `stn ltx` lists last).
    pub txid: u64,
    /// The last local sync or checkpoint error, if it has not recovered.
    pub last_error: Option<String>,
    /// Every replica, in configuration order.
    pub replicas: Vec<Replica>,
}

/// One replica's progress.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Replica {
    /// Its URL, credentials removed.
    pub url: String,
    /// Highest TXID it holds.
    pub txid: u64,
    /// Local TXIDs it lacks.
    pub lag_txids: u64,
    /// Seconds since it first lacked a TXID it still lacks (0 when it holds all).
    pub lag_seconds: f64,
    /// Files uploaded since start.
    pub uploads: u64,
    /// Failed uploads, compactions, listings and lease requests since start.
    pub errors: u64,
    /// The last error, until the next upload succeeds.
    pub last_error: Option<String>,
    /// What to check about that error.
    pub hint: Option<String>,
}

/// What to check about a replica's error, from its text.
pub fn hint_for(error: &str) -> &'static str {
    let lower = error.to_ascii_lowercase();
    if lower.contains("lease") {
        "another process holds the replica's lease: stop it, or start this server with --takeover"
    } else if lower.contains("403")
        || lower.contains("401")
        || lower.contains("denied")
        || lower.contains("credential")
        || lower.contains("signature")
    {
        "the store refused the credentials: check the replica's access key or token"
    } else if lower.contains("no space") || lower.contains("quota") {
        "the replica's storage is full"
    } else if lower.contains("connect") || lower.contains("timed out") || lower.contains("dns") {
        "the store is unreachable: check the endpoint and the network; uploads resume by themselves"
    } else {
        "uploads are retried; the server log has the details"
    }
}
