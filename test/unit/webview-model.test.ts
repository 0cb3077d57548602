import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  PANEL_STATE_VERSION,
  buttonStates,
  chainShapes,
  latencyChartLabel,
  restoreSavedState,
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
    const states = buttonStates(inputs({}, { seeded: false }));
    assert.match(states.lessonLockQueue ?? '', /Seed Tables/);
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
  it('says the latest p95 of reads and writes', () => {
    const stats = { count: 1, inFlight: 0, p50Ms: 3, maxMs: 20, stalled: 0, errors: 0, timeouts: 0 };
    const label = latencyChartLabel({
      at: 0,
      windowMs: 60_000,
      stalledThresholdMs: 1000,
      running: true,
      points: [],
      read: { ...stats, p95Ms: 12 },
      write: { ...stats, p95Ms: 3400 },
    });
    assert.match(label, /last 60 s: reads p95 12 ms, writes p95 3\.4 s/);
    assert.match(latencyChartLabel(null), /not measured/);
  });
});
