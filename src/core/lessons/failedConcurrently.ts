/** A failed CONCURRENTLY build leaves an INVALID index that IF NOT EXISTS keeps. */
import { quoteIdent } from '../db';
import { describeError, throwIfAborted } from '../errors';
import type { RunOptions } from '../migrations/runner';
import { FAILED_CONCURRENTLY_LESSON } from '../scenarios/lessons';
import { quotedTable } from '../scenarios/types';
import {
  UNIQUE_EMAIL_INDEX,
  dropIndexConcurrently,
  findInvalidIndexes,
  indexState,
  insertDuplicateEmails,
  removeDuplicateEmails,
  tryStatement,
  withAdminSession,
  type DuplicateEmails,
} from './indexes';
import { LESSON_MIGRATIONS, findMigration, rollBackLessonMigrations } from './migrations';
import { sqlstateOf } from './retry';
import type { FailedConcurrentlyObserved, FailedConcurrentlyResult } from './types';
import { failedConcurrentlyVerdict } from './verdicts';
import {
  withCleanup,
  recordedLesson,
  prepareLessonMigration,
  throwRunError,
  type LessonRecording,
} from './scene';
import type { LessonContext } from './scene';

export interface FailedConcurrentlyOptions {
  /** Rows with duplicate emails to insert (default 3). */
  duplicates?: number;
}

// Lesson 4: the failed CONCURRENTLY build

/**
 * Inserts duplicate emails, runs 0004_unique_email_concurrently (fails with 23505, leaving an INVALID
 * index), detects the invalid index, shows that CREATE … IF NOT EXISTS keeps it, then drops it
 * concurrently and deletes the duplicates.
 */
export function runFailedConcurrentlyLesson(
  ctx: LessonContext,
  options: FailedConcurrentlyOptions = {},
): Promise<FailedConcurrentlyResult> {
  return recordedLesson(ctx, 'failed-concurrently', (recording) =>
    failedConcurrentlyLesson(ctx, options, recording),
  );
}

async function failedConcurrentlyLesson(
  ctx: LessonContext,
  options: FailedConcurrentlyOptions,
  recording: LessonRecording,
): Promise<FailedConcurrentlyResult> {
  const { logger, signal } = ctx;
  const io = { logger, signal };
  const n = options.duplicates ?? 3;
  logger.info('Lesson "failed-concurrently": duplicates, then CREATE UNIQUE INDEX CONCURRENTLY.');
  const { migration, runner } = await prepareLessonMigration(ctx, recording, (state) =>
    findMigration(state.lessons, LESSON_MIGRATIONS.uniqueEmailConcurrently),
  );
  if (await dropIndexConcurrently(ctx.target, ctx.schema, UNIQUE_EMAIL_INDEX, io)) {
    logger.warn(`Dropped ${UNIQUE_EMAIL_INDEX}, left by an earlier run.`);
  }
  const table = quotedTable(ctx.schema, FAILED_CONCURRENTLY_LESSON.tables[0]!);
  const index = quoteIdent(UNIQUE_EMAIL_INDEX);
  const facts: Omit<FailedConcurrentlyObserved, 'droppedConcurrently' | 'duplicatesRemoved' | 'cleanedUp'> = {
    duplicatesInserted: 0,
    failedWith: null,
    invalidIndexDetected: false,
    invalidIndex: null,
    ifNotExistsSucceeded: false,
    ifNotExistsNotice: null,
    ifNotExistsKeptInvalid: false,
    plainRetryFailedWith: null,
    migration: migration.id,
  };
  let duplicates: DuplicateEmails | undefined;

  const body = async () => {
    duplicates = await insertDuplicateEmails(ctx.target, ctx.schema, n, io);
    facts.duplicatesInserted = duplicates.ids.length;
    const run = (o: RunOptions) => runner.migrateTo(migration.id, o);
    let error: unknown;
    if (ctx.session) {
      const observed = await ctx.session.observe(
        migration.id,
        'concurrent',
        run,
        { signal },
        { lesson: 'failed-concurrently' },
      );
      error = observed.error;
      recording.scene = observed.recorded;
    } else
      error = await run({ signal }).then(
        () => undefined,
        (e: unknown) => e,
      );
    if (
      error !== undefined &&
      (signal?.aborted || (error instanceof Error && error.name === 'CancelledError'))
    )
      throwRunError(error, signal);
    facts.failedWith = error === undefined ? null : (sqlstateOf(error) ?? 'unknown');
    if (error !== undefined) logger.info(`The build failed as expected: ${describeError(error)}`);

    const invalid = await findInvalidIndexes(ctx.target, ctx.schema, io);
    const mine = invalid.find((i) => i.index === UNIQUE_EMAIL_INDEX);
    facts.invalidIndex = mine ?? null;
    facts.invalidIndexDetected = mine !== undefined && !mine.indisvalid;
    if (!mine) return;
    await withAdminSession(ctx.target, io, async (client) => {
      const ifNotExists = await tryStatement(
        client,
        `CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS ${index} ON ${table} (email)`,
      );
      throwIfAborted(signal);
      facts.ifNotExistsSucceeded = ifNotExists.ok;
      facts.ifNotExistsNotice = ifNotExists.notice;
      const after = await indexState(client, ctx.schema, UNIQUE_EMAIL_INDEX);
      facts.ifNotExistsKeptInvalid = ifNotExists.ok && after !== null && !after.indisvalid;
      logger.info(
        `CREATE … IF NOT EXISTS: ${ifNotExists.ok ? 'succeeded' : `failed (${ifNotExists.sqlstate})`}` +
          `${ifNotExists.notice ? ` with the notice "${ifNotExists.notice}"` : ''}; ` +
          `the index is ${after?.indisvalid ? 'valid' : 'still INVALID'}.`,
      );
      const plain = await tryStatement(
        client,
        `CREATE UNIQUE INDEX CONCURRENTLY ${index} ON ${table} (email)`,
      );
      throwIfAborted(signal);
      facts.plainRetryFailedWith = plain.ok ? null : plain.sqlstate;
    });
  };

  const cleanup = async () => {
    const droppedConcurrently = await dropIndexConcurrently(ctx.target, ctx.schema, UNIQUE_EMAIL_INDEX, {
      logger,
    });
    const duplicatesRemoved = duplicates
      ? await removeDuplicateEmails(ctx.target, ctx.schema, { ids: duplicates.ids, logger })
      : 0;
    await rollBackLessonMigrations(ctx); // only when the build unexpectedly succeeded and was recorded
    const cleanedUp = await withAdminSession(ctx.target, { logger }, async (client) => {
      const left = await indexState(client, ctx.schema, UNIQUE_EMAIL_INDEX);
      const ids = duplicates?.ids ?? [];
      const rows =
        ids.length === 0
          ? 0
          : Number(
              (
                await client.query<{ n: string }>(
                  `SELECT count(*) AS n FROM ${table} WHERE id = ANY($1::bigint[])`,
                  [ids],
                )
              ).rows[0]!.n,
            );
      return left === null && rows === 0;
    });
    return { droppedConcurrently, duplicatesRemoved, cleanedUp };
  };

  const { cleaned } = await withCleanup(logger, body, cleanup);
  const observed: FailedConcurrentlyObserved = { ...facts, ...cleaned };
  const result: FailedConcurrentlyResult = {
    name: 'failed-concurrently',
    observed,
    verdict: failedConcurrentlyVerdict(observed, UNIQUE_EMAIL_INDEX),
  };
  logger.info(`Lesson "failed-concurrently": ${result.verdict}`);
  return result;
}
