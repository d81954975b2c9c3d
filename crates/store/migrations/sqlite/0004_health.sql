-- Guards and app health.

-- A queue row's hold: 0 none; 1 a deprovision waiting for the guard's check; 2 approved (runs without the guard);
-- 3 held until an admin approves it (roster approve). Rows in 1 and 3 are not leased by workers.
ALTER TABLE sync_queue ADD COLUMN hold INTEGER NOT NULL DEFAULT 0;
CREATE INDEX sync_queue_hold ON sync_queue (app, hold);

-- Each app's health, shared by every roster process: no request before `not_before` (the app's Retry-After);
-- a quarantine (until when, how many times in a row, why), with probation once it ends.
CREATE TABLE app_health (
    app               TEXT PRIMARY KEY REFERENCES apps (name) ON DELETE CASCADE,
    not_before        INTEGER NOT NULL DEFAULT 0,
    quarantined_until INTEGER,
    quarantine_level  INTEGER NOT NULL DEFAULT 0,
    quarantine_code   TEXT,
    quarantine_reason TEXT
);
