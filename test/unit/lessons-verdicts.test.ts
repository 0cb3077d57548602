import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  concurrentWaitsVerdict,
  failedConcurrentlyVerdict,
  lockQueueVerdict,
  lockTimeoutVerdict,
} from '../../src/core/lessons/verdicts';

const chain = {
  at: 0,
  readerPid: 200,
  readerMode: 'AccessShareLock',
  readerWaitingMs: 2400,
  ddlPid: 150,
  ddlMode: 'AccessExclusiveLock',
  ddlWaitingMs: 2600,
  blockerPid: 123,
};

void describe('lock-queue verdict', () => {
  const base = {
    readsWaitedBehindDdl: true,
    maxReadStallMs: 2800,
    readsQueued: 25,
    ddlWaitedMs: 2600,
    chain,
    longTransactionPid: 123,
    maxReadersWaiting: 10,
    stalledThresholdMs: 1000,
  };

  void it('names the stall, the queue, the lock and the long transaction from the numbers', () => {
    assert.equal(
      lockQueueVerdict(base),
      'Reads stalled up to 2.8 s: 25 reads queued behind ALTER TABLE (waiting for AccessExclusiveLock), ' +
        'which waited 2.6 s for the open transaction of pid 123. A plain SELECT that never conflicts with ' +
        'the slow report was blocked because the lock queue is first come, first served.',
    );
  });

  void it('a short wait is not called a stall; one read is singular', () => {
    const v = lockQueueVerdict({ ...base, maxReadStallMs: 640, readsQueued: 1 });
    assert.match(v, /^Reads waited behind the ALTER \(worst 640 ms\): 1 read queued behind ALTER TABLE/);
  });

  void it('without the chain in pg_locks it says what was and was not seen', () => {
    assert.match(
      lockQueueVerdict({ ...base, readsWaitedBehindDdl: false, chain: undefined as never }),
      /^Reads stalled up to 2\.8 s, but no read was seen waiting behind the ALTER/,
    );
    assert.match(
      lockQueueVerdict({ ...base, readsWaitedBehindDdl: false, maxReadStallMs: 12, chain: null }),
      /^The ALTER waited 2\.6 s for the open transaction of pid 123, but no read was seen queued/,
    );
    assert.match(
      lockQueueVerdict({
        ...base,
        readsWaitedBehindDdl: false,
        maxReadStallMs: null,
        ddlWaitedMs: null,
        chain: null,
      }),
      /^No read was seen waiting behind the ALTER \(worst read n\/a\)/,
    );
  });
});

void describe('lock-timeout verdict', () => {
  const base = {
    lockTimeoutMs: 1000,
    attempts: 3,
    timeouts: 2,
    succeeded: true,
    maxReadStallMs: 1100,
    withoutTimeoutMaxReadStallMs: 2800,
    longTransactionPid: 123,
    sqlstates: ['55P03', '55P03'],
  };

  void it('compares the worst read stall with and without the timeout', () => {
    assert.equal(
      lockTimeoutVerdict(base),
      'With lock_timeout = 1.0 s: 2 attempts gave up after 1.0 s with 55P03 while the transaction of pid 123 ' +
        'stayed open, and attempt 3 succeeded once it ended. The worst read stall was 1.1 s instead of 2.8 s without a timeout.',
    );
  });

  void it('without the lock-queue figure it says where to get it; a worse figure is not called better', () => {
    assert.match(
      lockTimeoutVerdict({ ...base, withoutTimeoutMaxReadStallMs: null }),
      /The worst read stall was 1\.1 s \(run the lock-queue lesson for the figure without a timeout\)\.$/,
    );
    assert.match(
      lockTimeoutVerdict({ ...base, withoutTimeoutMaxReadStallMs: 900 }),
      /1\.1 s, no better than 900 ms without a timeout\.$/,
    );
  });

  void it('first attempt succeeded; all attempts timed out; another failure', () => {
    assert.match(
      lockTimeoutVerdict({ ...base, attempts: 1, timeouts: 0, sqlstates: [] }),
      /^With lock_timeout = 1\.0 s: the first attempt got its lock and succeeded\./,
    );
    assert.match(
      lockTimeoutVerdict({ ...base, attempts: 10, timeouts: 10, succeeded: false }),
      /^With lock_timeout = 1\.0 s: all 10 attempts gave up with 55P03; the migration did not run/,
    );
    assert.match(
      lockTimeoutVerdict({ ...base, succeeded: false, sqlstates: ['55P03', '55P03', '42701'] }),
      /attempt 3 failed with SQLSTATE 42701 after 2 attempts gave up/,
    );
  });
});

