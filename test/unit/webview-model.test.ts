import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  PANEL_STATE_VERSION,
  buttonStates,
  chainShapes,
  latencyChartLabel,
  restoreSavedState,
  statementMarkText,
  waitersSubject,
  type ButtonInputs,
} from '../../src/shared/model';
import {
  PANEL_ACTIONS,
  type BlockingChainDto as BlockingChain,
  type PanelState,
} from '../../src/shared/protocol';

function inputs(extra: Partial<ButtonInputs> = {}, lab: Partial<ButtonInputs['lab']> = {}): ButtonInputs {
  return {
    lab: {
      database: 'running',
      seeded: true,
      seedTable: 'migration_lab.large_email',
      applied: ['0001_initial'],
      indexMigrationApplied: null,
      invalidIndexes: [],
      ...lab,
    },
    probe: { running: true, url: 'http://127.0.0.1:8001' },
    live: null,
    runs: [],
    liveLesson: null,
    slowReportPid: null,
    ...extra,
  };
}

function panelState(): PanelState {
  const base = inputs();
  return {
    ...base,
    monitor: null,
    locks: null,
    latency: null,
    watch: {
      title: 'Demo: large_email',
      tables: [
        { table: 'migration_lab.large_email', read: 'GET /list_large/', write: 'POST /insert_large/' },
      ],
    },
    statements: [],
    comparison: null,
    lessons: [],
    buttons: buttonStates(base),
  };
}

function chain(
  waiterPid: number,
  waiterRole: BlockingChain['waiterRole'],
  blockerPid: number,
  waitingMs = 100,
): BlockingChain {
  return {
    waiterPid,
    waiterRole,
    blockerPids: [blockerPid],
    blockerRoles: ['migration'],
    waitingMs,
    mode: 'RowExclusiveLock',
    locktype: 'relation',
    target: 'migration_lab.large_email',
  };
}

describe('panel buttons: the host says which can be pressed and why the others cannot', () => {
  it('has a state for every panel action', () => {
    const states = buttonStates(inputs());
    assert.deepEqual(Object.keys(states).sort(), Object.keys(PANEL_ACTIONS).sort());
  });

  it('gives a reason for every button that is not available while PostgreSQL is stopped', () => {
    const states = buttonStates(inputs({ probe: { running: false } }, { database: 'stopped' }));
    assert.equal(states.startPostgres, null, 'Start PostgreSQL is the way out');
    for (const action of [
      'runLocking',
      'rollback',
      'runConcurrent',
      'startProbe',
      'lessonLockQueue',
    ] as const) {
      assert.match(states[action] ?? '', /PostgreSQL is stopped/, action);
    }
  });

  it('says which migration is applied when the index migrations and the CONCURRENTLY lesson cannot run', () => {
    const states = buttonStates(
      inputs(
        {},
        {
          applied: ['0001_initial', '0002_add_email_index_concurrently'],
          indexMigrationApplied: '0002_add_email_index_concurrently',
        },
      ),
    );
    assert.match(states.runLocking ?? '', /0002_add_email_index_concurrently is applied: press Roll Back/);
    assert.match(states.lessonConcurrentWaits ?? '', /0002_add_email_index_concurrently is applied/);
    assert.equal(states.rollback, null);
  });

  it('says what is running while a migration runs, and allows Cancel only then', () => {
    const idle = buttonStates(inputs());
    assert.equal(idle.runLocking, null);
    assert.match(idle.cancel ?? '', /No migration is running/);
    assert.match(idle.rollback ?? '', /nothing to roll back/);
    const busy = buttonStates(
      inputs(
        { live: { migration: '0002_add_email_index', kind: 'locking', startedAt: 1 } },
        { running: { id: '0002_add_email_index', pid: 42 } },
      ),
    );
    assert.equal(busy.cancel, null);
    assert.match(busy.runLocking ?? '', /0002_add_email_index is running/);
    assert.match(busy.stopProbe ?? '', /verdict needs the probe/);
  });

  it('asks for a seed before the lessons', () => {
    const states = buttonStates(inputs({}, { seeded: false, seedTable: 'lab2.large_email' }));
    assert.match(states.lessonLockQueue ?? '', /^lab2\.large_email has no rows yet: run Seed Tables/);
  });
});

