/**
 * Core's internal types → the panel protocol's DTOs (src/shared/protocol.ts), one function per DTO, so a
 * change inside core shows up here (a type error) rather than as a panel drawing the wrong thing.
 */
import type { LessonName, LessonResult } from '../core/lessons/types';
import { LESSON_TITLES, lessonFacts } from '../core/scenarios/lessons';
import type {
  BlockingChain,
  IndexProgress,
  LockRow,
  LockSnapshot,
  MonitorStatus,
} from '../core/monitor/lockMonitor';
import type { LatencySummary, RecordedRun } from '../core/monitor/recorder';
import { comparedPair, comparisonConclusion } from '../core/monitor/report';
import { maxProbeQueued } from '../core/monitor/verdict';
import {
  chartPoints,
  probeStats,
  type KindStats,
  type ProbePoint,
  type ProbeSample,
} from '../core/probe/stats';
import type { ProbeSnapshot } from '../core/probe/sampler';
import type {
  BlockingChainDto,
  ComparisonDto,
  IndexProgressDto,
  LatencySnapshotDto,
  LatencyStatsDto,
  LessonDto,
  LockRowDto,
  LockSnapshotDto,
  MonitorStatusDto,
  ProbePointDto,
  RunDto,
  RunLatencyDto,
} from '../shared/protocol';

export function toLockRowDto(l: LockRow): LockRowDto {
  return {
    pid: l.pid,
    role: l.role,
    applicationName: l.applicationName,
    backendType: l.backendType,
    leaderPid: l.leaderPid,
    state: l.state,
    waitEvent: l.waitEvent,
    locktype: l.locktype,
    mode: l.mode,
    granted: l.granted,
    relation: l.relation,
    target: l.target,
    blockedBy: [...l.blockedBy],
    waitingMs: l.waitingMs,
    query: l.query,
  };
}

export function toBlockingChainDto(c: BlockingChain): BlockingChainDto {
  return {
    waiterPid: c.waiterPid,
    waiterRole: c.waiterRole,
    blockerPids: [...c.blockerPids],
    blockerRoles: [...c.blockerRoles],
    waitingMs: c.waitingMs,
    mode: c.mode,
    locktype: c.locktype,
    target: c.target,
  };
}

export function toIndexProgressDto(p: IndexProgress): IndexProgressDto {
  return {
    pid: p.pid,
    role: p.role,
    command: p.command,
    phase: p.phase,
    relation: p.relation,
    index: p.index,
    lockersTotal: p.lockersTotal,
    lockersDone: p.lockersDone,
    currentLockerPid: p.currentLockerPid,
    blocksTotal: p.blocksTotal,
    blocksDone: p.blocksDone,
    tuplesTotal: p.tuplesTotal,
    tuplesDone: p.tuplesDone,
    percent: p.percent,
  };
}

export function toLockSnapshotDto(s: LockSnapshot): LockSnapshotDto {
  return {
    at: s.at,
    locks: s.locks.map(toLockRowDto),
    blockingChains: s.blockingChains.map(toBlockingChainDto),
    progress: s.progress.map(toIndexProgressDto),
    pollMs: s.pollMs,
  };
}

export function toMonitorStatusDto(s: MonitorStatus): MonitorStatusDto {
  return {
    state: s.state,
    at: s.at,
    attempt: s.attempt,
    retryInMs: s.retryInMs,
    error: s.error,
    serverVersion: s.serverVersion,
  };
}

export function toLatencyStatsDto(k: KindStats): LatencyStatsDto {
  return {
    count: k.count,
    inFlight: k.inFlight,
    p50Ms: k.p50Ms,
    p95Ms: k.p95Ms,
    maxMs: k.maxMs,
    stalled: k.stalled,
    errors: k.errors,
    timeouts: k.timeouts,
  };
}

export function toProbePointDto(p: ProbePoint): ProbePointDto {
  return { t: p.t, latencyMs: p.latencyMs, kind: p.kind, inFlight: p.inFlight, outcome: p.outcome };
}

