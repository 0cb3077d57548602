import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  chartPoints,
  effectiveLatency,
  kindStats,
  maxInFlight,
  percentile,
  probeStats,
  startedBetween,
  type ProbeKind,
  type ProbeOutcome,
  type ProbeSample,
} from '../../src/core/probe/stats';

function done(
  kind: ProbeKind,
  startedAt: number,
  latencyMs: number,
  outcome: ProbeOutcome = 'ok',
): ProbeSample {
  return {
    kind,
    startedAt,
    endedAt: startedAt + latencyMs,
    latencyMs,
    status: outcome === 'ok' ? 200 : outcome === 'error' ? 503 : 0,
    outcome,
  };
}

function inFlight(kind: ProbeKind, startedAt: number): ProbeSample {
  return { kind, startedAt, status: 0 };
}

describe('percentile (nearest rank)', () => {
  it('is null for no values', () => {
    assert.equal(percentile([], 50), null);
    assert.equal(percentile([], 95), null);
  });

  it('is the only value for one value, at any p', () => {
    assert.equal(percentile([7], 1), 7);
    assert.equal(percentile([7], 50), 7);
    assert.equal(percentile([7], 100), 7);
  });

  it('picks the value at rank ceil(p/100 * n), never interpolating', () => {
    const ten = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    assert.equal(percentile(ten, 50), 5);
    assert.equal(percentile(ten, 90), 9);
    assert.equal(percentile(ten, 95), 10);
    assert.equal(percentile(ten, 100), 10);
    assert.equal(percentile(ten, 10), 1);
    assert.equal(percentile(ten, 11), 2);
    const twenty = Array.from({ length: 20 }, (_, i) => i + 1);
    assert.equal(percentile(twenty, 95), 19);
    assert.equal(percentile([1, 2, 3, 4], 50), 2);
    assert.equal(percentile([10, 20, 1000], 50), 20);
  });

  it('rejects p outside (0, 100]', () => {
    assert.throws(() => percentile([1], 0), RangeError);
    assert.throws(() => percentile([1], 101), RangeError);
  });
});

describe('kindStats', () => {
  it('reports nulls and zeros for no requests', () => {
    assert.deepEqual(kindStats([], 'read', 1000), {
      count: 0,
      inFlight: 0,
      p50Ms: null,
      p95Ms: null,
      maxMs: null,
      stalled: 0,
      errors: 0,
      timeouts: 0,
    });
  });

  it('counts only the requested kind', () => {
    const samples = [done('read', 0, 2), done('read', 100, 4), done('write', 0, 500)];
    const reads = kindStats(samples, 'read', 10_000);
    assert.equal(reads.count, 2);
    assert.equal(reads.maxMs, 4);
    assert.equal(kindStats(samples, 'write', 10_000).maxMs, 500);
  });

  it('counts an in-flight request with a latency that grows with `now`', () => {
    const samples = [done('write', 0, 3), inFlight('write', 1_000)];
    const at1500 = kindStats(samples, 'write', 1_500);
    assert.equal(at1500.inFlight, 1);
    assert.equal(at1500.count, 1, 'in-flight requests are not completed ones');
    assert.equal(at1500.maxMs, 500);
    const at4000 = kindStats(samples, 'write', 4_000);
    assert.equal(at4000.maxMs, 3_000);
    assert.equal(at4000.p95Ms, 3_000, 'the in-flight age is part of the percentiles too');
    assert.equal(effectiveLatency(samples[1]!, 4_000), 3_000);
  });

  it('counts stalled requests above the threshold, in-flight ones included', () => {
    const samples = [
      done('write', 0, 999),
      done('write', 0, 1_000), // not above 1 s
      done('write', 0, 1_001),
      done('write', 0, 30_000, 'timeout'),
      inFlight('write', 5_000),
      inFlight('write', 5_900),
    ];
    const s = kindStats(samples, 'write', 6_500, 1_000);
    assert.equal(s.stalled, 3, '1001 ms, the timeout, and the request in flight for 1500 ms');
    assert.equal(s.inFlight, 2);
    assert.equal(kindStats(samples, 'write', 6_500, 500).stalled, 6);
    assert.equal(kindStats(samples, 'write', 6_500, 1_600).stalled, 1, 'only the timeout');
  });

  it('counts errors and timeouts separately, both as completed requests', () => {
    const samples = [
      done('read', 0, 2),
      done('read', 10, 3, 'error'),
      done('read', 20, 4, 'error'),
      done('read', 30, 30_000, 'timeout'),
    ];
    const s = kindStats(samples, 'read', 100_000);
    assert.equal(s.count, 4);
    assert.equal(s.errors, 2);
    assert.equal(s.timeouts, 1);
    assert.equal(s.maxMs, 30_000);
  });

  it('computes p50/p95/max over many requests', () => {
    const samples = Array.from({ length: 100 }, (_, i) => done('read', i * 100, i + 1)); // 1..100 ms
    const s = kindStats(samples, 'read', 1e9);
    assert.equal(s.p50Ms, 50);
    assert.equal(s.p95Ms, 95);
    assert.equal(s.maxMs, 100);
  });
});

