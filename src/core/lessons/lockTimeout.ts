/** lock_timeout with retries: the ALTER gives up quickly and retries, so reads never queue for long. */
import { describeError } from '../errors';
import type { RunOptions, RunResult } from '../migrations/runner';
import { LongTransaction } from './longTransaction';
import { LESSON_MIGRATIONS, findMigration, rollBackLessonMigrations, withLockTimeout } from './migrations';
import { LockQueueTracker } from './observe';
import {
  resolveRetryPolicy,
  retryOnLockTimeout,
  worstCaseMs,
  type LockAttempt,
  type LockRetryPolicy,
  type RetryRun,
} from './retry';
import type { LockTimeoutObserved, LockTimeoutResult } from './types';
import { lockTimeoutVerdict } from './verdicts';
import {
  LONG_TX_SAFETY_MS,
  until,
  recordedLesson,
  prepareLessonMigration,
  runLessonScene,
  type LessonRecording,
} from './scene';
import type { LessonContext } from './scene';

export interface LockTimeoutOptions {
  /** lock_timeout and backoff (defaults: 1000 ms, 10 attempts, 1000 ms doubling, at most 30 s). */
  policy?: Partial<LockRetryPolicy>;
  /** End the long transaction once this many attempts timed out (default 2). */
  endLongTransactionAfterAttempts?: number;
  /** End the long transaction this many ms after the first attempt starts instead. */
  endLongTransactionAfterMs?: number;
  /** The worst read stall without a timeout (the lock-queue lesson's maxReadStallMs), for the verdict. */
  withoutTimeoutMaxReadStallMs?: number | null;
  /** Called as each attempt ends (e.g. for the panel to list attempts live). */
  onAttempt?: (attempt: LockAttempt) => void;
}

// Lesson 2: lock_timeout with retries

/**
 * The same scene with the safe migration: SET LOCAL lock_timeout, retried on 55P03 with backoff. The
 * long transaction ends after `endLongTransactionAfterAttempts` timed-out attempts (or after
 * `endLongTransactionAfterMs`), so a later attempt succeeds; the column is then rolled back.
 */
export function runLockTimeoutLesson(
  ctx: LessonContext,
  options: LockTimeoutOptions = {},
): Promise<LockTimeoutResult> {
  return recordedLesson(ctx, 'lock-timeout', (recording) => lockTimeoutLesson(ctx, options, recording));
}

async function lockTimeoutLesson(
  ctx: LessonContext,
  options: LockTimeoutOptions,
  recording: LessonRecording,
): Promise<LockTimeoutResult> {
  const { logger, signal } = ctx;
  const policy = resolveRetryPolicy(options.policy);
  const endAfterAttempts = options.endLongTransactionAfterAttempts ?? 2;
  const endAfterMs = options.endLongTransactionAfterMs;
  logger.info(
    `Lesson "lock-timeout": the same ALTER with lock_timeout = ${policy.lockTimeoutMs} ms, ` +
      `up to ${policy.maxAttempts} attempts.`,
  );
  const { migration, runner } = await prepareLessonMigration(ctx, recording, (state) =>
    withLockTimeout(
      findMigration(state.lessons, LESSON_MIGRATIONS.addColumnWithLockTimeout),
      policy.lockTimeoutMs,
    ),
  );
  const tracker = new LockQueueTracker(ctx.schema);
  const attempts: LockAttempt[] = [];
  recording.attempts = attempts;
  let retry: RetryRun<RunResult> | undefined;
  let endedAfterAttempt: number | null = null;
  let tx: LongTransaction | undefined;

  const run = async (o: RunOptions): Promise<RunResult> => {
    retry = await retryOnLockTimeout(
      (_n, setPid) =>
        runner.migrateTo(migration.id, {
          signal: o.signal,
          onStart: (pid) => {
            setPid(pid);
            o.onStart?.(pid);
          },
        }),
      {
        policy,
        signal: o.signal,
        logger,
        onAttempt: async (a) => {
          attempts.push(a);
          try {
            options.onAttempt?.(a);
          } catch (e) {
            logger.warn(`An attempt listener failed: ${describeError(e)}`);
          }
          if (endAfterMs === undefined && a.outcome === 'timeout' && a.n >= endAfterAttempts && tx?.open) {
            endedAfterAttempt = a.n;
            logger.info(`Ending the long transaction after attempt ${a.n}.`);
            await tx.end();
          }
        },
      },
    );
    if (!retry.succeeded) throw retry.error;
    return retry.value!;
  };

  const { outcome, cleaned } = await runLessonScene(ctx, {
    lesson: 'lock-timeout',
    recording,
    migrationId: migration.id,
    kind: 'other',
    deadlineMs: worstCaseMs(policy),
    tracker,
    run,
    onLongTransaction: (t) => (tx = t),
    onPid: (pid) => tracker.addDdlPid(pid),
    direct: async ({ tx: t, settled }) => {
      if (endAfterMs !== undefined) await until(settled, endAfterMs, signal);
      else await until(() => settled() || !t.open, worstCaseMs(policy) + LONG_TX_SAFETY_MS, signal);
    },
    cleanup: () => rollBackLessonMigrations(ctx),
    // Every attempt timing out is the lesson's finding (the long transaction outlived the retries), not a failure.
    reportsError: () =>
      !signal?.aborted && attempts.length > 0 && attempts.every((a) => a.outcome === 'timeout'),
  });
  const { recorded } = outcome;
  const finalRetry = retry as RetryRun<RunResult> | undefined;
  const observed: LockTimeoutObserved = {
    lockTimeoutMs: policy.lockTimeoutMs,
    attempts: attempts.length,
    timeouts: attempts.filter((a) => a.outcome === 'timeout').length,
    succeeded: finalRetry?.succeeded ?? false,
    maxReadStallMs: recorded.reads?.maxMs ?? null,
    maxWriteStallMs: recorded.writes?.maxMs ?? null,
    maxReadLockWaitMs: tracker.maxReadLockWaitMs,
    readsWaitedBehindDdl: tracker.chainSeen,
    withoutTimeoutMaxReadStallMs: options.withoutTimeoutMaxReadStallMs ?? null,
    attemptLog: attempts,
    sqlstates: attempts.flatMap((a) => (a.sqlstate ? [a.sqlstate] : [])),
    longTransactionPid: outcome.tx.pid,
    longTransactionEndedAt: outcome.txEnd.endedAt,
    longTransactionEndedAfterAttempt: endedAfterAttempt,
    retryDelaysMs: attempts.flatMap((a) => (a.delayAfterMs !== undefined ? [a.delayAfterMs] : [])),
    migration: migration.id,
    rolledBack: cleaned.includes(migration.id),
  };
  const result: LockTimeoutResult = { name: 'lock-timeout', observed, verdict: lockTimeoutVerdict(observed) };
  logger.info(`Lesson "lock-timeout": ${result.verdict}`);
  return result;
}
