/**
 * The trace's verdicts, from measured numbers only (issue 12 §1 step 4): one sentence per
 * statement and one per migration. Every wording and threshold of a trace verdict lives here; the
 * stall threshold is the probes' (migrationLab.probe.stalledThresholdMs, DEFAULT_STALLED_THRESHOLD_MS).
 */
import { LOCK_MODES } from '../lint/lockModes';
import { formatMs, formatThreshold } from '../monitor/verdict';
import { DEFAULT_STALLED_THRESHOLD_MS } from '../probe/stats';
import type { TraceLatency, TraceLock, TraceStatement } from './types';

/** A lock waited for longer than this is named in the verdict ("waited 1.2 s for …"). */
export const NOTABLE_WAIT_MS = 50;

/** Worst latency of one kind across the touched tables, with the table it was on. */
export function worstLatency(
  byTable: Record<string, TraceLatency>,
): { table: string; latency: TraceLatency } | undefined {
  let worst: { table: string; latency: TraceLatency } | undefined;
  for (const [table, latency] of Object.entries(byTable)) {
    if (latency.maxMs === null) continue;
    if (!worst || latency.maxMs > (worst.latency.maxMs ?? -1)) worst = { table, latency };
  }
  return worst;
}

/** Whether any request of this kind on any table stalled (over the threshold). */
export function anyStalled(byTable: Record<string, TraceLatency>, thresholdMs: number): boolean {
  return Object.values(byTable).some((l) => l.stalled > 0 || (l.maxMs ?? 0) > thresholdMs);
}

/** The tables whose requests of this kind stalled, with the worst latency on each. */
function stalledTables(byTable: Record<string, TraceLatency>, thresholdMs: number): [string, number][] {
  return Object.entries(byTable)
    .filter(([, l]) => l.stalled > 0 || (l.maxMs ?? 0) > thresholdMs)
    .map(([t, l]) => [t, l.maxMs ?? 0]);
}

/** Strength of a mode as pg_locks spells it (LOCK_MODES' order); an unknown one ranks lowest. */
export function modeStrength(mode: string): number {
  return (LOCK_MODES as readonly string[]).indexOf(mode);
}

/** The strongest lock per relation, strongest first. */
export function strongestLocks(locks: readonly TraceLock[]): TraceLock[] {
  const by = new Map<string, TraceLock>();
  for (const l of locks) {
    const p = by.get(l.relation);
    if (!p || modeStrength(l.mode) > modeStrength(p.mode))
      by.set(l.relation, { ...l, waitedMs: Math.max(l.waitedMs, p?.waitedMs ?? 0) });
    else p.waitedMs = Math.max(p.waitedMs, l.waitedMs);
  }
  return [...by.values()].sort((a, b) => modeStrength(b.mode) - modeStrength(a.mode));
}

function list(items: string[]): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}

export interface StatementVerdictInput {
  statement: Pick<
    TraceStatement,
    'durationMs' | 'locks' | 'rewrites' | 'maxBlockedSessions' | 'reads' | 'writes'
  >;
  /** Rows of each touched table (for "rewrote public.orders (1,000,000 rows)"). */
  rows: Record<string, number>;
  stalledThresholdMs?: number;
  /** Set when the statement failed: PostgreSQL's message and SQLSTATE. */
  failed?: string;
  /** The statement ran outside a transaction and too briefly for the monitor's polls to see a lock. */
  tooShortToSee?: boolean;
}

/**
 * e.g. "rewrote public.orders (1,000,000 rows) under AccessExclusiveLock for 2.8 s; reads and writes
 * of public.orders stalled up to 2.9 s."
 */
export function statementVerdict(input: StatementVerdictInput): string {
  const { statement: s, rows } = input;
  const threshold = input.stalledThresholdMs ?? DEFAULT_STALLED_THRESHOLD_MS;
  const strongest = strongestLocks(s.locks);
  const main = strongest[0];
  const under = main ? ` under ${main.mode}` : '';
  const rowsOf = (t: string) => (rows[t] !== undefined ? ` (${rows[t].toLocaleString('en-US')} rows)` : '');
  const parts: string[] = [];
  const tables = s.rewrites.filter((r) => rows[r] !== undefined);
  const rewritten = tables.length > 0 ? tables : s.rewrites.slice(0, 1);
  if (input.failed) parts.push(`failed after ${formatMs(s.durationMs)}: ${input.failed.replace(/\.$/, '')}`);
  else if (rewritten.length > 0)
    parts.push(
      `rewrote ${list(rewritten.map((t) => `${t}${rowsOf(t)}`))}${under} for ${formatMs(s.durationMs)}`,
    );
  else if (main) {
    // Every touched table under the strongest mode (e.g. both tables of a foreign key), else the relation.
    const tablesUnder = strongest.filter((l) => l.mode === main.mode && rows[l.relation] !== undefined);
    const names = tablesUnder.length > 0 ? tablesUnder.map((l) => l.relation) : [main.relation];
    parts.push(`held ${main.mode} on ${list(names)} for ${formatMs(s.durationMs)}`);
  } else if (input.tooShortToSee)
    parts.push(`ran for ${formatMs(s.durationMs)}, too briefly for the lock monitor to see its locks`);
  else parts.push(`took no lock on an existing relation; ran for ${formatMs(s.durationMs)}`);
  const waited = strongest.filter((l) => l.waitedMs > NOTABLE_WAIT_MS);
  if (waited.length > 0)
    parts.push(
      `it waited ${list(waited.map((l) => `${formatMs(l.waitedMs)} for ${l.mode} on ${l.relation}`))}`,
    );
  parts.push(latencyClause(s.reads, s.writes, threshold));
  if (s.maxBlockedSessions > 0)
    parts.push(
      `up to ${s.maxBlockedSessions} session${s.maxBlockedSessions === 1 ? '' : 's'} waited on it at once`,
    );
  const text = parts.join('; ');
  return `${text.charAt(0).toUpperCase()}${text.slice(1)}.`;
}

