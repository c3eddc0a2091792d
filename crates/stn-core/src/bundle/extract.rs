//! Reading a bundle safely: every entry's name, type and size is checked before
//! anything is written, and limits on entries, bytes and compression ratio are
//! enforced while the archive streams, so a hostile archive is refused early
//! and never fills the disk.

use std::cell::Cell;
use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use flate2::read::MultiGzDecoder;
use tar::EntryType;

use super::contents::VARIABLES_FILES;
use super::error::BundleError;
use super::manifest::{MANIFEST_NAME, Manifest};
use crate::error::{CoreError, Result};

/// How much installing a bundle may write. The defaults fit any environment
/// of agents and MCP configs many times over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Sum of the files' sizes.
    pub max_total_bytes: u64,
    /// Size of one file.
    pub max_file_bytes: u64,
    /// Entries (files and directories).
    pub max_entries: u64,
    /// Uncompressed bytes per compressed byte, checked once the archive is past
    /// [`RATIO_GRACE_BYTES`]. Text compresses ~5-20×, a gzip bomb ~1000×.
    pub max_ratio: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_total_bytes: 100 << 20,
            max_file_bytes: 50 << 20,
            max_entries: 10_000,
            max_ratio: 200,
        }
    }
}

/// Small archives (mostly tar headers, which are mostly zeros) may compress
/// far better than text without being bombs.
pub const RATIO_GRACE_BYTES: u64 = 4 << 20;

/// Tar headers and padding on top of the files' bytes, per entry (header,
/// padding, a long-name entry).
const TAR_OVERHEAD_PER_ENTRY: u64 = 2048;

/// One checked entry handed to a visitor.
pub(crate) enum Item<'a> {
    /// The top-level `manifest.json`.
    Manifest(Box<Manifest>),
    /// A directory, relative to the environment.
    Dir(PathBuf),
    /// A regular file, relative to the environment, and its bytes.
    File(PathBuf, &'a mut dyn Read),
}

/// What to do after an item.
#[derive(PartialEq, Eq)]
pub(crate) enum Flow {
    Continue,
    Stop,
}

