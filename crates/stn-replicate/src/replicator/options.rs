//! Every setting of a running replicator, with Litestream's defaults.

use std::time::Duration;

use crate::compaction::CompactionOptions;
use crate::config::{Config, DbConfig, Durability};
use crate::db::DbOptions;
use crate::lease::LeaseOptions;

/// How one database is replicated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicationOptions {
    /// At most one upload per replica per this interval; a commit reported
    /// with `notify_commit` after a quiet interval is uploaded at once
    /// (Litestream: 1 s).
    pub sync_interval: Duration,
    /// How often the WAL file is `stat`ed to notice writes by other
    /// processes (Litestream: 1 s). Costs no object-store request.
    pub monitor_interval: Duration,
    /// How long `shutdown` keeps uploading before giving up (30 s).
    pub shutdown_sync_timeout: Duration,
    /// Checkpointing and WAL reading.
    pub db: DbOptions,
    /// Compaction levels, snapshots and retention.
    pub compaction: CompactionOptions,
    /// The single-writer lease taken on every replica.
    pub lease: LeaseOptions,
    /// How long the start waits for each replica before serving without it
    /// (it keeps being retried) (10 s).
    pub attach_timeout: Duration,
    /// When the application's writes are acknowledged.
    pub durability: Durability,
    /// In durable mode, how long a write waits for the replicas before it
    /// is reported as not replicated (10 s).
    pub durable_timeout: Duration,
}

impl Default for ReplicationOptions {
    fn default() -> Self {
        ReplicationOptions {
            sync_interval: Duration::from_secs(1),
            monitor_interval: Duration::from_secs(1),
            shutdown_sync_timeout: Duration::from_secs(30),
            db: DbOptions::default(),
            compaction: CompactionOptions::default(),
            lease: LeaseOptions::default(),
            attach_timeout: Duration::from_secs(10),
            durability: Durability::Async,
            durable_timeout: Duration::from_secs(10),
        }
    }
}

impl ReplicationOptions {
    /// The options a Litestream configuration file gives `db`. With several
    /// replicas the shortest `sync-interval` is used for all of them.
    pub fn from_config(config: &Config, db: &DbConfig) -> ReplicationOptions {
        let defaults = ReplicationOptions::default();
        ReplicationOptions {
            sync_interval: db
                .replicas
                .iter()
                .map(|r| r.sync_interval)
                .min()
                .unwrap_or(defaults.sync_interval),
            monitor_interval: db.monitor_interval,
            shutdown_sync_timeout: config.shutdown_sync_timeout,
            db: DbOptions {
                busy_timeout: db.busy_timeout,
                checkpoint_interval: db.checkpoint_interval,
                min_checkpoint_page_count: u64::from(db.min_checkpoint_page_count),
                // 0 in the file means the default, as in Litestream.
                truncate_page_n: match db.truncate_page_n {
                    0 => defaults.db.truncate_page_n,
                    n => u64::from(n),
                },
                max_sync_wal_bytes: db.max_sync_wal_bytes,
            },
            compaction: CompactionOptions {
                levels: config.levels.iter().map(|l| l.interval).collect(),
                snapshot_interval: config.snapshot.interval,
                snapshot_retention: config.snapshot.retention,
                l0_retention: config.l0_retention,
                l0_retention_check_interval: config.l0_retention_check_interval,
                retention_enabled: config.retention_enabled,
            },
            lease: defaults.lease,
            attach_timeout: defaults.attach_timeout,
            durability: db.durability,
            durable_timeout: defaults.durable_timeout,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LoadOptions;

    #[test]
    fn litestream_defaults_and_overrides() {
        let text = "
dbs:
  - path: /data/app.db
    monitor-interval: 2s
    min-checkpoint-page-count: 500
    replica:
      url: file:///backups/app
      sync-interval: 10s
levels:
  - interval: 1m
snapshot:
  interval: 12h
retention:
  enabled: false
";
        let config = Config::parse(text, "test.yml", LoadOptions::default()).unwrap();
        let options = ReplicationOptions::from_config(&config, &config.dbs[0]);
        let defaults = ReplicationOptions::default();
        assert_eq!(options.sync_interval, Duration::from_secs(10));
        assert_eq!(options.monitor_interval, Duration::from_secs(2));
        assert_eq!(options.db.min_checkpoint_page_count, 500);
        assert_eq!(options.db.truncate_page_n, defaults.db.truncate_page_n);
        assert_eq!(
            options.db.checkpoint_interval,
            defaults.db.checkpoint_interval
        );
        assert_eq!(options.compaction.levels, [Duration::from_secs(60)]);
        assert_eq!(
            options.compaction.snapshot_interval,
            Duration::from_secs(12 * 3600)
        );
        assert!(!options.compaction.retention_enabled);
        assert_eq!(
            options.compaction.l0_retention,
            defaults.compaction.l0_retention
        );
    }
}
