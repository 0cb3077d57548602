import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { LockRow, LockSnapshot } from '../../src/core/monitor/lockMonitor';
import { toBlockingChains } from '../../src/core/monitor/lockMonitor';
import { RunRecorder, type ProbeStats, type RecordedRun } from '../../src/core/monitor/recorder';
import {
  comparedPair,
  runListRow,
  toMarkdown,
  toReportJson,
  validateRunReport,
} from '../../src/core/monitor/report';
import { indexProgress, lockRow } from '../fixtures/monitorRows';

const T0 = Date.UTC(2025, 0, 1, 12, 0, 0);

const lock = lockRow;

function snap(at: number, locks: LockRow[], phase?: string): LockSnapshot {
  const progress = phase ? [indexProgress(phase)] : [];
  return { at, locks, blockingChains: toBlockingChains(locks), progress, pollMs: 1 };
}

function record(
  migration: string,
  kind: 'locking' | 'concurrent',
  mode: string,
  durationMs: number,
  probeStats: ProbeStats | undefined,
  waiter: boolean,
): RecordedRun {
  const rec = new RunRecorder();
  rec.begin({ migrationId: migration, kind, pid: 100, startedAt: T0 });
  const held = lock(100, mode, true, { role: 'migration' });
  const waiting = lock(400, 'RowExclusiveLock', false, {
    role: 'probe-write',
    blockedBy: [100],
    waitingMs: 3400,
  });
  rec.observe(snap(T0, waiter ? [held, waiting] : [held], 'building index: scanning table'));
  rec.observe(
    snap(T0 + durationMs, waiter ? [held, waiting] : [held], 'building index: loading tuples in tree'),
  );
  return rec.end({
    result: {
      pid: 100,
      migrations: [{ id: migration, statements: [{ sql: 'CREATE INDEX … | x', durationMs }], durationMs }],
    },
    endedAt: T0 + durationMs + 50,
    probeStats,
  });
}

const lockingRun = record(
  '0002_add_email_index',
  'locking',
  'ShareLock',
  3600,
  {
    reads: { count: 36, p50Ms: 2, p95Ms: 4, maxMs: 11, stalled: 0, errors: 0 },
    writes: { count: 36, p50Ms: 1900, p95Ms: 3300, maxMs: 3400, stalled: 37, errors: 0 },
  },
  true,
);
const concurrentRun = record(
  '0002_add_email_index_concurrently',
  'concurrent',
  'ShareUpdateExclusiveLock',
  5040,
  {
    reads: { count: 50, p50Ms: 2, p95Ms: 5, maxMs: 20, stalled: 0, errors: 0 },
    writes: { count: 50, p50Ms: 3, p95Ms: 9, maxMs: 12, stalled: 0, errors: 0 },
  },
  false,
);
const unprobedRun = record('0002_add_email_index', 'locking', 'ShareLock', 3000, undefined, true);

