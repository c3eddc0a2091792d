//! Where a bundle comes from: a local file, or an `https://` URL downloaded
//! into the config dir first (30 s timeout, size-limited), so installing
//! always reads a local file and knows its SHA-256.

use std::io::{Read, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::error::BundleError;
use super::extract::Limits;
use crate::error::{CoreError, Result};

/// The Go original's download timeout.
pub const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(30);

static DOWNLOAD_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A bundle ready to read: its local file and its SHA-256.
#[derive(Debug)]
pub struct BundleSource {
    path: PathBuf,
    name: String,
    sha256: String,
    /// Set for a download: the file is removed when the source is dropped.
    downloaded: bool,
}

impl BundleSource {
    /// A local file, or an `https://` URL (plain `http://` only to a loopback
    /// address) downloaded into `download_dir`. The download may be at most
    /// `limits.max_total_bytes` long.
    pub async fn open(src: &str, download_dir: &Path, limits: &Limits) -> Result<BundleSource> {
        if src.starts_with("https://") || src.starts_with("http://") {
            return download(src, download_dir, limits).await;
        }
        let path = PathBuf::from(src);
        let hashed = path.clone();
        let sha256 = tokio::task::spawn_blocking(move || hash_file(&hashed))
            .await
            .map_err(|e| CoreError::Invalid(format!("hashing the bundle: {e}")))??;
        Ok(BundleSource {
            name: path.display().to_string(),
            path,
            sha256,
            downloaded: false,
        })
    }

    /// The local file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file or URL as the user gave it (a URL without its query).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// SHA-256 of the bundle, hex.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }
}

impl Drop for BundleSource {
    fn drop(&mut self) {
        if self.downloaded {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn hash_file(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path).map_err(|e| CoreError::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf).map_err(|e| CoreError::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(format!("{:x}", hasher.finalize()))
}

async fn download(src: &str, download_dir: &Path, limits: &Limits) -> Result<BundleSource> {
    let url = reqwest::Url::parse(src).map_err(|e| BundleError::UnsupportedUrl {
        url: src.to_owned(),
        reason: e.to_string(),
    })?;
    let mut shown = url.clone();
    shown.set_query(None);
    shown.set_fragment(None);
    let shown = shown.to_string();
    if url.scheme() == "http" && !is_loopback(&url) {
        return Err(BundleError::UnsupportedUrl {
            url: shown,
            reason: "plain http is only allowed to 127.0.0.1, ::1 or localhost".to_owned(),
        }
        .into());
    }
    let failed = |detail: String| BundleError::Download {
        url: shown.clone(),
        detail,
    };
    let client = reqwest::Client::builder()
        .timeout(DOWNLOAD_TIMEOUT)
        .build()
        .map_err(|e| failed(e.to_string()))?;
    let host = url.host_str().unwrap_or_default().to_owned();
    let port = url.port_or_known_default().unwrap_or_default();
    let mut response = client.get(url).send().await.map_err(|e| {
        failed(format!(
            "cannot reach {host}:{port}: {}",
            causes(&e.without_url())
        ))
    })?;
    if !response.status().is_success() {
        return Err(failed(format!("HTTP {}", response.status())).into());
    }
    std::fs::create_dir_all(download_dir).map_err(|e| CoreError::io(download_dir, e))?;
    let n = DOWNLOAD_COUNTER.fetch_add(1, Ordering::Relaxed);
    let path = download_dir.join(format!(
        ".bundle-download-{}-{n}.tar.gz",
        std::process::id()
    ));
    // Owns the file from here, so every early return removes it.
    let mut source = BundleSource {
        path,
        name: shown.clone(),
        sha256: String::new(),
        downloaded: true,
    };
    let mut file =
        std::fs::File::create(&source.path).map_err(|e| CoreError::io(&source.path, e))?;
    let mut hasher = Sha256::new();
    let mut total = 0u64;
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| failed(causes(&e.without_url())))?
    {
        total += chunk.len() as u64;
        if total > limits.max_total_bytes {
            return Err(BundleError::TooLarge {
                source_name: shown.clone(),
                detail: format!(
                    "the download is larger than {} bytes; stopped",
                    limits.max_total_bytes
                ),
            }
            .into());
        }
        hasher.update(&chunk);
        file.write_all(&chunk)
            .map_err(|e| CoreError::io(&source.path, e))?;
    }
    file.sync_all()
        .map_err(|e| CoreError::io(&source.path, e))?;
    source.sha256 = format!("{:x}", hasher.finalize());
    Ok(source)
}

/// The error and its causes, each once: reqwest says only "error sending
/// request"; the cause says why (connection refused, a DNS failure, TLS).
fn causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        let part = e.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        cause = e.source();
    }
    text
}

fn is_loopback(url: &reqwest::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}
