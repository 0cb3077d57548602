-- Lesson "lock_timeout with retries": the same ALTER, but it gives up on its lock after a short
-- wait (SQLSTATE 55P03) instead of queueing everyone behind it; the lab then retries with backoff.
-- Readers now stall for at most about one timeout per attempt. The lab rewrites the SET LOCAL below
-- with the lesson's lock-timeout setting (default 1 s).
-- Alternative to 0003_add_column_plain.

-- migrate:up
SET LOCAL lock_timeout = '1s';
ALTER TABLE large_email ADD COLUMN note text;

-- migrate:down
SET LOCAL lock_timeout = '1s';
ALTER TABLE large_email DROP COLUMN note;
