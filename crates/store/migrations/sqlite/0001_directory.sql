-- The directory: SCIM resources, group memberships, the change journal, API tokens.
-- Times are microseconds since the Unix epoch (UTC) in both backends, so filters compare them as numbers.

CREATE TABLE resources (
    id              TEXT PRIMARY KEY,
    resource_type   TEXT NOT NULL CHECK (resource_type IN ('User', 'Group')),
    -- lower-cased userName (Users) for case-insensitive uniqueness and O(log n) lookups
    user_name_lc    TEXT,
    -- displayName as given, and lower-cased for case-insensitive lookups (both types)
    display_name    TEXT,
    display_name_lc TEXT,
    external_id     TEXT,
    -- the canonical resource without id, meta and derived attributes (a Group's members live in memberships)
    data            TEXT NOT NULL,
    -- the same with every string value lower-cased (Rust's Unicode lower-casing): what case-insensitive
    -- filters on attributes without a column of their own compare against
    search          TEXT NOT NULL,
    version         INTEGER NOT NULL,
    created         INTEGER NOT NULL,
    last_modified   INTEGER NOT NULL
);
CREATE UNIQUE INDEX resources_user_name ON resources (resource_type, user_name_lc) WHERE user_name_lc IS NOT NULL;
CREATE INDEX resources_display_name ON resources (resource_type, display_name_lc);
CREATE INDEX resources_external_id ON resources (resource_type, external_id);
-- the default listing order
CREATE INDEX resources_created ON resources (resource_type, created, id);

-- Values of multi-valued attributes that filters look up by equality (emails.value), lower-cased.
CREATE TABLE resource_values (
    resource_id TEXT NOT NULL REFERENCES resources (id) ON DELETE CASCADE,
    attr        TEXT NOT NULL,
    value_lc    TEXT NOT NULL
);
CREATE INDEX resource_values_lookup ON resource_values (attr, value_lc);
CREATE INDEX resource_values_owner ON resource_values (resource_id);

-- One row per (group, member): adding or removing one member is one small write.
CREATE TABLE memberships (
    group_id    TEXT NOT NULL REFERENCES resources (id) ON DELETE CASCADE,
    member_id   TEXT NOT NULL,
    member_type TEXT NOT NULL CHECK (member_type IN ('User', 'Group')),
    -- the member's display name as the client sent it
    display     TEXT,
    PRIMARY KEY (group_id, member_id)
);
CREATE INDEX memberships_member ON memberships (member_id);

-- Every directory write appends here in the same transaction; the engine follows it by seq.
CREATE TABLE journal (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    resource_type TEXT NOT NULL,
    resource_id   TEXT NOT NULL,
    version       INTEGER NOT NULL,
    op            TEXT NOT NULL CHECK (op IN ('create', 'update', 'delete')),
    at            INTEGER NOT NULL
);
CREATE INDEX journal_resource ON journal (resource_id);

CREATE TABLE api_tokens (
    name         TEXT PRIMARY KEY,
    token_hash   TEXT NOT NULL UNIQUE,
    scope        TEXT NOT NULL CHECK (scope IN ('read', 'write')),
    created      INTEGER NOT NULL,
    last_used    INTEGER
);