describe('startedBetween / probeStats for a time window', () => {
  const samples = [
    done('read', 100, 5),
    done('write', 150, 5_000), // started before the window, ended inside it
    done('read', 200, 5),
    done('write', 250, 2_000),
    done('read', 300, 5),
    inFlight('write', 300),
    done('read', 400, 5),
  ];

  it('selects requests by start time, both ends included', () => {
    assert.deepEqual(
      startedBetween(samples, 200, 300).map((s) => s.startedAt),
      [200, 250, 300, 300],
    );
    assert.deepEqual(
      startedBetween(samples, 201, 299).map((s) => s.startedAt),
      [250],
    );
    assert.deepEqual(startedBetween(samples, 500, 900), []);
    assert.deepEqual(startedBetween(samples, 300, 200), []);
    assert.equal(startedBetween(samples, 0, 1_000).length, samples.length);
  });

  it('gives stats of only the requests started in the window', () => {
    const stats = probeStats(startedBetween(samples, 200, 300), 1_300);
    assert.equal(stats.read.count, 2);
    assert.equal(stats.read.maxMs, 5);
    assert.equal(stats.write.count, 1);
    assert.equal(stats.write.inFlight, 1);
    assert.equal(stats.write.maxMs, 2_000, 'the 5 s write started before the window');
    assert.equal(stats.write.stalled, 1, 'the 2 s write; the in-flight one is 1 s old, not above');
  });
});

describe('chartPoints', () => {
  it('keeps every request when there are few, marking the ones in flight', () => {
    const points = chartPoints([done('read', 0, 2), inFlight('write', 10)], 510, 100);
    assert.deepEqual(points, [
      { t: 0, latencyMs: 2, kind: 'read', inFlight: false, outcome: 'ok' },
      { t: 10, latencyMs: 500, kind: 'write', inFlight: true },
    ]);
  });

  it('thins to the limit and keeps the slowest request of each bucket', () => {
    const samples: ProbeSample[] = [];
    for (let i = 0; i < 1_000; i++) samples.push(done('read', i * 10, i === 503 ? 4_000 : 2));
    const points = chartPoints(samples, 1e9, 40);
    assert.ok(points.length <= 20, `${points.length} points for one kind with a limit of 40 in all`);
    assert.ok(
      points.some((p) => p.latencyMs === 4_000),
      'the spike survives',
    );
  });
});

void describe('maxInFlight', () => {
  const s = (kind: 'read' | 'write', startedAt: number, endedAt?: number) => ({
    kind,
    startedAt,
    endedAt,
    latencyMs: endedAt === undefined ? undefined : endedAt - startedAt,
    status: endedAt === undefined ? 0 : 200,
    outcome: endedAt === undefined ? undefined : ('ok' as const),
  });

  void it('counts requests outstanding at the same moment, in-flight ones until now', () => {
    const samples = [
      s('write', 0, 100),
      s('write', 10, 50),
      s('write', 20), // still in flight
      s('write', 100, 120), // starts as the first ends: not overlapping it
      s('read', 0, 500),
    ];
    assert.equal(maxInFlight(samples, 'write', 1000), 3);
    assert.equal(maxInFlight(samples, 'read', 1000), 1);
    assert.equal(maxInFlight([], 'write', 1000), 0);
  });

  void it('sees 103 writes in flight behind a 20-connection pool', () => {
    const samples = Array.from({ length: 103 }, (_, i) => s('write', i * 100));
    assert.equal(maxInFlight(samples, 'write', 20_000), 103);
  });
});
