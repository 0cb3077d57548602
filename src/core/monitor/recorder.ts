import { lockModesConflict } from '../lint/lockModes';
import type { LockRow, LockSnapshot } from './lockMonitor';
import type { SessionRole } from './roles';
import {
  hasData,
  verdict,
  type AwaitedLock,
  type HeldLock,
  type LatencyStats,
  type ProbeConcurrency,
} from './verdict';

/** 'lesson': one whole lesson (its scene's migration attempts inside), recorded by the lesson. */
export type RunKind = 'locking' | 'concurrent' | 'other' | 'lesson';
/** The kinds a single observed migration run can have. */
export type MigrationRunKind = Exclude<RunKind, 'lesson'>;

/**
 * One probe kind's stats over the run, as the latency sampler's `statsBetween(from, to)` gives them
 * (structural, so the sampler plugs in without this module importing it): the verdict's input shape.
 */
export type ProbeKindStats = LatencyStats;

/**
 * Probe stats over a run. `read`/`write` are accepted too, so the sampler's
 * `statsBetween(from, to)` result can be passed as it is.
 */
export interface ProbeStats {
  reads?: ProbeKindStats | null;
  writes?: ProbeKindStats | null;
  read?: ProbeKindStats | null;
  write?: ProbeKindStats | null;
}

/** Read or write latency of a recorded run; null when that probe did not run. */
export interface LatencySummary {
  count: number;
  p50Ms: number | null;
  p95Ms: number | null;
  maxMs: number | null;
  stalled: number;
  errors: number;
  timeouts: number;
}

/** The part of the runner's RunResult a recording uses. */
export interface RunResultLike {
  migrations: readonly {
    id: string;
    statements: readonly { sql: string; durationMs: number }[];
    durationMs: number;
  }[];
  pid?: number;
}

export interface BeginRun {
  migrationId: string;
  kind: MigrationRunKind;
  /** The migration's backend pid; may come later through setPid (runner's onStart). */
  pid?: number;
  /** Epoch ms. */
  startedAt: number;
}

export interface EndRun {
  result?: RunResultLike;
  /** The failure, when the run did not succeed (a CancelledError counts as cancelled). */
  error?: unknown;
  /** Epoch ms. */
  endedAt: number;
  /** The sampler's stats over [startedAt, endedAt]; omitted or null kinds mean that probe was off. */
  probeStats?: ProbeStats;
  /** The probe's requests outstanding at once and its pool sizes (with probeStats). */
  probeConcurrency?: ProbeConcurrency;
  /** The threshold the sampler counted stalls with. */
  stalledThresholdMs?: number;
  /** The exact version of the server the run ran on (its `server_version`, e.g. "18.4"). */
  serverVersion?: string;
}

/** A lock the migration (or one of its parallel workers) was seen holding. */
export interface RecordedLock {
  /** "ShareLock on migration_lab.large_email" */
  lock: string;
  mode: string;
  locktype: string;
  /** schema.table for relation locks, else null. */
  relation: string | null;
  target: string | null;
  firstSeenAt: number;
  lastSeenAt: number;
  /**
   * How long it was seen held, at least: lastSeenAt - firstSeenAt, or longer when a session was seen
   * waiting on it for longer (its wait started while the lock was already held).
   */
  heldMs: number;
}

/** A session that waited on the migration. */
export interface RecordedWaiter {
  pid: number;
  role: SessionRole;
  mode: string;
  locktype: string;
  /** schema.table it waited for, when a relation lock. */
  relation: string | null;
  target: string | null;
  maxWaitingMs: number;
  firstSeenAt: number;
  lastSeenAt: number;
  /** True when it waited on the migration itself; false when only queued behind another waiter. */
  direct: boolean;
}

/** A lock the migration itself waited for (e.g. CONCURRENTLY waiting for an old transaction). */
export interface RecordedWait {
  mode: string;
  locktype: string;
  target: string | null;
  blockerPids: number[];
  blockerRoles: SessionRole[];
  maxWaitingMs: number;
}

