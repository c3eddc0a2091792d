-- Durable runs (issue 17, decision 0027). A model turn's tool calls are
-- written as `started` steps in the same transaction as the turn, and each is
-- set `finished` with its result: after a crash the database tells, for
-- every call, "not started", "started, outcome unknown" or "finished".
-- Steps written before this migration were written when they ended.
ALTER TABLE agent_run_steps ADD COLUMN state TEXT NOT NULL DEFAULT 'finished'
    CHECK (state IN ('started', 'finished'));
-- The model's id for the call (the tool result carries it back).
ALTER TABLE agent_run_steps ADD COLUMN call_id TEXT;
-- The MCP server the call goes to.
ALTER TABLE agent_run_steps ADD COLUMN server TEXT;
