/**
 * Attribution of observations to one statement (issue 12 §1 step 4), pure so that unit tests can
 * feed it snapshots: the locks its backend held or waited for, the most sessions waiting on it at
 * once, index-build phases, read/write latency per table during it, rewrites, and the comparison
 * with the linter's prediction.
 */
import type { LockSnapshot } from '../monitor/lockMonitor';
import { kindStats, type ProbeKind, type ProbeSample } from '../probe/stats';
import type { TraceLatency, TraceLock } from './types';
import { modeStrength } from './verdict';

/** `"My Schema".t` → `My Schema.t`: names as the linter spells them (schema.name, unquoted). */
export function plainName(formatted: string): string {
  const parts: string[] = [];
  let k = 0;
  while (k < formatted.length) {
    if (formatted[k] === '"') {
      let part = '';
      k++;
      while (k < formatted.length) {
        if (formatted[k] === '"' && formatted[k + 1] === '"') {
          part += '"';
          k += 2;
        } else if (formatted[k] === '"') {
          k++;
          break;
        } else part += formatted[k++];
      }
      parts.push(part);
    } else {
      const dot = formatted.indexOf('.', k);
      const end = dot < 0 ? formatted.length : dot;
      parts.push(formatted.slice(k, end));
      k = end;
    }
    if (formatted[k] === '.') k++;
  }
  return parts.join('.');
}

/** The statement's window and backend. */
export interface StatementWindow {
  pid: number;
  startedAt: number;
  endedAt: number;
}

function inWindow(snapshot: LockSnapshot, w: StatementWindow): boolean {
  return snapshot.at >= w.startedAt && snapshot.at <= w.endedAt;
}

/** The backend and its parallel workers, as seen in a snapshot. */
function backendPids(snapshot: LockSnapshot, pid: number): Set<number> {
  const pids = new Set([pid]);
  for (const l of snapshot.locks) if (l.leaderPid === pid) pids.add(l.pid);
  return pids;
}

/**
 * Relation locks of the backend (and its parallel workers) seen by the monitor during the window,
 * on the relations `keep` accepts; waitedMs = the longest wait seen for a lock not granted.
 */
export function observedLocks(
  snapshots: readonly LockSnapshot[],
  w: StatementWindow,
  keep: (relation: string) => boolean,
): TraceLock[] {
  const by = new Map<string, TraceLock>();
  for (const snap of snapshots) {
    if (!inWindow(snap, w)) continue;
    const pids = backendPids(snap, w.pid);
    for (const l of snap.locks) {
      if (!pids.has(l.pid) || l.locktype !== 'relation' || !l.relation) continue;
      const relation = plainName(l.relation);
      if (!keep(relation)) continue;
      const key = `${relation}\0${l.mode}`;
      const waited = l.granted ? 0 : (l.waitingMs ?? 0);
      const previous = by.get(key);
      by.set(key, { relation, mode: l.mode, waitedMs: Math.max(previous?.waitedMs ?? 0, waited) });
    }
  }
  return [...by.values()];
}

/** Merges lock lists: one entry per relation and mode, the longest wait. */
export function mergeLocks(...lists: readonly (readonly TraceLock[])[]): TraceLock[] {
  const by = new Map<string, TraceLock>();
  for (const list of lists)
    for (const l of list) {
      const key = `${l.relation}\0${l.mode}`;
      const previous = by.get(key);
      by.set(key, { ...l, waitedMs: Math.max(previous?.waitedMs ?? 0, l.waitedMs) });
    }
  return [...by.values()].sort(
    (a, b) => a.relation.localeCompare(b.relation) || a.mode.localeCompare(b.mode),
  );
}

/** The most sessions seen waiting on the backend (or its workers) at once during the window. */
export function maxBlockedSessions(snapshots: readonly LockSnapshot[], w: StatementWindow): number {
  let most = 0;
  for (const snap of snapshots) {
    if (!inWindow(snap, w)) continue;
    const pids = backendPids(snap, w.pid);
    const waiters = new Set<number>();
    for (const chain of snap.blockingChains)
      if (!pids.has(chain.waiterPid) && chain.blockerPids.some((p) => pids.has(p)))
        waiters.add(chain.waiterPid);
    most = Math.max(most, waiters.size);
  }
  return most;
}

