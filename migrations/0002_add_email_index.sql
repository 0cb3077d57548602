-- A plain index build. CREATE INDEX takes a SHARE lock on large_email for the whole build:
-- SELECTs keep running, but every INSERT, UPDATE and DELETE waits until the index is done.
-- It runs inside a transaction, so a failure or a cancel leaves nothing behind.
-- Compare with 0002_add_email_index_concurrently (the same index, built without blocking writes).

-- migrate:up
CREATE INDEX large_email_email_idx ON large_email (email);

-- migrate:down
-- DROP INDEX takes an ACCESS EXCLUSIVE lock on large_email (short, but it queues behind readers).
DROP INDEX large_email_email_idx;
