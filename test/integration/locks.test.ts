import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { MigrationRunner } from '../../src/core/migrations/runner';
import { pollUntil, startSeededLab, type TestPostgres } from './support';

const SCHEMA = 'locks_test';
// Enough rows that an index build lasts well over the few polls this test needs (~1-3 s on CI).
const ROWS = 2_000_000;

interface LockRow {
  pid: number;
  mode: string;
  granted: boolean;
  blocked_by: number[] | null;
  application_name: string;
}

/** What a second connection sees in pg_locks for large_email, as the lock monitor will. */
async function locksOnLargeEmail(observer: pg.Client): Promise<LockRow[]> {
  const r = await observer.query<LockRow>(
    `SELECT l.pid, l.mode, l.granted, a.application_name,
            CASE WHEN NOT l.granted THEN array(SELECT DISTINCT unnest(pg_blocking_pids(l.pid))) END AS blocked_by
       FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE l.relation = to_regclass($1)`,
    [`${SCHEMA}.large_email`],
  );
  return r.rows;
}

describe('locks a migration takes, observed in pg_locks on a real PostgreSQL', () => {
  let db: TestPostgres;
  let observer: pg.Client;
  let writer: pg.Client;
  let runner: MigrationRunner;
  let writerPid: number;

  before(async () => {
    ({ db, runner } = await startSeededLab(SCHEMA, ROWS));
    observer = new pg.Client({ ...db.target, application_name: 'test-observer' });
    writer = new pg.Client({ ...db.target, application_name: 'test-writer' });
    await observer.connect();
    await writer.connect();
    writerPid = (await writer.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
  });
  after(async () => {
    await observer?.end();
    await writer?.end();
    await db?.stop();
  });

  it('plain CREATE INDEX: the migration holds ShareLock and an INSERT waits, blocked by its pid', async () => {
    let migrationPid: number | undefined;
    let settled = false;
    const run = runner.migrateTo('0002_add_email_index', { onStart: (pid) => (migrationPid = pid) });
    void run.then(
      () => (settled = true),
      () => (settled = true),
    );
    const pid = await pollUntil('the migration to start', () => migrationPid);

    const shareLock = await pollUntil('the migration to hold ShareLock on large_email', async () => {
      assert.equal(settled, false, 'the build ended before it was observed: seed more rows');
      return (await locksOnLargeEmail(observer)).find(
        (l) => l.pid === pid && l.mode === 'ShareLock' && l.granted,
      );
    });
    assert.equal(shareLock.application_name, 'migration-lab:migration');

    const insert = writer.query(`INSERT INTO ${SCHEMA}.large_email (email) VALUES ('blocked@example.com')`);
    const waiting = await pollUntil('the INSERT to wait on large_email', async () => {
      assert.equal(settled, false, 'the build ended before the INSERT was seen waiting: seed more rows');
      return (await locksOnLargeEmail(observer)).find((l) => l.pid === writerPid && !l.granted);
    });
    assert.equal(waiting.mode, 'RowExclusiveLock');
    assert.deepEqual(
      waiting.blocked_by,
      [pid],
      'blocked by the migration (de-duplicated over parallel workers)',
    );

    // A plain read is not blocked by ShareLock: it completes while the build still runs.
    const read = await observer.query(`SELECT id FROM ${SCHEMA}.large_email ORDER BY id DESC LIMIT 20`);
    assert.equal(read.rowCount, 20);

    await run;
    await insert; // released when the migration committed
    const idx = await observer.query(`SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass($1)`, [
      `${SCHEMA}.large_email_email_idx`,
    ]);
    assert.equal(idx.rows[0]?.indisvalid, true);
    await runner.rollbackTo('0001_initial');
  });

  it('CREATE INDEX CONCURRENTLY: the migration holds ShareUpdateExclusiveLock and an INSERT completes during the build', async () => {
    let migrationPid: number | undefined;
    let settled = false;
    const run = runner.migrateTo('0002_add_email_index_concurrently', {
      onStart: (pid) => (migrationPid = pid),
    });
    void run.then(
      () => (settled = true),
      () => (settled = true),
    );
    const pid = await pollUntil('the migration to start', () => migrationPid);
    await pollUntil('the migration to hold ShareUpdateExclusiveLock on large_email', async () => {
      assert.equal(settled, false, 'the build ended before it was observed: seed more rows');
      return (await locksOnLargeEmail(observer)).find(
        (l) => l.pid === pid && l.mode === 'ShareUpdateExclusiveLock' && l.granted,
      );
    });

    await writer.query(`INSERT INTO ${SCHEMA}.large_email (email) VALUES ('flows@example.com')`);
    assert.equal(settled, false, 'the INSERT completed while the concurrent build was still running');
    const waiters = (await locksOnLargeEmail(observer)).filter((l) => !l.granted && l.pid !== pid);
    assert.deepEqual(waiters, [], 'nobody waits on large_email');

    await run;
    const idx = await observer.query(`SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass($1)`, [
      `${SCHEMA}.large_email_email_idx`,
    ]);
    assert.equal(idx.rows[0]?.indisvalid, true);
    await runner.rollbackTo('0001_initial');
  });
});
