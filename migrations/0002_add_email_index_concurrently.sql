-- The same index, built CONCURRENTLY. It takes a SHARE UPDATE EXCLUSIVE lock: reads and writes on
-- large_email keep going, at the price of a slower build that first waits for older transactions.
-- CONCURRENTLY cannot run inside a transaction, hence transaction:false; a failed or cancelled
-- build leaves an INVALID index behind that must be dropped with DROP INDEX CONCURRENTLY.
-- Alternative to 0002_add_email_index: only one of the two can be applied at a time.

-- migrate:up transaction:false
CREATE INDEX CONCURRENTLY large_email_email_idx ON large_email (email);

-- migrate:down transaction:false
-- DROP INDEX CONCURRENTLY waits for queries on large_email to finish instead of blocking them.
DROP INDEX CONCURRENTLY large_email_email_idx;
