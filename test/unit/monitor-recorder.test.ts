import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CancelledError } from '../../src/core/errors';
import type { LockRow, LockSnapshot } from '../../src/core/monitor/lockMonitor';
import { RunRecorder } from '../../src/core/monitor/recorder';
import { toBlockingChains } from '../../src/core/monitor/lockMonitor';
import { indexProgress, lockRow } from '../fixtures/monitorRows';

const T0 = 1_700_000_000_000;
const LARGE = 'migration_lab.large_email';
const MIGRATION = 100;

const lock = lockRow;

const migrationShare = (extra: Partial<LockRow> = {}) =>
  lock(MIGRATION, 'ShareLock', true, { role: 'migration', ...extra });
const worker = (pid: number) =>
  lock(pid, 'ShareLock', true, { role: 'migration', backendType: 'parallel worker', leaderPid: MIGRATION });
const insertWaiting = (pid: number, waitingMs: number, blockedBy = [MIGRATION]) =>
  lock(pid, 'RowExclusiveLock', false, { role: 'probe-write', blockedBy, waitingMs });

const progress = (phase: string, pid = MIGRATION) => indexProgress(phase, { pid });

function snapshot(atOffset: number, locks: LockRow[], phases: string[] = []): LockSnapshot {
  return {
    at: T0 + atOffset,
    locks,
    blockingChains: toBlockingChains(locks),
    progress: phases.map((p) => progress(p)),
    pollMs: 1,
  };
}

const result = {
  pid: MIGRATION,
  migrations: [
    {
      id: '0002_add_email_index',
      statements: [{ sql: 'CREATE INDEX large_email_email_idx ON large_email (email)', durationMs: 3550 }],
      durationMs: 3600,
    },
  ],
};

