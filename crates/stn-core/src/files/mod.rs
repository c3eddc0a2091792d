//! The files users keep in an environment directory, and how to write them safely.
//!
//! - [`prompt`]: an agent's `agents/<name>.prompt` file (dotprompt).
//! - [`variables`]: `variables.yml`, the environment's secrets and settings.
//! - [`mcp_config`]: an MCP config JSON file such as `template.json`.
//!
//! Parsers take the text (the caller reads the file) so they are easy to test and reuse;
//! their errors name the file and say what to change.

pub mod mcp_config;
pub mod prompt;
pub mod variables;

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// A config-dir file that cannot be read or does not say what Station needs.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FileError {
    /// The file exists but could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The file is not valid YAML or JSON.
    #[error("{file}: {problem}; fix the syntax and try again")]
    Syntax {
        /// The file, e.g. `agents/helper.prompt`.
        file: String,
        /// The parser's message, with line and column.
        problem: String,
    },
    /// The file is well-formed but a key or value is wrong.
    #[error("{file}: {problem}")]
    Invalid {
        /// The file, e.g. `agents/helper.prompt`.
        file: String,
        /// What is wrong, phrased so it says what to write instead.
        problem: String,
    },
    /// An MCP config uses `{{.NAME}}` placeholders that no variable fills.
    #[error(
        "{file} needs the variable(s) {}; add them to environments/<env>/variables.yml \
         (NAME: value, one per line)",
        names.join(", ")
    )]
    MissingVariables {
        /// The MCP config file, e.g. `template.json`.
        file: String,
        /// The names missing, sorted; never their values.
        names: Vec<String>,
    },
}

/// Makes each temporary file name unique, so two threads of this process writing the
/// same file never share a temporary file.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Replaces `path` with `contents` so that a crash leaves either the old or the new file,
/// never a half-written one.
///
/// Users depend on these files (agents, variables, MCP configs), so the write is durable:
/// the data is written to `<path>.tmp-<pid>-<n>` in the same directory, flushed to disk,
/// renamed over `path`, and then the directory itself is flushed so the rename survives a
/// power loss. Creates the parent directory if needed. An existing file's permissions are
/// kept (a `0600` file of secrets stays `0600`).
pub fn write_atomic(path: &Path, contents: &[u8]) -> io::Result<()> {
    StagedFile::write(path, contents)?.commit()
}

/// [`write_atomic`] for a file of secrets: the temporary file is created with mode
/// `0600`, so the contents are never readable by others, not even for a moment.
pub fn write_private(path: &Path, contents: &[u8]) -> io::Result<()> {
    StagedFile::write_mode(path, contents, Some(0o600))?.commit()
}

/// Creates `dir` and its missing parents readable by the owner only (0700),
/// for the config dir. An existing directory is left as it is.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// True when `path` exists and its group or other users may read or change it.
pub fn readable_by_others(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o077 != 0)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        false
    }
}

/// A file written and flushed beside its final path but not yet in place:
/// [`StagedFile::commit`] renames it over the path, [`StagedFile::discard`]
/// removes it and any directory created for it. Lets a database change and a
/// file change happen together or not at all: stage, commit the row, then
/// commit the file.
#[derive(Debug)]
pub(crate) struct StagedFile {
    temp: PathBuf,
    path: PathBuf,
    dirs: CreatedDirs,
}

impl StagedFile {
    /// Writes `contents` to a temporary file beside `path`, creating the
    /// directory if needed.
    pub(crate) fn write(path: &Path, contents: &[u8]) -> io::Result<Self> {
        Self::write_mode(path, contents, None)
    }

    /// [`StagedFile::write`] creating the temporary file with `mode` (for
    /// secrets) instead of the replaced file's permissions.
    fn write_mode(path: &Path, contents: &[u8], mode: Option<u32>) -> io::Result<Self> {
        let Some(file_name) = path.file_name() else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} does not name a file", path.display()),
            ));
        };
        let dir = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        let dirs = CreatedDirs::create(dir)?;
        let mut temp_name = file_name.to_os_string();
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        temp_name.push(format!(".tmp-{}-{n}", std::process::id()));
        let staged = Self {
            temp: dir.join(temp_name),
            path: path.to_path_buf(),
            dirs,
        };
        match write_and_sync(&staged.temp, path, contents, mode) {
            Ok(()) => Ok(staged),
            Err(e) => {
                staged.discard();
                Err(e)
            }
        }
    }

    /// Puts the file in place (rename, then flush the directory).
    pub(crate) fn commit(self) -> io::Result<()> {
        if let Err(e) = fs::rename(&self.temp, &self.path) {
            self.discard();
            return Err(e);
        }
        sync_parent(&self.path)
    }

    /// Removes the temporary file and the directories created for it.
    pub(crate) fn discard(self) {
        // Best effort: the error that made the caller give up is the one to report.
        let _ = fs::remove_file(&self.temp);
        self.dirs.undo();
    }
}

/// Directories made by [`CreatedDirs::create`], so a failed change can take
/// them away again without touching any that existed before.
#[derive(Debug)]
pub(crate) struct CreatedDirs {
    /// The outermost directory that did not exist.
    top: Option<PathBuf>,
}

