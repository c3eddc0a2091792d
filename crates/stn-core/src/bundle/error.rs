//! What can go wrong with a bundle. Every variant names the bundle or entry and
//! the limit or rule it broke; none carries a secret.

/// A bundle that cannot be created, read or installed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    /// The file is not a gzip'd tar with a `manifest.json`.
    #[error("{source_name} is not a Station bundle: {detail}")]
    NotABundle {
        /// The file or URL.
        source_name: String,
        /// What did not fit.
        detail: String,
    },
    /// An entry would land outside the environment or is not a plain file or directory.
    #[error("{source_name}: refused entry `{entry}`: {reason}")]
    UnsafeEntry {
        /// The file or URL.
        source_name: String,
        /// The entry's name as stored in the archive (lossy UTF-8).
        entry: String,
        /// Why it is refused.
        reason: String,
    },
    /// The archive is larger than installing allows (an archive bomb, or just too big).
    #[error("{source_name}: {detail}")]
    TooLarge {
        /// The file or URL.
        source_name: String,
        /// Which limit and by how much.
        detail: String,
    },
    /// Files in the bundle do not parse; nothing was installed.
    #[error("the bundle's files are invalid, nothing was installed:\n  {}", problems.join("\n  "))]
    InvalidFiles {
        /// One line per broken file.
        problems: Vec<String>,
    },
    /// The manifest does not describe the archive's files (it shows another
    /// command than the one `stn sync` would start, or lists what is not there).
    #[error("{source_name}: its manifest.json does not match its files, refused:\n  {}", problems.join("\n  "))]
    ManifestMismatch {
        /// The file or URL.
        source_name: String,
        /// One line per difference, naming the manifest's claim and the file.
        problems: Vec<String>,
    },
    /// The target environment has a directory already.
    #[error("environment `{env}` already exists at {dir}")]
    EnvironmentExists {
        /// The environment.
        env: String,
        /// Its directory.
        dir: String,
    },
    /// The URL is not one Station downloads from.
    #[error("refusing to download a bundle from `{url}`: {reason}")]
    UnsupportedUrl {
        /// The URL as given.
        url: String,
        /// Why.
        reason: String,
    },
    /// The download failed.
    #[error("downloading {url} failed: {detail}")]
    Download {
        /// The URL.
        url: String,
        /// The transport error or HTTP status.
        detail: String,
    },
}

impl BundleError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            BundleError::NotABundle { .. } => Some(
                "a bundle is the .tar.gz written by `stn bundle create` (or the Go original's `stn bundle create`)"
                    .to_owned(),
            ),
            BundleError::UnsafeEntry { .. } | BundleError::TooLarge { .. } => Some(
                "the archive was refused before anything was written; only install bundles from a source you trust"
                    .to_owned(),
            ),
            BundleError::InvalidFiles { .. } => Some(
                "fix the files in the source environment and run `stn bundle create` again".to_owned(),
            ),
            BundleError::ManifestMismatch { .. } => Some(
                "nothing was installed; the files are what would run: look at them (`tar -xzf BUNDLE`) and install only a bundle you trust, or ask its author to make it again with `stn bundle create`"
                    .to_owned(),
            ),
            BundleError::EnvironmentExists { env, .. } => Some(format!(
                "pass --force to replace `{env}` (its variables.yml is kept), or install into another environment name"
            )),
            BundleError::UnsupportedUrl { .. } => Some(
                "use an https:// URL or a local file (http:// is only allowed for 127.0.0.1/localhost)".to_owned(),
            ),
            BundleError::Download { .. } => {
                Some("check the URL and the network, or download the file and install it from disk".to_owned())
            }
        }
    }
}