/// Reads a bundle from `reader`, checking every entry, and hands the entries to
/// `visit` in archive order. `variables.yml` files (secrets belong to the
/// installing machine) are skipped. Errors name `source_name`.
pub(crate) fn scan_bundle(
    reader: impl Read,
    source_name: &str,
    limits: &Limits,
    mut visit: impl FnMut(Item<'_>) -> Result<Flow>,
) -> Result<()> {
    let compressed = Rc::new(Cell::new(0u64));
    let tripped: Rc<Cell<Option<Trip>>> = Rc::new(Cell::new(None));
    let guard = Guard {
        // Concatenated gzip members are one valid stream (`cat a.gz b.gz`), as Go reads it.
        inner: MultiGzDecoder::new(Counted {
            inner: reader,
            count: Rc::clone(&compressed),
        }),
        read: 0,
        compressed,
        max_stream: limits.max_total_bytes + limits.max_entries * TAR_OVERHEAD_PER_ENTRY,
        max_ratio: limits.max_ratio,
        tripped: Rc::clone(&tripped),
    };
    let mut archive = tar::Archive::new(guard);
    let not_a_bundle = |detail: String| BundleError::NotABundle {
        source_name: source_name.to_owned(),
        detail,
    };
    // A limit tripped inside the reader surfaces as an I/O error from tar; say which.
    let stream_error = |e: io::Error| -> CoreError {
        match tripped.get() {
            Some(trip) => trip.error(source_name, limits).into(),
            None => not_a_bundle(e.to_string()).into(),
        }
    };
    let unsafe_entry = |entry: &str, reason: &str| BundleError::UnsafeEntry {
        source_name: source_name.to_owned(),
        entry: entry.to_owned(),
        reason: reason.to_owned(),
    };

    let mut entries_seen = 0u64;
    let mut declared_total = 0u64;
    let mut saw_manifest = false;
    for entry in archive.entries().map_err(stream_error)? {
        let mut entry = entry.map_err(stream_error)?;
        entries_seen += 1;
        if entries_seen > limits.max_entries {
            return Err(BundleError::TooLarge {
                source_name: source_name.to_owned(),
                detail: format!(
                    "more than {} entries; refused before writing",
                    limits.max_entries
                ),
            }
            .into());
        }
        let raw_name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let kind = entry.header().entry_type();
        if matches!(kind, EntryType::XGlobalHeader | EntryType::XHeader) {
            continue;
        }
        let is_dir = match kind {
            EntryType::Regular | EntryType::Continuous => false,
            EntryType::Directory => true,
            EntryType::Symlink => {
                return Err(unsafe_entry(&raw_name, "symbolic links are not allowed").into());
            }
            EntryType::Link => {
                return Err(unsafe_entry(&raw_name, "hard links are not allowed").into());
            }
            other => {
                return Err(unsafe_entry(
                    &raw_name,
                    &format!("only files and directories are allowed, not {other:?}"),
                )
                .into());
            }
        };
        let Some(rel) = safe_path(&entry.path_bytes()).map_err(|r| unsafe_entry(&raw_name, r))?
        else {
            continue; // `./` itself
        };
        let size = entry.size();
        if size > limits.max_file_bytes {
            return Err(BundleError::TooLarge {
                source_name: source_name.to_owned(),
                detail: format!(
                    "entry `{raw_name}` declares {size} bytes, more than the {} allowed per file; refused before writing",
                    limits.max_file_bytes
                ),
            }
            .into());
        }
        declared_total = declared_total.saturating_add(size);
        if declared_total > limits.max_total_bytes {
            return Err(BundleError::TooLarge {
                source_name: source_name.to_owned(),
                detail: format!(
                    "the files add up to more than {} bytes (at entry `{raw_name}`); refused",
                    limits.max_total_bytes
                ),
            }
            .into());
        }
        let file_name = rel.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if VARIABLES_FILES.contains(&file_name) {
            tracing::info!(entry = %raw_name, "skipping a variables file in the bundle");
            continue;
        }
        let flow = if is_dir {
            visit(Item::Dir(rel))?
        } else if rel == Path::new(MANIFEST_NAME) {
            let mut text = Vec::new();
            entry.read_to_end(&mut text).map_err(stream_error)?;
            let manifest: Manifest = serde_json::from_slice(&text)
                .map_err(|e| not_a_bundle(format!("manifest.json: {e}")))?;
            saw_manifest = true;
            visit(Item::Manifest(Box::new(manifest)))?
        } else {
            visit(Item::File(rel, &mut entry)).map_err(|e| match tripped.get() {
                Some(trip) => trip.error(source_name, limits).into(),
                None => e,
            })?
        };
        if flow == Flow::Stop {
            return Ok(());
        }
    }
    if !saw_manifest {
        return Err(not_a_bundle("it has no manifest.json".to_owned()).into());
    }
    Ok(())
}

/// Writes the checked entries of a bundle under `dest` (which must exist and be
/// empty) and returns its manifest. Files are flushed to disk so the caller can
/// move the directory into place durably.
pub(crate) fn extract_bundle(
    reader: impl Read,
    source_name: &str,
    dest: &Path,
    limits: &Limits,
) -> Result<Manifest> {
    let mut manifest = None;
    scan_bundle(reader, source_name, limits, |item| {
        match item {
            Item::Manifest(m) => manifest = Some(*m),
            Item::Dir(rel) => {
                let dir = dest.join(rel);
                std::fs::create_dir_all(&dir).map_err(|e| CoreError::io(&dir, e))?;
            }
            Item::File(rel, data) => {
                let path = dest.join(&rel);
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| CoreError::io(parent, e))?;
                }
                // create_new: a second entry of the same name is refused, not merged.
                let mut file = match OpenOptions::new().write(true).create_new(true).open(&path) {
                    Ok(file) => file,
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                        return Err(BundleError::UnsafeEntry {
                            source_name: source_name.to_owned(),
                            entry: rel.to_string_lossy().into_owned(),
                            reason: "the archive holds this file twice (which one would count?)"
                                .to_owned(),
                        }
                        .into());
                    }
                    Err(e) => return Err(CoreError::io(&path, e)),
                };
                io::copy(data, &mut file).map_err(|e| CoreError::io(&path, e))?;
                file.sync_all().map_err(|e| CoreError::io(&path, e))?;
            }
        }
        Ok(Flow::Continue)
    })?;
    sync_tree(dest)?;
    manifest.ok_or_else(|| {
        BundleError::NotABundle {
            source_name: source_name.to_owned(),
            detail: "it has no manifest.json".to_owned(),
        }
        .into()
    })
}