/** "reads and writes of public.orders stalled up to 2.9 s" / "writes of … stalled …, reads unaffected". */
export function latencyClause(
  reads: Record<string, TraceLatency>,
  writes: Record<string, TraceLatency>,
  thresholdMs: number,
): string {
  const r = stalledTables(reads, thresholdMs);
  const w = stalledTables(writes, thresholdMs);
  const probed =
    Object.values(reads).some((l) => l.maxMs !== null) || Object.values(writes).some((l) => l.maxMs !== null);
  if (!probed)
    return Object.keys(reads).length + Object.keys(writes).length === 0
      ? 'reads and writes were not probed (no table to probe)'
      : 'no probe request started during it';
  const worst = (xs: [string, number][]) => Math.max(...xs.map(([, ms]) => ms));
  const names = (xs: [string, number][]) => list(xs.map(([t]) => t));
  if (r.length === 0 && w.length === 0) {
    const wr = worstLatency(reads)?.latency.maxMs ?? null;
    const ww = worstLatency(writes)?.latency.maxMs ?? null;
    return `nothing stalled over ${formatThreshold(thresholdMs)} (worst read ${formatMs(wr)}, worst write ${formatMs(ww)})`;
  }
  const sameTables = names(r) === names(w);
  if (r.length > 0 && w.length > 0 && sameTables)
    return `reads and writes of ${names(r)} stalled up to ${formatMs(Math.max(worst(r), worst(w)))}`;
  const clauses: string[] = [];
  if (w.length > 0) clauses.push(`writes of ${names(w)} stalled up to ${formatMs(worst(w))}`);
  if (r.length > 0) clauses.push(`reads of ${names(r)} stalled up to ${formatMs(worst(r))}`);
  if (r.length === 0) clauses.push('reads did not stall');
  if (w.length === 0) clauses.push('writes did not stall');
  return clauses.join(', ');
}

/** The migration's verdict: its worst statement, by what it did to reads and writes, then by lock strength. */
export function migrationVerdict(
  statements: readonly Pick<
    TraceStatement,
    'sql' | 'verdict' | 'reads' | 'writes' | 'durationMs' | 'locks'
  >[],
  thresholdMs = DEFAULT_STALLED_THRESHOLD_MS,
  failed?: string,
): string {
  if (statements.length === 0)
    return failed ? `Failed before any statement ran: ${failed}` : 'No statement ran.';
  const score = (s: (typeof statements)[number]) => {
    const stalledReads = anyStalled(s.reads, thresholdMs) ? 2 : 0;
    const stalledWrites = anyStalled(s.writes, thresholdMs) ? 1 : 0;
    const worst = Math.max(
      worstLatency(s.reads)?.latency.maxMs ?? 0,
      worstLatency(s.writes)?.latency.maxMs ?? 0,
    );
    const lock = Math.max(-1, ...s.locks.map((l) => modeStrength(l.mode)));
    return [stalledReads + stalledWrites, worst, lock];
  };
  let worst = statements[0]!;
  for (const s of statements.slice(1)) {
    const [a, b] = [score(s), score(worst)];
    if (a[0]! > b[0]! || (a[0] === b[0] && (a[1]! > b[1]! || (a[1] === b[1] && a[2]! > b[2]!)))) worst = s;
  }
  const total = statements.reduce((sum, s) => sum + s.durationMs, 0);
  const stalled = statements.filter(
    (s) => anyStalled(s.reads, thresholdMs) || anyStalled(s.writes, thresholdMs),
  ).length;
  const probed = statements.some((s) =>
    [...Object.values(s.reads), ...Object.values(s.writes)].some((l) => l.maxMs !== null),
  );
  const count = `${statements.length} statement${statements.length === 1 ? '' : 's'} in ${formatMs(total)}`;
  const head = !probed
    ? `${count}; reads and writes were not measured (no probe request ran during them).`
    : stalled === 0
      ? `${count}; none stalled reads or writes over ${formatThreshold(thresholdMs)}.`
      : `${stalled} of ${statements.length} statement${statements.length === 1 ? '' : 's'} stalled reads or writes over ${formatThreshold(thresholdMs)} (${formatMs(total)} in all).`;
  const worstText = `Worst: ${oneLine(worst.sql)}: ${worst.verdict.charAt(0).toLowerCase()}${worst.verdict.slice(1)}`;
  return `${failed ? `Failed: ${failed.replace(/\.$/, '')}. ` : ''}${head} ${worstText}`;
}

/** A statement's SQL on one line, cut to `max` characters. */
export function oneLine(sql: string, max = 80): string {
  const flat = sql.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/** Whether a statement stalled reads or writes longer than `ms` (the CLI's --fail-on-stall). */
export function stalledLongerThan(s: Pick<TraceStatement, 'reads' | 'writes'>, ms: number): boolean {
  return [...Object.values(s.reads), ...Object.values(s.writes)].some((l) => (l.maxMs ?? 0) > ms);
}
