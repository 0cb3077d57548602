import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { APP_NAMES } from '../../src/core/db';
import { progressPercent, toBlockingChains, toLockRows } from '../../src/core/monitor/lockMonitor';
import {
  dedupePids,
  isParallelWorker,
  labelRoles,
  roleFromApplicationName,
  roleOf,
} from '../../src/core/monitor/roles';

void describe('session roles from application_name', () => {
  void it("labels each of the lab's own sessions", () => {
    assert.equal(roleFromApplicationName(APP_NAMES.migration), 'migration');
    assert.equal(roleFromApplicationName(APP_NAMES.probeRead), 'probe-read');
    assert.equal(roleFromApplicationName(APP_NAMES.probeWrite), 'probe-write');
    assert.equal(roleFromApplicationName(APP_NAMES.monitor), 'monitor');
    assert.equal(roleFromApplicationName(APP_NAMES.longTransaction), 'long-transaction');
    assert.equal(roleFromApplicationName(APP_NAMES.seeder), 'seeder');
    assert.equal(roleFromApplicationName(APP_NAMES.admin), 'admin');
  });

  void it("calls everything else 'other'", () => {
    assert.equal(roleFromApplicationName('psql'), 'other');
    assert.equal(roleFromApplicationName(''), 'other');
    assert.equal(roleFromApplicationName(null), 'other');
    assert.equal(roleFromApplicationName(undefined), 'other');
    assert.equal(roleFromApplicationName('migration-lab:unknown'), 'other');
    assert.equal(roleFromApplicationName('migration'), 'other', 'only the full lab name counts');
  });

  void it("gives a parallel worker its leader's role, whatever its own application_name", () => {
    const worker = {
      pid: 201,
      applicationName: '',
      backendType: 'parallel worker',
      leaderPid: 100,
      leaderApplicationName: APP_NAMES.migration,
    };
    assert.equal(isParallelWorker(worker), true);
    assert.equal(roleOf(worker), 'migration');
    // Known from the leader's own row when the leader's name was not joined.
    assert.equal(
      roleOf({ ...worker, leaderApplicationName: undefined }, new Map([[100, 'migration' as const]])),
      'migration',
    );
    // A leader reports leader_pid = its own pid on some versions: it is not a worker.
    assert.equal(
      isParallelWorker({
        pid: 100,
        applicationName: APP_NAMES.migration,
        backendType: 'client backend',
        leaderPid: 100,
      }),
      false,
    );
  });

  void it('labels a whole list, workers after their leaders, in any order', () => {
    const roles = labelRoles([
      { pid: 301, applicationName: 'psql', backendType: 'parallel worker', leaderPid: 300 },
      { pid: 302, applicationName: null, backendType: 'parallel worker', leaderPid: 300 },
      { pid: 300, applicationName: APP_NAMES.migration, backendType: 'client backend', leaderPid: null },
      { pid: 400, applicationName: APP_NAMES.probeWrite, backendType: 'client backend', leaderPid: null },
      { pid: 500, applicationName: 'psql', backendType: 'client backend', leaderPid: null },
    ]);
    assert.deepEqual(Object.fromEntries(roles), {
      300: 'migration',
      301: 'migration',
      302: 'migration',
      400: 'probe-write',
      500: 'other',
    });
  });
});

