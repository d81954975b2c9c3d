-- Cross-process wake-ups: a directory write (a journal insert) or an app change by any process notifies every
-- roster process on this database, whose engine then acts at once instead of at its next poll. The channel is
-- per schema ('roster_' and the md5 of the schema name, short enough for a channel), so deployments in other
-- schemas of the same database are not woken. One notification per statement; PostgreSQL delivers it at
-- commit and folds duplicates within a transaction.

CREATE FUNCTION roster_notify_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('roster_' || md5(TG_TABLE_SCHEMA), TG_TABLE_NAME);
    RETURN NULL;
END
$$;

CREATE TRIGGER journal_notify AFTER INSERT ON journal
    FOR EACH STATEMENT EXECUTE FUNCTION roster_notify_changes();
CREATE TRIGGER apps_notify AFTER INSERT OR UPDATE OR DELETE ON apps
    FOR EACH STATEMENT EXECUTE FUNCTION roster_notify_changes();
