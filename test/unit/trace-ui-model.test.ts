import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isStoredTrace } from '../../src/core/monitor/runStore';
import type { ProbeSample } from '../../src/core/probe/stats';
import type { TraceReport } from '../../src/core/trace/types';
import {
  EXTERNAL_OPTIONS,
  externalChoices,
  externalQuestion,
  storedTraceOf,
  traceFileName,
  traceLatencySnapshot,
  traceListRow,
  traceProgressLine,
} from '../../src/extension/traceModel';

const T0 = 1_700_000_000_000;

function sample(kind: 'read' | 'write', startedAt: number, latencyMs?: number): ProbeSample {
  return latencyMs === undefined
    ? { kind, startedAt, status: 0 }
    : { kind, startedAt, endedAt: startedAt + latencyMs, latencyMs, status: 200, outcome: 'ok' };
}

const report: TraceReport = {
  source: 'db/migrations',
  tool: 'dbmate',
  postgres: '18.4',
  labVersion: '0.1.0',
  migrations: [
    { id: '0002_index', rows: { 'public.orders': 1000 }, statements: [], verdict: 'first verdict' },
    { id: '0003 add/column', rows: { 'public.orders': 1000 }, statements: [], verdict: 'last verdict' },
  ],
  writeProbes: {},
  fillLimits: [],
};

describe('the trace in the panel: one latency snapshot over every touched table', () => {
  it('counts reads of all tables as reads and writes as writes, in-flight ones with their age', () => {
    const now = T0 + 10_000;
    const snapshot = traceLatencySnapshot(
      {
        'public.orders': { reads: [sample('read', T0 + 1000, 3)], writes: [sample('write', T0 + 2000)] },
        'public.customers': {
          reads: [sample('read', T0 + 1500, 5)],
          writes: [sample('write', T0 + 3000, 4)],
        },
      },
      now,
      1000,
    );
    assert.equal(snapshot.read.count, 2);
    assert.equal(snapshot.read.maxMs, 5);
    // The orders write never came back: 8 s in flight, so stalled over the 1 s threshold.
    assert.equal(snapshot.write.inFlight, 1);
    assert.equal(snapshot.write.stalled, 1);
    assert.equal(snapshot.write.maxMs, 8000);
    assert.equal(snapshot.points.length, 4);
    assert.deepEqual(
      snapshot.points.map((p) => p.t),
      [T0 + 1000, T0 + 1500, T0 + 2000, T0 + 3000],
    );
  });

  it('keeps only the window, and a sample of the wrong list takes the list’s kind', () => {
    const now = T0 + 120_000;
    const snapshot = traceLatencySnapshot(
      { t: { reads: [sample('read', T0, 2), sample('write', now - 1000, 7)], writes: [] } },
      now,
      1000,
      60_000,
    );
    assert.equal(snapshot.read.count, 1, 'the sample 120 s ago is outside the 60 s window');
    assert.equal(snapshot.read.maxMs, 7);
    assert.equal(snapshot.write.count, 0);
  });
});

describe('the trace notification', () => {
  it('names the phase and, while filling, the row counts', () => {
    const fill = traceProgressLine({
      phase: 'fill',
      message: 'public.orders',
      done: 250_000,
      total: 1_000_000,
    });
    assert.equal(fill.message, 'Filling: public.orders (250,000 / 1,000,000 rows)');
    assert.ok(fill.percent > 10 && fill.percent < 60, String(fill.percent));
    assert.equal(traceProgressLine({ phase: 'cleanup', message: '' }).message, 'Cleaning up…');
  });

  it('only moves forward from phase to phase', () => {
    const phases = [
      { phase: 'replay', message: 'm', done: 2, total: 2 },
      { phase: 'fill', message: 't', done: 0, total: 10 },
      { phase: 'fill', message: 't', done: 10, total: 10 },
      { phase: 'trace', message: 's', done: 1, total: 3 },
      { phase: 'cleanup', message: '' },
    ] as const;
    const percents = phases.map((p) => traceProgressLine(p).percent);
    for (let i = 1; i < percents.length; i++) assert.ok(percents[i]! >= percents[i - 1]!, percents.join());
  });
});

describe('the Runs view keeps a trace', () => {
  it('as an entry the run store accepts, verdict of the last migration, id of the first', () => {
    const trace = storedTraceOf(report, '/work/shop/db/migrations', T0, T0 + 9_500);
    assert.ok(isStoredTrace(JSON.parse(JSON.stringify(trace))));
    assert.equal(trace.migration, '0002_index');
    assert.deepEqual(trace.migrations, ['0002_index', '0003 add/column']);
    assert.equal(trace.verdict, 'last verdict');
    assert.equal(trace.durationMs, 9_500);
    const row = traceListRow(trace, () => '12:00:00');
    assert.equal(row.label, 'Trace: 0002_index … 0003 add/column');
    assert.match(row.description, /^dbmate · .+ · 12:00:00$/);
    assert.match(row.tooltip, /last verdict/);
  });

  it('exports under a file name the migration id cannot break', () => {
    assert.equal(traceFileName({ migration: '0003 add/column' }, 'markdown'), 'trace-0003_add_column.md');
    assert.equal(traceFileName({ migration: '../../etc' }, 'json'), 'trace-etc.json');
  });
});

describe('a trace on an external database', () => {
  it('does nothing irreversible unless chosen: commit, non-transactional sections and writes are off', () => {
    assert.deepEqual(externalChoices([]), {
      commit: false,
      allowNonTransactional: false,
      allowWrites: false,
    });
    assert.deepEqual(externalChoices(['commit', 'allowWrites']), {
      commit: true,
      allowNonTransactional: false,
      allowWrites: true,
    });
    assert.deepEqual(
      EXTERNAL_OPTIONS.map((o) => o.key).sort(),
      ['allowNonTransactional', 'allowWrites', 'commit'],
      'every choice is offered',
    );
  });

  it('asks naming the database, and says what is rolled back, refused and read-only', () => {
    const q = externalQuestion('0003_add_index', 'database "shop" on db.example.com:5432');
    assert.match(q, /database "shop" on db\.example\.com:5432/);
    assert.match(q, /rolled back/);
    assert.match(q, /refused/);
    assert.match(q, /only read/);
  });
});
