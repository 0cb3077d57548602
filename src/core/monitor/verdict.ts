/**
 * Verdicts and comparison lines computed from measured numbers only (no run kind, no assumptions):
 * what stalled, by how much, which lock was held for how long. Facts are reconciled before they are
 * written, so a verdict never states two things that contradict each other.
 */
import { DEFAULT_STALLED_THRESHOLD_MS } from '../probe/stats';

/** Latency of one probe kind during a run (the sampler's field names). */
export interface LatencyStats {
  /** Requests that completed. */
  count: number;
  p50Ms: number | null;
  p95Ms: number | null;
  maxMs: number | null;
  /** Requests slower than the stalled threshold (completed or still in flight). */
  stalled: number;
  errors: number;
  timeouts?: number;
  /** Requests still waiting when the stats were taken. */
  inFlight?: number;
}

export interface HeldLock {
  mode: string;
  /** schema.table (the verdict names the table only). */
  relation: string;
  heldMs: number;
}

/** A lock the migration itself waited for (it did not hold it yet). */
export interface AwaitedLock {
  mode: string;
  /** schema.table, or e.g. "virtualxid 5/123" for a non-relation lock. */
  target: string;
  maxWaitingMs: number;
  blockerPids: readonly number[];
}

/** How many probe requests were outstanding at once, and how many the endpoint lets into PostgreSQL. */
export interface ProbeConcurrency {
  /** Most probe reads / writes in flight (sent, not answered) at the same time during the run. */
  maxReadsInFlight: number;
  maxWritesInFlight: number;
  /** Connections of the endpoint's read / write pool: more requests than this queue in the endpoint. */
  readPoolSize: number | null;
  writePoolSize: number | null;
}

export interface VerdictInput {
  /** The migration's own time (the runner's measure; for retries, the last attempt's). */
  durationMs: number;
  /** From the first attempt's start to the end, when it differs from durationMs (waits, retries). */
  wallMs?: number;
  /** Attempts made (lock_timeout retries); 1 when omitted. */
  attempts?: number;
  /** null (or no requests): the probe did not run, so latency is unknown. */
  reads: LatencyStats | null | undefined;
  writes: LatencyStats | null | undefined;
  locksHeld: readonly HeldLock[];
  /** Most sessions seen waiting on the migration at the same time (in pg_locks). */
  maxWaiters: number;
  /** Locks the migration itself was seen waiting for. */
  waitedFor?: readonly AwaitedLock[];
  /** The probe's side of the queue (requests outstanding vs. connections in PostgreSQL). */
  probe?: ProbeConcurrency;
  /** The threshold the sampler counted stalls with (migrationLab.probe.stalledThresholdMs). */
  stalledThresholdMs?: number;
  outcome?: 'succeeded' | 'failed' | 'cancelled';
  /** One sentence, for a failed run. */
  error?: string;
}

/** Worst latency from which a kind that did not stall still counts as slowed (host noise stays below). */
export const SLOWED_MS = 500;

