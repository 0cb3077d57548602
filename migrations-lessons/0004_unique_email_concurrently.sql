-- Lesson "the failed CONCURRENTLY build": a unique index on email, built CONCURRENTLY.
-- With duplicate emails in large_email the build fails (23505) and, as it ran without a
-- transaction, nothing is rolled back: an INVALID index named large_email_email_key stays behind.
-- The planner never uses it; CREATE … IF NOT EXISTS with the same name silently keeps it; only
-- DROP INDEX CONCURRENTLY (then a retry once the duplicates are gone) fixes it.

-- migrate:up transaction:false
CREATE UNIQUE INDEX CONCURRENTLY large_email_email_key ON large_email (email);

-- migrate:down transaction:false
DROP INDEX CONCURRENTLY IF EXISTS large_email_email_key;
