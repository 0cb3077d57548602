import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  comparisonLine,
  formatMs,
  tableName,
  verdict,
  type LatencyStats,
} from '../../src/core/monitor/verdict';

function stats(
  p50Ms: number,
  p95Ms: number,
  maxMs: number,
  stalled = 0,
  count = 100,
  errors = 0,
): LatencyStats {
  return { count, p50Ms, p95Ms, maxMs, stalled, errors };
}

const shareLock = { mode: 'ShareLock', relation: 'migration_lab.large_email', heldMs: 3600 };
const sueLock = { mode: 'ShareUpdateExclusiveLock', relation: 'migration_lab.large_email', heldMs: 6100 };

void describe('formatting', () => {
  void it('writes ms below a second, tenths of seconds above, minutes past a minute', () => {
    assert.equal(formatMs(4), '4 ms');
    assert.equal(formatMs(999.4), '999 ms');
    assert.equal(formatMs(3400), '3.4 s');
    assert.equal(formatMs(1000), '1.0 s');
    assert.equal(formatMs(125_000), '2 min 5 s');
    assert.equal(formatMs(null), 'n/a');
  });
  void it('names the table without its schema', () => {
    assert.equal(tableName('migration_lab.large_email'), 'large_email');
    assert.equal(tableName('"my.schema".large_email'), 'large_email');
    assert.equal(tableName('large_email'), 'large_email');
  });
});

void describe('verdict from numbers', () => {
  void it('locking build: writes stalled, reads unaffected, the ShareLock and its waiters', () => {
    const text = verdict({
      durationMs: 3600,
      reads: stats(2, 4, 11),
      writes: stats(1900, 3300, 3400, 37),
      locksHeld: [shareLock],
      maxWaiters: 4,
    });
    assert.equal(
      text,
      'Writes stalled up to 3.4 s (37 requests over 1 s); reads unaffected (p95 4 ms). ' +
        'Held ShareLock on large_email for 3.6 s. Up to 4 sessions waited on it at once.',
    );
  });

  void it('concurrent build: nothing stalled, with both p95s and the lock', () => {
    const text = verdict({
      durationMs: 6100,
      reads: stats(2, 5, 30),
      writes: stats(3, 9, 17),
      locksHeld: [sueLock],
      maxWaiters: 0,
    });
    assert.equal(
      text,
      'Nothing stalled: reads p95 5 ms, writes p95 9 ms. Held ShareUpdateExclusiveLock on large_email for 6.1 s.',
    );
  });

  void it('no probe: latency is unknown, never "unaffected"', () => {
    for (const probe of [
      null,
      undefined,
      { count: 0, p50Ms: null, p95Ms: null, maxMs: null, stalled: 0, errors: 0 },
    ]) {
      const text = verdict({
        durationMs: 3600,
        reads: probe,
        writes: probe,
        locksHeld: [shareLock],
        maxWaiters: 0,
      });
      assert.equal(
        text,
        'The probe was off, so read and write latency is unknown. Held ShareLock on large_email for 3.6 s.',
      );
      assert.doesNotMatch(text, /unaffected|Nothing stalled/);
    }
  });

  void it('only one probe ran: the other is unknown', () => {
    const text = verdict({
      durationMs: 1000,
      reads: null,
      writes: stats(3, 9, 17),
      locksHeld: [],
      maxWaiters: 0,
    });
    assert.match(text, /^Writes unaffected \(p95 9 ms\); reads were not probed \(latency unknown\)\./);
    assert.match(text, /No lock on the watched tables was observed\./);
  });

  void it('reads stalled: said first and with numbers', () => {
    const text = verdict({
      durationMs: 2700,
      reads: stats(1500, 2600, 2700, 20),
      writes: stats(1600, 2650, 2700, 21),
      locksHeld: [{ mode: 'AccessExclusiveLock', relation: 'migration_lab.large_email', heldMs: 50 }],
      maxWaiters: 12,
    });
    assert.match(
      text,
      /^Writes stalled up to 2\.7 s \(21 requests over 1 s\); reads stalled up to 2\.7 s \(20 requests over 1 s\)\./,
    );
    const readsOnly = verdict({
      durationMs: 2700,
      reads: stats(1500, 2600, 2700, 1),
      writes: stats(3, 9, 17),
      locksHeld: [],
      maxWaiters: 1,
    });
    assert.match(
      readsOnly,
      /^Reads stalled up to 2\.7 s \(1 request over 1 s\); writes unaffected \(p95 9 ms\)\./,
    );
    assert.match(readsOnly, /Up to 1 session waited on it at once\./);
  });

  void it('slowed but not stalled, errors and timeouts, failures and cancels', () => {
    assert.match(
      verdict({
        durationMs: 100,
        reads: stats(3, 5, 8),
        writes: stats(20, 300, 700),
        locksHeld: [],
        maxWaiters: 0,
      }),
      /^Writes slowed to 700 ms at worst \(p95 300 ms\); reads unaffected \(p95 5 ms\)\./,
    );
    assert.match(
      verdict({
        durationMs: 100,
        reads: stats(3, 5, 8),
        writes: { ...stats(1500, 5000, 5000, 10), timeouts: 3, errors: 2 },
        locksHeld: [],
        maxWaiters: 0,
      }),
      /^Writes stalled up to 5\.0 s \(10 requests over 1 s, 3 timeouts, 2 errors\)/,
    );
    assert.match(
      verdict({
        durationMs: 2100,
        reads: null,
        writes: null,
        locksHeld: [],
        maxWaiters: 0,
        outcome: 'failed',
        error: 'Duplicate key.',
      }),
      /^Failed after 2\.1 s: Duplicate key\. The probe was off/,
    );
    assert.match(
      verdict({
        durationMs: 900,
        reads: null,
        writes: null,
        locksHeld: [],
        maxWaiters: 0,
        outcome: 'cancelled',
      }),
      /^Cancelled after 900 ms\./,
    );
  });
});

