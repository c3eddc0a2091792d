//! Station's state in the database: one type per kind of thing, all over one
//! [`Database`]. Every change is one atomic batch, so a remote database sees
//! one request per change.

mod agents;
mod environments;
mod idempotency;
mod mcp;
mod run_history;
mod run_stats;
mod runs;
mod schedules;
mod sessions;
mod settings;
mod users;

pub use agents::AgentChange;
pub use idempotency::{IdempotentRequest, KEY_LIFETIME_HOURS, Reservation};
pub use mcp::{McpConfigChange, McpConfigRecord, McpToolRecord};
pub use run_history::ModelPrice;
pub use run_stats::{ModelUsage, RunSummary, StatusCount};
pub use runs::{INTERRUPTED, NewRun, QueuedRun, RunEnd, RunFilter};
pub use schedules::ScheduledAgent;
pub use sessions::SESSION_HOURS;
pub use users::{
    ApiKey, ApiKeySummary, BOOTSTRAP_KEY_MIN_LEN, BOOTSTRAP_USER, User, UserSummary, new_api_key,
};
pub(crate) use users::{hash_key, key_prefix};

use stn_db::Database;

use crate::error::{CoreError, Result};

/// SQL for "now" in the stored timestamp format.
pub(crate) const NOW: &str = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";

/// The user the CLI's changes are recorded as (created by the first migration).
pub const CONSOLE_USER: &str = "console";

/// SQL for the id of the user named by parameter `?n`.
fn user_id(n: u8) -> String {
    format!("(SELECT id FROM users WHERE username = ?{n})")
}

/// SQL for the name of the user whose id is in `column`.
fn username_of(column: &str) -> String {
    format!("(SELECT username FROM users WHERE id = {column})")
}

/// Access to Station's tables.
#[derive(Debug, Clone)]
pub struct Store {
    db: Database,
    /// Who changes are recorded as (`created_by`, `updated_by`).
    actor: String,
}

impl Store {
    /// Wraps an open, migrated database. Changes are recorded as [`CONSOLE_USER`].
    pub fn new(db: Database) -> Self {
        Self {
            db,
            actor: CONSOLE_USER.to_owned(),
        }
    }

    /// The same store, recording changes as made by `username` (an API caller).
    pub fn acting_as(&self, username: &str) -> Store {
        Store {
            db: self.db.clone(),
            actor: username.to_owned(),
        }
    }

    /// The database underneath.
    pub fn db(&self) -> &Database {
        &self.db
    }

    /// The first column of every row of `sql`, as names (for lookalike checks).
    async fn names(&self, sql: &str, params: Vec<stn_db::Value>) -> Result<Vec<String>> {
        let rs = self.db.query(sql, params).await?;
        rs.rows.iter().map(|r| Ok(r.get(0)?)).collect()
    }
}

/// Longest name, in characters (what the error message promises).
const MAX_NAME_CHARS: usize = 128;
/// Longest name in UTF-8 bytes: a file name holds 255, and `.prompt` must fit too.
const MAX_NAME_BYTES: usize = 240;

/// Checks a name used for a file or directory: no path tricks, no surprises in a shell.
pub fn validate_name(what: &str, name: &str) -> Result<()> {
    let ok_char = |c: char| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | ' ');
    if name.trim().is_empty()
        || name.chars().count() > MAX_NAME_CHARS
        || name.starts_with('.')
        || name.trim() != name
        || !name.chars().all(ok_char)
    {
        return Err(CoreError::Rejected(format!(
            "invalid {what} name `{name}`: use 1-{MAX_NAME_CHARS} letters, digits, spaces, `-`, `_` or `.`, not starting with `.`"
        )));
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(CoreError::Rejected(format!(
            "invalid {what} name `{name}`: its {} characters take {} bytes as a file name; at most {MAX_NAME_BYTES} fit (use fewer non-ASCII letters)",
            name.chars().count(),
            name.len()
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
