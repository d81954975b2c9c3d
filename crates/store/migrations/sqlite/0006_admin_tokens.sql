-- Tokens gain the admin scope (the operations API: provisioning log, app health). SQLite cannot change a CHECK
-- constraint in place, so the table is rebuilt.
CREATE TABLE api_tokens_new (
    name         TEXT PRIMARY KEY,
    token_hash   TEXT NOT NULL UNIQUE,
    scope        TEXT NOT NULL CHECK (scope IN ('read', 'write', 'admin')),
    created      INTEGER NOT NULL,
    last_used    INTEGER
);
INSERT INTO api_tokens_new (name, token_hash, scope, created, last_used)
    SELECT name, token_hash, scope, created, last_used FROM api_tokens;
DROP TABLE api_tokens;
ALTER TABLE api_tokens_new RENAME TO api_tokens;
