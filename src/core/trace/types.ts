/**
 * The trace's shapes (issue 12): the `trace --json` contract, the progress a caller shows, and the
 * live events the panel draws during a trace. Shared by the tracer, the report, the CLI and the
 * extension; change them only together with the README's JSON description.
 */
import type { LockSnapshot } from '../monitor/lockMonitor';
import type { ProbeSample } from '../probe/stats';

/** stalled = requests over the stall threshold (as KindStats.stalled). */
export interface TraceLatency {
  p50Ms: number | null;
  p95Ms: number | null;
  maxMs: number | null;
  stalled: number;
}

/** A lock the statement's backend held or waited for: relation schema-qualified, mode as pg_locks spells it. */
export interface TraceLock {
  relation: string;
  mode: string;
  waitedMs: number;
}

export interface TraceStatement {
  file: string;
  line: number;
  sql: string;
  durationMs: number;
  locks: TraceLock[];
  rewrites: string[];
  maxBlockedSessions: number;
  reads: Record<string, TraceLatency>;
  writes: Record<string, TraceLatency>;
  verdict: string;
  startedAt: number;
  endedAt: number;
  progressPhases: string[];
  predicted?: { relation: string; mode: string }[];
  predictionMismatch?: string;
}

export interface TraceMigration {
  id: string;
  rows: Record<string, number>;
  statements: TraceStatement[];
  verdict: string;
}

/** The statistics database the row counts were sized from (issue 12 §1 step 2): catalog only, read-only. */
export interface TraceStatistics {
  /** host:port, never credentials. */
  host: string;
  database: string;
  /** reltuples of each touched table found there (tables never analysed there are absent). */
  estimates: Record<string, number>;
  /** One sentence when they could not be used; the trace then sized the tables as without statistics. */
  note?: string;
}

export interface TraceReport {
  source: string;
  tool: string;
  postgres: string;
  labVersion: string;
  migrations: TraceMigration[];
  writeProbes: Record<string, { kind: string; reason: string }>;
  /** How each table's read probe finds its row (primary key, unique key, ctid, first row). */
  readProbes?: Record<string, { kind: string; reason: string }>;
  fillLimits: string[];
  /** Set when a statistics database was configured. */
  statistics?: TraceStatistics;
  /** The linter's findings on the traced migrations' files (the report sets them beside the measurements). */
  findings?: TraceFinding[];
}

/** A linter finding as a trace keeps it (1-based line and column, as the lint CLI prints them). */
export interface TraceFinding {
  rule: string;
  severity: string;
  file: string;
  line: number;
  column: number;
  message: string;
}

export interface TraceProgress {
  phase: 'replay' | 'fill' | 'trace' | 'cleanup';
  message: string;
  done?: number;
  total?: number;
}

/** What the panel draws live during a trace. */
export interface TraceLiveEvents {
  /** From src/core/monitor/lockMonitor.ts. */
  onLocks?(snapshot: LockSnapshot): void;
  onLatency?(byTable: Record<string, { reads: ProbeSample[]; writes: ProbeSample[] }>): void;
  onStatement?(s: TraceStatementEvent): void;
}

/** A statement of the trace starting (no endedAt yet) or ending, as the live events report it. */
export interface TraceStatementEvent {
  migration: string;
  file: string;
  line: number;
  sql: string;
  startedAt: number;
  endedAt?: number;
}
