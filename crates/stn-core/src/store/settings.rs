//! The `settings` key/value table.

use stn_db::params;

use super::{NOW, Store};
use crate::error::Result;

impl Store {
    /// The value stored under `key`, if any.
    pub async fn setting(&self, key: &str) -> Result<Option<String>> {
        let row = self
            .db()
            .query_opt("SELECT value FROM settings WHERE key = ?1", params![key])
            .await?;
        Ok(row.map(|r| r.get(0)).transpose()?)
    }

    /// Stores `value` under `key`, replacing an older value.
    pub async fn set_setting(&self, key: &str, value: &str, description: &str) -> Result<()> {
        self.db()
            .execute(
                &format!(
                    "INSERT INTO settings (key, value, description) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value, \
                     description = excluded.description, updated_at = {NOW}"
                ),
                params![key, value, description],
            )
            .await?;
        Ok(())
    }
}
