//! The S3 side of workload C: each tool's file replica uploaded as it is
//! to moto, in the S3 key layout both tools read
//! (`<prefix>/<level %04x>/<min>-<max>.ltx`), so both restore the very
//! files they wrote, over HTTP.

use std::path::Path;

use stn_replicate::ReplicaClient;
use stn_replicate::{ReplicaConfig, ReplicaKind};

/// moto accepts any key; the tools get it from the environment.
pub(crate) const ACCESS_KEY: &str = "test";

/// moto's endpoint and bucket, when the test services run.
pub(crate) fn moto() -> Option<(String, String)> {
    let endpoint = std::env::var("STN_TEST_S3_ENDPOINT").ok()?;
    let bucket = std::env::var("STN_TEST_BUCKET").ok()?;
    Some((endpoint, bucket))
}

/// Uploads the LTX files of the file replica `replica` under `prefix` on
/// moto; returns the S3 URL both tools restore from and the client that
/// [`delete_replica`] takes.
pub(crate) fn upload_replica(replica: &Path, prefix: &str) -> Option<(String, ReplicaClient)> {
    let (endpoint, bucket) = moto()?;
    let mut config = ReplicaConfig::new(ReplicaKind::S3);
    config.bucket = Some(bucket.clone());
    config.path = Some(prefix.to_owned());
    config.endpoint = Some(endpoint.clone());
    config.region = Some("us-east-1".to_owned());
    config.force_path_style = Some(true);
    config.access_key_id = Some(ACCESS_KEY.to_owned());
    config.secret_access_key = Some(ACCESS_KEY.to_owned());
    let client = ReplicaClient::from_config(&config).expect("S3 replica config");
    let runtime = runtime();
    for level_dir in std::fs::read_dir(replica.join("ltx")).expect("replica levels") {
        let level_dir = level_dir.expect("replica level").path();
        let level: u8 = level_dir
            .file_name()
            .and_then(|name| name.to_str()?.parse().ok())
            .expect("a numbered level directory");
        for file in std::fs::read_dir(&level_dir).expect("level files") {
            let path = file.expect("LTX file").path();
            let Some((min, max)) = path
                .file_name()
                .and_then(|name| name.to_str()?.strip_suffix(".ltx")?.split_once('-'))
                .and_then(|(min, max)| {
                    Some((
                        u64::from_str_radix(min, 16).ok()?,
                        u64::from_str_radix(max, 16).ok()?,
                    ))
                })
            else {
                continue;
            };
            let handle = std::fs::File::open(&path).expect("open an LTX file");
            runtime
                .block_on(client.put_ltx_file(level, min, max, handle, &path))
                .unwrap_or_else(|e| panic!("upload {}: {e}", path.display()));
        }
    }
    let url = format!(
        "s3://{bucket}/{prefix}?endpoint={endpoint}&region=us-east-1&force-path-style=true"
    );
    Some((url, client))
}

/// Deletes what [`upload_replica`] uploaded: moto keeps large objects in
/// temporary files, and the disk is shared.
pub(crate) fn delete_replica(client: &ReplicaClient) {
    runtime().block_on(async {
        for level in 0..=stn_replicate::SNAPSHOT_LEVEL {
            let files = client
                .list_ltx(level)
                .await
                .expect("list the uploaded replica");
            client
                .delete_ltx(&files)
                .await
                .expect("delete the uploaded replica");
        }
    });
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}
