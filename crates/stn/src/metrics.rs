//! Replication counters in Prometheus text format, for `/metrics`.
//!
//! Each metric is a row of a table: its name, kind, help text and how its
//! value is read from the replicator's status. A new metric is one more row.

use std::fmt::Write as _;

use std::time::SystemTime;

use stn_replicate::{ReplicaStatus, ReplicationStatus};

/// A Prometheus metric type.
#[derive(Clone, Copy)]
enum Kind {
    Gauge,
    Counter,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
        }
    }
}

/// One metric family, with the function `F` that reads its value.
struct Metric<F> {
    name: &'static str,
    kind: Kind,
    help: &'static str,
    value: F,
}

/// Reads a per-database value.
type DbValue = fn(&ReplicationStatus) -> f64;
/// Reads a per-replica value.
type ReplicaValue = fn(&ReplicaSample<'_>) -> f64;

/// What a per-replica value is read from: the database's status (the lag
/// compares TXIDs), the replica's and the time of the scrape.
struct ReplicaSample<'a> {
    db: &'a ReplicationStatus,
    replica: &'a ReplicaStatus,
    now: SystemTime,
}

fn flag(set: bool) -> f64 {
    f64::from(u8::from(set))
}

/// Metrics with one sample per database (label `db`).
const DB_METRICS: &[Metric<DbValue>] = &[
    Metric {
        name: "stn_replication_txid",
        kind: Kind::Gauge,
        help: "TXID of the newest local LTX file.",
        value: |s| s.txid as f64,
    },
    Metric {
        name: "stn_replication_syncs_total",
        kind: Kind::Counter,
        help: "Local syncs (L0 files written).",
        value: |s| s.syncs as f64,
    },
    Metric {
        name: "stn_replication_full_images_total",
        kind: Kind::Counter,
        help: "Full images written (first sync and recoveries).",
        value: |s| s.full_images as f64,
    },
    Metric {
        name: "stn_replication_checkpoints_total",
        kind: Kind::Counter,
        help: "WAL checkpoints run by the replicator.",
        value: |s| s.checkpoints as f64,
    },
    Metric {
        name: "stn_replication_wal_size_bytes",
        kind: Kind::Gauge,
        help: "WAL size at the last sync.",
        value: |s| s.wal_size as f64,
    },
    Metric {
        name: "stn_replication_sync_error",
        kind: Kind::Gauge,
        help: "1 while the last local sync failed.",
        value: |s| flag(s.last_error.is_some()),
    },
    Metric {
        name: "stn_replication_sync_errors_total",
        kind: Kind::Counter,
        help: "Local syncs and checkpoints that failed.",
        value: |s| s.sync_errors as f64,
    },
];

/// Metrics with one sample per replica (labels `db` and `replica`).
const REPLICA_METRICS: &[Metric<ReplicaValue>] = &[
    Metric {
        name: "stn_replica_txid",
        kind: Kind::Gauge,
        help: "Highest TXID the replica holds.",
        value: |s| s.replica.txid as f64,
    },
    Metric {
        name: "stn_replica_lag_txids",
        kind: Kind::Gauge,
        help: "Local TXIDs not yet in the replica.",
        value: |s| s.db.txid.saturating_sub(s.replica.txid) as f64,
    },
    Metric {
        name: "stn_replica_uploads_total",
        kind: Kind::Counter,
        help: "Files uploaded to the replica.",
        value: |s| s.replica.uploads as f64,
    },
    Metric {
        name: "stn_replica_upload_bytes_total",
        kind: Kind::Counter,
        help: "Bytes uploaded to the replica.",
        value: |s| s.replica.bytes as f64,
    },
    Metric {
        name: "stn_replica_compactions_total",
        kind: Kind::Counter,
        help: "Compacted files written to the replica.",
        value: |s| s.replica.compactions as f64,
    },
    Metric {
        name: "stn_replica_deletes_total",
        kind: Kind::Counter,
        help: "Files deleted by retention.",
        value: |s| s.replica.deletes as f64,
    },
    Metric {
        name: "stn_replica_error",
        kind: Kind::Gauge,
        help: "1 while the last upload to the replica failed.",
        value: |s| flag(s.replica.last_error.is_some()),
    },
    Metric {
        name: "stn_replica_errors_total",
        kind: Kind::Counter,
        help: "Failed uploads, compactions, listings and lease requests.",
        value: |s| s.replica.errors as f64,
    },
    Metric {
        name: "stn_replica_lag_seconds",
        kind: Kind::Gauge,
        help: "Seconds since the replica first lacked a local TXID it still lacks (0 when it holds all).",
        value: |s| {
            s.replica
                .behind_since
                .and_then(|since| s.now.duration_since(since).ok())
                .map_or(0.0, |lag| lag.as_secs_f64())
        },
    },
];

