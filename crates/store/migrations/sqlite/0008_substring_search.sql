-- Substring search (co, sw, ew) on userName, displayName and emails.value through an FTS5 trigram index.
-- resource_text holds one row per searchable value under a stable integer key (the FTS index's rowid; the
-- rowid of `resources` itself is not stable across VACUUM). Triggers keep it and the index in step with
-- resources and resource_values, so the write paths stay the same. The index only narrows the candidates:
-- queries still compare the exact value.

CREATE TABLE resource_text (
    k           INTEGER PRIMARY KEY,
    resource_id TEXT NOT NULL,
    attr        TEXT NOT NULL,
    value_lc    TEXT NOT NULL
);
CREATE INDEX resource_text_owner ON resource_text (resource_id, attr);

CREATE VIRTUAL TABLE resource_trgm USING fts5 (
    value_lc,
    content = 'resource_text',
    content_rowid = 'k',
    tokenize = 'trigram'
);

CREATE TRIGGER resource_text_ai AFTER INSERT ON resource_text BEGIN
    INSERT INTO resource_trgm (rowid, value_lc) VALUES (new.k, new.value_lc);
END;
CREATE TRIGGER resource_text_ad AFTER DELETE ON resource_text BEGIN
    INSERT INTO resource_trgm (resource_trgm, rowid, value_lc) VALUES ('delete', old.k, old.value_lc);
END;

CREATE TRIGGER resources_text_ai AFTER INSERT ON resources BEGIN
    INSERT INTO resource_text (resource_id, attr, value_lc)
        SELECT new.id, 'userName', new.user_name_lc WHERE new.user_name_lc IS NOT NULL;
    INSERT INTO resource_text (resource_id, attr, value_lc)
        SELECT new.id, 'displayName', new.display_name_lc WHERE new.display_name_lc IS NOT NULL;
END;
CREATE TRIGGER resources_text_au_user_name AFTER UPDATE OF user_name_lc ON resources
    WHEN old.user_name_lc IS NOT new.user_name_lc BEGIN
    DELETE FROM resource_text WHERE resource_id = old.id AND attr = 'userName';
    INSERT INTO resource_text (resource_id, attr, value_lc)
        SELECT new.id, 'userName', new.user_name_lc WHERE new.user_name_lc IS NOT NULL;
END;
CREATE TRIGGER resources_text_au_display_name AFTER UPDATE OF display_name_lc ON resources
    WHEN old.display_name_lc IS NOT new.display_name_lc BEGIN
    DELETE FROM resource_text WHERE resource_id = old.id AND attr = 'displayName';
    INSERT INTO resource_text (resource_id, attr, value_lc)
        SELECT new.id, 'displayName', new.display_name_lc WHERE new.display_name_lc IS NOT NULL;
END;
CREATE TRIGGER resources_text_ad AFTER DELETE ON resources BEGIN
    DELETE FROM resource_text WHERE resource_id = old.id;
END;

CREATE TRIGGER resource_values_text_ai AFTER INSERT ON resource_values BEGIN
    INSERT INTO resource_text (resource_id, attr, value_lc) VALUES (new.resource_id, new.attr, new.value_lc);
END;
CREATE TRIGGER resource_values_text_ad AFTER DELETE ON resource_values BEGIN
    DELETE FROM resource_text WHERE k = (
        SELECT k FROM resource_text
        WHERE resource_id = old.resource_id AND attr = old.attr AND value_lc = old.value_lc LIMIT 1
    );
END;

INSERT INTO resource_text (resource_id, attr, value_lc)
    SELECT id, 'userName', user_name_lc FROM resources WHERE user_name_lc IS NOT NULL;
INSERT INTO resource_text (resource_id, attr, value_lc)
    SELECT id, 'displayName', display_name_lc FROM resources WHERE display_name_lc IS NOT NULL;
INSERT INTO resource_text (resource_id, attr, value_lc)
    SELECT resource_id, attr, value_lc FROM resource_values;
