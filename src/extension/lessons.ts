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
import { DEMO_SCENARIO, appliedComparedMigration } from '../core/scenarios/demo';
import { LESSON_SOURCE, lessonScenario } from '../core/scenarios/lessons';

/** The context keys each lesson sets once what it teaches was observed (the walkthrough's ticks). */
export { lessonContextKeys } from '../core/scenarios/lessons';

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
    throw new ActionableError(
      `The lessons need a seeded ${DEMO_SCENARIO.seed.large}; seed the tables first.`,
      [{ title: 'Seed Tables', command: 'migrationLab.seedTables' }],
    );
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
        migrationsDir: join(ctx.extension.extensionPath, DEMO_SCENARIO.source.folder),
        lessonsDir: join(ctx.extension.extensionPath, LESSON_SOURCE.folder),
        session,
      };
      ctx.observation.setLiveLesson(name);
      const happening = lessonScenario(name).happening;
      try {
        let result: LessonResult;
        switch (name) {
          case 'lock-queue':
            progress.report({ message: happening });
            result = await runLockQueueLesson(lessonCtx);
            break;
          case 'lock-timeout':
            progress.report({ message: `${happening} (lock_timeout ${config.lessonLockTimeoutMs} ms)` });
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
            progress.report({ message: happening });
            result = await runConcurrentWaitsLesson(lessonCtx);
            break;
          case 'failed-concurrently':
            progress.report({ message: happening });
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

/** The index CONCURRENTLY-waits builds (the demo's); an interrupted build leaves it INVALID under this name. */
const LESSON_INDEX = DEMO_SCENARIO.index;

/**
 * Gets the lab into the state a lesson needs when the lab can do that by itself, and says so in the log.
 * The concurrent-waits lesson builds the demo's index itself, so neither compared migration may be applied:
 * the lab owns the demo's migrations and rolls them back (what the walkthrough's order leaves applied). An
 * INVALID index of that name is the user's to look at: the error offers the drop as a button.
 */
async function reachLessonState(ctx: CommandContext, name: LessonName): Promise<void> {
  if (name !== 'concurrent-waits') return;
  const appliedId = appliedComparedMigration(ctx.lab.state.migrations);
  const applied = appliedId !== undefined ? { id: appliedId } : undefined;
  const initial = DEMO_SCENARIO.initial;
  if (applied) {
    ctx.logger.info(
      `Lesson "${LESSON_TITLES[name]}" builds the demo's index itself, and ${applied.id} is applied: rolling it back to ${initial} first.`,
    );
    await vscode.window.withProgress(
      {
        location: vscode.ProgressLocation.Notification,
        title: `Migration Lab: rolling back ${applied.id} for the lesson`,
      },
      () => ctx.lab.rollbackTo(initial),
    );
    ctx.logger.info(`Rolled back ${applied.id}; the lesson starts from ${initial}.`);
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