/** "840 ms", "3.4 s", "2 min 5 s". */
export function formatMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return 'n/a';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(Math.round(ms / 100) / 10).toFixed(1)} s`;
  const minutes = Math.floor(ms / 60_000);
  const seconds = Math.round((ms - minutes * 60_000) / 1000);
  return seconds > 0 ? `${minutes} min ${seconds} s` : `${minutes} min`;
}

/** A threshold as a user set it: "1 s", "1.5 s", "800 ms". */
export function formatThreshold(ms: number): string {
  return ms >= 1000 && ms % 1000 === 0 ? `${ms / 1000} s` : formatMs(ms);
}

/** The table part of `schema.table` (quoted names respected). */
export function tableName(relation: string): string {
  const m = /^(?:"(?:[^"]|"")*"|[^".]+)\.(.+)$/.exec(relation);
  return m ? m[1]! : relation;
}

/** Whether a probe produced anything to judge by. */
export function hasData(stats: LatencyStats | null | undefined): stats is LatencyStats {
  return !!stats && (stats.count > 0 || (stats.inFlight ?? 0) > 0 || stats.stalled > 0);
}

type Health = 'stalled' | 'slowed' | 'ok';

function health(stats: LatencyStats, stallMs = DEFAULT_STALLED_THRESHOLD_MS): Health {
  if (stats.stalled > 0 || (stats.timeouts ?? 0) > 0 || (stats.maxMs ?? 0) > stallMs) return 'stalled';
  if ((stats.maxMs ?? 0) >= SLOWED_MS) return 'slowed';
  return 'ok';
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

function extras(stats: LatencyStats): string {
  const parts: string[] = [];
  if ((stats.timeouts ?? 0) > 0) parts.push(`${plural(stats.timeouts!, 'timeout')}`);
  if (stats.errors > 0) parts.push(`${plural(stats.errors, 'error')}`);
  return parts.length > 0 ? `, ${parts.join(', ')}` : '';
}

function describeKind(
  kind: 'reads' | 'writes',
  stats: LatencyStats | null | undefined,
  stallMs: number,
): string {
  if (!hasData(stats)) return `${kind} were not probed (latency unknown)`;
  switch (health(stats, stallMs)) {
    case 'stalled':
      return `${kind} stalled up to ${formatMs(stats.maxMs)} (${plural(stats.stalled, 'request')} over ${formatThreshold(stallMs)}${extras(stats)})`;
    case 'slowed':
      return `${kind} slowed to ${formatMs(stats.maxMs)} at worst (p95 ${formatMs(stats.p95Ms)}${extras(stats)})`;
    default:
      return `${kind} unaffected (p95 ${formatMs(stats.p95Ms)}${extras(stats)})`;
  }
}

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** The latency sentence of a verdict. */
export function latencySentence(
  reads: LatencyStats | null | undefined,
  writes: LatencyStats | null | undefined,
  stallMs = DEFAULT_STALLED_THRESHOLD_MS,
): string {
  const r = hasData(reads) ? health(reads, stallMs) : undefined;
  const w = hasData(writes) ? health(writes, stallMs) : undefined;
  if (!r && !w) return 'The probe was off, so read and write latency is unknown.';
  if (r === 'ok' && w === 'ok') {
    const errs = extras(reads!) + extras(writes!);
    return `Nothing stalled: reads p95 ${formatMs(reads!.p95Ms)}, writes p95 ${formatMs(writes!.p95Ms)}${errs ? ` (${errs.replace(/^, /, '').replace(/, , /g, ', ')})` : ''}.`;
  }
  const rank = (h: Health | undefined) => (h === 'stalled' ? 0 : h === 'slowed' ? 1 : h === 'ok' ? 2 : 3);
  // The worse kind first; writes first on a tie (they are what a lock usually stops).
  const order: ('reads' | 'writes')[] = rank(r) < rank(w) ? ['reads', 'writes'] : ['writes', 'reads'];
  const text = order.map((k) => describeKind(k, k === 'reads' ? reads : writes, stallMs)).join('; ');
  return `${capitalize(text)}.`;
}

/** The lock sentence of a verdict: the longest-held locks, by table. */
export function lockSentence(locks: readonly HeldLock[]): string {
  if (locks.length === 0) return 'No lock on the watched tables was observed.';
  const sorted = [...locks].sort((a, b) => b.heldMs - a.heldMs).slice(0, 3);
  return `Held ${sorted.map((l) => `${l.mode} on ${tableName(l.relation)} for ${formatMs(l.heldMs)}`).join(', ')}.`;
}

function awaitedTarget(target: string): string {
  return /^[^ ]+\.[^ ]+$/.test(target) ? tableName(target) : target;
}

/**
 * Most probe requests queued inside the endpoint itself (in flight beyond its pool's connections), reads
 * and writes added up; undefined when the pool sizes are not known.
 */
export function maxProbeQueued(probe: ProbeConcurrency | undefined): number | undefined {
  if (!probe || probe.readPoolSize === null || probe.writePoolSize === null) return undefined;
  return (
    Math.max(0, probe.maxReadsInFlight - probe.readPoolSize) +
    Math.max(0, probe.maxWritesInFlight - probe.writePoolSize)
  );
}

/**
 * Who queued behind the migration, in PostgreSQL and in the probe. The pg_locks figure is capped by
 * the probe's pools (the endpoint lets only that many requests into PostgreSQL), so when the probe
 * had more requests outstanding than its pool holds, both figures are given.
 */
function waitersPhrase(maxWaiters: number, probe: ProbeConcurrency | undefined, verb: string): string {
  const inPg = `up to ${plural(maxWaiters, 'session')} ${verb} at once in PostgreSQL`;
  if (!probe) return inPg;
  const queued: string[] = [];
  const kinds = [
    ['write', probe.maxWritesInFlight, probe.writePoolSize],
    ['read', probe.maxReadsInFlight, probe.readPoolSize],
  ] as const;
  for (const [kind, inFlight, pool] of kinds) {
    if (pool !== null && inFlight > pool)
      queued.push(
        `${plural(inFlight, `probe ${kind}`)} were in flight, ${inFlight - pool} of them queued in the endpoint for its ${pool} ${kind} connections`,
      );
  }
  return queued.length > 0 ? `${inPg}, while ${queued.join(' and ')}` : inPg;
}

/**
 * The lock and waiter sentences, from facts that agree: sessions that waited on the migration either
 * waited for a lock it held, or queued behind a lock it was itself waiting for; "no lock was observed"
 * is said only when nobody waited on it either.
 */
export function lockAndWaitersSentence(
  input: Pick<VerdictInput, 'locksHeld' | 'maxWaiters' | 'waitedFor' | 'probe'>,
): string {
  const held = input.locksHeld;
  const awaited = [...(input.waitedFor ?? [])].sort((a, b) => b.maxWaitingMs - a.maxWaitingMs);
  const waiters = input.maxWaiters;
  const parts: string[] = [];
  if (held.length > 0) parts.push(lockSentence(held));
  if (awaited.length > 0) {
    const w = awaited[0]!;
    const by = w.blockerPids.length > 0 ? ` (blocked by pid ${w.blockerPids.join(', ')})` : '';
    const waitedText = `waited up to ${formatMs(w.maxWaitingMs)} for ${w.mode} on ${awaitedTarget(w.target)}${by}`;
    if (held.length > 0) parts.push(`It also ${waitedText}.`);
    else parts.push(`It ${waitedText}; it was never seen holding a lock on the watched tables.`);
    if (waiters > 0)
      parts.push(
        `${capitalize(waitersPhrase(waiters, input.probe, 'queued behind its request'))} (the lock queue is first come, first served).`,
      );
    else parts.push('No session queued behind it.');
    return parts.join(' ');
  }
  if (held.length > 0) {
    if (waiters > 0) parts.push(`${capitalize(waitersPhrase(waiters, input.probe, 'waited on it'))}.`);
    return parts.join(' ');
  }
  if (waiters > 0)
    return `${capitalize(waitersPhrase(waiters, input.probe, 'waited on it'))}, for a lock it held too briefly for the lock monitor's polls to see.`;
  return lockSentence(held);
}

