/**
 * Pure statistics over probe requests (no I/O, no clock): what the sampler's snapshots, the run
 * recorder and the comparison table compute their numbers with.
 */

export type ProbeKind = 'read' | 'write';
export type ProbeOutcome = 'ok' | 'error' | 'timeout';

/** One probe request, as the sampler records it. */
export interface ProbeSample {
  kind: ProbeKind;
  /** Epoch ms when the request was sent. */
  startedAt: number;
  /** Epoch ms when it completed; undefined while it is in flight. */
  endedAt?: number;
  /** endedAt - startedAt; undefined while in flight (its age is `now - startedAt` then). */
  latencyMs?: number;
  /** HTTP status of the response; 0 when none came (in flight, timeout, connection error). */
  status: number;
  /** undefined while in flight. `error` = a non-2xx status or a connection error. */
  outcome?: ProbeOutcome;
}

/** Numbers for one kind of request (reads or writes) over a set of requests. */
export interface KindStats {
  /** Requests that completed (any outcome). */
  count: number;
  /** Requests still waiting for their response. */
  inFlight: number;
  /** Latency percentiles and maximum over completed requests AND the ages of in-flight ones; null when there are none. */
  p50Ms: number | null;
  p95Ms: number | null;
  maxMs: number | null;
  /** Requests whose latency, or in-flight age, exceeds the stalled threshold (timeouts included). */
  stalled: number;
  /** Completed with a non-2xx status or a connection error. */
  errors: number;
  /** Gave up waiting after the sampler's timeout. */
  timeouts: number;
}

export interface ProbeStats {
  read: KindStats;
  write: KindStats;
}

export const DEFAULT_STALLED_THRESHOLD_MS = 1_000;

/**
 * The p-th percentile (0 < p <= 100) of ascending-sorted values by the nearest-rank method: the
 * smallest value such that at least p % of the values are <= it, i.e. the value at 1-based rank
 * ceil(p / 100 * n). It is always one of the observed values (no interpolation). Returns null for
 * no values. Examples: p50 of [1,2,3,4] = 2, p95 of 1..20 = 19, p95 of 1..10 = 10.
 */
export function percentile(sortedAscending: readonly number[], p: number): number | null {
  const n = sortedAscending.length;
  if (n === 0) return null;
  if (!(p > 0 && p <= 100)) throw new RangeError(`percentile: p must be in (0, 100], got ${p}`);
  const rank = Math.ceil((p / 100) * n);
  return sortedAscending[Math.min(n, Math.max(1, rank)) - 1]!;
}

/** Latency of a request at `now`: its measured latency when complete, else its age so far. */
export function effectiveLatency(sample: ProbeSample, now: number): number {
  return sample.latencyMs ?? Math.max(0, now - sample.startedAt);
}

export function isInFlight(sample: ProbeSample): boolean {
  return sample.outcome === undefined;
}

export function emptyKindStats(): KindStats {
  return { count: 0, inFlight: 0, p50Ms: null, p95Ms: null, maxMs: null, stalled: 0, errors: 0, timeouts: 0 };
}

/** Stats of the requests of one kind in `samples`; in-flight requests count with their age at `now`. */
export function kindStats(
  samples: Iterable<ProbeSample>,
  kind: ProbeKind,
  now: number,
  stalledThresholdMs = DEFAULT_STALLED_THRESHOLD_MS,
): KindStats {
  const stats = emptyKindStats();
  const latencies: number[] = [];
  for (const s of samples) {
    if (s.kind !== kind) continue;
    const latency = effectiveLatency(s, now);
    latencies.push(latency);
    if (latency > stalledThresholdMs) stats.stalled++;
    if (isInFlight(s)) {
      stats.inFlight++;
      continue;
    }
    stats.count++;
    if (s.outcome === 'error') stats.errors++;
    else if (s.outcome === 'timeout') stats.timeouts++;
  }
  latencies.sort((a, b) => a - b);
  stats.p50Ms = percentile(latencies, 50);
  stats.p95Ms = percentile(latencies, 95);
  stats.maxMs = latencies.length > 0 ? latencies[latencies.length - 1]! : null;
  return stats;
}

