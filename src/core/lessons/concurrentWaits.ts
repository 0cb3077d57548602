/** CREATE INDEX CONCURRENTLY waits for old transactions, while reads and writes flow. */
import { dropIndexConcurrently } from './indexes';
import { CONCURRENT_WAITS_LESSON } from '../scenarios/lessons';
import { findMigration, readLessonMigrationState, rollbackFloor } from './migrations';
import { ConcurrentWaitTracker, flowDuring } from './observe';
import { sleep } from './retry';
import type { ConcurrentWaitsObserved, ConcurrentWaitsResult } from './types';
import { concurrentWaitsVerdict } from './verdicts';
import {
  CONCURRENT_INDEX_NAME,
  until,
  recordedLesson,
  prepareLessonMigration,
  assertReady,
  runLessonScene,
  defined,
  type LessonRecording,
} from './scene';
import type { LessonContext } from './scene';

const CONCURRENT_DEFAULTS = { observeTimeoutMs: 120_000, holdMs: 1500 };

export interface ConcurrentWaitsOptions {
  /** Give up waiting to see the build wait for the long transaction after this, ms (default 120 000). */
  observeTimeoutMs?: number;
  /** How long the build is left waiting once seen, so that reads and writes are seen flowing, ms (default 1500). */
  holdMs?: number;
}

// Lesson 3: CONCURRENTLY waits for old transactions

/**
 * With the long transaction open, the lab's 0002_add_email_index_concurrently builds its index and
 * then waits (a "waiting for …" phase whose current_locker_pid is the long transaction) while reads
 * and writes keep flowing. The long transaction ends, the build completes, and it is rolled back.
 */
export function runConcurrentWaitsLesson(
  ctx: LessonContext,
  options: ConcurrentWaitsOptions = {},
): Promise<ConcurrentWaitsResult> {
  return recordedLesson(ctx, 'concurrent-waits', (recording) =>
    concurrentWaitsLesson(ctx, options, recording),
  );
}

async function concurrentWaitsLesson(
  ctx: LessonContext,
  options: ConcurrentWaitsOptions,
  recording: LessonRecording,
): Promise<ConcurrentWaitsResult> {
  const { observeTimeoutMs, holdMs } = { ...CONCURRENT_DEFAULTS, ...defined(options) };
  const { logger, signal } = ctx;
  logger.info('Lesson "concurrent-waits": a long transaction, then CREATE INDEX CONCURRENTLY.');
  await assertReady(ctx, ['concurrent-waits']);
  const { state, migration, runner } = await prepareLessonMigration(ctx, recording, (lab) =>
    findMigration(lab.repo, CONCURRENT_WAITS_LESSON.migrations[0]!),
  );
  const floor = rollbackFloor(state, migration.version);
  const tracker = new ConcurrentWaitTracker(0);
  let builderPid: number | null = null;

  const rollBackIndex = async (): Promise<boolean> => {
    const now = await readLessonMigrationState(ctx);
    if (now.appliedRepo.some((m) => m.id === migration.id)) {
      await runner.rollbackTo(floor?.id ?? null);
      return true;
    }
    // A cancelled or failed build is not recorded but leaves an INVALID index (none existed before).
    if (await dropIndexConcurrently(ctx.target, ctx.schema, CONCURRENT_INDEX_NAME, { logger })) {
      logger.warn(`Dropped the invalid index ${CONCURRENT_INDEX_NAME} the interrupted build left.`);
    }
    return false;
  };

  const {
    outcome,
    samples,
    cleaned: rolledBack,
  } = await runLessonScene(ctx, {
    lesson: 'concurrent-waits',
    recording,
    migrationId: migration.id,
    kind: 'concurrent',
    deadlineMs: observeTimeoutMs + holdMs,
    tracker,
    run: (o) => runner.migrateTo(migration.id, o),
    onPid: (pid) => {
      builderPid = pid;
      tracker.addBuilderPid(pid);
    },
    direct: async ({ settled }) => {
      await until(() => tracker.lockerPidMatched || settled(), observeTimeoutMs, signal);
      if (!tracker.lockerPidMatched) {
        logger.warn('The build was not seen waiting for the long transaction; ending it.');
        return;
      }
      logger.info(
        `Seen: the build in phase "${tracker.waitingPhaseSeen}" with current_locker_pid ${tracker.longTransactionPid}.`,
      );
      await sleep(holdMs, signal);
    },
    // A request that started before the migration and completed during the wait shows flow too.
    samplesLeadMs: 60_000,
    cleanup: rollBackIndex,
  });
  const { recorded } = outcome;
  const from = tracker.waitSeenAt;
  const to = outcome.releaseStartedAt;
  const reads = from !== undefined ? flowDuring(samples, 'read', from, to) : undefined;
  const writes = from !== undefined ? flowDuring(samples, 'write', from, to) : undefined;
  const observed: ConcurrentWaitsObserved = {
    waitingPhaseSeen: tracker.waitingPhaseSeen ?? null,
    lockerPidMatched: tracker.lockerPidMatched,
    readsAndWritesFlowed: (reads?.ok ?? 0) > 0 && (writes?.ok ?? 0) > 0,
    blockedByLongTransaction: tracker.blockedByLongTransaction,
    phasesSeen: [...tracker.phasesSeen],
    longTransactionPid: outcome.tx.pid,
    builderPid,
    waitMs: tracker.maxWaitMs ?? (from !== undefined ? to - from : null),
    readsDuringWait: reads?.ok ?? 0,
    writesDuringWait: writes?.ok ?? 0,
    maxReadMsDuringWait: reads?.maxMs ?? null,
    maxWriteMsDuringWait: writes?.maxMs ?? null,
    buildCompleted: recorded.outcome === 'succeeded',
    finishedAfterReleaseMs: recorded.outcome === 'succeeded' ? Math.max(0, recorded.endedAt - to) : null,
    migration: migration.id,
    rolledBack,
  };
  const result: ConcurrentWaitsResult = {
    name: 'concurrent-waits',
    observed,
    verdict: concurrentWaitsVerdict(observed),
  };
  logger.info(`Lesson "concurrent-waits": ${result.verdict}`);
  return result;
}
