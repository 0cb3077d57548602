import type { InvalidIndex } from '../invalidIndexes';
import type { LockAttempt } from './retry';
import type { ObservedChain } from './observe';

/** The four lessons (their scenarios, titles and order: src/core/scenarios/lessons.ts). */
export type LessonName = 'lock-queue' | 'lock-timeout' | 'concurrent-waits' | 'failed-concurrently';

/** What every lesson returns; `observed` is plain JSON (numbers, booleans, strings, null). */
export interface LessonResultOf<N extends LessonName, O> {
  name: N;
  observed: O;
  /** Computed from `observed` only. */
  verdict: string;
}

export interface LockQueueObserved {
  /** A probe read was seen waiting for AccessShareLock behind the ALTER, which waited for the long transaction. */
  readsWaitedBehindDdl: boolean;
  /** Worst read latency the probe measured while the migration ran, ms (null: the probe measured nothing). */
  maxReadStallMs: number | null;
  /** Worst write latency the probe measured while the migration ran, ms. */
  maxWriteStallMs: number | null;
  /** Longest a probe-read session was seen (pg_locks) waiting behind the ALTER, ms. */
  maxReadLockWaitMs: number | null;
  /** Probe reads that started while the ALTER was waiting (each queued behind it). */
  readsQueued: number;
  /** Probe reads slower than the stalled threshold (stalledThresholdMs) while the migration ran. */
  readsStalled: number;
  /** The threshold of readsStalled and of "stalled" in the verdict (migrationLab.probe.stalledThresholdMs). */
  stalledThresholdMs: number;
  /** Most probe-read sessions seen waiting behind the ALTER at once. */
  maxReadersWaiting: number;
  /** Longest the ALTER was seen waiting for its lock, ms. */
  ddlWaitedMs: number | null;
  /** The chain with the longest-waiting ALTER: reader pid → ALTER pid → long transaction pid. */
  chain: ObservedChain | null;
  longTransactionPid: number;
  longTransactionHeldMs: number;
  migration: string;
  migrationOutcome: 'succeeded' | 'failed' | 'cancelled';
  /** The run's wall time (the ALTER itself is instant once it has its lock). */
  migrationWallMs: number;
  /** The migration was rolled back afterwards (the column is gone). */
  rolledBack: boolean;
}

export interface LockTimeoutObserved {
  lockTimeoutMs: number;
  /** Attempts made in all. */
  attempts: number;
  /** Attempts that gave up with 55P03. */
  timeouts: number;
  succeeded: boolean;
  /** Worst read latency the probe measured over all attempts and waits, ms. */
  maxReadStallMs: number | null;
  maxWriteStallMs: number | null;
  /** Longest a probe-read session was seen (pg_locks) waiting behind an attempt, ms. */
  maxReadLockWaitMs: number | null;
  /** A probe read was seen waiting behind an attempt while it waited for the long transaction. */
  readsWaitedBehindDdl: boolean;
  /** The lock-queue lesson's figure (no timeout), when given, for the comparison. */
  withoutTimeoutMaxReadStallMs: number | null;
  attemptLog: LockAttempt[];
  /** SQLSTATE of each failed attempt, in order. */
  sqlstates: string[];
  longTransactionPid: number;
  /** Epoch ms the long transaction ended. */
  longTransactionEndedAt: number | null;
  /** It was ended after this attempt (null: by time, or never). */
  longTransactionEndedAfterAttempt: number | null;
  retryDelaysMs: number[];
  migration: string;
  rolledBack: boolean;
}

export interface ConcurrentWaitsObserved {
  /** The waiting phase in which current_locker_pid was the long transaction (null: never seen). */
  waitingPhaseSeen: string | null;
  lockerPidMatched: boolean;
  /** Reads and writes both completed (2xx) while the build waited. */
  readsAndWritesFlowed: boolean;
  /** The build's own lock wait (virtualxid) was blocked by the long transaction. */
  blockedByLongTransaction: boolean;
  phasesSeen: string[];
  longTransactionPid: number;
  builderPid: number | null;
  /** Longest the build was seen waiting on the long transaction, ms. */
  waitMs: number | null;
  readsDuringWait: number;
  writesDuringWait: number;
  maxReadMsDuringWait: number | null;
  maxWriteMsDuringWait: number | null;
  buildCompleted: boolean;
  /** From the end of the long transaction to the end of the build, ms. */
  finishedAfterReleaseMs: number | null;
  migration: string;
  rolledBack: boolean;
}

export type { InvalidIndex };

export interface FailedConcurrentlyObserved {
  duplicatesInserted: number;
  /** SQLSTATE the CREATE UNIQUE INDEX CONCURRENTLY failed with (null: it did not fail). */
  failedWith: string | null;
  invalidIndexDetected: boolean;
  invalidIndex: InvalidIndex | null;
  /** `CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS` with the same name returned without an error. */
  ifNotExistsSucceeded: boolean;
  ifNotExistsNotice: string | null;
  /** …and the index was still indisvalid = false afterwards. */
  ifNotExistsKeptInvalid: boolean;
  /** SQLSTATE of the same statement without IF NOT EXISTS (42P07 expected). */
  plainRetryFailedWith: string | null;
  droppedConcurrently: boolean;
  duplicatesRemoved: number;
  /** No index of that name and no inserted duplicate is left. */
  cleanedUp: boolean;
  migration: string;
}

export type LockQueueResult = LessonResultOf<'lock-queue', LockQueueObserved>;
export type LockTimeoutResult = LessonResultOf<'lock-timeout', LockTimeoutObserved>;
export type ConcurrentWaitsResult = LessonResultOf<'concurrent-waits', ConcurrentWaitsObserved>;
export type FailedConcurrentlyResult = LessonResultOf<'failed-concurrently', FailedConcurrentlyObserved>;
export type LessonResult =
  LockQueueResult | LockTimeoutResult | ConcurrentWaitsResult | FailedConcurrentlyResult;
