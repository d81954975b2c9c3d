-- PostgreSQL's 0009 adds NOTIFY triggers for cross-process wake-ups. SQLite has no equivalent: processes
-- sharing a SQLite file see each other's writes at their next poll (one second for `roster serve`).
SELECT 1;