/** Index-build phases of the backend seen during the window, in the order first seen. */
export function progressPhases(snapshots: readonly LockSnapshot[], w: StatementWindow): string[] {
  const phases: string[] = [];
  for (const snap of snapshots) {
    if (!inWindow(snap, w)) continue;
    for (const p of snap.progress) if (p.pid === w.pid && !phases.includes(p.phase)) phases.push(p.phase);
  }
  return phases;
}

/**
 * Latency of one kind during the window: the requests that started in it (one still in flight
 * counts with its age at `now`). A request that started earlier belongs to the statement it started
 * under: it queued behind that one, or behind the backlog of requests that did, and a statement of a
 * few milliseconds would otherwise inherit the previous statement's stall.
 */
export function latencyDuring(
  samples: readonly ProbeSample[],
  kind: ProbeKind,
  w: Pick<StatementWindow, 'startedAt' | 'endedAt'>,
  now: number,
  stalledThresholdMs: number,
): TraceLatency {
  const during = samples.filter(
    (s) => s.kind === kind && s.startedAt >= w.startedAt && s.startedAt <= w.endedAt,
  );
  const stats = kindStats(during, kind, now, stalledThresholdMs);
  return { p50Ms: stats.p50Ms, p95Ms: stats.p95Ms, maxMs: stats.maxMs, stalled: stats.stalled };
}

/** One relation's file before and after a statement. */
export interface RelationFile {
  relation: string;
  relkind: string;
  filenode: string | null;
}

/** Relations (tables and indexes) whose file changed across the statement: rewritten. Toast is left out. */
export function rewrittenRelations(
  before: readonly RelationFile[],
  after: readonly RelationFile[],
): string[] {
  const was = new Map(before.map((r) => [r.relation, r.filenode]));
  return after
    .filter((r) => r.relkind !== 't' && r.filenode !== null)
    .filter((r) => {
      const old = was.get(r.relation);
      return old !== undefined && old !== null && old !== r.filenode;
    })
    .map((r) => r.relation);
}

function strongestPerRelation(locks: readonly { relation: string; mode: string }[]): Map<string, string> {
  const by = new Map<string, string>();
  for (const l of locks) {
    const p = by.get(l.relation);
    if (!p || modeStrength(l.mode) > modeStrength(p)) by.set(l.relation, l.mode);
  }
  return by;
}

/**
 * Where the linter's prediction and the observation differ, one sentence; undefined when they
 * agree. Compared per relation, strongest mode against strongest mode:
 * - every predicted relation must be observed in that mode, or (inside a transaction) already held
 *   at least that strongly from an earlier statement (`heldAfter`);
 * - every observed table lock must be predicted (indexes the linter does not name are not compared:
 *   it lists index locks only where they matter, e.g. a rewrite).
 */
export function predictionMismatch(
  predicted: readonly { relation: string; mode: string }[],
  observed: readonly TraceLock[],
  options: {
    heldAfter?: readonly { relation: string; mode: string }[];
    isTable: (relation: string) => boolean;
  },
): string | undefined {
  const p = strongestPerRelation(predicted);
  const o = strongestPerRelation(observed);
  const held = strongestPerRelation(options.heldAfter ?? []);
  const problems: string[] = [];
  for (const [relation, mode] of p) {
    const seen = o.get(relation);
    if (seen === mode) continue;
    const already = held.get(relation);
    if (!seen && already && modeStrength(already) >= modeStrength(mode)) continue;
    problems.push(
      seen
        ? `the linter predicted ${mode} on ${relation}, the trace observed ${seen}`
        : `the linter predicted ${mode} on ${relation}, the trace observed no lock on it`,
    );
  }
  for (const [relation, mode] of o) {
    if (p.has(relation) || !options.isTable(relation)) continue;
    problems.push(`the trace observed ${mode} on ${relation}, which the linter did not predict`);
  }
  if (problems.length === 0) return undefined;
  const text = problems.join('; ');
  return `${text.charAt(0).toUpperCase()}${text.slice(1)}.`;
}
