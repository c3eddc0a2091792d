//! From a replica URL or config block to a configured object store: the
//! one place that knows Litestream's URL forms, credential sources and
//! backend quirks.
//!
//! | form | notes |
//! |---|---|
//! | `file:///abs/path`, `/abs/path` | no query parameters |
//! | `s3://bucket/path?endpoint=…&region=…&force-path-style=true&skip-verify=true` | keys: config, `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, `LITESTREAM_ACCESS_KEY_ID`/`LITESTREAM_SECRET_ACCESS_KEY`, else the AWS default chain |
//! | `gs://bucket/path?endpoint=…` | `GOOGLE_APPLICATION_CREDENTIALS`, else the default chain; with `endpoint` and no credentials configured, requests are unsigned (emulators) |
//! | `abs://[account@]container/path?endpoint=…` | key: config `account-key`, `LITESTREAM_AZURE_ACCOUNT_KEY`, `AZURE_STORAGE_ACCOUNT_KEY`; or `sas-token`; for Azurite the endpoint includes the account: `http://127.0.0.1:10000/devstoreaccount1` |

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{BackoffConfig, ClientOptions, ObjectStore, RetryConfig};

use crate::config::{ReplicaConfig, ReplicaKind};
use crate::error::{Error, Result};
use crate::paths::KeyLayout;

/// Where a replica lives, from its URL and config keys together.
#[derive(Default)]
struct Location {
    /// Bucket or container; empty for files.
    bucket: String,
    /// Key prefix inside the bucket; for files, the directory below `/`.
    prefix: Path,
    /// The replica directory, for files.
    dir: Option<PathBuf>,
    endpoint: Option<String>,
    region: Option<String>,
    force_path_style: Option<bool>,
    skip_verify: Option<bool>,
    account_name: Option<String>,
}

/// Single-PUT limit and part size on disk: both kinds of upload are staged
/// and renamed into place there, and parts have no minimum size, so small
/// parts cost nothing and keep memory low.
const LOCAL_PART_SIZE: usize = 256 * 1024;
/// Uploads to object stores up to this size are one PUT.
const SINGLE_PUT_LIMIT: usize = 16 * 1024 * 1024;
/// Part size of multipart uploads (S3 needs at least 5 MiB per part).
const PART_SIZE: usize = 8 * 1024 * 1024;

/// The object store of a replica and everything that differs by backend:
/// after this, nothing tests which backend a replica is.
pub(super) struct Built {
    pub(super) store: Arc<dyn ObjectStore>,
    /// Key prefix of every object of the replica.
    pub(super) prefix: Path,
    /// Where LTX files live under the prefix.
    pub(super) layout: KeyLayout,
    /// The metadata name of Litestream's LTX timestamp; `None` on disk.
    pub(super) timestamp_metadata: Option<&'static str>,
    /// Uploads up to this size are one PUT; larger ones are multipart.
    pub(super) single_put_limit: usize,
    /// Part size of multipart uploads.
    pub(super) part_size: usize,
    /// The replica directory on disk, for the file backend.
    pub(super) local_root: Option<PathBuf>,
    /// The replica as a URL without secrets.
    pub(super) url: String,
}

/// Builds the object store for `replica`.
pub(super) fn build(replica: &ReplicaConfig) -> Result<Built> {
    let location = locate(replica)?;
    let url = display_url(replica.kind, &location);
    let invalid = |reason: String| Error::InvalidUrl {
        url: url.clone(),
        reason,
    };
    let store: Arc<dyn ObjectStore> = match replica.kind {
        // The whole file system is the store, so the directory need not
        // exist yet: restore reports "no backup", replication creates it.
        ReplicaKind::File => Arc::new(LocalFileSystem::new()),
        ReplicaKind::S3 => Arc::new(
            s3(replica, &location)
                .build()
                .map_err(|e| invalid(e.to_string()))?,
        ),
        ReplicaKind::Gs => Arc::new(gcs(&location).build().map_err(|e| invalid(e.to_string()))?),
        ReplicaKind::Abs => Arc::new(
            azure(replica, &location)
                .map_err(invalid)?
                .build()
                .map_err(|e| invalid(e.to_string()))?,
        ),
    };
    let layout = match replica.kind {
        ReplicaKind::S3 => KeyLayout::S3,
        ReplicaKind::File | ReplicaKind::Gs | ReplicaKind::Abs => KeyLayout::Ltx,
    };
    let timestamp_metadata = match replica.kind {
        ReplicaKind::File => None,
        // Azure metadata names must be C# identifiers: no hyphen.
        ReplicaKind::Abs => Some("litestreamtimestamp"),
        ReplicaKind::S3 | ReplicaKind::Gs => Some("litestream-timestamp"),
    };
    let (single_put_limit, part_size) = match replica.kind {
        ReplicaKind::File => (LOCAL_PART_SIZE, LOCAL_PART_SIZE),
        ReplicaKind::S3 | ReplicaKind::Gs | ReplicaKind::Abs => (SINGLE_PUT_LIMIT, PART_SIZE),
    };
    Ok(Built {
        store,
        prefix: location.prefix,
        layout,
        timestamp_metadata,
        single_put_limit,
        part_size,
        local_root: location.dir,
        url,
    })
}

