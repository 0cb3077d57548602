import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { FailedConcurrentlyResult } from '../../src/core/lessons/types';
import { LESSON_TITLES } from '../../src/core/scenarios/lessons';
import { toBlockingChains } from '../../src/core/monitor/lockMonitor';
import { RunRecorder, type RecordedRun } from '../../src/core/monitor/recorder';
import { toReportJson } from '../../src/core/monitor/report';
import { kindStats, type ProbeSample } from '../../src/core/probe/stats';
import {
  toComparisonDto,
  toLatencyByTableDto,
  toLatencySnapshotDto,
  toLessonDto,
  toRunDto,
} from '../../src/extension/panelDto';
import { lockRow } from '../fixtures/monitorRows';

const T0 = Date.UTC(2025, 0, 1, 12, 0, 0);

function run(migration: string, kind: 'locking' | 'concurrent', startedAt: number): RecordedRun {
  const rec = new RunRecorder();
  rec.begin({ migrationId: migration, kind, pid: 100, startedAt });
  const locks = [lockRow(100, 'ShareLock', true, { role: 'migration' })];
  rec.observe({ at: startedAt, locks, blockingChains: toBlockingChains(locks), progress: [], pollMs: 1 });
  return rec.end({
    result: { pid: 100, migrations: [{ id: migration, statements: [], durationMs: 1000 }] },
    endedAt: startedAt + 1000,
  });
}

describe('the panel DTOs the host sends', () => {
  it('compares the same pair as the exported report (one rule, in core)', () => {
    // Two locking runs and one concurrent: the pair is the newest locking and the concurrent run.
    const runs = [
      run('0002_add_email_index', 'locking', T0),
      run('0002_add_email_index_concurrently', 'concurrent', T0 + 10_000),
      run('0002_add_email_index', 'locking', T0 + 20_000),
    ];
    const dto = toComparisonDto(runs);
    const report = toReportJson(runs, T0);
    assert.ok(dto && report.comparison);
    assert.equal(dto.conclusion, report.comparison.conclusion);
    const keys = runs.map((r) => toRunDto(r).key);
    assert.deepEqual(dto.runKeys, [keys[2], keys[1]]);
  });

  it('sends no pair while there is nothing to compare', () => {
    assert.equal(toComparisonDto([run('0002_add_email_index', 'locking', T0)]), null);
  });

  it("names a lesson with core's title and lists its facts", () => {
    const result: FailedConcurrentlyResult = {
      name: 'failed-concurrently',
      verdict: 'v',
      observed: {
        duplicatesInserted: 3,
        failedWith: '23505',
        invalidIndexDetected: true,
        invalidIndex: null,
        ifNotExistsSucceeded: true,
        ifNotExistsNotice: null,
        ifNotExistsKeptInvalid: true,
        plainRetryFailedWith: '42P07',
        droppedConcurrently: true,
        duplicatesRemoved: 3,
        cleanedUp: true,
        migration: 'm',
      },
    };
    const dto = toLessonDto(result);
    assert.equal(dto.title, LESSON_TITLES['failed-concurrently']);
    assert.deepEqual(dto.facts[0], ['build failed with', '23505']);
  });
});

describe('the per-table latency the panel draws', () => {
  const sample = (kind: 'read' | 'write', startedAt: number, latencyMs?: number): ProbeSample => ({
    kind,
    startedAt,
    ...(latencyMs !== undefined
      ? { endedAt: startedAt + latencyMs, latencyMs, status: 200, outcome: 'ok' as const }
      : { status: 0 }),
  });

  it("keeps each table's reads and writes apart, in the window, with the host's stall threshold", () => {
    const dto = toLatencyByTableDto(
      {
        'public.orders': {
          reads: [sample('read', T0 - 120_000, 5), sample('read', T0 - 1000, 8)],
          writes: [sample('write', T0 - 900, 2500), sample('write', T0 - 3000)],
        },
        'public.customers': { reads: [sample('read', T0 - 500, 3)], writes: [] },
      },
      { at: T0, windowMs: 60_000, stalledThresholdMs: 2000, running: true },
    );
    assert.deepEqual(
      dto.tables.map((t) => t.table),
      ['public.orders', 'public.customers'],
    );
    const orders = dto.tables[0]!;
    assert.equal(orders.read.count, 1, 'the read before the window is left out');
    assert.equal(orders.read.maxMs, 8);
    assert.equal(orders.write.count, 1);
    assert.equal(orders.write.inFlight, 1, 'a write still waiting counts with its age');
    assert.equal(orders.write.stalled, 2, 'over 2 s: the slow write and the one waiting 3 s');
    assert.equal(dto.stalledThresholdMs, 2000);
    assert.deepEqual(
      orders.points.map((p) => p.kind),
      ['write', 'read', 'write'],
    );
    assert.equal(dto.tables[1]!.write.count, 0);
  });

  it("draws the demo's one probe as its one table", () => {
    const stats = kindStats([], 'read', T0); // no requests yet: only the table's name matters here
    const dto = toLatencySnapshotDto(
      {
        at: T0,
        windowMs: 60_000,
        stalledThresholdMs: 1000,
        running: true,
        read: stats,
        write: stats,
        points: [],
      },
      'migration_lab.large_email',
    );
    assert.deepEqual(
      dto.tables.map((t) => t.table),
      ['migration_lab.large_email'],
    );
  });
});
