import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { LockSnapshot } from '../../src/core/monitor/lockMonitor';
import type { ProbeSample } from '../../src/core/probe/stats';
import {
  latencyDuring,
  maxBlockedSessions,
  observedLocks,
  plainName,
  predictionMismatch,
  progressPhases,
  rewrittenRelations,
} from '../../src/core/trace/attribution';
import { traceMarkdown } from '../../src/core/trace/report';
import type { TraceLatency, TraceReport, TraceStatement } from '../../src/core/trace/types';
import {
  latencyClause,
  migrationVerdict,
  stalledLongerThan,
  statementVerdict,
} from '../../src/core/trace/verdict';
import { indexProgress, lockRow } from '../fixtures/monitorRows';

const ORDERS = 'public.orders';
const MIGRATION = 100;

function snapshot(
  at: number,
  locks: LockSnapshot['locks'],
  chains: LockSnapshot['blockingChains'] = [],
): LockSnapshot {
  return { at, locks, blockingChains: chains, progress: [], pollMs: 1 };
}

const window = { pid: MIGRATION, startedAt: 1000, endedAt: 2000 };

void describe('trace attribution', () => {
  void it('unquotes monitor names to the linter’s schema.name', () => {
    assert.equal(plainName('public.orders'), 'public.orders');
    assert.equal(plainName('"My Schema"."Odd ""name"""'), 'My Schema.Odd "name"');
  });

  void it('keeps the backend’s and its parallel workers’ relation locks inside the window, with the longest wait', () => {
    const snaps = [
      snapshot(900, [lockRow(MIGRATION, 'AccessExclusiveLock', true, { relation: 'public.customers' })]),
      snapshot(1100, [lockRow(MIGRATION, 'ShareLock', false, { relation: ORDERS, waitingMs: 40 })]),
      snapshot(1300, [
        lockRow(MIGRATION, 'ShareLock', false, { relation: ORDERS, waitingMs: 240 }),
        lockRow(7, 'RowExclusiveLock', false, { relation: ORDERS, waitingMs: 100 }),
      ]),
      snapshot(1500, [
        lockRow(MIGRATION, 'ShareLock', true, { relation: ORDERS }),
        lockRow(101, 'AccessShareLock', true, { relation: 'public.orders_pkey', leaderPid: MIGRATION }),
        lockRow(MIGRATION, 'AccessShareLock', true, { relation: 'pg_catalog.pg_class' }),
      ]),
      snapshot(2100, [lockRow(MIGRATION, 'AccessExclusiveLock', true, { relation: ORDERS })]),
    ];
    const locks = observedLocks(snaps, window, (r) => !r.startsWith('pg_catalog.'));
    assert.deepEqual(
      locks.sort((a, b) => a.relation.localeCompare(b.relation)),
      [
        { relation: ORDERS, mode: 'ShareLock', waitedMs: 240 },
        { relation: 'public.orders_pkey', mode: 'AccessShareLock', waitedMs: 0 },
      ],
    );
  });

  void it('counts the most sessions waiting on the backend at once, and the phases it went through', () => {
    const chain = (waiter: number, blockers: number[]) => ({
      waiterPid: waiter,
      waiterRole: 'probe-write' as const,
      blockerPids: blockers,
      blockerRoles: blockers.map(() => 'migration' as const),
      waitingMs: 10,
      mode: 'RowExclusiveLock',
      locktype: 'relation',
      target: ORDERS,
    });
    const snaps = [
      snapshot(1100, [], [chain(7, [MIGRATION]), chain(8, [MIGRATION]), chain(9, [55])]),
      snapshot(1200, [], [chain(7, [MIGRATION])]),
      snapshot(2500, [], [chain(7, [MIGRATION]), chain(8, [MIGRATION]), chain(9, [MIGRATION])]),
    ];
    snaps[0]!.progress = [indexProgress('building index: scanning table')];
    snaps[1]!.progress = [
      indexProgress('building index: sorting live tuples'),
      indexProgress('x', { pid: 5 }),
    ];
    assert.equal(maxBlockedSessions(snaps, window), 2);
    assert.deepEqual(progressPhases(snaps, window), [
      'building index: scanning table',
      'building index: sorting live tuples',
    ]);
  });

  void it('judges latency from the requests that started during the statement', () => {
    const sample = (startedAt: number, latencyMs?: number): ProbeSample => ({
      kind: 'write',
      startedAt,
      status: latencyMs === undefined ? 0 : 200,
      ...(latencyMs === undefined
        ? {}
        : { latencyMs, endedAt: startedAt + latencyMs, outcome: 'ok' as const }),
    });
    const samples = [
      sample(500, 4000),
      sample(1200, 1500),
      sample(1500, 20),
      sample(1900),
      sample(2500, 3000),
    ];
    const l = latencyDuring(samples, 'write', window, 4000, 1000);
    // 500 started under the statement before; 2500 after; 1900 is still in flight (age 2100 at 4000).
    assert.deepEqual(l, { p50Ms: 1500, p95Ms: 2100, maxMs: 2100, stalled: 2 });
    assert.deepEqual(latencyDuring(samples, 'read', window, 4000, 1000), {
      p50Ms: null,
      p95Ms: null,
      maxMs: null,
      stalled: 0,
    });
  });

  void it('calls a relation rewritten when its file changed, not when it is new or toast', () => {
    const before = [
      { relation: ORDERS, relkind: 'r', filenode: '16400' },
      { relation: 'public.orders_pkey', relkind: 'i', filenode: '16405' },
      { relation: 'pg_toast.pg_toast_16400', relkind: 't', filenode: '16403' },
    ];
    const after = [
      { relation: ORDERS, relkind: 'r', filenode: '16500' },
      { relation: 'public.orders_pkey', relkind: 'i', filenode: '16405' },
      { relation: 'pg_toast.pg_toast_16400', relkind: 't', filenode: '16503' },
      { relation: 'public.orders_new_idx', relkind: 'i', filenode: '16510' },
    ];
    assert.deepEqual(rewrittenRelations(before, after), [ORDERS]);
    assert.deepEqual(rewrittenRelations(before, before), []);
  });

  void it('compares the linter’s prediction with the observation, per relation, strongest mode', () => {
    const isTable = (r: string) => !r.endsWith('_idx') && !r.endsWith('_pkey');
    const lock = (relation: string, mode: string) => ({ relation, mode, waitedMs: 0 });
    assert.equal(
      predictionMismatch(
        [{ relation: ORDERS, mode: 'ShareLock' }],
        [
          lock(ORDERS, 'ShareLock'),
          lock(ORDERS, 'AccessShareLock'),
          lock('public.orders_pkey', 'AccessShareLock'),
        ],
        { isTable },
      ),
      undefined,
    );
    assert.equal(
      predictionMismatch([{ relation: ORDERS, mode: 'ShareLock' }], [lock(ORDERS, 'AccessExclusiveLock')], {
        isTable,
      }),
      'The linter predicted ShareLock on public.orders, the trace observed AccessExclusiveLock.',
    );
    assert.equal(
      predictionMismatch(
        [{ relation: ORDERS, mode: 'ShareLock' }],
        [lock(ORDERS, 'ShareLock'), lock('public.customers', 'RowShareLock')],
        {
          isTable,
        },
      ),
      'The trace observed RowShareLock on public.customers, which the linter did not predict.',
    );
    // Inside a transaction, a lock held since an earlier statement satisfies the prediction.
    assert.equal(
      predictionMismatch([{ relation: ORDERS, mode: 'ShareLock' }], [], {
        isTable,
        heldAfter: [{ relation: ORDERS, mode: 'AccessExclusiveLock' }],
      }),
      undefined,
    );
    assert.match(
      predictionMismatch([{ relation: ORDERS, mode: 'ShareLock' }], [], { isTable }) ?? '',
      /observed no lock on it/,
    );
  });
});