/// Reads only the manifest (the first entry of a well-formed bundle).
pub fn read_manifest(reader: impl Read, source_name: &str) -> Result<Manifest> {
    let mut manifest = None;
    scan_bundle(reader, source_name, &Limits::default(), |item| {
        Ok(match item {
            Item::Manifest(m) => {
                manifest = Some(*m);
                Flow::Stop
            }
            _ => Flow::Continue,
        })
    })?;
    manifest.ok_or_else(|| {
        BundleError::NotABundle {
            source_name: source_name.to_owned(),
            detail: "it has no manifest.json".to_owned(),
        }
        .into()
    })
}

/// The entry's path relative to the environment, or why it is refused; `None`
/// for the archive's root (`./`). Only plain names are allowed: no `..`, no
/// absolute path, no backslash (a separator on Windows), no NUL.
fn safe_path(raw: &[u8]) -> Result<Option<PathBuf>, &'static str> {
    let Ok(text) = std::str::from_utf8(raw) else {
        return Err("the name is not UTF-8");
    };
    if text.starts_with('/') {
        return Err("absolute paths are not allowed");
    }
    if text.contains('\\') || text.contains('\0') {
        return Err("backslashes and NUL are not allowed in names");
    }
    let mut path = PathBuf::new();
    for part in text.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err("`..` would leave the environment directory"),
            part if part.len() >= 2 && part.as_bytes()[1] == b':' => {
                return Err("drive prefixes are not allowed");
            }
            part => path.push(part),
        }
    }
    Ok((!path.as_os_str().is_empty()).then_some(path))
}

/// Flushes every directory under `root` (and `root`), so the files' names are
/// on disk before the tree is renamed into place.
fn sync_tree(root: &Path) -> Result<()> {
    for entry in std::fs::read_dir(root).map_err(|e| CoreError::io(root, e))? {
        let entry = entry.map_err(|e| CoreError::io(root, e))?;
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            sync_tree(&entry.path())?;
        }
    }
    sync_dir(root).map_err(|e| CoreError::io(root, e))
}

#[cfg(unix)]
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
pub(crate) fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

/// Which streaming limit stopped the archive.
#[derive(Debug, Clone, Copy)]
enum Trip {
    Size(u64),
    Ratio { out: u64, compressed: u64 },
}

impl Trip {
    fn error(self, source_name: &str, limits: &Limits) -> BundleError {
        let detail = match self {
            Trip::Size(n) => format!(
                "the archive unpacks to more than {n} bytes (limit {} for files); refused while reading",
                limits.max_total_bytes
            ),
            Trip::Ratio { out, compressed } => format!(
                "the archive unpacks {out} bytes from {compressed} (more than {}× compression): \
                 a gzip bomb; refused while reading",
                limits.max_ratio
            ),
        };
        BundleError::TooLarge {
            source_name: source_name.to_owned(),
            detail,
        }
    }
}

/// Counts the compressed bytes read.
struct Counted<R> {
    inner: R,
    count: Rc<Cell<u64>>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}

/// Stops the uncompressed stream at the size and ratio limits.
struct Guard<R> {
    inner: R,
    read: u64,
    compressed: Rc<Cell<u64>>,
    max_stream: u64,
    max_ratio: u64,
    tripped: Rc<Cell<Option<Trip>>>,
}

impl<R: Read> Read for Guard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        let compressed = self.compressed.get().max(1);
        let trip = if self.read > self.max_stream {
            Some(Trip::Size(self.max_stream))
        } else if self.read > RATIO_GRACE_BYTES && self.read / compressed > self.max_ratio {
            Some(Trip::Ratio {
                out: self.read,
                compressed,
            })
        } else {
            None
        };
        if let Some(trip) = trip {
            self.tripped.set(Some(trip));
            return Err(io::Error::other("bundle limit exceeded"));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_path_accepts_plain_names_and_dot_slash() {
        assert_eq!(
            safe_path(b"agents/a.prompt").unwrap(),
            Some(PathBuf::from("agents/a.prompt"))
        );
        assert_eq!(
            safe_path(b"./agents/").unwrap(),
            Some(PathBuf::from("agents"))
        );
        assert_eq!(safe_path(b"./").unwrap(), None);
    }

    #[test]
    fn safe_path_refuses_escapes() {
        for bad in [
            &b"../x"[..],
            b"a/../../x",
            b"/etc/x",
            b"a\\..\\x",
            b"C:x",
            b"a\0b",
            b"\xff",
        ] {
            assert!(safe_path(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