/// Retries inside object_store: ten attempts with exponential backoff,
/// given up after two minutes. Catching up after longer outages is the
/// replicator's job, not this layer's.
fn retry() -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(15),
            base: 2.0,
        },
        max_retries: 10,
        retry_timeout: Duration::from_secs(120),
    }
}

fn client_options(location: &Location) -> ClientOptions {
    let http = location
        .endpoint
        .as_deref()
        .is_some_and(|endpoint| endpoint.starts_with("http://"));
    ClientOptions::new()
        .with_allow_http(http)
        .with_allow_invalid_certificates(location.skip_verify.unwrap_or(false))
        .with_connect_timeout(Duration::from_secs(5))
        // A stalled connection (a dead NAT entry, a half-open socket) fails
        // here and the request is retried on a new one. reqwest counts this
        // from the start of a request to its response headers, so a whole
        // upload request must fit in it: a 16 MiB PUT, or four 8 MiB parts
        // side by side (storage/mod.rs), need 2.2 and 4.5 Mbit/s. In a
        // response body it restarts at every read, so a download of any
        // size only has to keep moving.
        .with_read_timeout(READ_TIMEOUT)
        // No deadline for a whole request: with the read timeout every phase
        // is bounded already, and a deadline would only fail the download of
        // a big snapshot on a slow link, with no way to ever finish it.
        .with_timeout_disabled()
}

/// See `client_options`.
const READ_TIMEOUT: Duration = Duration::from_secs(60);

fn s3(replica: &ReplicaConfig, location: &Location) -> AmazonS3Builder {
    let mut builder = AmazonS3Builder::from_env()
        .with_bucket_name(&location.bucket)
        .with_client_options(client_options(location))
        .with_retry(retry());
    if let Some(region) = &location.region {
        builder = builder.with_region(region);
    }
    // Litestream: path style by default with a custom endpoint, virtual
    // hosts on AWS itself.
    let path_style = location
        .force_path_style
        .unwrap_or(location.endpoint.is_some());
    builder = builder.with_virtual_hosted_style_request(!path_style);
    if let Some(endpoint) = &location.endpoint {
        let endpoint = if path_style {
            endpoint.clone()
        } else {
            bucket_host_endpoint(endpoint, &location.bucket)
        };
        builder = builder.with_endpoint(endpoint);
    }
    let key_id = replica
        .access_key_id
        .clone()
        .or_else(|| env_fallback("AWS_ACCESS_KEY_ID", "LITESTREAM_ACCESS_KEY_ID"));
    let secret = replica
        .secret_access_key
        .clone()
        .or_else(|| env_fallback("AWS_SECRET_ACCESS_KEY", "LITESTREAM_SECRET_ACCESS_KEY"));
    if let Some(key_id) = key_id {
        builder = builder.with_access_key_id(key_id);
    }
    if let Some(secret) = secret {
        builder = builder.with_secret_access_key(secret);
    }
    builder
}

/// `https://host` → `https://bucket.host`, which object_store expects for
/// virtual-hosted requests to a custom endpoint.
fn bucket_host_endpoint(endpoint: &str, bucket: &str) -> String {
    match endpoint.split_once("://") {
        Some((scheme, host)) => format!("{scheme}://{bucket}.{host}"),
        None => format!("{bucket}.{endpoint}"),
    }
}

/// `LITESTREAM_*` credentials count only when the AWS variable is unset,
/// which `from_env` has already read.
fn env_fallback(aws: &str, litestream: &str) -> Option<String> {
    match std::env::var(aws) {
        Ok(value) if !value.is_empty() => None,
        _ => std::env::var(litestream).ok().filter(|v| !v.is_empty()),
    }
}

fn gcs(location: &Location) -> GoogleCloudStorageBuilder {
    let mut builder = GoogleCloudStorageBuilder::from_env()
        .with_bucket_name(&location.bucket)
        .with_client_options(client_options(location))
        .with_retry(retry());
    if let Some(endpoint) = &location.endpoint {
        builder = builder.with_base_url(endpoint);
        let has_credentials = [
            "GOOGLE_APPLICATION_CREDENTIALS",
            "GOOGLE_SERVICE_ACCOUNT",
            "GOOGLE_SERVICE_ACCOUNT_PATH",
            "GOOGLE_SERVICE_ACCOUNT_KEY",
        ]
        .iter()
        .any(|var| std::env::var_os(var).is_some());
        // An emulator such as fake-gcs-server wants no OAuth at all.
        builder = builder.with_skip_signature(!has_credentials);
    }
    builder
}

