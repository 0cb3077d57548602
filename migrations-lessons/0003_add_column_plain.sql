-- Lesson "the lock-queue trap": a plain ALTER TABLE … ADD COLUMN, with no timeout.
-- Adding a nullable column without a default only changes the catalog: it is instant once it has
-- its lock. But that lock is ACCESS EXCLUSIVE. While an open transaction still holds even an
-- ACCESS SHARE lock on large_email (a slow report that read it), the ALTER waits in the lock queue,
-- and every new SELECT and INSERT on large_email queues behind the ALTER: reads stall too.
-- Alternative to 0003_add_column_with_lock_timeout (the safe version).

-- migrate:up
ALTER TABLE large_email ADD COLUMN note text;

-- migrate:down
ALTER TABLE large_email DROP COLUMN note;
