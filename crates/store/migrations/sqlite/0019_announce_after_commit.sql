-- Nothing on SQLite: PostgreSQL's migration of this number moves the announcement of directory writes to other
-- processes out of the writing transaction; SQLite's processes see each other's writes at their engine's poll.
SELECT 1;