/** How long it took: the migration's own time, or with waits and retries, the whole span. */
export function durationSentence(
  input: Pick<VerdictInput, 'durationMs' | 'wallMs' | 'attempts'>,
): string | undefined {
  const attempts = input.attempts ?? 1;
  const wall = input.wallMs ?? input.durationMs;
  if (attempts > 1)
    return `It took ${formatMs(wall)} over ${attempts} attempts; the last one ran ${formatMs(input.durationMs)}.`;
  return undefined;
}

/** One paragraph: what stalled (or not, or unknown), the locks held or awaited, and who queued behind them. */
export function verdict(input: VerdictInput): string {
  const parts: string[] = [];
  const wall = Math.max(input.wallMs ?? 0, input.durationMs);
  const stallMs = input.stalledThresholdMs ?? DEFAULT_STALLED_THRESHOLD_MS;
  if (input.outcome === 'failed')
    parts.push(`Failed after ${formatMs(wall)}${input.error ? `: ${input.error.replace(/\.$/, '')}` : ''}.`);
  else if (input.outcome === 'cancelled') parts.push(`Cancelled after ${formatMs(wall)}.`);
  parts.push(latencySentence(input.reads, input.writes, stallMs));
  parts.push(lockAndWaitersSentence(input));
  const duration =
    input.outcome === 'succeeded' || input.outcome === undefined ? durationSentence(input) : undefined;
  if (duration) parts.push(duration);
  return parts.join(' ');
}

/** What a comparison needs of a run. */
export interface ComparableRun {
  /** Name used as a sentence subject, e.g. "CONCURRENTLY" or "The plain CREATE INDEX". */
  label: string;
  durationMs: number;
  reads: LatencyStats | null | undefined;
  writes: LatencyStats | null | undefined;
  /**
   * Durations of every completed run of the same build in this session (this one included), to
   * judge run-to-run noise; just [durationMs] when omitted.
   */
  durationsMs?: readonly number[];
}

/** A sentence subject for a run from its kind (or its migration id). */
export function runLabel(kind: string, migration: string): string {
  if (kind === 'concurrent') return 'CONCURRENTLY';
  if (kind === 'locking') return 'the plain build';
  return migration;
}

/**
 * With one run of each build, a duration ratio below this is run-to-run noise: the same plain
 * CREATE INDEX on 5M rows measured 6.3–17.5 s (2.8x) within one session on a shared 2-core machine
 * (README, Design decisions).
 */
export const SINGLE_PAIR_NOISE_RATIO = 3;
/**
 * With at least this many runs of each build whose durations do not overlap at all, the difference is
 * not noise: if both builds took equally long, a complete separation (either way) of 4 + 4 runs
 * happens by chance with probability 2 / C(8, 4) = 2.9 % (the exact Mann–Whitney bound).
 */