describe('the panel saved state', () => {
  it('restores a state of the current version', () => {
    const state = panelState();
    assert.deepEqual(restoreSavedState({ version: PANEL_STATE_VERSION, state }), state);
  });

  it('drops a state of an older or other shape instead of drawing it', () => {
    const state = panelState();
    const withoutButtons: Partial<PanelState> = { ...state };
    delete withoutButtons.buttons;
    for (const saved of [
      undefined,
      null,
      'state',
      { state }, // version 1 saved { state } without a version
      { version: PANEL_STATE_VERSION - 1, state },
      { version: PANEL_STATE_VERSION, state: withoutButtons },
      { version: PANEL_STATE_VERSION, state: { ...state, runs: 'none' } },
      { version: PANEL_STATE_VERSION, state: { ...state, lab: { database: 'running' } } },
      { version: PANEL_STATE_VERSION, state: { ...state, locks: 7 } },
      // version 3 had no watched tables, no statement marks and one table's latency
      { version: PANEL_STATE_VERSION, state: { ...state, watch: undefined } },
      { version: PANEL_STATE_VERSION, state: { ...state, statements: undefined } },
      { version: PANEL_STATE_VERSION, state: { ...state, latency: { at: 0, points: [] } } },
    ]) {
      assert.equal(restoreSavedState(saved), undefined, JSON.stringify(saved)?.slice(0, 80));
    }
  });
});

describe('who waits for whom, collapsed to its shapes', () => {
  it('groups sessions waiting the same way on the same blocker, the largest group first', () => {
    const chains = [
      chain(11, 'probe-write', 500, 300),
      chain(12, 'probe-write', 500, 900),
      chain(13, 'probe-write', 500, 100),
      { ...chain(21, 'probe-read', 500), mode: 'AccessShareLock' },
    ];
    const shapes = chainShapes(chains);
    assert.equal(shapes.length, 2);
    assert.deepEqual(shapes[0]!.waiterPids, [11, 12, 13]);
    assert.equal(shapes[0]!.maxWaitingMs, 900);
    assert.deepEqual(shapes[0]!.blockers, [{ pid: 500, role: 'migration' }]);
    assert.equal(waitersSubject(shapes[0]!), '3 probe-write sessions');
    assert.equal(waitersSubject(shapes[1]!), 'probe-read 21');
  });

  it('keeps different blockers and modes apart', () => {
    const shapes = chainShapes([
      chain(11, 'probe-write', 500),
      chain(12, 'probe-write', 501),
      { ...chain(13, 'probe-write', 500), mode: 'ShareLock' },
    ]);
    assert.equal(shapes.length, 3);
  });
});

describe('the latency chart text alternative', () => {
  const stats = { count: 1, inFlight: 0, p50Ms: 3, maxMs: 20, stalled: 0, errors: 0, timeouts: 0 };
  const table = (name: string, readP95: number, writeP95: number) => ({
    table: name,
    points: [],
    read: { ...stats, p95Ms: readP95 },
    write: { ...stats, p95Ms: writeP95 },
  });
  const snapshot = { at: 0, windowMs: 60_000, stalledThresholdMs: 1000, running: true };

  it("says the latest p95 of the one table's reads and writes", () => {
    const label = latencyChartLabel({ ...snapshot, tables: [table('migration_lab.large_email', 12, 3400)] });
    assert.match(label, /of migration_lab\.large_email, last 60 s: reads p95 12 ms, writes p95 3\.4 s/);
    assert.match(latencyChartLabel(null), /not measured/);
  });

  it('names each table when it draws several', () => {
    const label = latencyChartLabel({
      ...snapshot,
      tables: [table('public.orders', 5, 2900), table('public.customers', 4, 6)],
    });
    assert.match(
      label,
      /public\.orders reads p95 5 ms, public\.orders writes p95 2\.9 s; public\.customers reads p95 4 ms/,
    );
  });
});

describe('a statement mark on the timeline', () => {
  it('says its label, its duration and its text', () => {
    const mark = {
      key: 'k',
      label: '0003_orders.sql:12',
      sql: 'ALTER TABLE orders ADD COLUMN x int',
      startedAt: 1000,
    };
    assert.equal(
      statementMarkText({ ...mark, endedAt: 3500 }, 9000),
      '0003_orders.sql:12, 2.5 s: ALTER TABLE orders ADD COLUMN x int',
    );
    assert.match(
      statementMarkText({ ...mark, endedAt: null }, 1400),
      /^0003_orders\.sql:12, running for 400 ms: /,
    );
  });
});
