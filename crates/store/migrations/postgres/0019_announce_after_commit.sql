-- Directory writes are announced by the process that made them, after they commit (store/src/wake.rs): a NOTIFY
-- inside the writing transaction holds a cluster-wide lock until its commit is flushed, so every directory write
-- of every process committed one at a time. App changes keep their trigger (apps_notify).
DROP TRIGGER journal_notify ON journal;