void describe('comparison line', () => {
  const locking = {
    label: 'the plain build',
    durationMs: 3600,
    reads: stats(2, 4, 11),
    writes: stats(1900, 3300, 3400, 37),
  };
  const concurrent = {
    label: 'CONCURRENTLY',
    durationMs: 5040,
    reads: stats(2, 5, 20),
    writes: stats(3, 9, 12),
  };

  void it('names the run that kept writes flowing, with the ratio of durations and both worst writes', () => {
    const expected = 'CONCURRENTLY took 1.4x as long but kept the worst write at 12 ms instead of 3.4 s.';
    assert.equal(comparisonLine(locking, concurrent), expected);
    assert.equal(comparisonLine(concurrent, locking), expected, 'the order of the runs does not matter');
  });

  void it('says "and" when the safer run was not slower', () => {
    assert.equal(
      comparisonLine(locking, { ...concurrent, durationMs: 2400 }),
      'CONCURRENTLY was 1.5x as fast and kept the worst write at 12 ms instead of 3.4 s.',
    );
    assert.equal(
      comparisonLine(locking, { ...concurrent, durationMs: 3650 }),
      'CONCURRENTLY took about as long and kept the worst write at 12 ms instead of 3.4 s.',
    );
  });

  void it('when writes flowed in both, says so and compares durations', () => {
    assert.equal(
      comparisonLine({ ...locking, writes: stats(3, 10, 15) }, concurrent),
      'Writes kept flowing in both (worst 15 ms vs 12 ms); CONCURRENTLY took 1.4x as long as the plain build.',
    );
  });

  void it('does not guess latency when a probe was off', () => {
    const line = comparisonLine({ ...locking, writes: null, reads: null }, concurrent);
    assert.equal(
      line,
      'CONCURRENTLY took 1.4x as long as the plain build; write latency is unknown (the probe was off during the plain build).',
    );
  });

  void it('mentions stalled reads', () => {
    const line = comparisonLine({ ...locking, reads: stats(1500, 2600, 2700, 20) }, concurrent);
    assert.match(line, / Reads stalled in the plain build \(up to 2\.7 s\)\.$/);
  });
});
