import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { quoteIdent } from '../../src/core/db';
import {
  LongTransaction,
  UNIQUE_EMAIL_INDEX,
  findInvalidIndexes,
  runAllLessons,
  runConcurrentWaitsLesson,
  runFailedConcurrentlyLesson,
  runLockQueueLesson,
  runLockTimeoutLesson,
  type LessonContext,
  type LockQueueResult,
} from '../../src/core/lessons';
import { silentLogger, type Logger } from '../../src/core/log';
import { MigrationRunner } from '../../src/core/migrations/runner';
import type { LockSnapshot } from '../../src/core/monitor/lockMonitor';
import { MonitorSession } from '../../src/core/monitorSession';
import { seedTables } from '../../src/core/seeder';
import { pollUntil, startMonitorSession, startTestPostgres, type TestPostgres } from './support';

const MIGRATIONS = join(__dirname, '../../../migrations');
const LESSONS = join(__dirname, '../../../migrations-lessons');
const SCHEMA = 'lessons_test';
const TABLE = `${SCHEMA}.large_email`;
// The ALTER is instant once it has its lock and the CONCURRENTLY wait does not depend on size either:
// the stalls below come from how long the long transaction is held, not from the table.
const ROWS = 300_000;
const POLL_MS = 200;

/** LESSONS_LOG=1 prints the lessons' log lines (to see the figures of a run). */
const logger: Logger = process.env.LESSONS_LOG
  ? {
      trace: () => undefined,
      debug: () => undefined,
      info: (m) => console.log(`  info ${m}`),
      warn: (m) => console.log(`  warn ${m}`),
      error: (m) => console.log(`  error ${m instanceof Error ? m.message : m}`),
    }
  : silentLogger;

interface LabShape {
  columns: string[];
  indexes: string[];
  duplicateEmails: number;
  applied: string[];
}

