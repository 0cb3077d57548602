import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ConcurrentWaitTracker,
  LockQueueTracker,
  flowDuring,
  isWaitingPhase,
  largeEmailNames,
  startedDuring,
  worstLatency,
} from '../../src/core/lessons/observe';
import {
  toBlockingChains,
  type IndexProgress,
  type LockRow,
  type LockSnapshot,
} from '../../src/core/monitor/lockMonitor';
import type { SessionRole } from '../../src/core/monitor/roles';
import type { ProbeSample } from '../../src/core/probe/stats';
import { indexProgress, lockRow } from '../fixtures/monitorRows';

const T0 = 1_700_000_000_000;
const TABLE = 'migration_lab.large_email';
const LONG_TX = 123;
const ALTER = 150;

function lock(
  pid: number,
  role: SessionRole,
  mode: string,
  granted: boolean,
  extra: Partial<LockRow> = {},
): LockRow {
  return lockRow(pid, mode, granted, { role, relation: TABLE, target: TABLE, ...extra });
}

function snapshot(at: number, locks: LockRow[], progress: IndexProgress[] = []): LockSnapshot {
  const roles = new Map<number, SessionRole>([[LONG_TX, 'long-transaction']]);
  return { at: T0 + at, locks, blockingChains: toBlockingChains(locks, roles), progress, pollMs: 1 };
}

const longTx = () =>
  lock(LONG_TX, 'long-transaction', 'AccessShareLock', true, { state: 'idle in transaction' });
const alterWaiting = (ms: number, pid = ALTER) =>
  lock(pid, 'migration', 'AccessExclusiveLock', false, { blockedBy: [LONG_TX], waitingMs: ms });
const readWaiting = (pid: number, ms: number, blockedBy = [ALTER]) =>
  lock(pid, 'probe-read', 'AccessShareLock', false, { blockedBy, waitingMs: ms });

void describe('LockQueueTracker', () => {
  void it('sees the chain reader → ALTER → long transaction only when all three are in one snapshot', () => {
    const t = new LockQueueTracker('migration_lab', LONG_TX);
    t.addDdlPid(ALTER);
    t.observe(snapshot(0, [longTx(), alterWaiting(100)]));
    assert.equal(t.chainSeen, false, 'the ALTER waits but no reader queued yet');
    assert.equal(t.ddlWaitStartedAt, T0 - 100);
    t.observe(snapshot(200, [longTx(), alterWaiting(300), readWaiting(201, 150), readWaiting(202, 50)]));
    assert.equal(t.chainSeen, true);
    assert.deepEqual(t.chain, {
      at: T0 + 200,
      readerPid: 201,
      readerMode: 'AccessShareLock',
      readerWaitingMs: 150,
      ddlPid: ALTER,
      ddlMode: 'AccessExclusiveLock',
      ddlWaitingMs: 300,
      blockerPid: LONG_TX,
    });
    assert.equal(t.maxReadersWaiting, 2);
    assert.equal(t.maxReadLockWaitMs, 150);
    assert.equal(t.maxDdlWaitMs, 300);
  });

  void it('keeps the chain with the longest-waiting ALTER and counts distinct readers', () => {
    const t = new LockQueueTracker('migration_lab', LONG_TX);
    t.addDdlPid(ALTER);
    t.observe(snapshot(0, [alterWaiting(200), readWaiting(201, 100)]));
    t.observe(snapshot(200, [alterWaiting(400), readWaiting(201, 300), readWaiting(203, 10)]));
    t.observe(snapshot(400, [alterWaiting(600), readWaiting(203, 210)]));
    assert.equal(t.chain?.ddlWaitingMs, 600);
    assert.equal(t.chain?.readerPid, 203);
    assert.equal(t.readersSeen, 2);
    assert.equal(t.maxReadLockWaitMs, 300);
    assert.equal(t.readerSnapshots, 3);
    assert.equal(t.snapshots, 3);
  });

  void it('ignores readers blocked by something else, writers, other tables and unknown ALTER pids', () => {
    const t = new LockQueueTracker('migration_lab', LONG_TX);
    t.addDdlPid(ALTER);
    t.observe(
      snapshot(0, [
        alterWaiting(300),
        readWaiting(201, 100, [999]),
        lock(202, 'probe-write', 'RowExclusiveLock', false, { blockedBy: [ALTER], waitingMs: 100 }),
        readWaiting(203, 100, [ALTER]),
        alterWaiting(300, 777),
      ]),
    );
    // Reader 203 on another table:
    const other = new LockQueueTracker('other_schema', LONG_TX);
    other.addDdlPid(ALTER);
    other.observe(snapshot(0, [alterWaiting(300), readWaiting(203, 100)]));
    assert.equal(other.chainSeen, false);
    assert.equal(t.chain?.readerPid, 203);
    assert.equal(t.maxReadersWaiting, 1);
  });

  void it('an ALTER blocked by another session is not the long transaction chain (unless no pid is known)', () => {
    const t = new LockQueueTracker('migration_lab', LONG_TX);
    t.addDdlPid(ALTER);
    const blockedElsewhere = lock(ALTER, 'migration', 'AccessExclusiveLock', false, {
      blockedBy: [555],
      waitingMs: 50,
    });
    t.observe(snapshot(0, [blockedElsewhere, readWaiting(201, 10)]));
    assert.equal(t.chainSeen, false);
    const any = new LockQueueTracker('migration_lab');
    any.addDdlPid(ALTER);
    any.observe(snapshot(0, [blockedElsewhere, readWaiting(201, 10)]));
    assert.equal(any.chain?.blockerPid, 555);
  });

  void it('several attempts (pids): the earliest wait start and the worst read wait over all', () => {
    const t = new LockQueueTracker('migration_lab', LONG_TX);
    t.addDdlPid(150);
    t.observe(snapshot(500, [alterWaiting(400, 150), readWaiting(201, 380, [150])]));
    t.addDdlPid(151);
    t.observe(snapshot(3000, [alterWaiting(900, 151), readWaiting(202, 880, [151])]));
    assert.equal(t.ddlWaitStartedAt, T0 + 100);
    assert.equal(t.maxReadLockWaitMs, 880);
    assert.equal(t.chain?.ddlPid, 151);
  });

  void it('matches the monitor’s relation names for plain and quoted schemas', () => {
    assert.ok(largeEmailNames('migration_lab').includes('migration_lab.large_email'));
    assert.ok(largeEmailNames('Lab').includes('"Lab".large_email'));
  });
});

