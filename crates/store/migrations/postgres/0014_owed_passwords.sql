-- Whether an app's mapping sends the user's password (set by whoever saves the app's mapping).
ALTER TABLE apps ADD COLUMN sends_password BOOLEAN NOT NULL DEFAULT FALSE;

-- A pushed password an app has still to receive: one row per (app, user) written with the password, at the
-- user's version then. A user's sealed password is kept only while a row for it remains; the engine deletes the
-- row when the app has the password, and the last delivery drops the password from the directory.
CREATE TABLE owed_passwords (
    app        TEXT NOT NULL REFERENCES apps (name) ON DELETE CASCADE,
    source_id  TEXT NOT NULL REFERENCES resources (id) ON DELETE CASCADE,
    version    BIGINT NOT NULL,
    PRIMARY KEY (app, source_id)
);
CREATE INDEX owed_passwords_source ON owed_passwords (source_id);

-- Until now a password was kept for as long as its user, and the last one an app received sat in clear in the
-- link's record of what was pushed. No row says who is still owed one, so none is kept.
UPDATE resources SET data = data - 'password' WHERE data ? 'password';
UPDATE links SET pushed = (pushed::jsonb - 'password')::text WHERE pushed::jsonb ? 'password';
