-- The provisioning engine's state: apps (targets), links between directory objects and target accounts, the
-- per-app journal cursor, the queue of objects waiting to be synced, and the provisioning log.

-- A connected app. `config` is the app's settings as JSON (no secrets); `secret` holds its credential (bearer
-- token or OAuth2 client secret) and is never printed back. `version` increases with every change so an edit
-- made against an old version is rejected.
CREATE TABLE apps (
    name     TEXT PRIMARY KEY,
    config   TEXT NOT NULL,
    secret   TEXT,
    version  INTEGER NOT NULL,
    created  INTEGER NOT NULL,
    updated  INTEGER NOT NULL
);

-- One row per (app, directory object) that has an account in the app. `pushed` is what roster last wrote (the
-- mapped attributes), `pushed_hash` its SHA-256, so an unchanged object costs no request.
CREATE TABLE links (
    app           TEXT NOT NULL REFERENCES apps (name) ON DELETE CASCADE,
    resource_type TEXT NOT NULL CHECK (resource_type IN ('User', 'Group')),
    source_id     TEXT NOT NULL,
    target_id     TEXT NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('active', 'disabled')),
    pushed        TEXT NOT NULL,
    pushed_hash   TEXT NOT NULL,
    updated       INTEGER NOT NULL,
    PRIMARY KEY (app, resource_type, source_id)
);
-- one target account belongs to at most one directory object
CREATE UNIQUE INDEX links_target ON links (app, resource_type, target_id);

-- How far each app has read the journal.
CREATE TABLE app_cursors (
    app TEXT PRIMARY KEY REFERENCES apps (name) ON DELETE CASCADE,
    seq INTEGER NOT NULL
);

-- Objects waiting to be synced to an app: one row per object, whatever the number of changes. `gen` increases
-- with every enqueue, so a worker that finishes an older generation leaves the row for the newer change.
CREATE TABLE sync_queue (
    app           TEXT NOT NULL REFERENCES apps (name) ON DELETE CASCADE,
    resource_type TEXT NOT NULL CHECK (resource_type IN ('User', 'Group')),
    source_id     TEXT NOT NULL,
    gen           INTEGER NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    run_at        INTEGER NOT NULL,
    lease_until   INTEGER,
    lease_holder  TEXT,
    last_code     TEXT,
    last_error    TEXT,
    PRIMARY KEY (app, resource_type, source_id)
);
CREATE INDEX sync_queue_due ON sync_queue (app, run_at);

-- Every attempt to change a target, and every decision not to. No secret is ever written here.
CREATE TABLE provisioning_log (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    at            INTEGER NOT NULL,
    app           TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    source_id     TEXT NOT NULL,
    target_id     TEXT,
    action        TEXT NOT NULL,
    outcome       TEXT NOT NULL CHECK (outcome IN ('ok', 'failed', 'skipped')),
    attempt       INTEGER NOT NULL,
    http_status   INTEGER,
    code          TEXT,
    message       TEXT NOT NULL,
    duration_ms   INTEGER NOT NULL
);
CREATE INDEX provisioning_log_app ON provisioning_log (app, at);
CREATE INDEX provisioning_log_object ON provisioning_log (app, source_id, at);
