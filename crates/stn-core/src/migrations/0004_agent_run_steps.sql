-- The execution engine (issue 8): every model turn and tool call of a run is
-- one append-only row, written as it happens (the Go original rewrote JSON
-- blobs on the run row and kept nothing of a run that failed midway).

CREATE TABLE agent_run_steps (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id INTEGER NOT NULL REFERENCES agent_runs(id) ON DELETE CASCADE,
    -- Order within the run, given when the step starts (tool calls of one turn
    -- run concurrently and may finish out of order).
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('model', 'tool', 'agent')),
    -- The model for a model turn, the tool name for a tool or sub-agent call.
    name TEXT NOT NULL,
    -- JSON: a tool call's arguments; for a model turn the tool calls it asked for.
    input TEXT,
    -- The model's text or the tool's result.
    output TEXT,
    is_error INTEGER NOT NULL DEFAULT 0 CHECK (is_error IN (0, 1)),
    input_tokens INTEGER,
    output_tokens INTEGER,
    total_tokens INTEGER,
    -- The run a sub-agent call started.
    child_run_id INTEGER REFERENCES agent_runs(id) ON DELETE SET NULL,
    started_at TEXT NOT NULL,
    duration_ms INTEGER NOT NULL,
    UNIQUE (run_id, seq)
);

-- The run's input variables (JSON object), for the transcript and for reruns.
ALTER TABLE agent_runs ADD COLUMN variables TEXT;
-- Which process executes the run: `host/boot id/pid/process start`, so a
-- starting server can tell a run whose process died from one still running.
ALTER TABLE agent_runs ADD COLUMN owner TEXT;
-- How the run was started: cli, api, schedule, mcp or agent (a sub-agent call).
ALTER TABLE agent_runs ADD COLUMN origin TEXT;
CREATE INDEX idx_agent_runs_parent ON agent_runs(parent_run_id);
