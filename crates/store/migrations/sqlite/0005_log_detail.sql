-- The provisioning log's request/response summaries, and the app rate budget shared by every roster process.

-- A JSON array of the requests made for one attempt and what came back, redacted by the engine.
ALTER TABLE provisioning_log ADD COLUMN exchanges TEXT;
CREATE INDEX provisioning_log_code ON provisioning_log (app, code, at);

-- The next free request slot under the app's rate limit (microseconds since the epoch). A process leases a block
-- of slots by moving it forward, so the limit holds for all processes together.
ALTER TABLE app_health ADD COLUMN rate_next INTEGER NOT NULL DEFAULT 0;
