//! Users and their API keys. Keys are stored as SHA-256 hashes only.

use rand::RngCore as _;
use sha2::{Digest, Sha256};
use stn_db::{Row, params};

use super::{CONSOLE_USER, NOW, Store, validate_name};
use crate::error::{CoreError, Result};
use crate::names;

/// A user.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct User {
    /// Row id.
    pub id: i64,
    /// Unique name.
    pub username: String,
    /// May manage everything.
    pub is_admin: bool,
    /// Creation time.
    pub created_at: String,
}

/// A user as `stn user list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UserSummary {
    /// The user.
    #[serde(flatten)]
    pub user: User,
    /// API keys not revoked.
    pub api_keys: u64,
}

/// An API key as `stn apikey list` shows it: never the key nor its hash.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ApiKeySummary {
    /// Row id.
    pub id: i64,
    /// Label.
    pub name: String,
    /// Owner.
    pub user: String,
    /// The key's first characters, what `apikey revoke` takes.
    pub prefix: String,
    /// Creation time.
    pub created_at: String,
    /// Revocation time; `None` while the key works.
    pub revoked_at: Option<String>,
}

/// A stored API key (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ApiKey {
    /// Row id.
    pub id: i64,
    /// Owner.
    pub username: String,
    /// Label.
    pub name: String,
    /// The key's first characters, to recognise it.
    pub prefix: String,
    /// Creation time.
    pub created_at: String,
}

/// Every key starts with this, so leaked keys are easy to spot in scanners.
const KEY_PREFIX: &str = "stn_";

/// The admin user a bootstrap key (`STN_BOOTSTRAP_API_KEY`) is stored for.
pub const BOOTSTRAP_USER: &str = "admin";
/// The label of a bootstrap key.
const BOOTSTRAP_KEY_NAME: &str = "bootstrap";
/// The shortest bootstrap key accepted (a generated one has 68 characters).
pub const BOOTSTRAP_KEY_MIN_LEN: usize = 32;