void describe('concurrent-waits verdict', () => {
  const base = {
    waitingPhaseSeen: 'waiting for old snapshots',
    lockerPidMatched: true,
    readsAndWritesFlowed: true,
    phasesSeen: ['building index: scanning table', 'waiting for old snapshots'],
    longTransactionPid: 123,
    waitMs: 2100,
    maxReadMsDuringWait: 15,
    maxWriteMsDuringWait: 20,
    buildCompleted: true,
    finishedAfterReleaseMs: 40,
  };

  void it('names the phase, the locker and the flowing traffic', () => {
    assert.equal(
      concurrentWaitsVerdict(base),
      'CREATE INDEX CONCURRENTLY waited 2.1 s in phase "waiting for old snapshots" for the open transaction of ' +
        'pid 123, while reads (worst 15 ms) and writes (worst 20 ms) kept flowing; it finished 40 ms after that ' +
        'transaction ended. CONCURRENTLY trades blocking for waiting: one old transaction delays the whole build.',
    );
  });

  void it('not seen waiting: lists the phases that were seen', () => {
    assert.equal(
      concurrentWaitsVerdict({ ...base, lockerPidMatched: false, waitingPhaseSeen: null }),
      'CREATE INDEX CONCURRENTLY was not seen waiting for the open transaction of pid 123 ' +
        '(phases seen: building index: scanning table, waiting for old snapshots).',
    );
  });

  void it('no traffic during the wait, and a build that did not complete', () => {
    const v = concurrentWaitsVerdict({ ...base, readsAndWritesFlowed: false, buildCompleted: false });
    assert.match(v, /and no read and write were both seen completing meanwhile; it did not complete\./);
  });
});

void describe('failed-concurrently verdict', () => {
  const invalidIndex = {
    schema: 'migration_lab',
    index: 'large_email_email_key',
    table: 'large_email',
    indisvalid: false,
    indisready: false,
    definition: 'CREATE UNIQUE INDEX large_email_email_key ON migration_lab.large_email USING btree (email)',
  };
  const base = {
    duplicatesInserted: 3,
    failedWith: '23505',
    invalidIndexDetected: true,
    invalidIndex,
    ifNotExistsSucceeded: true,
    ifNotExistsKeptInvalid: true,
    plainRetryFailedWith: '42P07',
    droppedConcurrently: true,
    duplicatesRemoved: 3,
    cleanedUp: true,
  };

  void it('tells the whole story from the facts', () => {
    assert.equal(
      failedConcurrentlyVerdict(base),
      'CREATE UNIQUE INDEX CONCURRENTLY failed with 23505 on 3 duplicate emails and left the INVALID index ' +
        'large_email_email_key behind (indisready = false: it failed before writes began to maintain it): the ' +
        'planner never uses it, and it holds the name. CREATE … IF NOT EXISTS then "succeeded" without doing ' +
        'anything: the index stayed invalid. Retrying under the same name failed with 42P07. DROP INDEX ' +
        'CONCURRENTLY removed it and the 3 duplicate rows were deleted.',
    );
  });

  void it('a ready invalid index is still maintained by every write', () => {
    assert.match(
      failedConcurrentlyVerdict({ ...base, invalidIndex: { ...invalidIndex, indisready: true } }),
      /\(indisready = true\): the planner never uses it, yet every write still maintains it\./,
    );
  });

  void it('no failure, no invalid index, an incomplete cleanup', () => {
    const v = failedConcurrentlyVerdict({
      ...base,
      failedWith: null,
      invalidIndexDetected: false,
      invalidIndex: null,
      cleanedUp: false,
    });
    assert.match(v, /^CREATE UNIQUE INDEX CONCURRENTLY did not fail \(3 duplicates inserted\)\./);
    assert.match(v, /The cleanup did not complete/);
    assert.doesNotMatch(v, /IF NOT EXISTS/);
    assert.match(
      failedConcurrentlyVerdict({ ...base, duplicatesRemoved: 1 }),
      /the duplicate row was deleted\.$/,
    );
  });
});
