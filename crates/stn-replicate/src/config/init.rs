//! The configuration `stn init --replicate` writes: a Litestream v0.5 file
//! that both `stn` and the real `litestream replicate` accept.

/// The text of a replication config for the database at `db_path`.
///
/// S3 is active and takes everything from the environment (an unset
/// variable expands to nothing and the setting keeps its default); the
/// GCS, Azure and local-directory alternatives are commented out.
pub fn init_config_text(db_path: &str) -> String {
    // Quoted as YAML needs it, so a path with `: ` or `#` stays one value.
    let yaml_path = yaml_serde::to_string(db_path)
        .map(|text| text.trim_end().to_owned())
        .unwrap_or_else(|_| format!("{db_path:?}"));
    format!(
        r#"# Replication of Station's database, in Litestream v0.5 format: the real
# `litestream replicate -config THIS_FILE` reads it too.
#
# Environment:
#   LITESTREAM_S3_BUCKET             bucket to replicate to (required)
#   LITESTREAM_ACCESS_KEY_ID         (or AWS_ACCESS_KEY_ID)
#   LITESTREAM_SECRET_ACCESS_KEY     (or AWS_SECRET_ACCESS_KEY)
#   LITESTREAM_S3_REGION             optional, default us-east-1
#   LITESTREAM_S3_ENDPOINT           optional, for S3-compatible stores (MinIO, R2, …)
#
# Restore with `stn restore` (or `litestream restore -config THIS_FILE {db_path}`).

dbs:
  - path: {yaml_path}
    replica:
      type: s3
      bucket: ${{LITESTREAM_S3_BUCKET}}
      path: station-db
      region: ${{LITESTREAM_S3_REGION}}
      endpoint: ${{LITESTREAM_S3_ENDPOINT}}
      sync-interval: 1s

      # Google Cloud Storage instead (credentials: GOOGLE_APPLICATION_CREDENTIALS):
      # type: gs
      # bucket: ${{LITESTREAM_GCS_BUCKET}}
      # path: station-db

      # Azure Blob Storage instead (key: LITESTREAM_AZURE_ACCOUNT_KEY):
      # type: abs
      # account-name: ${{LITESTREAM_ABS_ACCOUNT_NAME}}
      # bucket: ${{LITESTREAM_ABS_BUCKET}}
      # path: station-db

      # A local directory instead (another disk, a mounted volume):
      # type: file
      # path: /backup/station-db

# Snapshots (full copies) are taken daily and kept for a day; compacted
# change files in between make any point of the last day restorable.
snapshot:
  interval: 24h
  retention: 24h
"#
    )
}
