-- How many resources of each type there are, so that a listing's totalResults needs no count over the index (a
-- directory of a million users): the sum of a type's rows (one row here, shard 0: SQLite runs one write
-- transaction at a time; PostgreSQL's table has several). Kept by triggers in the transaction that inserts or
-- deletes.
CREATE TABLE resource_counts (
    resource_type TEXT NOT NULL,
    shard         INTEGER NOT NULL,
    n             INTEGER NOT NULL,
    PRIMARY KEY (resource_type, shard)
);
INSERT INTO resource_counts (resource_type, shard, n)
    SELECT k.t, 0, (SELECT COUNT(*) FROM resources r WHERE r.resource_type = k.t)
    FROM (SELECT 'User' AS t UNION ALL SELECT 'Group') AS k;

CREATE TRIGGER resources_counted_in AFTER INSERT ON resources BEGIN
    UPDATE resource_counts SET n = n + 1 WHERE resource_type = NEW.resource_type AND shard = 0;
END;
CREATE TRIGGER resources_counted_out AFTER DELETE ON resources BEGIN
    UPDATE resource_counts SET n = n - 1 WHERE resource_type = OLD.resource_type AND shard = 0;
END;
