//! Replication counters in Prometheus text format, for `/metrics`.

use std::fmt::Write as _;

use stn_replicate::replicator::ReplicationStatus;

/// Prometheus lines for one replicated database.
pub fn replication(db: &str, status: &ReplicationStatus) -> String {
    let mut out = String::new();
    let db = escape(db);
    let mut family = |name: &str, kind: &str, help: &str, samples: Vec<(String, u64)>| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for (labels, value) in samples {
            let _ = writeln!(out, "{name}{{{labels}}} {value}");
        }
    };
    let db_label = format!("db=\"{db}\"");
    family(
        "stn_replication_txid",
        "gauge",
        "TXID of the newest local LTX file.",
        vec![(db_label.clone(), status.txid)],
    );
    family(
        "stn_replication_syncs_total",
        "counter",
        "Local syncs (L0 files written).",
        vec![(db_label.clone(), status.syncs)],
    );
    family(
        "stn_replication_full_images_total",
        "counter",
        "Full images written (first sync and recoveries).",
        vec![(db_label.clone(), status.full_images)],
    );
    family(
        "stn_replication_checkpoints_total",
        "counter",
        "WAL checkpoints run by the replicator.",
        vec![(db_label.clone(), status.checkpoints)],
    );
    family(
        "stn_replication_wal_size_bytes",
        "gauge",
        "WAL size at the last sync.",
        vec![(db_label.clone(), status.wal_size)],
    );
    family(
        "stn_replication_sync_error",
        "gauge",
        "1 while the last local sync failed.",
        vec![(db_label.clone(), u64::from(status.last_error.is_some()))],
    );
    let per_replica = |value: &dyn Fn(&stn_replicate::replicator::ReplicaStatus) -> u64| {
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
        per_replica(&|r| r.txid),
    );
    family(
        "stn_replica_lag_txids",
        "gauge",
        "Local TXIDs not yet in the replica.",
        per_replica(&|r| status.txid.saturating_sub(r.txid)),
    );
    family(
        "stn_replica_uploads_total",
        "counter",
        "Files uploaded to the replica.",
        per_replica(&|r| r.uploads),
    );
    family(
        "stn_replica_upload_bytes_total",
        "counter",
        "Bytes uploaded to the replica.",
        per_replica(&|r| r.bytes),
    );
    family(
        "stn_replica_compactions_total",
        "counter",
        "Compacted files written to the replica.",
        per_replica(&|r| r.compactions),
    );
    family(
        "stn_replica_deletes_total",
        "counter",
        "Files deleted by retention.",
        per_replica(&|r| r.deletes),
    );
    family(
        "stn_replica_error",
        "gauge",
        "1 while the last upload to the replica failed.",
        per_replica(&|r| u64::from(r.last_error.is_some())),
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
