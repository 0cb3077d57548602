/** The lock-queue trap: reads queue behind an ALTER that waits for a long transaction. */
import { LESSON_MIGRATIONS, findMigration, rollBackLessonMigrations } from './migrations';
import { LockQueueTracker, startedDuring } from './observe';
import { sleep } from './retry';
import type { LockQueueObserved, LockQueueResult } from './types';
import { DEFAULT_STALLED_THRESHOLD_MS } from '../probe/stats';
import { lockQueueVerdict } from './verdicts';
import {
  until,
  recordedLesson,
  prepareLessonMigration,
  runLessonScene,
  defined,
  type LessonRecording,
} from './scene';
import type { LessonContext } from './scene';

const LOCK_QUEUE_DEFAULTS = { stallMs: 2500, observeTimeoutMs: 10_000 };

export interface LockQueueOptions {
  /** How long the ALTER is left waiting once seen, so that the stall is measurable, ms (default 2500). */
  stallMs?: number;
  /** Give up waiting to see the chain after this, ms (default 10 000). */
  observeTimeoutMs?: number;
}

// Lesson 1: the lock-queue trap

/**
 * A slow report holds ACCESS SHARE on the seeded table; a plain ALTER TABLE … ADD COLUMN waits for ACCESS
 * EXCLUSIVE, and the probe's reads queue behind the ALTER. Once the chain (reader → ALTER → long
 * transaction) has been seen and the ALTER has waited `stallMs`, the long transaction ends, the ALTER
 * completes, and the column is rolled back.
 */
export function runLockQueueLesson(
  ctx: LessonContext,
  options: LockQueueOptions = {},
): Promise<LockQueueResult> {
  return recordedLesson(ctx, 'lock-queue', (recording) => lockQueueLesson(ctx, options, recording));
}

async function lockQueueLesson(
  ctx: LessonContext,
  options: LockQueueOptions,
  recording: LessonRecording,
): Promise<LockQueueResult> {
  const { stallMs, observeTimeoutMs } = { ...LOCK_QUEUE_DEFAULTS, ...defined(options) };
  const { logger, signal } = ctx;
  logger.info('Lesson "lock-queue": a long transaction, then a plain ALTER TABLE … ADD COLUMN.');
  const { migration, runner } = await prepareLessonMigration(ctx, recording, (state) =>
    findMigration(state.lessons, LESSON_MIGRATIONS.addColumnPlain),
  );
  const tracker = new LockQueueTracker(ctx.schema);

  const { outcome, samples, cleaned } = await runLessonScene(ctx, {
    lesson: 'lock-queue',
    recording,
    migrationId: migration.id,
    kind: 'other',
    deadlineMs: observeTimeoutMs + stallMs,
    tracker,
    run: (o) => runner.migrateTo(migration.id, o),
    onPid: (pid) => tracker.addDdlPid(pid),
    direct: async ({ settled }) => {
      await until(() => tracker.chainSeen || settled(), observeTimeoutMs, signal);
      if (!tracker.chainSeen) {
        logger.warn(
          'No read was seen queued behind the ALTER before the deadline; ending the long transaction.',
        );
        return;
      }
      const chain = tracker.chain!;
      logger.info(
        `Seen: read pid ${chain.readerPid} waits for ${chain.readerMode} behind the ALTER (pid ${chain.ddlPid}), ` +
          `which waits for ${chain.ddlMode} behind the long transaction (pid ${chain.blockerPid}).`,
      );
      const waitStart = tracker.ddlWaitStartedAt ?? Date.now();
      const left = waitStart + stallMs - Date.now();
      if (left > 0) await sleep(left, signal);
    },
    cleanup: () => rollBackLessonMigrations(ctx),
  });
  const { recorded, txEnd } = outcome;
  const stalledThresholdMs = recorded.stalledThresholdMs ?? DEFAULT_STALLED_THRESHOLD_MS;
  const readsQueued =
    tracker.ddlWaitStartedAt !== undefined
      ? startedDuring(samples, 'read', tracker.ddlWaitStartedAt, outcome.releaseStartedAt)
      : 0;
  const observed: LockQueueObserved = {
    readsWaitedBehindDdl: tracker.chainSeen,
    maxReadStallMs: recorded.reads?.maxMs ?? null,
    maxWriteStallMs: recorded.writes?.maxMs ?? null,
    maxReadLockWaitMs: tracker.maxReadLockWaitMs,
    readsQueued,
    readsStalled: samples.filter((s) => s.kind === 'read' && (s.latencyMs ?? 0) > stalledThresholdMs).length,
    stalledThresholdMs,
    maxReadersWaiting: tracker.maxReadersWaiting,
    ddlWaitedMs: tracker.maxDdlWaitMs,
    chain: tracker.chain ?? null,
    longTransactionPid: outcome.tx.pid,
    longTransactionHeldMs: txEnd.heldMs,
    migration: migration.id,
    migrationOutcome: recorded.outcome,
    migrationWallMs: recorded.wallMs,
    rolledBack: cleaned.includes(migration.id),
  };
  const result: LockQueueResult = { name: 'lock-queue', observed, verdict: lockQueueVerdict(observed) };
  logger.info(`Lesson "lock-queue": ${result.verdict}`);
  return result;
}
