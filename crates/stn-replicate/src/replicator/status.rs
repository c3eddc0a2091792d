//! What a running replicator reports: positions, counters, errors.

/// A point-in-time view of replication, for status output and metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplicationStatus {
    /// TXID of the last local L0 file.
    pub txid: u64,
    /// L0 files written locally.
    pub syncs: u64,
    /// Full images among them (first sync and recoveries).
    pub full_images: u64,
    /// Checkpoints run.
    pub checkpoints: u64,
    /// WAL file size at the last sync, in bytes.
    pub wal_size: u64,
    /// Local syncs and checkpoints that failed.
    pub sync_errors: u64,
    /// The last local sync or checkpoint error, cleared by a success; a
    /// lost replica lease stays here until shutdown.
    pub last_error: Option<String>,
    /// One entry per replica, in the order given to [`Replicator::start`](super::Replicator::start).
    pub replicas: Vec<ReplicaStatus>,
}

/// Progress of one replica.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplicaStatus {
    /// The replica URL (redacted).
    pub url: String,
    /// Highest TXID the replica holds.
    pub txid: u64,
    /// Files uploaded (L0 and snapshots).
    pub uploads: u64,
    /// Compacted files written.
    pub compactions: u64,
    /// Bytes uploaded.
    pub bytes: u64,
    /// Files deleted by retention.
    pub deletes: u64,
    /// Failed uploads, compactions, listings and lease requests.
    pub errors: u64,
    /// Since when the replica has lacked a local TXID (`None` while it
    /// holds all of them): the replication lag.
    pub behind_since: Option<std::time::SystemTime>,
    /// The last error, cleared by the next successful upload.
    pub last_error: Option<String>,
}
