/** The four lessons in order, on one session. */
import type { LessonResult } from './types';
import { withSession, assertReady } from './scene';
import type { LessonContext } from './scene';
import type { LockQueueOptions } from './lockQueue';
import { runLockQueueLesson } from './lockQueue';
import type { LockTimeoutOptions } from './lockTimeout';
import { runLockTimeoutLesson } from './lockTimeout';
import type { ConcurrentWaitsOptions } from './concurrentWaits';
import { runConcurrentWaitsLesson } from './concurrentWaits';
import type { FailedConcurrentlyOptions } from './failedConcurrently';
import { runFailedConcurrentlyLesson } from './failedConcurrently';

export interface AllLessonsOptions {
  lockQueue?: LockQueueOptions;
  lockTimeout?: LockTimeoutOptions;
  concurrentWaits?: ConcurrentWaitsOptions;
  failedConcurrently?: FailedConcurrentlyOptions;
  /** Called as each lesson finishes (e.g. to print its verdict at once). */
  onLesson?: (result: LessonResult) => void;
}

/**
 * Runs the four lessons in order on one session (the context's or a private one) and returns their
 * results. Checks first that none can fail on the lab's state; each lesson undoes what it changed
 * (no extra column, no index, no duplicate rows), also when it fails or is cancelled.
 */
export async function runAllLessons(
  ctx: LessonContext,
  options: AllLessonsOptions = {},
): Promise<LessonResult[]> {
  await assertReady(ctx, ['lock-queue', 'lock-timeout', 'concurrent-waits', 'failed-concurrently']);
  return withSession(ctx, async (session) => {
    const c: LessonContext = { ...ctx, session };
    const results: LessonResult[] = [];
    const done = <R extends LessonResult>(r: R): R => {
      results.push(r);
      options.onLesson?.(r);
      return r;
    };
    const queue = done(await runLockQueueLesson(c, options.lockQueue));
    done(
      await runLockTimeoutLesson(c, {
        withoutTimeoutMaxReadStallMs: queue.observed.maxReadStallMs,
        ...options.lockTimeout,
      }),
    );
    done(await runConcurrentWaitsLesson(c, options.concurrentWaits));
    done(await runFailedConcurrentlyLesson(c, options.failedConcurrently));
    return results;
  });
}
