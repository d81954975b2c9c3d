-- Inbound quarantine (seed 004 from the receiving side): one row per client (an API token, by name) that has sent
-- requests, shared by every roster process on the database. Times are microseconds since the epoch.
CREATE TABLE client_health (
    client           TEXT PRIMARY KEY,
    -- the current window's counts: the client's requests served, and those that failed by its own mistake
    window_start     INTEGER NOT NULL,
    requests         INTEGER NOT NULL DEFAULT 0,
    failures         INTEGER NOT NULL DEFAULT 0,
    last_failure     TEXT NOT NULL DEFAULT '',
    -- 0: normal; n: tripped n times in a row (refused, then on probation, until a clean stretch)
    level            INTEGER NOT NULL DEFAULT 0,
    refused_until    INTEGER NOT NULL DEFAULT 0,
    probation_until  INTEGER NOT NULL DEFAULT 0,
    -- why the last trip happened, and when
    reason           TEXT NOT NULL DEFAULT '',
    tripped_at       INTEGER NOT NULL DEFAULT 0,
    trips            INTEGER NOT NULL DEFAULT 0
);
