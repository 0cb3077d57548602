import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isStoredTrace } from '../../src/core/monitor/runStore';
import type { TraceReport } from '../../src/core/trace/types';
import {
  EXTERNAL_OPTIONS,
  externalChoices,
  externalQuestion,
  storedTraceOf,
  traceFileName,
  traceListRow,
  traceProgressLine,
  withStatementEvent,
} from '../../src/extension/traceModel';

const T0 = 1_700_000_000_000;

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

describe('the trace in the panel: statement marks on the timeline', () => {
  const start = {
    migration: '0002_index',
    file: '/w/db/migrations/0002_index.sql',
    line: 3,
    sql: 'CREATE INDEX i ON t (c)',
    startedAt: T0,
  };
  it('names the migration too when its file name does not (one folder per migration)', () => {
    const [mark] = withStatementEvent([], {
      ...start,
      migration: '20240102_add_index',
      file: '/w/prisma/migrations/20240102_add_index/migration.sql',
    });
    assert.equal(mark!.label, '20240102_add_index · migration.sql:3');
  });

  it('a start opens a mark, its end closes the same mark, the next statement adds one', () => {
    const opened = withStatementEvent([], start);
    assert.deepEqual(opened, [
      {
        key: `0002_index:${start.file}:3:${T0}`,
        label: '0002_index.sql:3',
        sql: start.sql,
        startedAt: T0,
        endedAt: null,
      },
    ]);
    const closed = withStatementEvent(opened, { ...start, endedAt: T0 + 1500 });
    assert.equal(closed.length, 1);
    assert.equal(closed[0]!.endedAt, T0 + 1500);
    assert.equal(opened[0]!.endedAt, null, 'the list given is not changed');
    const next = withStatementEvent(closed, {
      ...start,
      line: 5,
      sql: 'ALTER TABLE t …',
      startedAt: T0 + 1600,
    });
    assert.deepEqual(
      next.map((m) => [m.label, m.endedAt]),
      [
        ['0002_index.sql:3', T0 + 1500],
        ['0002_index.sql:5', null],
      ],
    );
  });
});

describe('the trace notification', () => {
  it('names the phase and, while filling, the row counts', () => {
    const fill = traceProgressLine({
      phase: 'fill',
      message: 'filling public.orders',
      done: 250_000,
      total: 1_000_000,
    });
    assert.equal(fill.message, '2 of 4, fill: filling public.orders (250,000 / 1,000,000 rows)');
    assert.ok(fill.percent > 10 && fill.percent < 60, String(fill.percent));
    assert.equal(traceProgressLine({ phase: 'cleanup', message: '' }).message, '4 of 4, cleanup');
    assert.equal(
      traceProgressLine({ phase: 'replay', message: 'replaying 0001_init.' }).message,
      '1 of 4, replay: replaying 0001_init',
    );
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
