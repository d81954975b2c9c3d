-- Inbound quarantine (seed 004 from the receiving side): one row per client (an API token, by name) that has sent
-- requests, shared by every roster process on the database. Times are microseconds since the epoch.
CREATE TABLE client_health (
    client           TEXT PRIMARY KEY,
    -- the current window's counts: the client's requests served, and those that failed by its own mistake
    window_start     BIGINT NOT NULL,
    requests         BIGINT NOT NULL DEFAULT 0,
    failures         BIGINT NOT NULL DEFAULT 0,
    last_failure     TEXT NOT NULL DEFAULT '',
    -- 0: normal; n: tripped n times in a row (refused, then on probation, until a clean stretch)
    level            BIGINT NOT NULL DEFAULT 0,
    refused_until    BIGINT NOT NULL DEFAULT 0,
    probation_until  BIGINT NOT NULL DEFAULT 0,
    -- why the last trip happened, and when
    reason           TEXT NOT NULL DEFAULT '',
    tripped_at       BIGINT NOT NULL DEFAULT 0,
    trips            BIGINT NOT NULL DEFAULT 0
);
