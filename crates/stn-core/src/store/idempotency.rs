//! Idempotency keys: the first answer to an API write, kept so a retry with
//! the same `Idempotency-Key` gets that answer instead of applying the write
//! again (a retried create would otherwise answer 409).
//!
//! A key is reserved before the request runs (so two concurrent requests with
//! one key never both run), answered once it has run, and released when it
//! failed in a way worth retrying. Keys expire after [`KEY_LIFETIME_HOURS`];
//! expired keys, and reservations abandoned by a crashed server, are deleted
//! whenever a new key is reserved.

use sha2::{Digest, Sha256};
use stn_db::{Statement, params};

use super::{NOW, Store};
use crate::error::Result;

/// How long an answer is kept for retries.
pub const KEY_LIFETIME_HOURS: u32 = 24;

/// After this long without an answer, a reservation belongs to a request
/// that will never finish (the server stopped); a retry may run again.
const ABANDONED_AFTER_SECONDS: u32 = 120;

/// What to do with a request carrying an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reservation {
    /// First time: run the request, then [`Store::answer_idempotency_key`].
    Run,
    /// Answered before: send this status and body again.
    Replay {
        /// The HTTP status of the first answer.
        status: u16,
        /// Its JSON body.
        body: String,
    },
    /// The key was used for a different request (method, path or body).
    Mismatch,
    /// The first request with this key is still running.
    InProgress,
}

/// One request's key and content, hashed: neither the caller's credentials
/// nor the body are stored.
#[derive(Debug, Clone)]
pub struct IdempotentRequest {
    key_hash: String,
    request_hash: String,
}

impl IdempotentRequest {
    /// `caller` identifies who asks (their `Authorization` header, or empty),
    /// so two callers never see each other's answers.
    pub fn new(caller: &[u8], key: &str, method: &str, path: &str, body: &[u8]) -> Self {
        Self {
            key_hash: hash(&[caller, key.as_bytes()]),
            request_hash: hash(&[method.as_bytes(), path.as_bytes(), body]),
        }
    }
}

fn hash(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        // Length-prefixed, so ("ab", "c") and ("a", "bc") differ.
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    format!("{:x}", hasher.finalize())
}

impl Store {
    /// Reserves the key for `request`, or says why not (see [`Reservation`]).
    pub async fn reserve_idempotency_key(
        &self,
        request: &IdempotentRequest,
    ) -> Result<Reservation> {
        let cleanup = Statement::new(
            format!(
                "DELETE FROM idempotency_keys WHERE expires_at < {NOW} \
                 OR (status IS NULL AND created_at < strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?1))"
            ),
            params![format!("-{ABANDONED_AFTER_SECONDS} seconds")],
        );
        let reserve = Statement::new(
            "INSERT INTO idempotency_keys (key_hash, request_hash, expires_at) \
             VALUES (?1, ?2, strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?3)) \
             ON CONFLICT (key_hash) DO NOTHING",
            params![
                request.key_hash.clone(),
                request.request_hash.clone(),
                format!("+{KEY_LIFETIME_HOURS} hours")
            ],
        );
        let results = self.db.batch(vec![cleanup, reserve]).await?;
        if results.last().is_some_and(|r| r.rows_affected == 1) {
            return Ok(Reservation::Run);
        }
        let row = self
            .db
            .query_opt(
                "SELECT request_hash, status, response_body FROM idempotency_keys WHERE key_hash = ?1",
                params![request.key_hash.clone()],
            )
            .await?;
        let Some(row) = row else {
            // Deleted between the two statements (it just expired): run it.
            return Ok(Reservation::Run);
        };
        let request_hash: String = row.get(0)?;
        let status: Option<u32> = row.get(1)?;
        Ok(match status {
            _ if request_hash != request.request_hash => Reservation::Mismatch,
            None => Reservation::InProgress,
            Some(status) => Reservation::Replay {
                status: u16::try_from(status).unwrap_or(500),
                body: row.get::<Option<String>>(2)?.unwrap_or_default(),
            },
        })
    }

    /// Keeps the answer to a reserved request for its retries.
    pub async fn answer_idempotency_key(
        &self,
        request: &IdempotentRequest,
        status: u16,
        body: &str,
    ) -> Result<()> {
        self.db
            .execute(
                "UPDATE idempotency_keys SET status = ?2, response_body = ?3 WHERE key_hash = ?1",
                params![request.key_hash.clone(), u32::from(status), body],
            )
            .await?;
        Ok(())
    }

    /// Gives up a reservation, so a retry runs the request again.
    pub async fn release_idempotency_key(&self, request: &IdempotentRequest) -> Result<()> {
        self.db
            .execute(
                "DELETE FROM idempotency_keys WHERE key_hash = ?1 AND status IS NULL",
                params![request.key_hash.clone()],
            )
            .await?;
        Ok(())
    }
}