/// Prometheus lines for one replicated database.
pub fn replication(db: &str, status: &ReplicationStatus) -> String {
    let mut out = String::new();
    let db_label = format!("db=\"{}\"", escape(db));
    for metric in DB_METRICS {
        family(
            &mut out,
            metric,
            [(db_label.clone(), (metric.value)(status))],
        );
    }
    let now = SystemTime::now();
    let samples: Vec<(String, ReplicaSample)> = status
        .replicas
        .iter()
        .map(|replica| {
            let labels = format!("{db_label},replica=\"{}\"", escape(&replica.url));
            let sample = ReplicaSample {
                db: status,
                replica,
                now,
            };
            (labels, sample)
        })
        .collect();
    for metric in REPLICA_METRICS {
        let values = samples
            .iter()
            .map(|(labels, sample)| (labels.clone(), (metric.value)(sample)));
        family(&mut out, metric, values);
    }
    out
}

/// Writes one family: its `HELP` and `TYPE` lines, then a line per sample.
fn family<F>(
    out: &mut String,
    metric: &Metric<F>,
    samples: impl IntoIterator<Item = (String, f64)>,
) {
    let _ = writeln!(out, "# HELP {} {}", metric.name, metric.help);
    let _ = writeln!(out, "# TYPE {} {}", metric.name, metric.kind.as_str());
    for (labels, value) in samples {
        let _ = writeln!(out, "{}{{{labels}}} {value}", metric.name);
    }
}

/// Label values escape `\`, `"` and newlines.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_has_help_type_and_one_sample_per_db_or_replica() {
        let status = ReplicationStatus {
            txid: 7,
            syncs: 3,
            full_images: 1,
            checkpoints: 2,
            wal_size: 4096,
            sync_errors: 0,
            last_error: None,
            replicas: vec![ReplicaStatus {
                url: "file:///r".into(),
                txid: 5,
                uploads: 4,
                compactions: 1,
                bytes: 1000,
                deletes: 0,
                errors: 2,
                behind_since: None,
                last_error: Some("down".into()),
            }],
        };
        let text = replication("a\"b", &status);
        let expected = "\
# HELP stn_replication_txid TXID of the newest local LTX file.
# TYPE stn_replication_txid gauge
stn_replication_txid{db=\"a\\\"b\"} 7
# HELP stn_replication_syncs_total Local syncs (L0 files written).
# TYPE stn_replication_syncs_total counter
stn_replication_syncs_total{db=\"a\\\"b\"} 3
# HELP stn_replication_full_images_total Full images written (first sync and recoveries).
# TYPE stn_replication_full_images_total counter
stn_replication_full_images_total{db=\"a\\\"b\"} 1
# HELP stn_replication_checkpoints_total WAL checkpoints run by the replicator.
# TYPE stn_replication_checkpoints_total counter
stn_replication_checkpoints_total{db=\"a\\\"b\"} 2
# HELP stn_replication_wal_size_bytes WAL size at the last sync.
# TYPE stn_replication_wal_size_bytes gauge
stn_replication_wal_size_bytes{db=\"a\\\"b\"} 4096
# HELP stn_replication_sync_error 1 while the last local sync failed.
# TYPE stn_replication_sync_error gauge
stn_replication_sync_error{db=\"a\\\"b\"} 0
# HELP stn_replication_sync_errors_total Local syncs and checkpoints that failed.
# TYPE stn_replication_sync_errors_total counter
stn_replication_sync_errors_total{db=\"a\\\"b\"} 0
# HELP stn_replica_txid Highest TXID the replica holds.
# TYPE stn_replica_txid gauge
stn_replica_txid{db=\"a\\\"b\",replica=\"file:///r\"} 5
# HELP stn_replica_lag_txids Local TXIDs not yet in the replica.
# TYPE stn_replica_lag_txids gauge
stn_replica_lag_txids{db=\"a\\\"b\",replica=\"file:///r\"} 2
# HELP stn_replica_uploads_total Files uploaded to the replica.
# TYPE stn_replica_uploads_total counter
stn_replica_uploads_total{db=\"a\\\"b\",replica=\"file:///r\"} 4
# HELP stn_replica_upload_bytes_total Bytes uploaded to the replica.
# TYPE stn_replica_upload_bytes_total counter
stn_replica_upload_bytes_total{db=\"a\\\"b\",replica=\"file:///r\"} 1000
# HELP stn_replica_compactions_total Compacted files written to the replica.
# TYPE stn_replica_compactions_total counter
stn_replica_compactions_total{db=\"a\\\"b\",replica=\"file:///r\"} 1
# HELP stn_replica_deletes_total Files deleted by retention.
# TYPE stn_replica_deletes_total counter
stn_replica_deletes_total{db=\"a\\\"b\",replica=\"file:///r\"} 0
# HELP stn_replica_error 1 while the last upload to the replica failed.
# TYPE stn_replica_error gauge
stn_replica_error{db=\"a\\\"b\",replica=\"file:///r\"} 1
# HELP stn_replica_errors_total Failed uploads, compactions, listings and lease requests.
# TYPE stn_replica_errors_total counter
stn_replica_errors_total{db=\"a\\\"b\",replica=\"file:///r\"} 2
# HELP stn_replica_lag_seconds Seconds since the replica first lacked a local TXID it still lacks (0 when it holds all).
# TYPE stn_replica_lag_seconds gauge
stn_replica_lag_seconds{db=\"a\\\"b\",replica=\"file:///r\"} 0
";
        assert_eq!(text, expected);
    }
}
