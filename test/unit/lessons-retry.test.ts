import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CancelledError, LabError } from '../../src/core/errors';
import {
  DEFAULT_LOCK_RETRY_POLICY,
  backoffDelayMs,
  resolveRetryPolicy,
  retryOnLockTimeout,
  retrySchedule,
  sqlstateOf,
  worstCaseMs,
  type LockAttempt,
} from '../../src/core/lessons/retry';

function pgError(code: string, message = `error ${code}`): Error {
  return Object.assign(new Error(message), { code });
}

/** The runner wraps a pg error in a LabError with `cause`. */
function wrapped(code: string): Error {
  return new LabError('0003_add_column_with_lock_timeout.sql failed', { cause: pgError(code) });
}

/** A clock that only moves when the fake attempts and sleeps say so. */
function fakeClock() {
  let t = 1_000_000;
  const slept: number[] = [];
  return {
    now: () => t,
    advance: (ms: number) => (t += ms),
    slept,
    sleep: (ms: number, signal?: AbortSignal) => {
      if (signal?.aborted) return Promise.reject(new CancelledError());
      slept.push(ms);
      t += ms;
      return Promise.resolve();
    },
  };
}

void describe('retry policy and backoff schedule', () => {
  void it('defaults: lock_timeout 1 s, 10 attempts, 1 s doubling, capped at 30 s', () => {
    assert.deepEqual(resolveRetryPolicy(), { ...DEFAULT_LOCK_RETRY_POLICY });
    assert.deepEqual(
      retrySchedule(resolveRetryPolicy()),
      [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 30000],
    );
  });

  void it('backoff: initial × factor^(n-1), capped, whole ms', () => {
    const p = resolveRetryPolicy({ initialDelayMs: 300, backoffFactor: 1.5, maxDelayMs: 1000 });
    assert.equal(backoffDelayMs(p, 1), 300);
    assert.equal(backoffDelayMs(p, 2), 450);
    assert.equal(backoffDelayMs(p, 3), 675);
    assert.equal(backoffDelayMs(p, 4), 1000);
    assert.throws(() => backoffDelayMs(p, 0), RangeError);
  });

  void it('schedule has one wait fewer than attempts; worst case adds every timeout and wait', () => {
    const p = resolveRetryPolicy({ maxAttempts: 4, lockTimeoutMs: 500, initialDelayMs: 100 });
    assert.deepEqual(retrySchedule(p), [100, 200, 400]);
    assert.equal(worstCaseMs(p), 4 * 500 + 700);
    assert.deepEqual(retrySchedule(resolveRetryPolicy({ maxAttempts: 1 })), []);
  });

  void it('undefined overrides keep the defaults; out-of-range values are refused in one sentence', () => {
    assert.equal(resolveRetryPolicy({ lockTimeoutMs: undefined }).lockTimeoutMs, 1000);
    assert.throws(() => resolveRetryPolicy({ lockTimeoutMs: 0 }), LabError);
    assert.throws(() => resolveRetryPolicy({ maxAttempts: 1.5 }), /whole number/);
    assert.throws(() => resolveRetryPolicy({ backoffFactor: 0.5 }), /backoff factor/);
    assert.throws(() => resolveRetryPolicy({ initialDelayMs: Number.NaN }), LabError);
  });

  void it('sqlstateOf finds the code through the cause chain, and ignores non-SQLSTATE codes', () => {
    assert.equal(sqlstateOf(pgError('55P03')), '55P03');
    assert.equal(sqlstateOf(wrapped('23505')), '23505');
    assert.equal(sqlstateOf(Object.assign(new Error('x'), { code: 'ECONNREFUSED' })), undefined);
    assert.equal(sqlstateOf('text'), undefined);
    const loop: { cause?: unknown } = {};
    loop.cause = loop;
    assert.equal(sqlstateOf(loop), undefined);
  });
});