void describe('JSON run report', () => {
  void it('has the documented shape and passes the schema check', () => {
    const report = toReportJson([lockingRun, concurrentRun], T0);
    const json = JSON.parse(JSON.stringify(report)) as Record<string, unknown>;
    assert.deepEqual(validateRunReport(json), { ok: true, errors: [] });
    const run = report.runs[0]!;
    assert.equal(run.migration, '0002_add_email_index');
    assert.equal(run.durationMs, 3600);
    assert.deepEqual(
      { ...run.writes },
      { count: 36, p50Ms: 1900, p95Ms: 3300, maxMs: 3400, stalled: 37, errors: 0, probed: true },
    );
    assert.deepEqual(Object.keys(run.reads).slice(0, 6), [
      'count',
      'p50Ms',
      'p95Ms',
      'maxMs',
      'stalled',
      'errors',
    ]);
    assert.deepEqual(run.locksHeld, ['ShareLock on migration_lab.large_email']);
    assert.equal(run.maxWaiters, 1);
    assert.equal(run.verdict, lockingRun.verdict);
    assert.deepEqual(report.runs[1]!.locksHeld, ['ShareUpdateExclusiveLock on migration_lab.large_email']);
    assert.equal(
      report.comparison?.conclusion,
      'CONCURRENTLY took about as long (5.0 s vs 3.6 s, within run-to-run noise) and kept the worst write at 12 ms instead of 3.4 s.',
    );
  });

  void it('marks an unprobed run as such, with null latencies, and still validates', () => {
    const report = toReportJson([unprobedRun]);
    assert.deepEqual(report.runs[0]!.reads, {
      count: 0,
      p50Ms: null,
      p95Ms: null,
      maxMs: null,
      stalled: 0,
      errors: 0,
      probed: false,
    });
    assert.equal(report.comparison, undefined);
    assert.equal(validateRunReport(report).ok, true);
  });

  void it('rejects what does not match, saying where', () => {
    assert.deepEqual(validateRunReport(null).errors, ['the report is not an object']);
    assert.deepEqual(validateRunReport({ runs: {} }).errors, ['"runs" is not an array']);
    const good = JSON.parse(JSON.stringify(toReportJson([lockingRun]))) as {
      runs: Record<string, unknown>[];
    };
    const bad = structuredClone(good);
    delete (bad.runs[0]!.writes as Record<string, unknown>).p95Ms;
    bad.runs[0]!.maxWaiters = -1;
    bad.runs[0]!.locksHeld = [1];
    bad.runs[0]!.verdict = '';
    (bad.runs[0]!.reads as Record<string, unknown>).count = 'many';
    delete bad.runs[0]!.durationMs;
    const result = validateRunReport(bad);
    assert.equal(result.ok, false);
    assert.deepEqual(result.errors.sort(), [
      'runs[0].durationMs is not a duration in ms',
      'runs[0].locksHeld is not an array of strings',
      'runs[0].maxWaiters is not a whole number',
      'runs[0].reads.count is not a whole number',
      'runs[0].verdict is not a non-empty string',
      'runs[0].writes.p95Ms is missing',
    ]);
  });
});