void describe('blocking pids', () => {
  void it('lists a leader once although each parallel worker reports it', () => {
    assert.deepEqual(dedupePids([4242, 4242, 4242]), [4242]);
    assert.deepEqual(dedupePids([9, 3, 9, 3, 7]), [3, 7, 9]);
    assert.deepEqual(dedupePids(['12', 12, null, 0, -1, undefined]), [12]);
    assert.deepEqual(dedupePids(null), []);
  });

  void it('turns raw lock rows into rows and chains with roles and de-duplicated blockers', () => {
    const base = {
      state: 'active',
      locktype: 'relation',
      relation: 'migration_lab.large_email',
      target: 'migration_lab.large_email',
      query: 'x'.repeat(500),
      leader_application_name: null,
    };
    const locks = toLockRows([
      {
        ...base,
        pid: 400,
        application_name: APP_NAMES.probeWrite,
        backend_type: 'client backend',
        leader_pid: null,
        wait_event: 'Lock:relation',
        mode: 'RowExclusiveLock',
        granted: false,
        blocked_by: [100, 100, 100],
        waiting_ms: 1234,
      },
      {
        ...base,
        pid: 100,
        application_name: APP_NAMES.migration,
        backend_type: 'client backend',
        leader_pid: null,
        wait_event: null,
        mode: 'ShareLock',
        granted: true,
        blocked_by: null,
        waiting_ms: null,
      },
      {
        ...base,
        pid: 101,
        application_name: '',
        backend_type: 'parallel worker',
        leader_pid: 100,
        leader_application_name: APP_NAMES.migration,
        wait_event: null,
        mode: 'ShareLock',
        granted: true,
        blocked_by: null,
        waiting_ms: null,
      },
    ]);
    assert.deepEqual(
      locks.map((l) => [l.pid, l.role, l.mode, l.granted, l.blockedBy, l.waitingMs]),
      [
        [400, 'probe-write', 'RowExclusiveLock', false, [100], 1234],
        [100, 'migration', 'ShareLock', true, [], null],
        [101, 'migration', 'ShareLock', true, [], null],
      ],
    );
    assert.equal(locks[0]!.query.length, 200, 'query text is cut to 200 characters');
    const chains = toBlockingChains(locks);
    assert.deepEqual(chains, [
      {
        waiterPid: 400,
        waiterRole: 'probe-write',
        blockerPids: [100],
        blockerRoles: ['migration'],
        waitingMs: 1234,
        mode: 'RowExclusiveLock',
        locktype: 'relation',
        target: 'migration_lab.large_email',
      },
    ]);
    // A blocker that holds no watched lock is labelled from the extra roles map, else 'other'.
    const [waiter] = toLockRows([
      {
        ...base,
        pid: 600,
        application_name: APP_NAMES.migration,
        backend_type: 'client backend',
        leader_pid: null,
        wait_event: 'Lock:virtualxid',
        locktype: 'virtualxid',
        relation: null,
        target: '5/17',
        mode: 'ShareLock',
        granted: false,
        blocked_by: [700, 800],
        waiting_ms: 50,
      },
    ]);
    assert.deepEqual(
      toBlockingChains([waiter!], new Map([[700, 'long-transaction' as const]]))[0]!.blockerRoles,
      ['long-transaction', 'other'],
    );
  });
});

void describe('index build progress percent', () => {
  const zero = {
    lockersTotal: 0,
    lockersDone: 0,
    blocksTotal: 0,
    blocksDone: 0,
    tuplesTotal: 0,
    tuplesDone: 0,
  };
  void it('uses blocks while scanning, tuples while loading, lockers while waiting', () => {
    assert.equal(
      progressPercent({ ...zero, phase: 'building index: scanning table', blocksTotal: 200, blocksDone: 50 }),
      25,
    );
    assert.equal(
      progressPercent({
        ...zero,
        phase: 'building index: loading tuples in tree',
        blocksTotal: 200,
        blocksDone: 200,
        tuplesTotal: 1000,
        tuplesDone: 333,
      }),
      33.3,
    );
    assert.equal(
      progressPercent({
        ...zero,
        phase: 'waiting for writers before build',
        lockersTotal: 4,
        lockersDone: 1,
      }),
      25,
    );
    assert.equal(
      progressPercent({
        ...zero,
        phase: 'index validation: scanning table',
        blocksTotal: 10,
        blocksDone: 10,
      }),
      100,
    );
  });
  void it('is null while sorting or when the phase has no totals', () => {
    assert.equal(
      progressPercent({
        ...zero,
        phase: 'building index: sorting live tuples',
        blocksTotal: 9,
        blocksDone: 9,
      }),
      null,
    );
    assert.equal(progressPercent({ ...zero, phase: 'initializing' }), null);
    assert.equal(progressPercent({ ...zero, phase: 'waiting for old snapshots' }), null);
  });
});