/// The stored hash of a key.
pub(crate) fn hash_key(key: &str) -> String {
    Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A fresh random key: `stn_` and 32 random bytes in hex.
pub fn new_api_key() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!(
        "{KEY_PREFIX}{}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

/// The first characters of a key, stored to recognise it.
pub(crate) fn key_prefix(key: &str) -> String {
    key.chars().take(KEY_PREFIX.len() + 8).collect()
}

/// A user from a row that starts with `id, username, is_admin, created_at`.
pub(super) fn user_from_row(row: &Row) -> Result<User> {
    Ok(User {
        id: row.get(0)?,
        username: row.get(1)?,
        is_admin: row.get(2)?,
        created_at: row.get(3)?,
    })
}

impl Store {
    /// Creates a user.
    pub async fn create_user(&self, username: &str, is_admin: bool) -> Result<User> {
        validate_name("user", username)?;
        let users = self.names("SELECT username FROM users", params![]).await?;
        names::refuse_lookalike("user", username, users.iter().map(String::as_str), "")?;
        match self
            .db
            .execute(
                "INSERT INTO users (username, is_admin) VALUES (?1, ?2)",
                params![username, is_admin],
            )
            .await
        {
            Ok(_) => self.user(username).await,
            Err(stn_db::DbError::Constraint { .. }) => Err(CoreError::AlreadyExists {
                what: "user",
                name: username.to_owned(),
                place: String::new(),
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// One user by name.
    pub async fn user(&self, username: &str) -> Result<User> {
        let row = self
            .db
            .query_opt(
                "SELECT id, username, is_admin, created_at FROM users WHERE username = ?1",
                params![username],
            )
            .await?
            .ok_or_else(|| CoreError::NotFound {
                what: "user",
                name: username.to_owned(),
                place: String::new(),
            })?;
        user_from_row(&row)
    }

    /// Every user, by name, with the number of usable API keys.
    pub async fn list_users(&self) -> Result<Vec<UserSummary>> {
        let rs = self
            .db
            .query(
                "SELECT u.id, u.username, u.is_admin, u.created_at, \
                 (SELECT COUNT(*) FROM api_keys k WHERE k.user_id = u.id AND k.revoked_at IS NULL) \
                 FROM users u ORDER BY u.username",
                params![],
            )
            .await?;
        rs.rows
            .iter()
            .map(|row| {
                Ok(UserSummary {
                    user: user_from_row(row)?,
                    api_keys: row.get(4)?,
                })
            })
            .collect()
    }

    /// Deletes a user and its API keys. [`CONSOLE_USER`] and the last admin
    /// besides it are refused ([`CoreError::Rejected`]). The check and the
    /// delete are one statement, so two deletions at once cannot remove
    /// both remaining admins.
    pub async fn delete_user(&self, username: &str) -> Result<()> {
        let user = self.user(username).await?;
        if user.username == CONSOLE_USER {
            return Err(CoreError::Rejected(format!(
                "user `{CONSOLE_USER}` is built in (the CLI's changes are recorded as it) and cannot be deleted"
            )));
        }
        let rs = self
            .db
            .execute(
                "DELETE FROM users WHERE username = ?1 AND (is_admin = 0 OR EXISTS \
                 (SELECT 1 FROM users o WHERE o.is_admin = 1 AND o.username NOT IN (?1, ?2)))",
                params![username, CONSOLE_USER],
            )
            .await?;
        if rs.rows_affected == 0 {
            return Err(CoreError::Rejected(format!(
                "`{username}` is the last admin; create another admin first (`stn user create NAME --admin`)"
            )));
        }
        Ok(())
    }

    /// Every API key, newest first, revoked ones included.
    pub async fn list_api_keys(&self) -> Result<Vec<ApiKeySummary>> {
        let rs = self
            .db
            .query(
                "SELECT k.id, k.name, u.username, k.prefix, k.created_at, k.revoked_at \
                 FROM api_keys k JOIN users u ON u.id = k.user_id ORDER BY k.id DESC",
                params![],
            )
            .await?;
        rs.rows
            .iter()
            .map(|row| {
                Ok(ApiKeySummary {
                    id: row.get(0)?,
                    name: row.get(1)?,
                    user: row.get(2)?,
                    prefix: row.get(3)?,
                    created_at: row.get(4)?,
                    revoked_at: row.get(5)?,
                })
            })
            .collect()
    }

    /// Creates an API key for a user. Returns the record and the key, which
    /// is not stored and cannot be shown again.
    pub async fn create_api_key(&self, username: &str, name: &str) -> Result<(ApiKey, String)> {
        let user = self.user(username).await?;
        let key = new_api_key();
        let prefix = key_prefix(&key);
        let rs = self
            .db
            .execute(
                "INSERT INTO api_keys (user_id, name, prefix, key_hash) VALUES (?1, ?2, ?3, ?4)",
                params![user.id, name, prefix.as_str(), hash_key(&key)],
            )
            .await?;
        let record = ApiKey {
            id: rs.last_insert_rowid.unwrap_or_default(),
            username: user.username,
            name: name.to_owned(),
            prefix,
            created_at: String::new(),
        };
        Ok((record, key))
    }

    /// The user a key belongs to, if the key is valid and not revoked.
    pub async fn authenticate(&self, key: &str) -> Result<Option<User>> {
        // Keys carried over from the Go original have another form, so any
        // key is looked up by its hash.
        let row = self
            .db
            .query_opt(
                "SELECT u.id, u.username, u.is_admin, u.created_at FROM api_keys k \
                 JOIN users u ON u.id = k.user_id WHERE k.key_hash = ?1 AND k.revoked_at IS NULL",
                params![hash_key(key)],
            )
            .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// True when any usable API key exists (the server then requires one).
    pub async fn has_api_keys(&self) -> Result<bool> {
        let row = self
            .db
            .query_opt(
                "SELECT EXISTS (SELECT 1 FROM api_keys WHERE revoked_at IS NULL)",
                params![],
            )
            .await?;
        Ok(row.map(|r| r.get::<bool>(0)).transpose()?.unwrap_or(false))
    }

    /// Stores the hash of a key chosen outside the instance (`stn deploy`
    /// generates one and hands it over as a secret), for the admin user
    /// [`BOOTSTRAP_USER`], so a fresh instance on the network has a way in.
    /// Idempotent: a key stored before changes nothing, and a revoked one
    /// stays revoked. Returns the record when the key was added now.
    pub async fn ensure_bootstrap_api_key(&self, key: &str) -> Result<Option<ApiKey>> {
        if key.len() < BOOTSTRAP_KEY_MIN_LEN || key.chars().any(|c| c.is_whitespace()) {
            // Never the key itself in an error.
            return Err(CoreError::Invalid(format!(
                "the bootstrap API key is not usable: it needs at least {BOOTSTRAP_KEY_MIN_LEN} characters and no spaces \
                 (`stn deploy` generates one)"
            )));
        }
        let hash = hash_key(key);
        let known = self
            .db
            .query_opt(
                "SELECT 1 FROM api_keys WHERE key_hash = ?1",
                params![hash.as_str()],
            )
            .await?;
        if known.is_some() {
            return Ok(None);
        }
        let user = match self.user(BOOTSTRAP_USER).await {
            Ok(user) => user,
            Err(CoreError::NotFound { .. }) => self.create_user(BOOTSTRAP_USER, true).await?,
            Err(e) => return Err(e),
        };
        if !user.is_admin {
            return Err(CoreError::Invalid(format!(
                "user `{BOOTSTRAP_USER}` exists but is not an admin, so the bootstrap API key was not stored \
                 (create a key for an admin with `stn apikey create NAME`, or unset STN_BOOTSTRAP_API_KEY)"
            )));
        }
        let prefix = key_prefix(key);
        let rs = self
            .db
            .execute(
                "INSERT INTO api_keys (user_id, name, prefix, key_hash) VALUES (?1, ?2, ?3, ?4)",
                params![user.id, BOOTSTRAP_KEY_NAME, prefix.as_str(), hash],
            )
            .await?;
        Ok(Some(ApiKey {
            id: rs.last_insert_rowid.unwrap_or_default(),
            username: user.username,
            name: BOOTSTRAP_KEY_NAME.to_owned(),
            prefix,
            created_at: String::new(),
        }))
    }

    /// Revokes a key by its prefix.
    pub async fn revoke_api_key(&self, prefix: &str) -> Result<()> {
        let rs = self
            .db
            .execute(
                &format!("UPDATE api_keys SET revoked_at = {NOW} WHERE prefix = ?1 AND revoked_at IS NULL"),
                params![prefix],
            )
            .await?;
        if rs.rows_affected == 0 {
            return Err(CoreError::NotFound {
                what: "API key",
                name: prefix.to_owned(),
                place: String::new(),
            });
        }
        Ok(())
    }
}