function progress(pid: number, phase: string, currentLockerPid: number | null): IndexProgress {
  return indexProgress(phase, {
    pid,
    command: 'CREATE INDEX CONCURRENTLY',
    relation: TABLE,
    index: 'migration_lab.large_email_email_idx',
    lockersTotal: currentLockerPid ? 1 : 0,
    currentLockerPid,
  });
}

void describe('ConcurrentWaitTracker', () => {
  const BUILD = 300;
  const vxidWait = (ms: number, blocker = LONG_TX) =>
    lock(BUILD, 'migration', 'ShareLock', false, {
      locktype: 'virtualxid',
      relation: null,
      target: '5/17',
      blockedBy: [blocker],
      waitingMs: ms,
    });

  void it('records the waiting phase whose current_locker_pid is the long transaction, and the blocked virtualxid wait', () => {
    const t = new ConcurrentWaitTracker(LONG_TX);
    t.addBuilderPid(BUILD);
    t.observe(snapshot(0, [], [progress(BUILD, 'waiting for writers before build', 401)]));
    assert.equal(t.lockerPidMatched, false, 'a probe writer as locker does not count');
    t.observe(snapshot(200, [], [progress(BUILD, 'building index: scanning table', null)]));
    t.observe(snapshot(400, [vxidWait(150)], [progress(BUILD, 'waiting for old snapshots', LONG_TX)]));
    t.observe(snapshot(600, [vxidWait(350)], [progress(BUILD, 'waiting for old snapshots', LONG_TX)]));
    assert.equal(t.lockerPidMatched, true);
    assert.equal(t.waitingPhaseSeen, 'waiting for old snapshots');
    assert.equal(t.waitSeenAt, T0 + 400);
    assert.deepEqual(t.phasesSeen, [
      'waiting for writers before build',
      'building index: scanning table',
      'waiting for old snapshots',
    ]);
    assert.deepEqual(t.waitingPhases, ['waiting for writers before build', 'waiting for old snapshots']);
    assert.deepEqual(t.lockerPids, [401, LONG_TX]);
    assert.equal(t.blockedByLongTransaction, true);
    assert.equal(t.maxWaitMs, 350);
  });

  void it('ignores other builds and waits blocked by someone else', () => {
    const t = new ConcurrentWaitTracker(LONG_TX);
    t.addBuilderPid(BUILD);
    t.observe(snapshot(0, [vxidWait(100, 999)], [progress(301, 'waiting for old snapshots', LONG_TX)]));
    assert.equal(t.lockerPidMatched, false);
    assert.equal(t.blockedByLongTransaction, false);
    assert.deepEqual(t.phasesSeen, []);
  });

  void it('waiting phases are the ones starting with "waiting"', () => {
    assert.equal(isWaitingPhase('waiting for writers before build'), true);
    assert.equal(isWaitingPhase('Waiting for old snapshots'), true);
    assert.equal(isWaitingPhase('building index: scanning table'), false);
  });
});

void describe('probe sample windows', () => {
  const s = (
    kind: 'read' | 'write',
    startedAt: number,
    latencyMs?: number,
    outcome: ProbeSample['outcome'] = 'ok',
  ) =>
    ({
      kind,
      startedAt,
      endedAt: latencyMs === undefined ? undefined : startedAt + latencyMs,
      latencyMs,
      status: outcome === 'ok' ? 200 : 0,
      outcome: latencyMs === undefined ? undefined : outcome,
    }) as ProbeSample;
  const samples = [
    s('read', 0, 5),
    s('read', 100, 2000),
    s('write', 150, 10),
    s('read', 900, 50, 'error'),
    s('read', 950),
  ];

  void it('flowDuring counts what completed inside the window', () => {
    assert.deepEqual(flowDuring(samples, 'read', 0, 1000), { ok: 1, failed: 1, maxMs: 50 });
    assert.deepEqual(flowDuring(samples, 'write', 0, 1000), { ok: 1, failed: 0, maxMs: 10 });
    assert.deepEqual(flowDuring(samples, 'read', 2000, 3000), { ok: 1, failed: 0, maxMs: 2000 });
  });

  void it('startedDuring and worstLatency (in-flight requests count with their age)', () => {
    assert.equal(startedDuring(samples, 'read', 100, 950), 3);
    assert.equal(worstLatency(samples, 'read', 1000), 2000);
    assert.equal(worstLatency(samples, 'read', 5000), 4050);
    assert.equal(worstLatency([], 'write', 0), null);
  });
});