void describe('Markdown run report', () => {
  const md = toMarkdown([lockingRun, concurrentRun]);

  void it('has a section per run with the verdict, the stats table, locks, waiters and phases', () => {
    assert.match(md, /^# Migration Lab run report/);
    assert.match(md, /^## 1\. 0002_add_email_index \(locking, succeeded\)$/m);
    assert.match(md, /^## 2\. 0002_add_email_index_concurrently \(concurrent, succeeded\)$/m);
    assert.ok(md.includes(`> **Verdict:** ${lockingRun.verdict}`));
    assert.ok(md.includes(`> **Verdict:** ${concurrentRun.verdict}`));
    assert.match(md, /^\| writes \| 36 \| 1\.9 s \| 3\.3 s \| 3\.4 s \| 37 \| 0 \|$/m);
    assert.match(md, /^\| reads \| 36 \| 2 ms \| 4 ms \| 11 ms \| 0 \| 0 \|$/m);
    assert.match(md, /^- ShareLock on migration_lab\.large_email: seen held for 3\.6 s$/m);
    assert.match(
      md,
      /^- pid 400 \(probe-write\) waited up to 3\.4 s for RowExclusiveLock on migration_lab\.large_email$/m,
    );
    assert.match(md, /^- nobody waited on the migration$/m);
    assert.match(md, /building index: scanning table → building index: loading tuples in tree/);
  });

  void it('ends with a comparison table and the conclusion when there are two runs', () => {
    assert.match(md, /^## Comparison$/m);
    assert.match(md, /^\| Duration \| 3\.6 s \| 5\.0 s \|$/m);
    assert.match(
      md,
      /^\| Writes p50 \/ p95 \/ max \| 1\.9 s \/ 3\.3 s \/ 3\.4 s \| 3 ms \/ 9 ms \/ 12 ms \|$/m,
    );
    assert.match(md, /^\| Requests stalled > 1 s \(reads \/ writes\) \| 0 \/ 37 \| 0 \/ 0 \|$/m);
    assert.match(md, /^\| Lock modes held \| ShareLock \| ShareUpdateExclusiveLock \|$/m);
    assert.match(md, /^\| Max waiters \| 1 \| 0 \|$/m);
    assert.match(
      md,
      /^\*\*Conclusion:\*\* CONCURRENTLY took about as long \(5\.0 s vs 3\.6 s, within run-to-run noise\) and kept the worst write at 12 ms instead of 3\.4 s\.$/m,
    );
  });

  void it('says "not probed" rather than inventing numbers, and has no comparison for one run', () => {
    const one = toMarkdown([unprobedRun]);
    assert.match(one, /^\| reads \| not probed \|/m);
    assert.match(one, /The probe was off/);
    assert.doesNotMatch(one, /## Comparison/);
    assert.match(toMarkdown([]), /No runs recorded yet\./);
  });

  void it('compares the newest locking and concurrent runs', () => {
    const pair = comparedPair([unprobedRun, lockingRun, concurrentRun, unprobedRun]);
    assert.deepEqual(pair, [unprobedRun, concurrentRun]);
    assert.equal(comparedPair([lockingRun]), undefined);
    const two = toReportJson([unprobedRun, lockingRun]);
    assert.match(two.comparison!.conclusion, /run 1|run 2/, 'two runs of one kind are named by number');
  });

  void it("leaves a lesson's runs and failed runs out of the comparison", () => {
    const lessonRun = { ...concurrentRun, lesson: 'concurrent-waits', durationMs: 9000 };
    const failedRun = { ...concurrentRun, outcome: 'failed' as const };
    assert.deepEqual(comparedPair([lockingRun, concurrentRun, lessonRun, failedRun]), [
      lockingRun,
      concurrentRun,
    ]);
    assert.equal(comparedPair([lockingRun, lessonRun]), undefined);
  });

  void it('says which exact PostgreSQL each run ran on: its own, the current server only for a run saved without one, else "unknown"', () => {
    const on14 = { ...lockingRun, serverVersion: '14.23' };
    const on18 = { ...concurrentRun, serverVersion: '18.4' };
    const old: RecordedRun = { ...unprobedRun };
    delete old.serverVersion;
    // The server running at export time (18.4) does not overwrite what a run recorded (14.23).
    const json = toReportJson([on14, on18, old], T0, '18.4');
    assert.deepEqual(
      json.runs.map((r) => r.serverVersion),
      ['14.23', '18.4', '18.4'],
    );
    assert.equal('serverVersion' in json, false, 'runs of two servers: no single version at the top');
    assert.deepEqual(validateRunReport(JSON.parse(JSON.stringify(json))), { ok: true, errors: [] });
    assert.equal(toReportJson([on14], T0, '18.4').serverVersion, '14.23');
    const unknown = toReportJson([old], T0);
    assert.equal(unknown.runs[0]!.serverVersion, 'unknown');
    assert.equal('serverVersion' in unknown, false);

    assert.match(toMarkdown([on14], '18.4'), /^Started \S+ on PostgreSQL 14\.23, took /m);
    assert.match(toMarkdown([old]), /^Started \S+ on PostgreSQL unknown, took /m);

    const row = runListRow({ ...on14, serverVersion: '15.18 (Debian 15.18-0+deb12u1)' }, () => '12:00:00');
    assert.equal(row.description, 'locking · succeeded · 3.6 s · 12:00:00 · PostgreSQL 15.18');
    assert.match(row.tooltip, /\nRan on PostgreSQL 15\.18 \(Debian 15\.18-0\+deb12u1\)\.$/);
    assert.match(runListRow(old).tooltip, /Ran on PostgreSQL \(version not recorded\)\.$/);
    assert.doesNotMatch(runListRow(old).description, /PostgreSQL/);
  });
});
