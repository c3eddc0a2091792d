//! Web UI sessions: a browser that signed in with an API key holds a random
//! token in a cookie; the database keeps only the token's hash, the key it
//! belongs to and when it expires. A revoked or deleted key ends its sessions.

use stn_db::params;

use super::users::{User, user_from_row};
use super::{NOW, Store, hash_key};
use crate::error::Result;

/// How long a session lasts after sign-in.
pub const SESSION_HOURS: u32 = 12;

impl Store {
    /// Opens a session for the API key `key`. Returns the session token (for
    /// the cookie, not stored) and the key's user, or `None` when the key is
    /// not valid: the caller shows "wrong key" without saying why.
    pub async fn open_session(&self, key: &str) -> Result<Option<(String, User)>> {
        let Some(user) = self.authenticate(key).await? else {
            return Ok(None);
        };
        let token = super::new_api_key();
        // Expired sessions of any key go in the same batch: no sweeper needed.
        self.db
            .batch(vec![
                stn_db::Statement::new(
                    format!("DELETE FROM ui_sessions WHERE expires_at <= {NOW}"),
                    params![],
                ),
                stn_db::Statement::new(
                    format!(
                        "INSERT INTO ui_sessions (token_hash, api_key_id, expires_at) \
                         SELECT ?1, id, strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '+{SESSION_HOURS} hours') \
                         FROM api_keys WHERE key_hash = ?2 AND revoked_at IS NULL"
                    ),
                    params![hash_key(&token), hash_key(key)],
                ),
            ])
            .await?;
        Ok(Some((token, user)))
    }

    /// The user of an unexpired session whose key still works.
    pub async fn session_user(&self, token: &str) -> Result<Option<User>> {
        let row = self
            .db
            .query_opt(
                &format!(
                    "SELECT u.id, u.username, u.is_admin, u.created_at FROM ui_sessions s \
                     JOIN api_keys k ON k.id = s.api_key_id JOIN users u ON u.id = k.user_id \
                     WHERE s.token_hash = ?1 AND s.expires_at > {NOW} AND k.revoked_at IS NULL"
                ),
                params![hash_key(token)],
            )
            .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// Ends a session (sign-out). Unknown tokens are fine: already ended.
    pub async fn close_session(&self, token: &str) -> Result<()> {
        self.db
            .execute(
                "DELETE FROM ui_sessions WHERE token_hash = ?1",
                params![hash_key(token)],
            )
            .await?;
        Ok(())
    }
}