void describe('RunRecorder', () => {
  void it('aggregates locks held (with durations), waiters, max waiters and phases from snapshots', () => {
    const rec = new RunRecorder();
    rec.begin({ migrationId: '0002_add_email_index', kind: 'locking', pid: MIGRATION, startedAt: T0 });
    // Taken before the run began: ignored.
    rec.observe({ ...snapshot(-200, [lock(999, 'ShareLock', true)]) });
    rec.observe(snapshot(0, [migrationShare(), worker(101)], ['initializing']));
    rec.observe(
      snapshot(
        200,
        [migrationShare(), worker(101), worker(102), insertWaiting(400, 150)],
        ['building index: scanning table'],
      ),
    );
    rec.observe(
      snapshot(
        400,
        [
          migrationShare(),
          worker(101),
          insertWaiting(400, 350, [MIGRATION, MIGRATION]),
          insertWaiting(401, 100),
          // Queued behind 401 only (not behind the migration itself): a transitive waiter.
          lock(500, 'ExclusiveLock', false, { role: 'other', blockedBy: [401], waitingMs: 20 }),
          // Someone waiting on an unrelated session: not a waiter of the migration.
          lock(600, 'AccessExclusiveLock', false, {
            role: 'other',
            relation: 'migration_lab.small_email',
            target: 'migration_lab.small_email',
            blockedBy: [700],
            waitingMs: 900,
          }),
          lock(700, 'AccessShareLock', true, {
            role: 'long-transaction',
            relation: 'migration_lab.small_email',
          }),
        ],
        ['building index: scanning table'],
      ),
    );
    rec.observe(
      snapshot(600, [migrationShare(), insertWaiting(400, 550)], ['building index: sorting live tuples']),
    );
    rec.observe(
      snapshot(
        3600,
        [migrationShare(), insertWaiting(400, 3400), insertWaiting(401, 3300)],
        ['building index: loading tuples in tree', 'building index: scanning table'],
      ),
    );
    const run = rec.end({
      result,
      endedAt: T0 + 3700,
      probeStats: {
        reads: { count: 36, inFlight: 0, p50Ms: 2, p95Ms: 4, maxMs: 11, stalled: 0, errors: 0, timeouts: 0 },
        writes: {
          count: 36,
          inFlight: 0,
          p50Ms: 1900,
          p95Ms: 3300,
          maxMs: 3400,
          stalled: 30,
          errors: 0,
          timeouts: 0,
        },
      },
    });

    assert.equal(run.migration, '0002_add_email_index');
    assert.equal(run.kind, 'locking');
    assert.equal(run.outcome, 'succeeded');
    assert.equal(run.durationMs, 3600);
    assert.equal(run.wallMs, 3700);
    assert.equal(run.snapshots, 5);
    assert.deepEqual(
      run.locksHeld,
      ['ShareLock on migration_lab.large_email'],
      "workers' locks count as the migration's",
    );
    assert.equal(run.locks[0]!.heldMs, 3600);
    assert.equal(run.locks[0]!.firstSeenAt, T0);
    assert.equal(run.locks[0]!.lastSeenAt, T0 + 3600);
    assert.deepEqual(
      run.waiters.map((w) => [w.pid, w.role, w.mode, w.relation, w.maxWaitingMs, w.direct]),
      [
        [400, 'probe-write', 'RowExclusiveLock', LARGE, 3400, true],
        [401, 'probe-write', 'RowExclusiveLock', LARGE, 3300, true],
        [500, 'other', 'ExclusiveLock', LARGE, 20, false],
      ],
    );
    assert.equal(run.maxWaiters, 3, '400, 401 and 500 waited at the same time');
    assert.deepEqual(run.phases, [
      'initializing',
      'building index: scanning table',
      'building index: sorting live tuples',
      'building index: loading tuples in tree',
    ]);
    assert.deepEqual(run.statements, [
      {
        migration: '0002_add_email_index',
        sql: 'CREATE INDEX large_email_email_idx ON large_email (email)',
        durationMs: 3550,
      },
    ]);
    assert.deepEqual(run.writes, {
      count: 36,
      p50Ms: 1900,
      p95Ms: 3300,
      maxMs: 3400,
      stalled: 30,
      errors: 0,
      timeouts: 0,
    });
    assert.equal(
      run.verdict,
      'Writes stalled up to 3.4 s (30 requests over 1 s); reads unaffected (p95 4 ms). ' +
        'Held ShareLock on large_email for 3.6 s. Up to 3 sessions waited on it at once in PostgreSQL.',
    );
  });

  void it('records what the migration itself waited for (CONCURRENTLY behind an old transaction)', () => {
    const rec = new RunRecorder();
    rec.begin({ migrationId: '0002_add_email_index_concurrently', kind: 'concurrent', startedAt: T0 });
    rec.setPid(MIGRATION);
    const waitsForOld = lock(MIGRATION, 'ShareLock', false, {
      role: 'migration',
      locktype: 'virtualxid',
      relation: null,
      target: '7/42',
      blockedBy: [800],
      waitingMs: 1200,
    });
    const s = snapshot(100, [
      lock(MIGRATION, 'ShareUpdateExclusiveLock', true, { role: 'migration' }),
      waitsForOld,
    ]);
    rec.observe({
      ...s,
      blockingChains: toBlockingChains(s.locks, new Map([[800, 'long-transaction' as const]])),
    });
    rec.observe(snapshot(300, [lock(MIGRATION, 'ShareUpdateExclusiveLock', true, { role: 'migration' })]));
    const run = rec.end({ result, endedAt: T0 + 400 });
    assert.deepEqual(run.locksHeld, ['ShareUpdateExclusiveLock on migration_lab.large_email']);
    assert.deepEqual(run.waiters, [], 'the migration waiting is not a waiter on it');
    assert.equal(run.maxWaiters, 0);
    assert.deepEqual(run.waitedFor, [
      {
        mode: 'ShareLock',
        locktype: 'virtualxid',
        target: '7/42',
        blockerPids: [800],
        blockerRoles: ['long-transaction'],
        maxWaitingMs: 1200,
      },
    ]);
    assert.equal(run.reads, null);
    assert.equal(run.writes, null);
    assert.match(
      run.verdict,
      /^The probe was off, so read and write latency is unknown\. Held ShareUpdateExclusiveLock on large_email for 200 ms\. It also waited up to 1\.2 s for ShareLock on virtualxid 7\/42 \(blocked by pid 800\)\. No session queued behind it\.$/,
    );
  });

  void it("without a pid, sessions labelled 'migration' are the migration", () => {
    const rec = new RunRecorder();
    rec.begin({ migrationId: 'x', kind: 'other', startedAt: T0 });
    rec.observe(snapshot(0, [migrationShare(), insertWaiting(400, 10)]));
    const run = rec.end({ endedAt: T0 + 10 });
    assert.deepEqual(run.locksHeld, ['ShareLock on migration_lab.large_email']);
    assert.deepEqual(
      run.waiters.map((w) => w.pid),
      [400],
    );
  });

  void it('records a failure or a cancel, uses the wall time, and ignores snapshots after the end', () => {
    const failed = new RunRecorder();
    failed.begin({ migrationId: '0002_unique', kind: 'concurrent', pid: MIGRATION, startedAt: T0 });
    const run = failed.end({ error: new Error('Duplicate emails.'), endedAt: T0 + 2100 });
    failed.observe(snapshot(3000, [migrationShare()]));
    assert.equal(run.outcome, 'failed');
    assert.equal(run.error, 'Duplicate emails.');
    assert.equal(run.durationMs, 2100);
    assert.deepEqual(run.locksHeld, []);
    assert.match(run.verdict, /^Failed after 2\.1 s: Duplicate emails\./);

    // The sampler's own shape ({ read, write }) plugs in as it is.
    const sampled = new RunRecorder();
    sampled.begin({ migrationId: 'x', kind: 'concurrent', pid: MIGRATION, startedAt: T0 });
    const kind = {
      count: 10,
      inFlight: 0,
      p50Ms: 3,
      p95Ms: 9,
      maxMs: 12,
      stalled: 0,
      errors: 0,
      timeouts: 0,
    };
    const fromSampler = sampled.end({ endedAt: T0 + 100, probeStats: { read: kind, write: kind } });
    assert.equal(fromSampler.writes?.p95Ms, 9);
    assert.match(fromSampler.verdict, /^Nothing stalled: reads p95 9 ms, writes p95 9 ms\./);

    const cancelled = new RunRecorder();
    cancelled.begin({ migrationId: 'x', kind: 'locking', pid: MIGRATION, startedAt: T0 });
    assert.equal(cancelled.recording, true);
    assert.equal(cancelled.end({ error: new CancelledError(), endedAt: T0 + 5 }).outcome, 'cancelled');
    assert.equal(cancelled.recording, false);
    assert.throws(() => cancelled.begin({ migrationId: 'y', kind: 'other', startedAt: T0 }));
    assert.throws(() => new RunRecorder().end({ endedAt: T0 }));
  });
});
