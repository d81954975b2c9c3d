-- Substring search (co, sw, ew) on userName, displayName and emails.value through pg_trgm GIN indexes, which
-- serve the LIKE patterns the filter translation uses. pg_trgm ships with PostgreSQL (contrib); where it cannot
-- be installed (a role without the right to create extensions), roster still works and these searches scan.

DO $$
DECLARE
    nsp name;
BEGIN
    BEGIN
        CREATE EXTENSION IF NOT EXISTS pg_trgm;
    EXCEPTION WHEN others THEN
        RAISE NOTICE 'pg_trgm is not available (%); substring filters will scan', SQLERRM;
    END;
    -- The extension may live in a schema outside the search path (it is installed once per database), so the
    -- operator class is named with its schema.
    SELECT n.nspname INTO nsp FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
        WHERE e.extname = 'pg_trgm';
    IF nsp IS NOT NULL THEN
        EXECUTE format('CREATE INDEX resources_user_name_trgm ON resources USING gin (user_name_lc %I.gin_trgm_ops)', nsp);
        EXECUTE format('CREATE INDEX resources_display_name_trgm ON resources USING gin (display_name_lc %I.gin_trgm_ops)', nsp);
        EXECUTE format('CREATE INDEX resource_values_trgm ON resource_values USING gin (value_lc %I.gin_trgm_ops)', nsp);
    END IF;
END
$$;
