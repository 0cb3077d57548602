import { quoteIdent } from '../db';
import { DEMO_SCENARIO } from '../scenarios/demo';
import type { LockRow, LockSnapshot } from '../monitor/lockMonitor';
import type { ProbeKind, ProbeSample } from '../probe/stats';

/**
 * What the lessons read from the lock monitor's snapshots and the probe's samples. Pure: fed with
 * snapshots (live, or made up in unit tests), they keep the facts a verdict is computed from.
 */

/** The names pg_locks rows may carry for the seeded table (the monitor formats them with %I). */
export function largeEmailNames(schema: string, table = DEMO_SCENARIO.seed.large): string[] {
  return [...new Set([`${schema}.${table}`, `${quoteIdent(schema)}.${table}`])];
}

/** One observed lock queue: a reader waits behind the DDL, which waits for the long transaction. */
export interface ObservedChain {
  /** Epoch ms of the snapshot that showed it. */
  at: number;
  readerPid: number;
  readerMode: string;
  readerWaitingMs: number;
  ddlPid: number;
  ddlMode: string;
  ddlWaitingMs: number;
  /** The session the DDL waited for (the long transaction, when its pid is known). */
  blockerPid: number;
}

/**
 * Watches the lock-queue trap: DDL sessions (pids added as the runner reports them) waiting for a
 * lock on the seeded table, blocked by the long transaction, and probe reads waiting behind the DDL.
 */
export class LockQueueTracker {
  private readonly names: Set<string>;
  private readonly ddlPids = new Set<number>();
  private readonly readerPids = new Set<number>();
  private best: ObservedChain | undefined;
  /** Epoch ms; the earliest wait start of any DDL attempt (snapshot time minus its waiting ms). */
  ddlWaitStartedAt: number | undefined;
  maxDdlWaitMs: number | null = null;
  /** Longest a probe read was seen waiting behind a DDL session (pg_locks' view, not the probe's). */
  maxReadLockWaitMs: number | null = null;
  /** Most probe-read sessions seen waiting behind a DDL session in one snapshot. */
  maxReadersWaiting = 0;
  /** Snapshots with a probe read waiting behind a DDL session. */
  readerSnapshots = 0;
  snapshots = 0;

  constructor(
    schema: string,
    /** The long transaction; when unset, any blocker of the DDL counts. */
    public longTransactionPid?: number,
  ) {
    this.names = new Set(largeEmailNames(schema));
  }

  addDdlPid(pid: number): void {
    this.ddlPids.add(pid);
  }

  /** A reader waited behind the DDL while the DDL waited for the long transaction (same snapshot). */
  get chainSeen(): boolean {
    return this.best !== undefined;
  }

  /** The observed chain with the longest-waiting DDL (ties: the longest-waiting reader). */
  get chain(): ObservedChain | undefined {
    return this.best ? { ...this.best } : undefined;
  }

  /** Distinct probe-read sessions seen waiting behind the DDL. */
  get readersSeen(): number {
    return this.readerPids.size;
  }

  observe(snapshot: LockSnapshot): void {
    this.snapshots++;
    const onTable = (l: LockRow) => l.relation !== null && this.names.has(l.relation);
    const ddlWaits = snapshot.locks.filter((l) => this.ddlPids.has(l.pid) && !l.granted && onTable(l));
    for (const d of ddlWaits) {
      const ms = d.waitingMs ?? 0;
      this.maxDdlWaitMs = Math.max(this.maxDdlWaitMs ?? 0, ms);
      const started = snapshot.at - ms;
      if (this.ddlWaitStartedAt === undefined || started < this.ddlWaitStartedAt)
        this.ddlWaitStartedAt = started;
    }
    const readers = snapshot.locks.filter(
      (l) =>
        l.role === 'probe-read' &&
        !l.granted &&
        l.mode === 'AccessShareLock' &&
        onTable(l) &&
        l.blockedBy.some((p) => this.ddlPids.has(p)),
    );
    if (readers.length > 0) this.readerSnapshots++;
    this.maxReadersWaiting = Math.max(this.maxReadersWaiting, new Set(readers.map((r) => r.pid)).size);
    for (const r of readers) {
      this.readerPids.add(r.pid);
      this.maxReadLockWaitMs = Math.max(this.maxReadLockWaitMs ?? 0, r.waitingMs ?? 0);
    }

    for (const d of ddlWaits) {
      const blocker =
        this.longTransactionPid === undefined
          ? d.blockedBy[0]
          : d.blockedBy.find((p) => p === this.longTransactionPid);
      if (blocker === undefined) continue;
      for (const r of readers) {
        if (!r.blockedBy.includes(d.pid)) continue;
        const chain: ObservedChain = {
          at: snapshot.at,
          readerPid: r.pid,
          readerMode: r.mode,
          readerWaitingMs: r.waitingMs ?? 0,
          ddlPid: d.pid,
          ddlMode: d.mode,
          ddlWaitingMs: d.waitingMs ?? 0,
          blockerPid: blocker,
        };
        const b = this.best;
        if (
          !b ||
          chain.ddlWaitingMs > b.ddlWaitingMs ||
          (chain.ddlWaitingMs === b.ddlWaitingMs && chain.readerWaitingMs > b.readerWaitingMs)
        )
          this.best = chain;
      }
    }
  }
}