/** The demo's probe snapshot (one table behind the HTTP probe) as the panel's per-table latency. */
export function toLatencySnapshotDto(s: ProbeSnapshot, table: string): LatencySnapshotDto {
  return {
    at: s.at,
    windowMs: s.windowMs,
    stalledThresholdMs: s.stalledThresholdMs,
    running: s.running,
    tables: [
      {
        table,
        read: toLatencyStatsDto(s.read),
        write: toLatencyStatsDto(s.write),
        points: s.points.map(toProbePointDto),
      },
    ],
  };
}

/** Samples per table (sorted by startedAt, e.g. a trace's table probes) over the window ending at `at`. */
export function toLatencyByTableDto(
  byTable: Readonly<Record<string, { reads: readonly ProbeSample[]; writes: readonly ProbeSample[] }>>,
  options: { at: number; windowMs: number; stalledThresholdMs: number; running: boolean; maxPoints?: number },
): LatencySnapshotDto {
  const entries = Object.entries(byTable);
  const perTable = Math.max(2, Math.floor((options.maxPoints ?? 1200) / Math.max(1, entries.length)));
  return {
    at: options.at,
    windowMs: options.windowMs,
    stalledThresholdMs: options.stalledThresholdMs,
    running: options.running,
    tables: entries.map(([table, { reads, writes }]) => {
      const from = options.at - options.windowMs;
      const inWindow = [...reads, ...writes]
        .filter((x) => x.startedAt >= from || x.outcome === undefined)
        .sort((a, b) => a.startedAt - b.startedAt);
      const stats = probeStats(inWindow, options.at, options.stalledThresholdMs);
      return {
        table,
        read: toLatencyStatsDto(stats.read),
        write: toLatencyStatsDto(stats.write),
        points: chartPoints(inWindow, options.at, perTable).map(toProbePointDto),
      };
    }),
  };
}

function toRunLatencyDto(l: LatencySummary | null): RunLatencyDto | null {
  return l ? { count: l.count, p50Ms: l.p50Ms, p95Ms: l.p95Ms, maxMs: l.maxMs, stalled: l.stalled } : null;
}

/** The key the panel knows a run by (its cards and the comparison's pair). */
export function runKey(r: Pick<RecordedRun, 'startedAt' | 'migration'>): string {
  return `${r.startedAt}:${r.migration}`;
}

export function toRunDto(r: RecordedRun): RunDto {
  return {
    key: runKey(r),
    migration: r.migration,
    kind: r.kind,
    outcome: r.outcome,
    startedAt: r.startedAt,
    endedAt: r.endedAt,
    durationMs: r.durationMs,
    title: r.title ?? r.migration,
    attempts: r.attempts?.length,
    verdict: r.verdict,
    reads: toRunLatencyDto(r.reads),
    writes: toRunLatencyDto(r.writes),
    locksHeld: [...r.locksHeld],
    maxWaiters: r.maxWaiters,
    maxProbeQueued: maxProbeQueued(r.probeConcurrency),
    phases: [...r.phases],
    stalledThresholdMs: r.stalledThresholdMs,
  };
}

/** The pair core's report compares (one rule, shared with the exported report), and its conclusion. */
export function toComparisonDto(runs: readonly RecordedRun[]): ComparisonDto | null {
  const pair = comparedPair(runs);
  const conclusion = comparisonConclusion(runs);
  return pair && conclusion ? { runKeys: [runKey(pair[0]), runKey(pair[1])], conclusion } : null;
}

export function toLessonDto(r: LessonResult): LessonDto {
  return { name: r.name, title: LESSON_TITLES[r.name], verdict: r.verdict, facts: lessonFacts(r) };
}

export function toLiveLessonDto(name: LessonName | undefined): { name: string; title: string } | null {
  return name ? { name, title: LESSON_TITLES[name] } : null;
}