export const SEPARATED_RUNS_PER_SIDE = 4;

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function samplesOf(run: ComparableRun): number[] {
  const all = (run.durationsMs ?? []).filter((d) => d > 0);
  return all.length > 0 ? all : run.durationMs > 0 ? [run.durationMs] : [];
}

/**
 * Whether `subject` took longer, shorter, or about as long as `other`, beyond run-to-run noise:
 * a ratio is stated only when the two builds' runs are completely separated with at least four runs
 * each (ratio of medians), or when the ratio is larger than both SINGLE_PAIR_NOISE_RATIO and the
 * spread seen between runs of the same build.
 */
export function durationDifference(
  subject: ComparableRun,
  other: ComparableRun,
): { ratio: number; basis: 'separated' | 'beyond-noise' } | undefined {
  const s = samplesOf(subject);
  const o = samplesOf(other);
  if (s.length === 0 || o.length === 0) return undefined;
  if (s.length >= SEPARATED_RUNS_PER_SIDE && o.length >= SEPARATED_RUNS_PER_SIDE) {
    const separated = Math.min(...s) > Math.max(...o) || Math.max(...s) < Math.min(...o);
    if (separated) return { ratio: median(s) / median(o), basis: 'separated' };
  }
  const spread = Math.max(...[s, o].map((d) => Math.max(...d) / Math.min(...d)));
  const noise = Math.max(SINGLE_PAIR_NOISE_RATIO, spread);
  const r = subject.durationMs / other.durationMs;
  if (r > noise || 1 / r > noise) return { ratio: r, basis: 'beyond-noise' };
  return undefined;
}

function durationPhrase(
  subject: ComparableRun,
  other: ComparableRun,
  withOther: boolean,
): { text: string; longer: boolean } {
  if (!(other.durationMs > 0) || !(subject.durationMs > 0))
    return { text: `took ${formatMs(subject.durationMs)}`, longer: false };
  const than = withOther ? ` as ${other.label}` : '';
  const pair = `${formatMs(subject.durationMs)} vs ${formatMs(other.durationMs)}`;
  const d = durationDifference(subject, other);
  if (!d) return { text: `took about as long${than} (${pair}, within run-to-run noise)`, longer: false };
  const basis =
    d.basis === 'separated'
      ? `(median of ${samplesOf(subject).length} runs vs ${samplesOf(other).length})`
      : `(${pair})`;
  if (d.ratio > 1) return { text: `took ${d.ratio.toFixed(1)}x as long${than} ${basis}`, longer: true };
  return { text: `was ${(1 / d.ratio).toFixed(1)}x as fast${than} ${basis}`, longer: false };
}

/**
 * One line comparing two runs from their numbers: the run whose worst write was lower is the
 * subject, e.g. "CONCURRENTLY took 1.4x as long but kept the worst write at 12 ms instead of 3.4 s."
 */
export function comparisonLine(a: ComparableRun, b: ComparableRun): string {
  const wa = hasData(a.writes) ? (a.writes.maxMs ?? null) : null;
  const wb = hasData(b.writes) ? (b.writes.maxMs ?? null) : null;
  const stalledReads = [a, b].filter((r) => hasData(r.reads) && health(r.reads) === 'stalled');
  const readsNote =
    stalledReads.length === 0
      ? ''
      : ` Reads stalled in ${stalledReads.map((r) => `${r.label} (up to ${formatMs(r.reads!.maxMs)})`).join(' and ')}.`;
  if (wa === null || wb === null) {
    const off = [wa === null ? a.label : undefined, wb === null ? b.label : undefined].filter(Boolean);
    return `${capitalize(b.label)} ${durationPhrase(b, a, true).text}; write latency is unknown (the probe was off during ${off.join(' and ')}).${readsNote}`;
  }
  const [safe, risky, safeWorst, riskyWorst] = wb <= wa ? [b, a, wb, wa] : [a, b, wa, wb];
  if (health(risky.writes!) !== 'ok' && riskyWorst >= 2 * safeWorst) {
    const d = durationPhrase(safe, risky, false);
    return `${capitalize(safe.label)} ${d.text} ${d.longer ? 'but' : 'and'} kept the worst write at ${formatMs(safeWorst)} instead of ${formatMs(riskyWorst)}.${readsNote}`;
  }
  const bothFlowed = health(a.writes!) === 'ok' && health(b.writes!) === 'ok';
  const how = bothFlowed ? 'Writes kept flowing in both' : 'Writes suffered in both';
  return `${how} (worst ${formatMs(wa)} vs ${formatMs(wb)}); ${b.label} ${durationPhrase(b, a, true).text}.${readsNote}`;
}