/** One attempt of a lesson's migration (lock_timeout retries), or its single run. */
export interface RecordedAttempt {
  /** 1-based. */
  n: number;
  startedAt: number;
  endedAt: number;
  durationMs: number;
  outcome: 'succeeded' | 'timeout' | 'failed' | 'cancelled';
  sqlstate?: string;
  /** The wait before the next attempt. */
  delayAfterMs?: number;
}

export interface RecordedStatement {
  migration: string;
  sql: string;
  durationMs: number;
}

export interface RecordedRun {
  migration: string;
  /** Every migration the run applied (usually just `migration`). */
  migrations: string[];
  kind: RunKind;
  pid: number | null;
  startedAt: number;
  endedAt: number;
  /** The migrations' own time (the runner's measure), or the wall time when the run failed. */
  durationMs: number;
  wallMs: number;
  outcome: 'succeeded' | 'failed' | 'cancelled';
  statements: RecordedStatement[];
  locksHeld: string[];
  locks: RecordedLock[];
  waiters: RecordedWaiter[];
  /** Most sessions seen waiting on the migration at once in pg_locks (capped by the probe's pools). */
  maxWaiters: number;
  /**
   * Most probe requests outstanding at once during the run and the probe pools' sizes (requests beyond
   * a pool's size queue in the endpoint, not in PostgreSQL). Absent when the probe was off.
   */
  probeConcurrency?: ProbeConcurrency;
  waitedFor: RecordedWait[];
  /** Index build phases seen, in order, each once. */
  phases: string[];
  reads: LatencySummary | null;
  writes: LatencySummary | null;
  /** Monitor snapshots the recording saw. */
  snapshots: number;
  /** The threshold "stalled" was counted with (migrationLab.probe.stalledThresholdMs). */
  stalledThresholdMs?: number;
  verdict: string;
  error?: string;
  /** For kind 'lesson': which lesson (its name), kept apart from the demo's comparison. */
  lesson?: string;
  /** For kind 'lesson': the lesson's title. */
  title?: string;
  /** For kind 'lesson': its migration's attempts, in order. */
  attempts?: RecordedAttempt[];
  /**
   * The exact version of the server the run ran on (its `server_version`, e.g. "18.4"). Absent in runs
   * saved before it was recorded.
   */
  serverVersion?: string;
}

function summarize(stats: ProbeKindStats | null | undefined): LatencySummary | null {
  if (!hasData(stats ?? null)) return null;
  const s = stats!;
  return {
    count: s.count,
    p50Ms: s.p50Ms ?? null,
    p95Ms: s.p95Ms ?? null,
    maxMs: s.maxMs ?? null,
    stalled: s.stalled,
    errors: s.errors,
    timeouts: s.timeouts ?? 0,
  };
}

function lockLabel(l: Pick<LockRow, 'mode' | 'locktype' | 'relation' | 'target'>): string {
  if (l.relation) return `${l.mode} on ${l.relation}`;
  return `${l.mode} on ${l.locktype}${l.target ? ` ${l.target}` : ''}`;
}

/** A recorded wait as the verdict names it. */
export function awaited(w: RecordedWait): AwaitedLock {
  return {
    mode: w.mode,
    target: w.locktype === 'relation' && w.target ? w.target : `${w.locktype} ${w.target ?? ''}`.trim(),
    maxWaitingMs: w.maxWaitingMs,
    blockerPids: w.blockerPids,
  };
}

function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}

/** Records one migration run from monitor snapshots; `end()` turns it into a RecordedRun. */
export class RunRecorder {
  private run: BeginRun | undefined;
  private pid: number | undefined;
  private ended = false;
  private snapshots = 0;
  private readonly locks = new Map<string, RecordedLock>();
  private readonly waiters = new Map<number, RecordedWaiter>();
  private readonly waits = new Map<string, RecordedWait>();
  private readonly phases: string[] = [];
  private maxWaiters = 0;

  /** Starts a recording (a recorder records one run; make a new one for the next). */
  begin(run: BeginRun): void {
    if (this.run) throw new Error('This recorder has already recorded a run.');
    this.run = { ...run };
    this.pid = run.pid;
  }

  /** The migration's backend pid, once the runner reports it. */
  setPid(pid: number): void {
    this.pid = pid;
  }

