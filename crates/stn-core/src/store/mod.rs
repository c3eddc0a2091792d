//! Station's state in the database: one type per kind of thing, all over one
//! [`Database`]. Every change is one atomic batch, so a remote database sees
//! one request per change.

mod agents;
mod environments;
mod mcp;
mod runs;
mod users;

pub use agents::AgentChange;
pub use mcp::{McpConfigChange, McpConfigRecord, McpToolRecord};
pub use runs::{NewRun, RunFilter};
pub use users::{ApiKey, User};

use stn_db::Database;

use crate::error::{CoreError, Result};

/// SQL for "now" in the stored timestamp format.
pub(crate) const NOW: &str = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";

/// Access to Station's tables.
#[derive(Debug, Clone)]
pub struct Store {
    db: Database,
}

impl Store {
    /// Wraps an open, migrated database.
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    /// The database underneath.
    pub fn db(&self) -> &Database {
        &self.db
    }
}

/// Checks a name used for a file or directory: no path tricks, no surprises in a shell.
pub fn validate_name(what: &str, name: &str) -> Result<()> {
    let ok_char = |c: char| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | ' ');
    if name.trim().is_empty()
        || name.len() > 128
        || name.starts_with('.')
        || name.trim() != name
        || !name.chars().all(ok_char)
    {
        return Err(CoreError::Invalid(format!(
            "invalid {what} name `{name}`: use 1-128 letters, digits, spaces, `-`, `_` or `.`, not starting with `.`"
        )));
    }
    Ok(())
}

fn in_env(env: &str) -> String {
    format!(" in environment `{env}`")
}

fn parse_json(text: Option<String>) -> Option<serde_json::Value> {
    text.and_then(|t| serde_json::from_str(&t).ok())
}

fn json_text(value: &Option<serde_json::Value>) -> Option<String> {
    value.as_ref().map(serde_json::Value::to_string)
}
