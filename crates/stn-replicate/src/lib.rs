//! Continuous replication of a local SQLite database to object storage, in
//! Litestream v0.5's LTX layout, and restore from it.
//!
//! Write side: `wal` reads committed WAL frames, `db` turns each sync into
//! a level-0 LTX file and owns checkpointing, [`Replicator`] uploads and
//! enforces retention, `compaction` merges levels, and [`Lease`] keeps one
//! writer per replica path. Read side: [`restore`] plans and applies a chain of
//! LTX files (or a Litestream v0.3 backup). [`ReplicaClient`] is the one seam
//! to object storage; [`Config`] reads Litestream's YAML.
//!
//! The modules are private: what callers use is the list below, so the
//! crate's inside can change without touching them.

#![warn(missing_docs)]

mod compaction;
mod config;
mod db;
mod error;
mod fs;
mod lease;
mod paths;
mod replicator;
mod restore;
mod storage;
mod wal;

pub use compaction::CompactionOptions;
pub use config::{
    Config, DbConfig, Durability, LevelConfig, LoadOptions, LoggingConfig, ReplicaConfig,
    ReplicaKind, SnapshotConfig, init_config_text,
};
pub use db::{DbOptions, MetaDir};
pub use error::{Error, Result};
pub use lease::{LEASE_FILE, Lease, LeaseOptions};
pub use paths::SNAPSHOT_LEVEL;
pub use replicator::{
    ReplicaStatus, ReplicaWaiter, ReplicationOptions, ReplicationStatus, Replicator,
    ReplicatorHandle,
};
pub use restore::{
    DEFAULT_PARALLELISM, IntegrityCheck, RestoreOptions, RestoreOutcome, RestoreProgress,
    latest_txid, list_files, restore,
};
pub use storage::{CasOutcome, LtxFileInfo, ObjectVersion, ReplicaClient};
