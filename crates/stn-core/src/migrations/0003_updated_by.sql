-- Who last changed an environment or an agent (`created_by` says who made it).
-- The user an authenticated API request acts as, or `console` for the CLI and
-- for keyless loopback requests. NULL for rows changed before this migration.
ALTER TABLE environments ADD COLUMN updated_by INTEGER REFERENCES users(id) ON DELETE SET NULL;
ALTER TABLE agents ADD COLUMN updated_by INTEGER REFERENCES users(id) ON DELETE SET NULL;