  get recording(): boolean {
    return this.run !== undefined && !this.ended;
  }

  /** Feeds one monitor snapshot; ignored before begin, after end, or when taken before the run began. */
  observe(snapshot: LockSnapshot): void {
    const run = this.run;
    if (!run || this.ended || snapshot.at < run.startedAt) return;
    this.snapshots++;
    const isMigration = this.migrationMatcher(snapshot);

    for (const l of snapshot.locks) {
      if (!l.granted || !isMigration(l.pid)) continue;
      const key = lockLabel(l);
      const seen = this.locks.get(key);
      if (seen) {
        seen.lastSeenAt = Math.max(seen.lastSeenAt, snapshot.at);
        seen.heldMs = Math.max(seen.heldMs, seen.lastSeenAt - seen.firstSeenAt);
      } else {
        this.locks.set(key, {
          lock: key,
          mode: l.mode,
          locktype: l.locktype,
          relation: l.relation,
          target: l.target,
          firstSeenAt: snapshot.at,
          lastSeenAt: snapshot.at,
          heldMs: 0,
        });
      }
    }

    // Who waits on the migration: directly (it is among their blockers), then transitively.
    const chains = snapshot.blockingChains.filter((c) => !isMigration(c.waiterPid));
    const direct = new Set(chains.filter((c) => c.blockerPids.some(isMigration)).map((c) => c.waiterPid));
    const waiting = new Set(direct);
    for (let grew = true; grew;) {
      grew = false;
      for (const c of chains) {
        if (!waiting.has(c.waiterPid) && c.blockerPids.some((p) => waiting.has(p))) {
          waiting.add(c.waiterPid);
          grew = true;
        }
      }
    }
    this.maxWaiters = Math.max(this.maxWaiters, waiting.size);
    for (const c of chains) {
      if (!waiting.has(c.waiterPid)) continue;
      const lock = snapshot.locks.find((l) => l.pid === c.waiterPid && !l.granted);
      const w = this.waiters.get(c.waiterPid);
      if (w) {
        w.maxWaitingMs = Math.max(w.maxWaitingMs, c.waitingMs);
        w.lastSeenAt = snapshot.at;
        w.direct ||= direct.has(c.waiterPid);
      } else {
        this.waiters.set(c.waiterPid, {
          pid: c.waiterPid,
          role: c.waiterRole,
          mode: c.mode,
          locktype: c.locktype,
          relation: lock?.relation ?? null,
          target: c.target,
          maxWaitingMs: c.waitingMs,
          firstSeenAt: snapshot.at,
          lastSeenAt: snapshot.at,
          direct: direct.has(c.waiterPid),
        });
      }
    }

    // A session waiting on the migration's lock proves that lock was held at least as long as it has
    // waited (PostgreSQL's own waitstart), even when only one poll saw the lock: "held for 0 ms"
    // while sessions waited on it was a measurement of the polls, not of the lock.
    for (const c of chains) {
      if (!direct.has(c.waiterPid)) continue;
      const relation = snapshot.locks.find((l) => l.pid === c.waiterPid && !l.granted)?.relation;
      if (!relation) continue;
      for (const held of this.locks.values()) {
        if (
          held.relation === relation &&
          held.lastSeenAt === snapshot.at &&
          lockModesConflict(held.mode, c.mode)
        ) {
          held.heldMs = Math.max(held.heldMs, c.waitingMs);
        }
      }
    }

    // What the migration itself waited for.
    for (const c of snapshot.blockingChains) {
      if (!isMigration(c.waiterPid)) continue;
      const key = `${c.mode}|${c.locktype}|${c.target ?? ''}`;
      const w = this.waits.get(key);
      if (w) {
        w.maxWaitingMs = Math.max(w.maxWaitingMs, c.waitingMs);
        for (const [i, p] of c.blockerPids.entries()) {
          if (!w.blockerPids.includes(p)) {
            w.blockerPids.push(p);
            w.blockerRoles.push(c.blockerRoles[i] ?? 'other');
          }
        }
      } else {
        this.waits.set(key, {
          mode: c.mode,
          locktype: c.locktype,
          target: c.target,
          blockerPids: [...c.blockerPids],
          blockerRoles: [...c.blockerRoles],
          maxWaitingMs: c.waitingMs,
        });
      }
    }

    for (const p of snapshot.progress) {
      if (isMigration(p.pid) && !this.phases.includes(p.phase)) this.phases.push(p.phase);
    }
  }

