//! Replication counters in Prometheus text format, for `/metrics`.

use std::fmt::Write as _;

use std::time::SystemTime;

use stn_replicate::replicator::{ReplicaStatus, ReplicationStatus};

/// Prometheus lines for one replicated database.
pub fn replication(db: &str, status: &ReplicationStatus) -> String {
    let mut out = String::new();
    let db = escape(db);
    let mut family = |name: &str, kind: &str, help: &str, samples: Vec<(String, f64)>| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for (labels, value) in samples {
            let _ = writeln!(out, "{name}{{{labels}}} {value}");
        }
    };
    let db_label = format!("db=\"{db}\"");
    let db_sample = |value: f64| vec![(db_label.clone(), value)];
    family(
        "stn_replication_txid",
        "gauge",
        "TXID of the newest local LTX file.",
        db_sample(status.txid as f64),
    );
    family(
        "stn_replication_syncs_total",
        "counter",
        "Local syncs (L0 files written).",
        db_sample(status.syncs as f64),
    );
    family(
        "stn_replication_full_images_total",
        "counter",
        "Full images written (first sync and recoveries).",
        db_sample(status.full_images as f64),
    );
    family(
        "stn_replication_checkpoints_total",
        "counter",
        "WAL checkpoints run by the replicator.",
        db_sample(status.checkpoints as f64),
    );
    family(
        "stn_replication_wal_size_bytes",
        "gauge",
        "WAL size at the last sync.",
        db_sample(status.wal_size as f64),
    );
    family(
        "stn_replication_sync_error",
        "gauge",
        "1 while the last local sync failed.",
        db_sample(f64::from(u8::from(status.last_error.is_some()))),
    );
    family(
        "stn_replication_sync_errors_total",
        "counter",
        "Local syncs and checkpoints that failed.",
        db_sample(status.sync_errors as f64),
    );
    let per_replica = |value: &dyn Fn(&ReplicaStatus) -> f64| {
        status
            .replicas
            .iter()
            .map(|r| {
                (
                    format!("{db_label},replica=\"{}\"", escape(&r.url)),
                    value(r),
                )
            })
            .collect::<Vec<_>>()
    };
    family(
        "stn_replica_txid",
        "gauge",
        "Highest TXID the replica holds.",
        per_replica(&|r| r.txid as f64),
    );
    family(
        "stn_replica_lag_txids",
        "gauge",
        "Local TXIDs not yet in the replica.",
        per_replica(&|r| status.txid.saturating_sub(r.txid) as f64),
    );
    family(
        "stn_replica_uploads_total",
        "counter",
        "Files uploaded to the replica.",
        per_replica(&|r| r.uploads as f64),
    );
    family(
        "stn_replica_upload_bytes_total",
        "counter",
        "Bytes uploaded to the replica.",
        per_replica(&|r| r.bytes as f64),
    );
    family(
        "stn_replica_compactions_total",
        "counter",
        "Compacted files written to the replica.",
        per_replica(&|r| r.compactions as f64),
    );
    family(
        "stn_replica_deletes_total",
        "counter",
        "Files deleted by retention.",
        per_replica(&|r| r.deletes as f64),
    );
    family(
        "stn_replica_error",
        "gauge",
        "1 while the last upload to the replica failed.",
        per_replica(&|r| f64::from(u8::from(r.last_error.is_some()))),
    );
    family(
        "stn_replica_errors_total",
        "counter",
        "Failed uploads, compactions, listings and lease requests.",
        per_replica(&|r| r.errors as f64),
    );
    let now = SystemTime::now();
    family(
        "stn_replica_lag_seconds",
        "gauge",
        "Seconds since the replica first lacked a local TXID it still lacks (0 when it holds all).",
        per_replica(&|r| {
            r.behind_since
                .and_then(|since| now.duration_since(since).ok())
                .map_or(0.0, |lag| lag.as_secs_f64())
        }),
    );
    out
}

/// Label values escape `\`, `"` and newlines.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