/**
 * Watches a CREATE INDEX CONCURRENTLY: the phases of its progress row, the waiting phase in which
 * `current_locker_pid` is the long transaction, and its own lock waits blocked by that transaction.
 */
export class ConcurrentWaitTracker {
  private readonly builderPids = new Set<number>();
  readonly phasesSeen: string[] = [];
  /** The waiting phase in which the build was seen waiting on the long transaction (first one). */
  waitingPhaseSeen: string | undefined;
  /** Epoch ms of the first snapshot that showed it. */
  waitSeenAt: number | undefined;
  /** Every waiting phase seen, whatever the locker. */
  readonly waitingPhases: string[] = [];
  /** The build's own lock wait (a virtualxid ShareLock) named the long transaction as a blocker. */
  blockedByLongTransaction = false;
  /** Longest the build was seen waiting for a lock the long transaction held, ms. */
  maxWaitMs: number | null = null;
  /** Lockers seen in waiting phases (current_locker_pid), in order, each once. */
  readonly lockerPids: number[] = [];

  constructor(public longTransactionPid: number) {}

  addBuilderPid(pid: number): void {
    this.builderPids.add(pid);
  }

  get lockerPidMatched(): boolean {
    return this.waitingPhaseSeen !== undefined;
  }

  observe(snapshot: LockSnapshot): void {
    for (const p of snapshot.progress) {
      if (!this.builderPids.has(p.pid)) continue;
      if (!this.phasesSeen.includes(p.phase)) this.phasesSeen.push(p.phase);
      if (!isWaitingPhase(p.phase)) continue;
      if (!this.waitingPhases.includes(p.phase)) this.waitingPhases.push(p.phase);
      if (p.currentLockerPid !== null && !this.lockerPids.includes(p.currentLockerPid))
        this.lockerPids.push(p.currentLockerPid);
      if (p.currentLockerPid === this.longTransactionPid && this.waitingPhaseSeen === undefined) {
        this.waitingPhaseSeen = p.phase;
        this.waitSeenAt = snapshot.at;
      }
    }
    for (const c of snapshot.blockingChains) {
      if (!this.builderPids.has(c.waiterPid) || !c.blockerPids.includes(this.longTransactionPid)) continue;
      this.blockedByLongTransaction = true;
      this.maxWaitMs = Math.max(this.maxWaitMs ?? 0, c.waitingMs);
    }
  }
}

/** pg_stat_progress_create_index phases in which a build waits for other transactions. */
export function isWaitingPhase(phase: string): boolean {
  return phase.toLowerCase().startsWith('waiting');
}

export interface KindFlow {
  /** Requests that completed with 2xx inside the window. */
  ok: number;
  /** Requests that completed with an error or timed out inside the window. */
  failed: number;
  /** Worst latency of those completed inside the window, ms (null when none). */
  maxMs: number | null;
}

/** What completed in [from, to]: requests whose response arrived inside the window. */
export function flowDuring(
  samples: readonly ProbeSample[],
  kind: ProbeKind,
  from: number,
  to: number,
): KindFlow {
  let ok = 0;
  let failed = 0;
  let maxMs: number | null = null;
  for (const s of samples) {
    if (s.kind !== kind || s.endedAt === undefined || s.endedAt < from || s.endedAt > to) continue;
    if (s.outcome === 'ok') ok++;
    else failed++;
    if (s.latencyMs !== undefined) maxMs = Math.max(maxMs ?? 0, s.latencyMs);
  }
  return { ok, failed, maxMs };
}

/** Requests of `kind` that started in [from, to]. */
export function startedDuring(
  samples: readonly ProbeSample[],
  kind: ProbeKind,
  from: number,
  to: number,
): number {
  return samples.filter((s) => s.kind === kind && s.startedAt >= from && s.startedAt <= to).length;
}

/** Worst latency of `kind` among the samples (in-flight ones count with their age at `now`). */
export function worstLatency(samples: readonly ProbeSample[], kind: ProbeKind, now: number): number | null {
  let max: number | null = null;
  for (const s of samples) {
    if (s.kind !== kind) continue;
    const ms = s.latencyMs ?? Math.max(0, now - s.startedAt);
    max = Math.max(max ?? 0, ms);
  }
  return max;
}