export function probeStats(
  samples: readonly ProbeSample[],
  now: number,
  stalledThresholdMs = DEFAULT_STALLED_THRESHOLD_MS,
): ProbeStats {
  return {
    read: kindStats(samples, 'read', now, stalledThresholdMs),
    write: kindStats(samples, 'write', now, stalledThresholdMs),
  };
}

/**
 * The most requests of `kind` in flight at the same moment (sent, not yet answered; one still in
 * flight counts until `now`). A request that ends at the instant another starts does not overlap it.
 */
export function maxInFlight(samples: Iterable<ProbeSample>, kind: ProbeKind, now: number): number {
  const events: [number, number][] = [];
  for (const s of samples) {
    if (s.kind !== kind) continue;
    const end = s.endedAt ?? now;
    if (end <= s.startedAt) continue;
    events.push([s.startedAt, 1], [end, -1]);
  }
  // Ends before starts at the same instant.
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let current = 0;
  let most = 0;
  for (const [, delta] of events) {
    current += delta;
    most = Math.max(most, current);
  }
  return most;
}

/**
 * In samples sorted by startedAt, the index of the first one started at or after `t` (or, with
 * `strictlyAfter`, after `t`); samples.length when there is none. Binary search.
 */
export function firstStartedAfter(samples: readonly ProbeSample[], t: number, strictlyAfter = false): number {
  let lo = 0;
  let hi = samples.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const s = samples[mid]!.startedAt;
    if (s < t || (strictlyAfter && s === t)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Samples (sorted by startedAt) that STARTED within [from, to], both ends included. */
export function startedBetween(samples: readonly ProbeSample[], from: number, to: number): ProbeSample[] {
  if (to < from) return [];
  return samples.slice(firstStartedAfter(samples, from), firstStartedAfter(samples, to, true));
}

/** A point of the latency chart: a request at its start time, with its latency (or age so far). */
export interface ProbePoint {
  /** Epoch ms the request started. */
  t: number;
  latencyMs: number;
  kind: ProbeKind;
  inFlight: boolean;
  outcome?: ProbeOutcome;
}

/**
 * Chart points for samples sorted by startedAt, at most `maxPoints` in all (split evenly between
 * kinds). When there are more, the time range is cut into equal buckets and each bucket keeps its
 * slowest request, so stalls survive the thinning.
 */
export function chartPoints(samples: readonly ProbeSample[], now: number, maxPoints: number): ProbePoint[] {
  const perKind = Math.max(1, Math.floor(maxPoints / 2));
  const points: ProbePoint[] = [];
  for (const kind of ['read', 'write'] as const) {
    const ofKind = samples.filter((s) => s.kind === kind);
    const toPoint = (s: ProbeSample): ProbePoint => ({
      t: s.startedAt,
      latencyMs: effectiveLatency(s, now),
      kind,
      inFlight: isInFlight(s),
      ...(s.outcome ? { outcome: s.outcome } : {}),
    });
    if (ofKind.length <= perKind) {
      for (const s of ofKind) points.push(toPoint(s));
      continue;
    }
    const first = ofKind[0]!.startedAt;
    const span = ofKind[ofKind.length - 1]!.startedAt - first + 1;
    const buckets: (ProbeSample | undefined)[] = new Array<ProbeSample | undefined>(perKind);
    for (const s of ofKind) {
      const b = Math.min(perKind - 1, Math.floor(((s.startedAt - first) / span) * perKind));
      const kept = buckets[b];
      if (!kept || effectiveLatency(s, now) > effectiveLatency(kept, now)) buckets[b] = s;
    }
    for (const s of buckets) if (s) points.push(toPoint(s));
  }
  return points.sort((a, b) => a.t - b.t);
}
