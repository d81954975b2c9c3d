-- How many resources of each type there are, so that a listing's totalResults needs no count over the index (a
-- directory of a million users): the sum of a type's rows. Kept by statement-level triggers on `resources`, in
-- the transaction that inserts or deletes. A type has several rows so that concurrent creates never wait on one
-- another here: a statement adds its change to the first row no other open transaction holds (FOR UPDATE SKIP
-- LOCKED); when every row is held it adds to a row of its own, keyed by its backend's process id.
CREATE TABLE resource_counts (
    resource_type TEXT NOT NULL,
    shard         INTEGER NOT NULL,
    n             BIGINT NOT NULL,
    PRIMARY KEY (resource_type, shard)
);
INSERT INTO resource_counts (resource_type, shard, n)
    SELECT k.t, 0, (SELECT COUNT(*) FROM resources r WHERE r.resource_type = k.t)
    FROM (VALUES ('User'), ('Group')) AS k(t);

CREATE FUNCTION roster_count_resources() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    change RECORD;
    free_shard INTEGER;
    direction BIGINT := CASE TG_OP WHEN 'DELETE' THEN -1 ELSE 1 END;
BEGIN
    FOR change IN SELECT resource_type, COUNT(*) AS d FROM changed_rows GROUP BY resource_type LOOP
        SELECT shard INTO free_shard FROM resource_counts WHERE resource_type = change.resource_type
            LIMIT 1 FOR UPDATE SKIP LOCKED;
        IF FOUND THEN
            UPDATE resource_counts SET n = n + direction * change.d
                WHERE resource_type = change.resource_type AND shard = free_shard;
        ELSE
            INSERT INTO resource_counts (resource_type, shard, n)
                VALUES (change.resource_type, pg_backend_pid(), direction * change.d)
                ON CONFLICT (resource_type, shard) DO UPDATE SET n = resource_counts.n + EXCLUDED.n;
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;

CREATE TRIGGER resources_counted_in AFTER INSERT ON resources
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION roster_count_resources();
CREATE TRIGGER resources_counted_out AFTER DELETE ON resources
    REFERENCING OLD TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION roster_count_resources();
