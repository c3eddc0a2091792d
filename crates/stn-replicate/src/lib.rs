//! Continuous replication of a local SQLite database to object storage, in
//! Litestream v0.5's LTX layout, and restore from it.
//!
//! Write side: [`wal`] reads committed WAL frames, [`db`] turns each sync into
//! a level-0 LTX file and owns checkpointing, [`replicator`] uploads and
//! enforces retention, [`compaction`] merges levels, and [`lease`] keeps one
//! writer per replica path. Read side: [`restore`] plans and applies a chain of
//! LTX files (or a Litestream v0.3 backup). [`storage`] is the
//! one seam to object storage; [`config`] reads Litestream's YAML.

#![warn(missing_docs)]

pub mod compaction;
pub mod config;
pub mod db;
pub mod error;
mod fs;
pub mod lease;
pub mod paths;
pub mod replicator;
pub mod restore;
pub mod storage;
pub mod wal;