describe('the lessons on a real PostgreSQL: lock queue, lock_timeout, CONCURRENTLY waits and failures', () => {
  let db: TestPostgres;
  let admin: pg.Client;
  let session: MonitorSession;
  let baseline: LabShape;
  let lockQueue: LockQueueResult | undefined;

  async function shape(): Promise<LabShape> {
    const columns = await admin.query<{ attname: string }>(
      `SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
      [TABLE],
    );
    const indexes = await admin.query<{ name: string }>(
      `SELECT format('%s valid=%s ready=%s', c.relname, i.indisvalid, i.indisready) AS name
         FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE i.indrelid = $1::regclass ORDER BY 1`,
      [TABLE],
    );
    const dupes = await admin.query<{ n: string }>(
      `SELECT count(*) AS n FROM (SELECT email FROM ${TABLE} GROUP BY email HAVING count(*) > 1) d`,
    );
    const applied = await admin.query<{ id: string }>(
      `SELECT id FROM ${quoteIdent(SCHEMA)}.schema_migrations ORDER BY id`,
    );
    return {
      columns: columns.rows.map((r) => r.attname),
      indexes: indexes.rows.map((r) => r.name),
      duplicateEmails: Number(dupes.rows[0]!.n),
      applied: applied.rows.map((r) => r.id),
    };
  }

  function ctx(extra: Partial<LessonContext> = {}): LessonContext {
    return {
      target: db.target,
      schema: SCHEMA,
      logger,
      migrationsDir: MIGRATIONS,
      lessonsDir: LESSONS,
      session,
      ...extra,
    };
  }

  /** Every lock snapshot the session emits while `work` runs. */
  async function watching<T>(work: () => Promise<T>): Promise<{ value: T; snapshots: LockSnapshot[] }> {
    const snapshots: LockSnapshot[] = [];
    const onLocks = (s: LockSnapshot) => snapshots.push(s);
    session.on('locks', onLocks);
    try {
      return { value: await work(), snapshots };
    } finally {
      session.off('locks', onLocks);
    }
  }

  before(async () => {
    db = await startTestPostgres();
    const runner = new MigrationRunner({ target: db.target, schema: SCHEMA, migrations: MIGRATIONS, logger });
    await runner.migrateTo('0001_initial');
    await seedTables(db.target, { schema: SCHEMA, largeCount: ROWS, logger: silentLogger });
    admin = new pg.Client({ ...db.target, application_name: 'test-admin' });
    await admin.connect();
    session = await startMonitorSession(db, SCHEMA, POLL_MS);
    baseline = await shape();
  });
  after(async () => {
    await session?.dispose();
    await admin?.end();
    await db?.stop();
  });

  it('lock queue: a probe read waits for AccessShareLock behind the ALTER, which waits for the long transaction', async () => {
    const { value: result, snapshots } = await watching(() => runLockQueueLesson(ctx(), { stallMs: 2500 }));
    lockQueue = result;
    const o = result.observed;
    assert.equal(result.name, 'lock-queue');
    assert.equal(o.readsWaitedBehindDdl, true);
    assert.ok(o.chain, 'a chain was recorded');
    const { readerPid, ddlPid, blockerPid } = o.chain;
    assert.equal(blockerPid, o.longTransactionPid);

    // The same facts, read straight from the monitor's snapshots.
    const seen = snapshots.find((s) => {
      const reader = s.locks.find(
        (l) =>
          l.role === 'probe-read' &&
          l.mode === 'AccessShareLock' &&
          !l.granted &&
          l.relation === TABLE &&
          l.blockedBy.includes(ddlPid),
      );
      const ddl = s.locks.find(
        (l) =>
          l.pid === ddlPid &&
          l.role === 'migration' &&
          l.mode === 'AccessExclusiveLock' &&
          !l.granted &&
          l.blockedBy.includes(o.longTransactionPid),
      );
      return reader !== undefined && ddl !== undefined;
    });
    assert.ok(seen, 'one snapshot shows probe-read → ALTER (AccessExclusiveLock) → long transaction');
    const longTx = seen.blockingChains.find((c) => c.waiterPid === ddlPid);
    assert.equal(longTx?.blockerRoles[longTx.blockerPids.indexOf(o.longTransactionPid)], 'long-transaction');
    assert.ok(
      snapshots.some((s) => s.locks.some((l) => l.pid === readerPid && l.role === 'probe-read')),
      'the reader is a probe-read session',
    );

    // Held ~2.5 s after the ALTER queued: reads stalled for seconds, not milliseconds.
    assert.ok(o.maxReadStallMs !== null && o.maxReadStallMs >= 1500, `worst read ${o.maxReadStallMs} ms`);
    assert.ok(
      o.maxReadLockWaitMs !== null && o.maxReadLockWaitMs >= 1000,
      `read lock wait ${o.maxReadLockWaitMs}`,
    );
    assert.ok(o.readsQueued >= 5, `reads queued: ${o.readsQueued}`);
    assert.equal(o.migrationOutcome, 'succeeded');
    assert.equal(o.rolledBack, true);
    assert.match(result.verdict, /^Reads stalled up to \d+(\.\d)? s: \d+ reads queued behind ALTER TABLE/);
    assert.match(result.verdict, new RegExp(`pid ${o.longTransactionPid}\\b`));
    assert.deepEqual(await shape(), baseline, 'the column is gone again');
  });

  it('lock_timeout with retries: attempts give up with 55P03, a later one succeeds, reads stall at most ~one timeout', async () => {
    const lockTimeoutMs = 1000;
    const runsBefore = session.runs.length;
    const result = await runLockTimeoutLesson(ctx(), {
      policy: { lockTimeoutMs, initialDelayMs: 1000 },
      endLongTransactionAfterAttempts: 2,
      withoutTimeoutMaxReadStallMs: lockQueue?.observed.maxReadStallMs ?? null,
    });
    const o = result.observed;
    assert.equal(result.name, 'lock-timeout');
    assert.equal(o.succeeded, true);
    assert.ok(o.attempts >= 3, `attempts: ${o.attempts}`);
    const failed = o.attemptLog.slice(0, -1);
    const last = o.attemptLog.at(-1)!;
    assert.ok(failed.length >= 2);
    for (const a of failed) {
      assert.equal(a.outcome, 'timeout');
      assert.equal(a.sqlstate, '55P03');
      assert.ok(a.durationMs >= lockTimeoutMs - 50, `attempt ${a.n} gave up after ${a.durationMs} ms`);
    }
    assert.equal(o.timeouts, failed.length);
    assert.equal(last.outcome, 'succeeded');
    assert.ok(o.longTransactionEndedAt !== null && last.startedAt >= o.longTransactionEndedAt);
    assert.deepEqual(o.retryDelaysMs, [1000, 2000].slice(0, failed.length));
    assert.equal(o.readsWaitedBehindDdl, true, 'reads were still seen queued behind an attempt');

    // The longest read wait is bounded by one timeout (+ one poll interval + margin for a noisy host).
    const bound = lockTimeoutMs + POLL_MS + 800;
    assert.ok(
      o.maxReadLockWaitMs !== null && o.maxReadLockWaitMs < bound,
      `read lock wait ${o.maxReadLockWaitMs}`,
    );
    assert.ok(o.maxReadStallMs !== null && o.maxReadStallMs < bound, `worst read ${o.maxReadStallMs} ms`);
    if (lockQueue) {
      assert.ok(o.maxReadStallMs < lockQueue.observed.maxReadStallMs!, 'better than without a timeout');
      assert.match(result.verdict, /instead of .* without a timeout/);
    }
    assert.match(result.verdict, /^With lock_timeout = 1\.0 s: \d attempts gave up after 1\.0 s with 55P03/);
    assert.equal(o.rolledBack, true);

    // The lesson is ONE entry of its own kind in the runs list, its attempts inside, its span as duration.
    const added = session.runs.slice(runsBefore);
    assert.equal(
      added.length,
      1,
      `entries added: ${added.map((r) => `${r.kind} ${r.migration}`).join(', ')}`,
    );
    const entry = added[0]!;
    assert.equal(entry.kind, 'lesson');
    assert.equal(entry.lesson, 'lock-timeout');
    assert.equal(entry.outcome, 'succeeded');
    assert.equal(entry.verdict, result.verdict);
    assert.deepEqual(
      entry.attempts?.map((a) => [a.n, a.outcome, a.sqlstate]),
      o.attemptLog.map((a) => [a.n, a.outcome, a.sqlstate]),
    );
    const attemptsMs = o.attemptLog.reduce((sum, a) => sum + a.durationMs, 0);
    assert.ok(entry.durationMs >= attemptsMs, `entry ${entry.durationMs} ms < attempts ${attemptsMs} ms`);
    assert.deepEqual(await shape(), baseline);
  });

  it('CONCURRENTLY waits: a waiting phase with current_locker_pid = the long transaction, while reads and writes flow', async () => {
    const { value: result, snapshots } = await watching(() =>
      runConcurrentWaitsLesson(ctx(), { holdMs: 1500 }),
    );
    const o = result.observed;
    assert.equal(result.name, 'concurrent-waits');
    assert.equal(o.lockerPidMatched, true);
    assert.match(o.waitingPhaseSeen ?? '', /^waiting for /);
    assert.ok(o.builderPid !== null);
    const row = snapshots
      .flatMap((s) => s.progress)
      .find(
        (p) =>
          p.pid === o.builderPid &&
          p.phase.startsWith('waiting') &&
          p.currentLockerPid === o.longTransactionPid,
      );
    assert.ok(row, 'a progress row of the build names the long transaction as current_locker_pid');
    assert.equal(row.command, 'CREATE INDEX CONCURRENTLY');
    assert.equal(o.blockedByLongTransaction, true, 'its virtualxid wait was blocked by the long transaction');
    assert.equal(o.readsAndWritesFlowed, true);
    assert.ok(
      o.readsDuringWait >= 3 && o.writesDuringWait >= 3,
      `${o.readsDuringWait} reads, ${o.writesDuringWait} writes`,
    );
    assert.ok(
      !snapshots.some((s) =>
        s.locks.some((l) => (l.role === 'probe-read' || l.role === 'probe-write') && !l.granted),
      ),
      'no probe session waited on a lock',
    );
    assert.equal(o.buildCompleted, true);
    assert.equal(o.rolledBack, true);
    assert.match(result.verdict, /^CREATE INDEX CONCURRENTLY waited .* in phase "waiting for /);
    assert.deepEqual(await shape(), baseline, 'the index is gone again');
  });

  it('failed CONCURRENTLY: 23505 leaves indisvalid = false, detection reports it, IF NOT EXISTS keeps it, cleanup removes it', async () => {
    const result = await runFailedConcurrentlyLesson(ctx(), { duplicates: 3 });
    const o = result.observed;
    assert.equal(result.name, 'failed-concurrently');
    assert.equal(o.duplicatesInserted, 3);
    assert.equal(o.failedWith, '23505');
    assert.equal(o.invalidIndexDetected, true);
    assert.equal(o.invalidIndex?.index, UNIQUE_EMAIL_INDEX);
    assert.equal(o.invalidIndex?.schema, SCHEMA);
    assert.equal(o.invalidIndex?.table, 'large_email');
    assert.equal(o.invalidIndex?.indisvalid, false);
    // The duplicates stop the build phase, before the index is marked ready: writes do not maintain it.
    assert.equal(o.invalidIndex?.indisready, false);
    assert.equal(o.ifNotExistsSucceeded, true);
    assert.match(o.ifNotExistsNotice ?? '', /already exists, skipping/);
    assert.equal(o.ifNotExistsKeptInvalid, true);
    assert.equal(o.plainRetryFailedWith, '42P07');
    assert.equal(o.droppedConcurrently, true);
    assert.equal(o.duplicatesRemoved, 3);
    assert.equal(o.cleanedUp, true);
    assert.deepEqual(await findInvalidIndexes(db.target, SCHEMA), []);
    assert.match(
      result.verdict,
      /failed with 23505 on 3 duplicate emails and left the INVALID index large_email_email_key/,
    );
    assert.deepEqual(await shape(), baseline);
  });

  it('runAllLessons on a private session: four results in order, the lab left as it was found', async () => {
    const results = await runAllLessons(ctx({ session: undefined }), {
      lockQueue: { stallMs: 1500 },
      lockTimeout: { policy: { initialDelayMs: 300 } },
      concurrentWaits: { holdMs: 800 },
    });
    assert.deepEqual(
      results.map((r) => r.name),
      ['lock-queue', 'lock-timeout', 'concurrent-waits', 'failed-concurrently'],
    );
    const [queue, timeout, waits, failed] = results;
    assert.equal(queue!.name === 'lock-queue' && queue!.observed.readsWaitedBehindDdl, true);
    assert.equal(timeout!.name === 'lock-timeout' && timeout!.observed.succeeded, true);
    if (timeout!.name === 'lock-timeout' && queue!.name === 'lock-queue')
      assert.equal(timeout!.observed.withoutTimeoutMaxReadStallMs, queue!.observed.maxReadStallMs);
    assert.equal(waits!.name === 'concurrent-waits' && waits!.observed.lockerPidMatched, true);
    assert.equal(failed!.name === 'failed-concurrently' && failed!.observed.cleanedUp, true);
    for (const r of results) assert.ok(r.verdict.length > 20, r.verdict);
    JSON.parse(JSON.stringify({ lessons: results })); // plain JSON
    assert.deepEqual(await shape(), baseline);
  });

  it('an aborted lesson ends its long transaction and leaves nothing behind', async () => {
    const controller = new AbortController();
    const running = runLockQueueLesson(ctx({ signal: controller.signal }), { stallMs: 20_000 });
    await pollUntil(
      'the ALTER to queue behind the long transaction',
      async () => {
        const r = await admin.query(
          `SELECT 1 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
            WHERE a.application_name = 'migration-lab:migration' AND NOT l.granted AND l.mode = 'AccessExclusiveLock'`,
        );
        return (r.rowCount ?? 0) > 0 ? true : undefined;
      },
      10_000,
    );
    const runsBefore = session.runs.length;
    controller.abort();
    await assert.rejects(running, { name: 'CancelledError' });
    const added = session.runs.slice(runsBefore);
    assert.deepEqual(
      added.map((r) => [r.kind, r.lesson, r.outcome]),
      [['lesson', 'lock-queue', 'cancelled']],
      'a cancelled lesson is one entry saying so',
    );
    assert.match(added[0]!.verdict, /was cancelled after .*; it drew no conclusion\./);
    const left = await admin.query(
      `SELECT pid FROM pg_stat_activity WHERE application_name IN ('migration-lab:long-transaction', 'migration-lab:migration')`,
    );
    assert.equal(left.rowCount, 0, 'no long transaction nor migration session is left');
    assert.deepEqual(await shape(), baseline);
  });

  it('LongTransaction: holds AccessShareLock and a snapshot; end() is idempotent; a timeout ends it', async () => {
    const tx = await LongTransaction.start({ target: db.target, schema: SCHEMA, logger, timeoutMs: 60_000 });
    const held = await admin.query<{ mode: string; xmin: string | null; state: string }>(
      `SELECT l.mode, a.backend_xmin::text AS xmin, a.state FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.pid = $1 AND l.relation = $2::regclass AND l.granted`,
      [tx.pid, TABLE],
    );
    assert.equal(held.rows[0]?.mode, 'AccessShareLock');
    assert.equal(held.rows[0]?.state, 'idle in transaction');
    assert.ok(held.rows[0]?.xmin, 'it keeps a snapshot (backend_xmin set)');
    assert.equal(tx.open, true);
    const [a, b] = await Promise.all([tx.end(), tx.end()]);
    assert.equal(a, b);
    assert.equal(a.reason, 'ended');
    assert.equal((await tx.ended).reason, 'ended');
    assert.equal(tx.open, false);
    const gone = await admin.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [tx.pid]);
    assert.equal(gone.rowCount, 0);

    const short = await LongTransaction.start({ target: db.target, schema: SCHEMA, logger, timeoutMs: 300 });
    const end = await short.ended;
    assert.equal(end.reason, 'timeout');
    assert.ok(end.heldMs >= 300 && end.heldMs < 5000, `held ${end.heldMs} ms`);
  });
});