fn azure(replica: &ReplicaConfig, location: &Location) -> Result<MicrosoftAzureBuilder, String> {
    let mut builder = MicrosoftAzureBuilder::from_env()
        .with_container_name(&location.bucket)
        .with_client_options(client_options(location))
        .with_retry(retry());
    let account = location
        .account_name
        .clone()
        .or_else(|| replica.account_name.clone());
    match (&account, &location.endpoint) {
        (Some(account), _) => builder = builder.with_account(account),
        (None, None) if std::env::var_os("AZURE_STORAGE_ACCOUNT_NAME").is_none() => {
            return Err(
                "an Azure account is required: abs://ACCOUNT@CONTAINER/PATH or `account-name`"
                    .to_owned(),
            );
        }
        (None, _) => {}
    }
    if let Some(endpoint) = &location.endpoint {
        builder = builder
            .with_endpoint(endpoint.clone())
            .with_allow_http(endpoint.starts_with("http://"));
    }
    let key = replica.account_key.clone().or_else(|| {
        ["LITESTREAM_AZURE_ACCOUNT_KEY", "AZURE_STORAGE_ACCOUNT_KEY"]
            .iter()
            .find_map(|var| std::env::var(var).ok().filter(|v| !v.is_empty()))
    });
    if let Some(key) = key {
        builder = builder.with_access_key(key);
    } else if let Some(sas) = &replica.sas_token {
        let pairs = url::form_urlencoded::parse(sas.trim_start_matches('?').as_bytes())
            .into_owned()
            .collect::<Vec<_>>();
        builder = builder.with_sas_authorization(pairs);
    }
    Ok(builder)
}

/// Merges the URL (if any) with the config keys. A setting given both ways
/// must agree.
fn locate(replica: &ReplicaConfig) -> Result<Location> {
    let url = replica.url.as_deref().unwrap_or(replica.kind.as_str());
    let mut location = match (&replica.url, replica.kind) {
        (Some(url), kind) => parse_url(url, kind)?,
        (None, ReplicaKind::File) => {
            let dir = replica.path.as_deref().unwrap_or_default();
            local_dir(std::path::Path::new(dir)).map_err(|reason| Error::InvalidUrl {
                url: format!("file://{dir}"),
                reason,
            })?
        }
        (None, _) => Location {
            bucket: replica.bucket.clone().unwrap_or_default(),
            prefix: Path::from(replica.path.as_deref().unwrap_or_default()),
            ..Location::default()
        },
    };
    merge(
        url,
        "endpoint",
        &mut location.endpoint,
        replica.endpoint.clone(),
    )?;
    merge(url, "region", &mut location.region, replica.region.clone())?;
    merge(
        url,
        "force-path-style",
        &mut location.force_path_style,
        replica.force_path_style,
    )?;
    let skip_verify = replica.skip_verify.then_some(true);
    merge(url, "skip-verify", &mut location.skip_verify, skip_verify)?;
    if let Some(endpoint) = &mut location.endpoint {
        *endpoint = with_scheme(endpoint);
    }
    if replica.kind != ReplicaKind::File && location.bucket.is_empty() {
        return Err(Error::InvalidUrl {
            url: redact(url),
            reason: "a bucket (container) is required".to_owned(),
        });
    }
    Ok(location)
}

fn merge<T: PartialEq>(
    url: &str,
    key: &str,
    from_url: &mut Option<T>,
    from_config: Option<T>,
) -> Result<()> {
    match (from_url.as_ref(), from_config) {
        (Some(a), Some(b)) if *a != b => Err(Error::InvalidUrl {
            url: redact(url),
            reason: format!("`{key}` is set both in the URL and in the config, differently"),
        }),
        (None, Some(b)) => {
            *from_url = Some(b);
            Ok(())
        }
        _ => Ok(()),
    }
}

/// An endpoint without a scheme gets one: http for this machine, https elsewhere.
fn with_scheme(endpoint: &str) -> String {
    if endpoint.contains("://") {
        return endpoint.trim_end_matches('/').to_owned();
    }
    let local = ["localhost", "127.0.0.1", "[::1]"]
        .iter()
        .any(|host| endpoint.starts_with(host));
    let scheme = if local { "http" } else { "https" };
    format!("{scheme}://{}", endpoint.trim_end_matches('/'))
}

