import { join } from 'node:path';
import * as vscode from 'vscode';
import { LabError } from '../core/errors';
import {
  LESSON_TITLES,
  insertDuplicateEmails,
  runConcurrentWaitsLesson,
  runFailedConcurrentlyLesson,
  runLockQueueLesson,
  runLockTimeoutLesson,
  type LessonContext,
  type LessonName,
  type LessonResult,
} from '../core/lessons';
import type { CommandContext } from './context';
import { config, labSchema } from './config';
import { ActionableError, revealLockMonitor } from './guidance';
// extension.ts takes SlowReport from here.
export { SlowReport } from './slowReport';
import { CONCURRENT_INDEX_MIGRATION, INITIAL_MIGRATION, LOCKING_INDEX_MIGRATION } from '../core/lab';

/** The context key each lesson sets once what it teaches was observed (the walkthrough's ticks). */
export function lessonContextKeys(result: LessonResult): Record<string, boolean> {
  switch (result.name) {
    case 'lock-queue':
      return { lockQueueObserved: result.observed.readsWaitedBehindDdl };
    case 'lock-timeout':
      return { lockTimeoutObserved: result.observed.succeeded && result.observed.timeouts > 0 };
    case 'concurrent-waits':
      return { concurrentWaitObserved: result.observed.lockerPidMatched };
    case 'failed-concurrently':
      return {
        invalidIndexDetected: result.observed.invalidIndexDetected,
        invalidIndexDropped: result.observed.invalidIndexDetected && result.observed.cleanedUp,
      };
  }
}

/** Runs one lesson with a cancellable progress notification, live in the Lock Monitor's session. */
export async function runLesson(ctx: CommandContext, name: LessonName): Promise<LessonResult | undefined> {
  if (ctx.lab.state.runningMigration || ctx.observation.liveLesson) {
    throw new LabError('A migration or lesson is already running; wait for it or cancel it.');
  }
  const session = ctx.observation.ensure();
  const target = ctx.lab.connection;
  if (!session || !target) throw new LabError('PostgreSQL is not running; start it first.');
  await ctx.lab.refresh();
  if (!ctx.lab.state.seeded) {
    throw new ActionableError('The lessons need a seeded large_email; seed the tables first.', [
      { title: 'Seed Tables', command: 'migrationLab.seedTables' },
    ]);
  }
  await reachLessonState(ctx, name);
  // In front before the scene starts (beside the walkthrough), so the lesson is seen as it happens.
  revealLockMonitor(ctx);
  return vscode.window.withProgress(
    {
      location: vscode.ProgressLocation.Notification,
      title: `Migration Lab lesson: ${LESSON_TITLES[name]}`,
      cancellable: true,
    },
    async (progress, token) => {
      const abort = new AbortController();
      token.onCancellationRequested(() => abort.abort());
      const lessonCtx: LessonContext = {
        target,
        schema: labSchema(ctx.lab),
        logger: ctx.logger,
        signal: abort.signal,
        migrationsDir: join(ctx.extension.extensionPath, 'migrations'),
        lessonsDir: join(ctx.extension.extensionPath, 'migrations-lessons'),
        session,
      };
      ctx.observation.setLiveLesson(name);
      try {
        let result: LessonResult;
        switch (name) {
          case 'lock-queue':
            progress.report({
              message: 'a slow report holds large_email; ALTER TABLE waits; watch the reads…',
            });
            result = await runLockQueueLesson(lessonCtx);
            break;
          case 'lock-timeout':
            progress.report({
              message: `ALTER TABLE with lock_timeout ${config.lessonLockTimeoutMs} ms, retried…`,
            });
            result = await runLockTimeoutLesson(lessonCtx, {
              policy: {
                lockTimeoutMs: config.lessonLockTimeoutMs,
                maxAttempts: config.lessonMaxAttempts,
                initialDelayMs: config.lessonRetryDelayMs,
              },
              withoutTimeoutMaxReadStallMs:
                ctx.observation.lessonResult('lock-queue')?.observed.maxReadStallMs ?? null,
              onAttempt: (a) =>
                progress.report({
                  message: `attempt ${a.n}: ${a.outcome}${a.sqlstate ? ` (${a.sqlstate})` : ''}`,
                }),
            });
            break;
          case 'concurrent-waits':
            progress.report({ message: 'a slow report is open; CREATE INDEX CONCURRENTLY waits for it…' });
            result = await runConcurrentWaitsLesson(lessonCtx);
            break;
          case 'failed-concurrently':
            progress.report({ message: 'duplicates, then CREATE UNIQUE INDEX CONCURRENTLY…' });
            result = await runFailedConcurrentlyLesson(lessonCtx);
            break;
        }
        ctx.observation.addLesson(result);
        void vscode.window.showInformationMessage(`${LESSON_TITLES[name]}: ${result.verdict}`);
        return result;
      } finally {
        ctx.observation.setLiveLesson(undefined);
        await ctx.lab.refresh().catch(() => undefined);
      }
    },
  );
}

/** The index CONCURRENTLY-waits builds; an interrupted build leaves it INVALID under this name. */
const LESSON_INDEX = 'large_email_email_idx';

/**
 * Gets the lab into the state a lesson needs when the lab can do that by itself, and says so in the log.
 * The concurrent-waits lesson builds the demo's index itself, so neither 0002 may be applied: the lab
 * owns the demo's migrations and rolls 0002 back (what the walkthrough's order leaves applied). An
 * INVALID index of that name is the user's to look at: the error offers the drop as a button.
 */
async function reachLessonState(ctx: CommandContext, name: LessonName): Promise<void> {
  if (name !== 'concurrent-waits') return;
  const applied = ctx.lab.state.migrations.find(
    (m) => m.applied && (m.id === LOCKING_INDEX_MIGRATION || m.id === CONCURRENT_INDEX_MIGRATION),
  );
  if (applied) {
    ctx.logger.info(
      `Lesson "${LESSON_TITLES[name]}" builds the index of 0002 itself, and ${applied.id} is applied: rolling it back to ${INITIAL_MIGRATION} first.`,
    );
    await vscode.window.withProgress(
      {
        location: vscode.ProgressLocation.Notification,
        title: `Migration Lab: rolling back ${applied.id} for the lesson`,
      },
      () => ctx.lab.rollbackTo(INITIAL_MIGRATION),
    );
    ctx.logger.info(`Rolled back ${applied.id}; the lesson starts from ${INITIAL_MIGRATION}.`);
  }
  const invalid = ctx.lab.state.invalidIndexes.find((i) => i.index === LESSON_INDEX);
  if (invalid) {
    throw new ActionableError(
      `An INVALID index ${LESSON_INDEX} is left from an interrupted build; the lesson builds that index, so drop it first.`,
      [{ title: 'Drop It Concurrently', command: 'migrationLab.dropInvalidIndex', args: [LESSON_INDEX] }],
    );
  }
}

export async function insertDuplicates(ctx: CommandContext): Promise<void> {
  const target = ctx.lab.connection;
  if (!target) throw new LabError('PostgreSQL is not running; start it first.');
  const made = await insertDuplicateEmails(target, labSchema(ctx.lab), 3, { logger: ctx.logger });
  void vscode.window.showInformationMessage(
    `Inserted ${made.ids.length} rows whose emails already exist; a UNIQUE index on email will now fail.`,
  );
}
