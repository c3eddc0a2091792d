-- Web UI sign-in (issue 16): a browser signs in with an API key and gets a
-- session cookie. Only the cookie's SHA-256 hash is stored. A session belongs
-- to the key it was opened with, so revoking (or deleting) the key ends it.

CREATE TABLE ui_sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash TEXT NOT NULL UNIQUE,
    api_key_id INTEGER NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    expires_at TEXT NOT NULL
);
CREATE INDEX idx_ui_sessions_key ON ui_sessions(api_key_id);
CREATE INDEX idx_ui_sessions_expiry ON ui_sessions(expires_at);

-- Keyset pages of one agent's runs, newest first (`id < ?` within the agent).
-- idx_agent_runs_status already serves a status filter: every index ends in the rowid.
CREATE INDEX idx_agent_runs_agent_id ON agent_runs(agent_id, id);
