import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { toBlockingChains, type LockRow, type LockSnapshot } from '../../src/core/monitor/lockMonitor';
import { lockModesConflict } from '../../src/core/lint/lockModes';
import { RunRecorder } from '../../src/core/monitor/recorder';
import { lockRow } from '../fixtures/monitorRows';

const T0 = 1_700_000_000_000;
const MIGRATION = 100;

function snapshot(atOffset: number, locks: LockRow[]): LockSnapshot {
  return { at: T0 + atOffset, locks, blockingChains: toBlockingChains(locks), progress: [], pollMs: 1 };
}

const migrationLock = (mode: string) => lockRow(MIGRATION, mode, true, { role: 'migration' });
const writeWaiting = (pid: number, waitingMs: number) =>
  lockRow(pid, 'RowExclusiveLock', false, { role: 'probe-write', blockedBy: [MIGRATION], waitingMs });

void describe('how long the migration held a lock', () => {
  void it('is at least as long as a session was seen waiting on it, even when one poll saw the lock', () => {
    const rec = new RunRecorder();
    rec.begin({ migrationId: '0002_add_email_index', kind: 'locking', pid: MIGRATION, startedAt: T0 });
    // One snapshot only (a short build between two polls), with two writes queued behind it.
    rec.observe(
      snapshot(150, [
        migrationLock('ShareLock'),
        // Held too, but no INSERT conflicts with it: the waits prove nothing about it.
        migrationLock('AccessShareLock'),
        writeWaiting(400, 640),
        writeWaiting(401, 420),
      ]),
    );
    const run = rec.end({ endedAt: T0 + 300 });
    assert.equal(run.maxWaiters, 2);
    const held = Object.fromEntries(run.locks.map((l) => [l.mode, l.heldMs]));
    assert.deepEqual(held, { ShareLock: 640, AccessShareLock: 0 });
    assert.match(run.verdict, /Held ShareLock on large_email for 640 ms/);
    assert.doesNotMatch(run.verdict, /(?<!Access)ShareLock on large_email for 0 ms/);
  });

  void it('keeps the span between polls when that is longer than any wait', () => {
    const rec = new RunRecorder();
    rec.begin({ migrationId: 'm', kind: 'locking', pid: MIGRATION, startedAt: T0 });
    rec.observe(snapshot(0, [migrationLock('ShareLock'), writeWaiting(400, 900)]));
    rec.observe(snapshot(2_000, [migrationLock('ShareLock')]));
    assert.equal(rec.end({ endedAt: T0 + 2_100 }).locks[0]!.heldMs, 2_000);
  });
});

void describe('lockModesConflict', () => {
  void it("follows PostgreSQL's table of conflicting lock modes", () => {
    assert.equal(lockModesConflict('ShareLock', 'RowExclusiveLock'), true);
    assert.equal(lockModesConflict('RowExclusiveLock', 'ShareLock'), true);
    assert.equal(lockModesConflict('ShareLock', 'ShareLock'), false);
    assert.equal(lockModesConflict('ShareUpdateExclusiveLock', 'RowExclusiveLock'), false);
    assert.equal(lockModesConflict('ShareUpdateExclusiveLock', 'ShareUpdateExclusiveLock'), true);
    assert.equal(lockModesConflict('AccessShareLock', 'AccessExclusiveLock'), true);
    assert.equal(lockModesConflict('AccessShareLock', 'ExclusiveLock'), false);
    assert.equal(lockModesConflict('RowShareLock', 'ExclusiveLock'), true);
  });
});
