-- Full reconciles: when the last one finished (its start time), and who is running one now (a lease, so one
-- process at a time runs it and a crashed run is taken over when its lease ends).
ALTER TABLE app_cursors ADD COLUMN reconcile_done INTEGER;
ALTER TABLE app_cursors ADD COLUMN reconcile_lease INTEGER;
