//! The application core's errors.

use stn_db::DbError;

/// What went wrong in Station's core.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CoreError {
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// A named thing does not exist.
    #[error("{what} `{name}` not found{place}")]
    NotFound {
        /// Kind of thing: "agent", "environment", …
        what: &'static str,
        /// Its name or id.
        name: String,
        /// Where it was looked for, e.g. " in environment `default`" (may be empty).
        place: String,
    },
    /// A thing with that name exists already.
    #[error("{what} `{name}` already exists{place}")]
    AlreadyExists {
        /// Kind of thing.
        what: &'static str,
        /// Its name.
        name: String,
        /// Where, e.g. " in environment `default`".
        place: String,
    },
    /// The input is not acceptable.
    #[error("{0}")]
    Invalid(String),
    /// The database was written by the Go original and is not converted yet.
    #[error(
        "{database} is a database of the Go original (goose migrations); it has to be converted first"
    )]
    GoDatabase {
        /// The database file.
        database: String,
    },
    /// A Go database could not be converted (nothing changed).
    #[error(transparent)]
    GoImport(Box<crate::go_import::GoImportError>),
    /// A bundle cannot be created, read or installed.
    #[error(transparent)]
    Bundle(#[from] crate::bundle::BundleError),
    /// What the user asked breaks a rule of its own (a name, a protected
    /// environment): the command line treats it like a usage error (exit 2).
    #[error("{0}")]
    Rejected(String),
    /// A config-dir file is wrong.
    #[error(transparent)]
    File(#[from] crate::files::FileError),
    /// The config file is wrong.
    #[error("{path}: {detail}")]
    Config {
        /// The file.
        path: String,
        /// What is wrong and what to do.
        detail: String,
    },
    /// `stn db copy` stopped; `state` says what the destination holds now.
    #[error("the copy stopped: {state}")]
    CopyStopped {
        /// What the destination holds and what to do.
        state: String,
        /// Why it stopped.
        #[source]
        source: Box<CoreError>,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
}

impl From<crate::go_import::GoImportError> for CoreError {
    fn from(e: crate::go_import::GoImportError) -> Self {
        CoreError::GoImport(Box::new(e))
    }
}

impl CoreError {
    /// A hint for the user, when there is one.
    pub fn hint(&self) -> Option<String> {
        match self {
            CoreError::Db(e) => e.hint(),
            CoreError::Bundle(e) => e.hint(),
            CoreError::GoImport(e) => Some(e.hint()),
            CoreError::GoDatabase { .. } => Some(
                "run `stn db migrate` (or `stn serve`): it saves a copy beside the file and converts it in place, keeping every agent, run and user".to_owned(),
            ),
            CoreError::CopyStopped { source, .. } => source.hint(),
            CoreError::NotFound {
                what: "environment",
                ..
            } => Some(
                "`stn env list` shows the environments; `stn env create NAME` adds one".to_owned(),
            ),
            CoreError::NotFound { what: "agent", .. } => Some(
                "`stn agent list` shows the agents (use -e ENV for another environment)".to_owned(),
            ),
            _ => None,
        }
    }

    /// True when a database constraint refused the write (a unique name
    /// taken meanwhile, a row deleted under a reference): a conflict with
    /// another writer, not a failure of the database.
    pub fn is_conflict(&self) -> bool {
        matches!(self, CoreError::Db(DbError::Constraint { .. }))
    }

    /// True when the database cannot serve right now (see
    /// [`DbError::is_unavailable`]).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, CoreError::Db(e) if e.is_unavailable())
    }

    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        CoreError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}

/// `error` as one line about the file at `place` (a path, or a name relative
/// to the environment). File errors begin with the file's own name
/// (`badmcp.json: …`, `/…/x.prompt: …`); `place` takes its place, so the
/// line names the file once.
pub(crate) fn located(place: &str, error: &dyn std::fmt::Display) -> String {
    let text = error.to_string();
    let mut suffix = place;
    while !suffix.is_empty() {
        if let Some(rest) = text.strip_prefix(suffix)
            && (rest.starts_with(':') || rest.starts_with(' '))
        {
            return format!("{place}{rest}");
        }
        let Some((_, shorter)) = suffix.split_once('/') else {
            break;
        };
        suffix = shorter;
    }
    format!("{place}: {text}")
}

/// The core's result type.
pub type Result<T, E = CoreError> = std::result::Result<T, E>;