  /** Ends the recording and computes the verdict. */
  end(end: EndRun): RecordedRun {
    const run = this.run;
    if (!run) throw new Error('end() before begin().');
    this.ended = true;
    const result = end.result;
    const pid = this.pid ?? result?.pid ?? null;
    const statements: RecordedStatement[] = (result?.migrations ?? []).flatMap((m) =>
      m.statements.map((s) => ({ migration: m.id, sql: s.sql, durationMs: s.durationMs })),
    );
    const wallMs = Math.max(0, end.endedAt - run.startedAt);
    const migrationsMs = (result?.migrations ?? []).reduce((sum, m) => sum + m.durationMs, 0);
    const durationMs = result && result.migrations.length > 0 ? migrationsMs : wallMs;
    const outcome: RecordedRun['outcome'] =
      end.error === undefined
        ? 'succeeded'
        : end.error instanceof Error && end.error.name === 'CancelledError'
          ? 'cancelled'
          : 'failed';
    const reads = summarize(end.probeStats?.reads ?? end.probeStats?.read);
    const writes = summarize(end.probeStats?.writes ?? end.probeStats?.write);
    const locks = [...this.locks.values()].sort((a, b) => a.firstSeenAt - b.firstSeenAt);
    const waiters = [...this.waiters.values()].sort((a, b) => a.firstSeenAt - b.firstSeenAt || a.pid - b.pid);
    const heldLocks: HeldLock[] = locks
      .filter((l) => l.relation !== null)
      .map((l) => ({ mode: l.mode, relation: l.relation!, heldMs: l.heldMs }));
    const error = end.error === undefined ? undefined : errorMessage(end.error);
    const waitedFor = [...this.waits.values()];
    const probeConcurrency = reads || writes ? end.probeConcurrency : undefined;
    const recorded: RecordedRun = {
      migration: run.migrationId,
      migrations: result?.migrations.map((m) => m.id) ?? [run.migrationId],
      kind: run.kind,
      pid,
      startedAt: run.startedAt,
      endedAt: end.endedAt,
      durationMs,
      wallMs,
      outcome,
      statements,
      locksHeld: locks.map((l) => l.lock),
      locks,
      waiters,
      maxWaiters: this.maxWaiters,
      waitedFor,
      phases: [...this.phases],
      reads,
      writes,
      snapshots: this.snapshots,
      verdict: verdict({
        durationMs,
        wallMs,
        reads: reads as LatencyStats | null,
        writes: writes as LatencyStats | null,
        locksHeld: heldLocks,
        maxWaiters: this.maxWaiters,
        waitedFor: waitedFor.map(awaited),
        probe: probeConcurrency,
        stalledThresholdMs: end.stalledThresholdMs,
        outcome,
        error,
      }),
    };
    if (probeConcurrency) recorded.probeConcurrency = probeConcurrency;
    if (end.stalledThresholdMs !== undefined) recorded.stalledThresholdMs = end.stalledThresholdMs;
    if (error !== undefined) recorded.error = error;
    if (end.serverVersion) recorded.serverVersion = end.serverVersion;
    return recorded;
  }

  /** Decides which pids are the migration: its pid and its parallel workers (or, without a pid, role). */
  private migrationMatcher(snapshot: LockSnapshot): (pid: number) => boolean {
    const pids = new Set<number>();
    const pid = this.pid;
    if (pid !== undefined) {
      pids.add(pid);
      for (const l of snapshot.locks) if (l.leaderPid === pid) pids.add(l.pid);
    } else {
      for (const l of snapshot.locks) if (l.role === 'migration') pids.add(l.pid);
      for (const p of snapshot.progress) if (p.role === 'migration') pids.add(p.pid);
      for (const c of snapshot.blockingChains)
        c.blockerPids.forEach((b, i) => c.blockerRoles[i] === 'migration' && pids.add(b));
    }
    return (p: number) => pids.has(p);
  }
}