/// Parses one of Litestream's URL forms (see the module docs).
fn parse_url(raw: &str, kind: ReplicaKind) -> Result<Location> {
    let invalid = |reason: &str| Error::InvalidUrl {
        url: redact(raw),
        reason: reason.to_owned(),
    };
    if raw.starts_with('/') {
        return local_dir(std::path::Path::new(raw)).map_err(|reason| invalid(&reason));
    }
    let url = url::Url::parse(raw).map_err(|err| invalid(&err.to_string()))?;
    if url.password().is_some() {
        return Err(invalid(
            "a password in the URL is not supported: put keys in the config or the environment",
        ));
    }
    if kind == ReplicaKind::File {
        if url.query().is_some() {
            return Err(invalid("file URLs take no query parameters"));
        }
        let dir = url
            .to_file_path()
            .map_err(|()| invalid("use file:///ABSOLUTE/PATH (three slashes)"))?;
        return local_dir(&dir).map_err(|reason| invalid(&reason));
    }
    let host = url.host_str().unwrap_or_default();
    let prefix = Path::from_url_path(url.path()).map_err(|err| invalid(&err.to_string()))?;
    let mut location = Location {
        bucket: host.to_owned(),
        prefix,
        account_name: Some(url.username())
            .filter(|name| !name.is_empty())
            .map(str::to_owned),
        ..Location::default()
    };
    if kind == ReplicaKind::S3 {
        // bucket.s3.REGION.amazonaws.com, as Litestream accepts it.
        if let Some((bucket, rest)) = host.split_once(".s3")
            && let Some(middle) = rest.strip_suffix(".amazonaws.com")
        {
            location.bucket = bucket.to_owned();
            location.region = middle.strip_prefix('.').map(str::to_owned);
        }
    }
    for (key, value) in url.query_pairs() {
        apply_query(&mut location, kind, &key, &value).map_err(|reason| invalid(&reason))?;
    }
    Ok(location)
}

fn apply_query(
    location: &mut Location,
    kind: ReplicaKind,
    key: &str,
    value: &str,
) -> Result<(), String> {
    let flag =
        || parse_bool(value).ok_or_else(|| format!("`{key}` must be true or false, not `{value}`"));
    match (kind, key) {
        (_, "endpoint") => location.endpoint = Some(value.to_owned()),
        (ReplicaKind::S3, "region") => location.region = Some(value.to_owned()),
        (ReplicaKind::S3, "force-path-style" | "forcePathStyle") => {
            location.force_path_style = Some(flag()?)
        }
        (ReplicaKind::S3, "skip-verify" | "skipVerify") => location.skip_verify = Some(flag()?),
        _ => {
            let supported = match kind {
                ReplicaKind::S3 => "endpoint, region, force-path-style, skip-verify",
                _ => "endpoint",
            };
            return Err(format!(
                "unsupported query parameter `{key}` for {} (supported: {supported})",
                kind.as_str()
            ));
        }
    }
    Ok(())
}

/// Go's `strconv.ParseBool` spellings, as Litestream reads URL flags.
fn parse_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "true" | "TRUE" | "True" | "yes" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" | "no" => Some(false),
        _ => None,
    }
}

/// A replica directory: absolute (relative to the working directory if
/// given relative) and as a key under the file-system root.
fn local_dir(dir: &std::path::Path) -> Result<Location, String> {
    let dir = std::path::absolute(dir).map_err(|err| format!("not a usable directory: {err}"))?;
    let prefix =
        Path::from_absolute_path(&dir).map_err(|err| format!("not a usable directory: {err}"))?;
    Ok(Location {
        prefix,
        dir: Some(dir),
        ..Location::default()
    })
}

/// The URL with any userinfo password replaced, for messages.
fn redact(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut url) if url.password().is_some() => {
            // Only fails for URLs that cannot carry a password at all.
            let _ = url.set_password(Some("REDACTED"));
            url.to_string()
        }
        _ => raw.to_owned(),
    }
}

/// A URL naming the replica, without secrets: what [`super::ReplicaClient::url`] shows.
fn display_url(kind: ReplicaKind, location: &Location) -> String {
    let mut url = match (kind, &location.dir) {
        (_, Some(dir)) => return format!("file://{}", dir.display()),
        (ReplicaKind::File, None) => return "file://".to_owned(),
        (ReplicaKind::Abs, None) => match &location.account_name {
            Some(account) => format!("abs://{account}@{}", location.bucket),
            None => format!("abs://{}", location.bucket),
        },
        (ReplicaKind::S3 | ReplicaKind::Gs, None) => {
            format!("{}://{}", kind.as_str(), location.bucket)
        }
    };
    if !location.prefix.is_root() {
        url.push('/');
        url.push_str(location.prefix.as_ref());
    }
    if let Some(endpoint) = &location.endpoint {
        url.push_str("?endpoint=");
        url.push_str(endpoint);
    }
    url
}

#[cfg(test)]
mod tests;