void describe('retryOnLockTimeout: attempt bookkeeping', () => {
  void it('two lock timeouts, then success: each attempt recorded with times, SQLSTATE, pid and the wait after it', async () => {
    const clock = fakeClock();
    const seen: LockAttempt[] = [];
    const run = await retryOnLockTimeout(
      async (n, setPid) => {
        setPid(100 + n);
        clock.advance(n < 3 ? 1000 : 5);
        if (n < 3) throw wrapped('55P03');
        return `done ${n}`;
      },
      { now: clock.now, sleep: clock.sleep, onAttempt: (a) => void seen.push(a) },
    );
    assert.equal(run.succeeded, true);
    assert.equal(run.value, 'done 3');
    assert.equal(run.timeouts, 2);
    assert.equal(run.error, undefined);
    assert.deepEqual(clock.slept, [1000, 2000]);
    assert.deepEqual(
      run.attempts.map(({ n, outcome, sqlstate, pid, durationMs, delayAfterMs }) => ({
        n,
        outcome,
        sqlstate,
        pid,
        durationMs,
        delayAfterMs,
      })),
      [
        { n: 1, outcome: 'timeout', sqlstate: '55P03', pid: 101, durationMs: 1000, delayAfterMs: 1000 },
        { n: 2, outcome: 'timeout', sqlstate: '55P03', pid: 102, durationMs: 1000, delayAfterMs: 2000 },
        { n: 3, outcome: 'succeeded', sqlstate: undefined, pid: 103, durationMs: 5, delayAfterMs: undefined },
      ],
    );
    // Attempt 2 starts after attempt 1's end plus its wait.
    assert.equal(run.attempts[1]!.startedAt, run.attempts[0]!.endedAt + 1000);
    assert.deepEqual(seen, run.attempts);
  });

  void it('every attempt times out: not succeeded, the last has no wait after it, the error is the lock timeout', async () => {
    const clock = fakeClock();
    const run = await retryOnLockTimeout(() => Promise.reject(pgError('55P03')), {
      policy: { maxAttempts: 3, initialDelayMs: 10 },
      now: clock.now,
      sleep: clock.sleep,
    });
    assert.equal(run.succeeded, false);
    assert.equal(run.attempts.length, 3);
    assert.equal(run.timeouts, 3);
    assert.deepEqual(clock.slept, [10, 20]);
    assert.equal(run.attempts[2]!.delayAfterMs, undefined);
    assert.equal(sqlstateOf(run.error), '55P03');
  });

  void it('any other failure stops at once, recorded as failed with its SQLSTATE', async () => {
    const clock = fakeClock();
    let calls = 0;
    const run = await retryOnLockTimeout(
      () => {
        calls++;
        return Promise.reject(wrapped('42701'));
      },
      { now: clock.now, sleep: clock.sleep },
    );
    assert.equal(calls, 1);
    assert.equal(run.succeeded, false);
    assert.equal(run.timeouts, 0);
    assert.deepEqual(clock.slept, []);
    assert.equal(run.attempts[0]!.outcome, 'failed');
    assert.equal(run.attempts[0]!.sqlstate, '42701');
    assert.match(run.attempts[0]!.error!, /failed/);
  });

  void it('onAttempt is awaited before the wait (the lesson ends its long transaction there)', async () => {
    const clock = fakeClock();
    const order: string[] = [];
    await retryOnLockTimeout(
      async (n) => {
        order.push(`attempt ${n}`);
        if (n === 1) throw pgError('55P03');
      },
      {
        now: clock.now,
        sleep: async (ms) => void order.push(`sleep ${ms}`),
        onAttempt: async (a) => {
          await Promise.resolve();
          order.push(`seen ${a.n} ${a.outcome}`);
        },
      },
    );
    assert.deepEqual(order, ['attempt 1', 'seen 1 timeout', 'sleep 1000', 'attempt 2', 'seen 2 succeeded']);
  });

  void it('an abort during the wait throws CancelledError and makes no further attempt', async () => {
    const controller = new AbortController();
    let calls = 0;
    await assert.rejects(
      retryOnLockTimeout(
        () => {
          calls++;
          return Promise.reject(pgError('55P03'));
        },
        {
          signal: controller.signal,
          sleep: (_ms, signal) => {
            controller.abort();
            return signal?.aborted ? Promise.reject(new CancelledError()) : Promise.resolve();
          },
        },
      ),
      CancelledError,
    );
    assert.equal(calls, 1);
  });

  void it('an attempt cancelled by the signal is recorded as failed and throws CancelledError', async () => {
    const controller = new AbortController();
    const seen: LockAttempt[] = [];
    await assert.rejects(
      retryOnLockTimeout(
        () => {
          controller.abort();
          return Promise.reject(pgError('57014', 'canceling statement due to user request'));
        },
        { signal: controller.signal, onAttempt: (a) => void seen.push(a) },
      ),
      CancelledError,
    );
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.outcome, 'failed');
    assert.equal(seen[0]!.sqlstate, '57014');
  });

  void it('an already aborted signal makes no attempt', async () => {
    let calls = 0;
    await assert.rejects(
      retryOnLockTimeout(async () => void calls++, { signal: AbortSignal.abort() }),
      CancelledError,
    );
    assert.equal(calls, 0);
  });
});