impl CreatedDirs {
    /// `fs::create_dir_all(dir)`, remembering what it created.
    pub(crate) fn create(dir: &Path) -> io::Result<Self> {
        let top = dir
            .ancestors()
            .take_while(|d| !d.as_os_str().is_empty() && fs::symlink_metadata(d).is_err())
            .last()
            .map(Path::to_path_buf);
        fs::create_dir_all(dir)?;
        Ok(Self { top })
    }

    /// Removes what [`CreatedDirs::create`] made (best effort).
    pub(crate) fn undo(self) {
        if let Some(top) = self.top {
            let _ = fs::remove_dir_all(top);
        }
    }
}

/// A file or directory moved out of the way (to a hidden name beside it)
/// until a database change commits: then [`SetAside::remove`]; if it fails,
/// [`SetAside::restore`].
#[derive(Debug)]
pub(crate) struct SetAside {
    original: PathBuf,
    aside: PathBuf,
}

impl SetAside {
    /// Moves `path` aside; `None` when there is nothing at `path`.
    pub(crate) fn take(path: &Path) -> io::Result<Option<Self>> {
        let Some(name) = path.file_name() else {
            return Ok(None);
        };
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let mut aside_name = std::ffi::OsString::from(".");
        aside_name.push(name);
        aside_name.push(format!(".deleting-{}-{n}", std::process::id()));
        let aside = path.with_file_name(aside_name);
        match fs::rename(path, &aside) {
            Ok(()) => Ok(Some(Self {
                original: path.to_path_buf(),
                aside,
            })),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Puts it back where it was.
    pub(crate) fn restore(self) -> io::Result<()> {
        fs::rename(&self.aside, &self.original)
    }

    /// Deletes it for good.
    pub(crate) fn remove(self) -> io::Result<()> {
        if fs::symlink_metadata(&self.aside)?.is_dir() {
            fs::remove_dir_all(&self.aside)
        } else {
            fs::remove_file(&self.aside)
        }
    }

    /// Where it waits (for messages).
    pub(crate) fn aside(&self) -> &Path {
        &self.aside
    }
}

/// Writes the temporary file, gives it the permissions of the file it will replace, and
/// flushes it to disk.
fn write_and_sync(
    temp_path: &Path,
    final_path: &Path,
    contents: &[u8],
    mode: Option<u32>,
) -> io::Result<()> {
    let mut file = create_file(temp_path, mode)?;
    file.write_all(contents)?;
    if mode.is_none()
        && let Ok(existing) = fs::metadata(final_path)
    {
        file.set_permissions(existing.permissions())?;
    }
    file.sync_all()
}

#[cfg(unix)]
fn create_file(path: &Path, mode: Option<u32>) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    if let Some(mode) = mode {
        options.mode(mode);
    }
    options.open(path)
}

#[cfg(not(unix))]
fn create_file(path: &Path, _mode: Option<u32>) -> io::Result<File> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

/// Flushes the directory holding `path`, so a rename to `path` is durable.
pub(crate) fn sync_parent(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => sync_dir(parent),
        _ => sync_dir(Path::new(".")),
    }
}

/// Flushes a directory so a rename inside it is durable.
#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Windows cannot open a directory as a file; its renames are journaled by NTFS.
#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn private_dirs_are_for_the_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let config_dir = dir.path().join("a/station");
        create_private_dir(&config_dir).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&config_dir), 0o700);
        let path = config_dir.join("config.yaml");
        write_private(&path, b"x: 1\n").unwrap();
        assert!(!readable_by_others(&path));
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        assert!(readable_by_others(&path));
        assert!(!readable_by_others(&dir.path().join("missing")));
    }

    #[cfg(unix)]
    #[test]
    fn write_private_creates_0600_even_over_a_readable_file() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets.env");
        fs::write(&path, b"old").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        write_private(&path, b"TOKEN=x\n").unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(fs::read(&path).unwrap(), b"TOKEN=x\n");
    }

    #[test]
    fn write_atomic_creates_parent_dirs_and_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("environments/default/agents/a.prompt");
        write_atomic(&path, b"hello").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"hello");
    }

    #[test]
    fn write_atomic_replaces_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("variables.yml");
        write_atomic(&path, b"A: 1\nB: 2\n").unwrap();
        write_atomic(&path, b"A: 3\n").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "A: 3\n");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("variables.yml")]);
    }

    #[cfg(unix)]
    #[test]
    fn write_atomic_keeps_permissions_of_the_replaced_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("variables.yml");
        fs::write(&path, "A: 1\n").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        write_atomic(&path, b"A: 2\n").unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn write_atomic_fails_cleanly_when_target_is_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("taken");
        fs::create_dir(&path).unwrap();
        fs::write(path.join("inside"), "x").unwrap();
        assert!(write_atomic(&path, b"data").is_err());
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("taken")]);
    }

    #[test]
    fn write_atomic_rejects_a_path_without_file_name() {
        let err = write_atomic(Path::new("/"), b"x").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }
}
