/**
 * Verdicts and comparison lines computed from measured numbers only (no run kind, no assumptions):
 * what stalled, by how much, which lock was held for how long.
 */

/** Latency of one probe kind during a run (the sampler's field names). */
export interface LatencyStats {
  /** Requests that completed. */
  count: number;
  p50Ms: number | null;
  p95Ms: number | null;
  maxMs: number | null;
  /** Requests slower than 1 s (completed or still in flight). */
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

export interface VerdictInput {
  durationMs: number;
  /** null (or no requests): the probe did not run, so latency is unknown. */
  reads: LatencyStats | null | undefined;
  writes: LatencyStats | null | undefined;
  locksHeld: readonly HeldLock[];
  /** Most sessions seen waiting on the migration at the same time. */
  maxWaiters: number;
  outcome?: 'succeeded' | 'failed' | 'cancelled';
  /** One sentence, for a failed run. */
  error?: string;
}

/** A request slower than this stalled (the sampler's definition). */
export const STALL_MS = 1000;
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

function health(stats: LatencyStats): Health {
  if (stats.stalled > 0 || (stats.timeouts ?? 0) > 0 || (stats.maxMs ?? 0) >= STALL_MS) return 'stalled';
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

function describeKind(kind: 'reads' | 'writes', stats: LatencyStats | null | undefined): string {
  if (!hasData(stats)) return `${kind} were not probed (latency unknown)`;
  switch (health(stats)) {
    case 'stalled':
      return `${kind} stalled up to ${formatMs(stats.maxMs)} (${plural(stats.stalled, 'request')} over 1 s${extras(stats)})`;
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
): string {
  const r = hasData(reads) ? health(reads) : undefined;
  const w = hasData(writes) ? health(writes) : undefined;
  if (!r && !w) return 'The probe was off, so read and write latency is unknown.';
  if (r === 'ok' && w === 'ok') {
    const errs = extras(reads!) + extras(writes!);
    return `Nothing stalled: reads p95 ${formatMs(reads!.p95Ms)}, writes p95 ${formatMs(writes!.p95Ms)}${errs ? ` (${errs.replace(/^, /, '').replace(/, , /g, ', ')})` : ''}.`;
  }
  const rank = (h: Health | undefined) => (h === 'stalled' ? 0 : h === 'slowed' ? 1 : h === 'ok' ? 2 : 3);
  // The worse kind first; writes first on a tie (they are what a lock usually stops).
  const order: ('reads' | 'writes')[] = rank(r) < rank(w) ? ['reads', 'writes'] : ['writes', 'reads'];
  const text = order.map((k) => describeKind(k, k === 'reads' ? reads : writes)).join('; ');
  return `${capitalize(text)}.`;
}

/** The lock sentence of a verdict: the longest-held locks, by table. */
export function lockSentence(locks: readonly HeldLock[]): string {
  if (locks.length === 0) return 'No lock on the watched tables was observed.';
  const sorted = [...locks].sort((a, b) => b.heldMs - a.heldMs).slice(0, 3);
  return `Held ${sorted.map((l) => `${l.mode} on ${tableName(l.relation)} for ${formatMs(l.heldMs)}`).join(', ')}.`;
}

/** One paragraph: what stalled (or not, or unknown), the locks held, and who queued behind them. */
export function verdict(input: VerdictInput): string {
  const parts: string[] = [];
  if (input.outcome === 'failed')
    parts.push(
      `Failed after ${formatMs(input.durationMs)}${input.error ? `: ${input.error.replace(/\.$/, '')}` : ''}.`,
    );
  else if (input.outcome === 'cancelled') parts.push(`Cancelled after ${formatMs(input.durationMs)}.`);
  parts.push(latencySentence(input.reads, input.writes));
  parts.push(lockSentence(input.locksHeld));
  if (input.maxWaiters > 0) parts.push(`Up to ${plural(input.maxWaiters, 'session')} waited on it at once.`);
  return parts.join(' ');
}

/** What a comparison needs of a run. */
export interface ComparableRun {
  /** Name used as a sentence subject, e.g. "CONCURRENTLY" or "The plain CREATE INDEX". */
  label: string;
  durationMs: number;
  reads: LatencyStats | null | undefined;
  writes: LatencyStats | null | undefined;
}

/** A sentence subject for a run from its kind (or its migration id). */
export function runLabel(kind: string, migration: string): string {
  if (kind === 'concurrent') return 'CONCURRENTLY';
  if (kind === 'locking') return 'the plain build';
  return migration;
}

function durationPhrase(
  subject: ComparableRun,
  other: ComparableRun,
  withOther: boolean,
): { text: string; longer: boolean } {
  if (!(other.durationMs > 0) || !(subject.durationMs > 0))
    return { text: `took ${formatMs(subject.durationMs)}`, longer: false };
  const than = withOther ? ` as ${other.label}` : '';
  const r = subject.durationMs / other.durationMs;
  if (r >= 1.05) return { text: `took ${r.toFixed(1)}x as long${than}`, longer: true };
  if (r <= 1 / 1.05) return { text: `was ${(1 / r).toFixed(1)}x as fast${than}`, longer: false };
  return { text: `took about as long${than}`, longer: false };
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