const quiet: TraceLatency = { p50Ms: 3, p95Ms: 8, maxMs: 12, stalled: 0 };
const stalled = (maxMs: number, n = 3): TraceLatency => ({ p50Ms: 40, p95Ms: maxMs, maxMs, stalled: n });

function statement(extra: Partial<TraceStatement>): TraceStatement {
  return {
    file: '/repo/db/migrations/20240104_orders_seen_at.sql',
    line: 2,
    sql: 'ALTER TABLE orders ADD COLUMN seen_at timestamptz DEFAULT clock_timestamp()',
    durationMs: 2800,
    locks: [{ relation: ORDERS, mode: 'AccessExclusiveLock', waitedMs: 0 }],
    rewrites: [ORDERS, 'public.orders_pkey'],
    maxBlockedSessions: 4,
    reads: { [ORDERS]: stalled(2900) },
    writes: { [ORDERS]: stalled(2850) },
    verdict: '',
    startedAt: 0,
    endedAt: 2800,
    progressPhases: [],
    ...extra,
  };
}

void describe('trace verdicts and report', () => {
  void it('says what was rewritten under which lock and what stalled, from the numbers', () => {
    assert.equal(
      statementVerdict({ statement: statement({}), rows: { [ORDERS]: 1_000_000 } }),
      'Rewrote public.orders (1,000,000 rows) under AccessExclusiveLock for 2.8 s; reads and writes of public.orders stalled up to 2.9 s; up to 4 sessions waited on it at once.',
    );
    const index = statement({
      locks: [{ relation: ORDERS, mode: 'ShareLock', waitedMs: 1200 }],
      rewrites: [],
      reads: { [ORDERS]: quiet },
      writes: { [ORDERS]: stalled(2400) },
    });
    assert.equal(
      statementVerdict({ statement: index, rows: { [ORDERS]: 400 } }),
      'Held ShareLock on public.orders for 2.8 s; it waited 1.2 s for ShareLock on public.orders; writes of public.orders stalled up to 2.4 s, reads did not stall; up to 4 sessions waited on it at once.',
    );
    assert.equal(
      latencyClause({ [ORDERS]: quiet }, { [ORDERS]: quiet }, 1000),
      'nothing stalled over 1 s (worst read 12 ms, worst write 12 ms)',
    );
    assert.equal(stalledLongerThan(index, 2000), true);
    assert.equal(stalledLongerThan(index, 3000), false);
  });

  void it('the migration verdict names its worst statement', () => {
    const rewrite = statement({ verdict: 'Rewrote public.orders …' });
    const quick = statement({
      sql: 'SELECT 1',
      reads: { [ORDERS]: quiet },
      writes: { [ORDERS]: quiet },
      verdict: 'Quick.',
    });
    const v = migrationVerdict([quick, rewrite], 1000);
    assert.match(v, /^1 of 2 statements stalled reads or writes over 1 s/);
    assert.match(v, /Worst: ALTER TABLE orders ADD COLUMN/);
    const unprobed = statement({ reads: {}, writes: {}, verdict: 'Took no lock.' });
    assert.match(
      migrationVerdict([unprobed], 1000),
      /^1 statement in 2\.8 s; reads and writes were not measured/,
    );
  });

  void it('the Markdown report has the versions, rows, the per-statement table and the mismatches', () => {
    const s = statement({
      verdict: 'Rewrote public.orders.',
      predicted: [{ relation: ORDERS, mode: 'ShareLock' }],
      predictionMismatch:
        'The linter predicted ShareLock on public.orders, the trace observed AccessExclusiveLock.',
    });
    const report: TraceReport = {
      source: '/repo/db/migrations',
      tool: 'dbmate',
      postgres: 'PostgreSQL 18.1',
      labVersion: '0.1.0',
      migrations: [
        { id: '20240104_orders_seen_at', rows: { [ORDERS]: 1_000_000 }, statements: [s], verdict: 'Bad.' },
      ],
      writeProbes: { [ORDERS]: { kind: 'insert', reason: 'Inserts a synthetic row.' } },
      readProbes: { [ORDERS]: { kind: 'primary key', reason: 'Looks up one of 200 sampled rows by id.' } },
      fillLimits: [],
    };
    // The trace keeps the linter's findings of its files; the report lists them beside the measurements.
    const md = traceMarkdown({
      ...report,
      findings: [
        {
          rule: 'rewrite-under-access-exclusive',
          severity: 'warning',
          message: 'rewrites | the table',
          file: s.file,
          line: 2,
          column: 1,
        },
      ],
    });
    assert.match(md, /Migration Lab 0\.1\.0 on PostgreSQL 18\.1/);
    assert.match(
      md,
      /\| public\.orders \| 1,000,000 \| primary key: Looks up one of 200 sampled rows by id\. \| insert: Inserts a synthetic row\. \|/,
    );
    assert.doesNotMatch(
      md,
      /production statistics|Production estimate/i,
      'no statistics database, no word of it',
    );
    assert.match(
      md,
      /\| AccessExclusiveLock on public\.orders \| blocks everything, reads included \| public\.orders, public\.orders_pkey \| 2\.8 s \| 2\.9 s on public\.orders \(3 stalled\)/,
    );
    assert.match(md, /rewrites \\\| the table/, 'a pipe in a cell is escaped');
    assert.match(md, /## Where the linter and the trace disagree/);
    assert.match(md, /20240104_orders_seen_at\.sql:2: The linter predicted ShareLock/);

    const sized = traceMarkdown({
      ...report,
      statistics: { host: 'db.example.com:5432', database: 'shop', estimates: { [ORDERS]: 2_400_000 } },
    });
    assert.match(
      sized,
      /Row counts sized from production statistics: .* of database `shop` on `db\.example\.com:5432`/,
    );
    assert.match(sized, /\| Table \| Rows \| Production estimate \| Read probe \| Write probe \|/);
    assert.match(sized, /\| public\.orders \| 1,000,000 \| 2,400,000 \| primary key: /);
    const note =
      'Row estimates could not be read from the statistics database shop on db.example.com:5432 (x).';
    const unread = traceMarkdown({
      ...report,
      statistics: { host: 'db.example.com:5432', database: 'shop', estimates: {}, note },
    });
    assert.ok(unread.includes(`Production statistics: ${note}`));
    assert.doesNotMatch(unread, /Production estimate|sized from production/);
  });
});
