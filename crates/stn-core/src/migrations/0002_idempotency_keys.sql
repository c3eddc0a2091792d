-- Answers to API writes sent with an `Idempotency-Key` header, so that a
-- retried request gets the first answer instead of being applied twice.
-- `key_hash` covers the caller's credentials and the key (callers never share
-- keys); `request_hash` covers method, path and body (a key reused for
-- another request is refused). `status` is NULL while the first request runs.
CREATE TABLE idempotency_keys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key_hash TEXT NOT NULL UNIQUE,
    request_hash TEXT NOT NULL,
    status INTEGER,
    response_body TEXT,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    expires_at TEXT NOT NULL
);

CREATE INDEX idempotency_keys_expires_at ON idempotency_keys(expires_at);
