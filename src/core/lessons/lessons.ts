import { APP_NAMES, connect, quoteIdent } from '../db';
import { CancelledError, LabError, describeError, throwIfAborted } from '../errors';
import type { Logger } from '../log';
import type { RunOptions, RunResult } from '../migrations/runner';
import type { LockSnapshot } from '../monitor/lockMonitor';
import type { MigrationRunKind, RecordedRun } from '../monitor/recorder';
import { MonitorSession } from '../monitorSession';
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
import { LongTransaction, type LongTransactionEnd } from './longTransaction';
import {
  CONCURRENT_INDEX_MIGRATION,
  LESSON_COLUMN,
  LESSON_MIGRATIONS,
  expectedFailureLogger,
  findMigration,
  lessonRunner,
  readLessonMigrationState,
  rollBackLessonMigrations,
  rollbackFloor,
  withLockTimeout,
  type LessonMigrationSources,
  type LessonMigrationState,
} from './migrations';
import { ConcurrentWaitTracker, LockQueueTracker, flowDuring, startedDuring } from './observe';
import {
  resolveRetryPolicy,
  retryOnLockTimeout,
  sleep,
  sqlstateOf,
  worstCaseMs,
  type LockAttempt,
  type LockRetryPolicy,
  type RetryRun,
} from './retry';
import type {
  ConcurrentWaitsObserved,
  ConcurrentWaitsResult,
  FailedConcurrentlyObserved,
  FailedConcurrentlyResult,
  LessonName,
  LessonResult,
  LockQueueObserved,
  LockQueueResult,
  LockTimeoutObserved,
  LockTimeoutResult,
} from './types';
import { lessonEntry, unfinishedLessonVerdict } from './record';
import { DEFAULT_STALLED_THRESHOLD_MS } from '../probe/stats';
import {
  concurrentWaitsVerdict,
  failedConcurrentlyVerdict,
  lockQueueVerdict,
  lockTimeoutVerdict,
} from './verdicts';

/** Where a lesson runs and how it reports; every lesson function takes one. */
export interface LessonContext extends LessonMigrationSources {
  /** Aborting stops the lesson; its long transaction is ended and what it changed is undone. */
  signal?: AbortSignal;
  /**
   * The Lock Monitor panel's session (its monitor and probe then show the lesson live, and its runs
   * list records the migration). Without one, a private session is made (probe on a free port) and
   * disposed afterwards. The probe is started for the lesson when it was not running, and stopped again.
   */
  session?: MonitorSession;
  /** For a private session: probe requests per second, each (default 10). */
  probeRate?: number;
  /** For a private session: lock monitor poll interval, ms (default 200). */
  monitorIntervalMs?: number;
}

export interface LockQueueOptions {
  /** How long the ALTER is left waiting once seen, so that the stall is measurable, ms (default 2500). */
  stallMs?: number;
  /** Give up waiting to see the chain after this, ms (default 10 000). */
  observeTimeoutMs?: number;
}

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

export interface ConcurrentWaitsOptions {
  /** Give up waiting to see the build wait for the long transaction after this, ms (default 120 000). */
  observeTimeoutMs?: number;
  /** How long the build is left waiting once seen, so that reads and writes are seen flowing, ms (default 1500). */
  holdMs?: number;
}

export interface FailedConcurrentlyOptions {
  /** Rows with duplicate emails to insert (default 3). */
  duplicates?: number;
}

export interface AllLessonsOptions {
  lockQueue?: LockQueueOptions;
  lockTimeout?: LockTimeoutOptions;
  concurrentWaits?: ConcurrentWaitsOptions;
  failedConcurrently?: FailedConcurrentlyOptions;
  /** Called as each lesson finishes (e.g. to print its verdict at once). */
  onLesson?: (result: LessonResult) => void;
}

/** The index 0002_add_email_index_concurrently builds. */
const CONCURRENT_INDEX_NAME = 'large_email_email_idx';
const LOCK_QUEUE_DEFAULTS = { stallMs: 2500, observeTimeoutMs: 10_000 };
const CONCURRENT_DEFAULTS = { observeTimeoutMs: 120_000, holdMs: 1500 };
/** Extra life a lesson's long transaction gets beyond the lesson's own deadlines (a safety net only). */
const LONG_TX_SAFETY_MS = 60_000;

// ---------------------------------------------------------------------------------------------------
// Shared plumbing

/** Polls `check` every `stepMs` until it is true (true) or `timeoutMs` passed (false); aborts throw. */
async function until(
  check: () => boolean,
  timeoutMs: number,
  signal?: AbortSignal,
  stepMs = 50,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (check()) return true;
    throwIfAborted(signal);
    const left = deadline - Date.now();
    if (left <= 0) return false;
    await sleep(Math.min(stepMs, left), signal);
  }
}

/** Runs `fn` with the context's session, or a private one; the probe runs for the lesson's duration. */
async function withSession<T>(ctx: LessonContext, fn: (session: MonitorSession) => Promise<T>): Promise<T> {
  const { logger } = ctx;
  if (ctx.session) {
    const session = ctx.session;
    session.startMonitor();
    const startedProbe = !session.probeRunning;
    if (startedProbe) await session.startProbe();
    try {
      return await fn(session);
    } finally {
      if (startedProbe)
        await session
          .stopProbe()
          .catch((e: unknown) => logger.warn(`Stopping the probe: ${describeError(e)}`));
    }
  }
  const session = new MonitorSession({
    target: ctx.target,
    schema: ctx.schema,
    logger,
    probePort: 0,
    probeRate: ctx.probeRate ?? 10,
    monitorIntervalMs: ctx.monitorIntervalMs ?? 200,
  });
  try {
    session.startMonitor();
    await session.startProbe();
    return await fn(session);
  } finally {
    await session.dispose();
  }
}

/**
 * Runs `body`, then `cleanup` whatever happened. A cleanup failure after a failed body is logged (the
 * body's error is the one to report); after a successful body it is thrown.
 */
async function withCleanup<T, C>(
  logger: Logger,
  body: () => Promise<T>,
  cleanup: () => Promise<C>,
): Promise<{ value: T; cleaned: C }> {
  let value: T;
  try {
    value = await body();
  } catch (e) {
    await cleanup().catch((ce: unknown) =>
      logger.warn(`Cleaning up after the failed lesson also failed: ${describeError(ce)}`),
    );
    throw e;
  }
  return { value, cleaned: await cleanup() };
}

/** What a lesson gathers for its entry in the runs list while it runs. */
interface LessonRecording {
  /** The lesson's migration (set once known). */
  migration: string;
  /** The recorder's observation of the migration (set when its run settles). */
  scene?: RecordedRun;
  /** The migration's attempts, when it retries. */
  attempts?: LockAttempt[];
}

/**
 * Runs a lesson and adds ONE entry of kind 'lesson' to the context's session runs list: the lesson's
 * own verdict when it finishes, or (once its migration ran) that it failed or was cancelled. The
 * scene's migration is not listed as a run of its own.
 */
async function recordedLesson<R extends LessonResult>(
  ctx: LessonContext,
  name: LessonName,
  body: (recording: LessonRecording) => Promise<R>,
): Promise<R> {
  const recording: LessonRecording = { migration: name };
  const startedAt = Date.now();
  const add = (outcome: 'succeeded' | 'failed' | 'cancelled', verdict: string, error?: string) =>
    ctx.session?.addRun(
      lessonEntry({
        name,
        scene: recording.scene,
        migration: recording.migration,
        startedAt,
        endedAt: Date.now(),
        outcome,
        verdict,
        attempts: recording.attempts,
        error,
      }),
    );
  let result: R;
  try {
    result = await body(recording);
  } catch (e) {
    if (recording.scene) {
      const cancelled = ctx.signal?.aborted === true || (e instanceof Error && e.name === 'CancelledError');
      const outcome = cancelled ? 'cancelled' : 'failed';
      const span = recording.scene.endedAt - recording.scene.startedAt;
      add(outcome, unfinishedLessonVerdict(name, outcome, span, describeError(e)), describeError(e));
    }
    throw e;
  }
  add('succeeded', result.verdict);
  return result;
}

/** Reads the migration state, rolls back lesson migrations left by an interrupted lesson, checks the table. */
async function prepare(ctx: LessonContext): Promise<LessonMigrationState> {
  throwIfAborted(ctx.signal);
  let state = await readLessonMigrationState(ctx);
  if (state.appliedLessons.length > 0) {
    ctx.logger.warn(
      `Lesson migrations left applied by an interrupted lesson: ${state.appliedLessons.map((m) => m.id).join(', ')}.`,
    );
    await rollBackLessonMigrations(ctx, { state, signal: ctx.signal });
    state = await readLessonMigrationState(ctx);
  }
  await withAdminSession(ctx.target, ctx, async (client) => {
    const { rows } = await client.query<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [
      `${quoteIdent(ctx.schema)}.large_email`,
    ]);
    if (!rows[0]?.t) {
      throw new LabError(
        `The lab tables do not exist in schema "${ctx.schema}" yet; apply 0001_initial and seed before a lesson.`,
      );
    }
    const any = await client.query(`SELECT 1 FROM ${quoteIdent(ctx.schema)}.large_email LIMIT 1`);
    if (any.rowCount === 0) throw new LabError('large_email is empty: seed the tables before a lesson.');
  });
  return state;
}

/**
 * Everything that would make a lesson fail or leave the lab changed, as user sentences (empty: ready).
 * Lesson migrations left applied are not a problem: each lesson rolls them back first.
 */
export async function lessonProblems(
  ctx: LessonContext,
  lessons: readonly LessonName[] = ['lock-queue', 'lock-timeout', 'concurrent-waits', 'failed-concurrently'],
): Promise<string[]> {
  const problems: string[] = [];
  let state: LessonMigrationState;
  try {
    state = await readLessonMigrationState(ctx);
  } catch (e) {
    return [e instanceof Error ? e.message : String(e)];
  }
  const schema = quoteIdent(ctx.schema);
  await withAdminSession(ctx.target, ctx, async (client) => {
    const { rows } = await client.query<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [
      `${schema}.large_email`,
    ]);
    if (!rows[0]?.t) {
      problems.push(
        `The lab tables do not exist in schema "${ctx.schema}" yet; apply 0001_initial and seed.`,
      );
      return;
    }
    const any = await client.query(`SELECT 1 FROM ${schema}.large_email LIMIT 1`);
    if (any.rowCount === 0) problems.push('large_email is empty: seed the tables first.');
    const alterLessons = lessons.includes('lock-queue') || lessons.includes('lock-timeout');
    if (alterLessons && state.appliedLessons.every((m) => m.version !== '0003')) {
      const col = await client.query(
        `SELECT 1 FROM pg_attribute WHERE attrelid = $1::regclass AND attname = $2 AND NOT attisdropped`,
        [`${schema}.large_email`, LESSON_COLUMN],
      );
      if ((col.rowCount ?? 0) > 0)
        problems.push(`large_email already has a column "${LESSON_COLUMN}", which the ALTER lessons add.`);
    }
    if (lessons.includes('concurrent-waits')) {
      const index = state.appliedRepo.find((m) => m.version === '0002');
      if (index)
        problems.push(
          `${index.id} is applied; roll back to 0001_initial before the concurrent-waits lesson.`,
        );
      else if (await indexState(client, ctx.schema, CONCURRENT_INDEX_NAME))
        problems.push(
          'An index large_email_email_idx exists (invalid, from an interrupted build?); drop it concurrently first.',
        );
    }
  });
  return problems;
}

async function assertReady(ctx: LessonContext, lessons: readonly LessonName[]): Promise<void> {
  const problems = await lessonProblems(ctx, lessons);
  if (problems.length > 0) throw new LabError(problems.join(' '));
}

interface SceneSpec {
  /** The lesson the scene belongs to (its recorded run is tagged with it). */
  lesson: LessonName;
  /** Where the scene's recorded run goes, for the lesson's entry. */
  recording: LessonRecording;
  migrationId: string;
  kind: MigrationRunKind;
  longTransactionTimeoutMs: number;
  run: (options: RunOptions) => Promise<RunResult>;
  onLongTransaction: (tx: LongTransaction) => void;
  onSnapshot: (snapshot: LockSnapshot) => void;
  onPid: (pid: number) => void;
  /** Directs the scene while the migration runs; the long transaction is ended when it returns. */
  direct: (scene: { tx: LongTransaction; settled: () => boolean }) => Promise<void>;
}

interface SceneOutcome {
  recorded: RecordedRun;
  error?: unknown;
  tx: LongTransaction;
  txEnd: LongTransactionEnd;
  /** Epoch ms the scene asked the long transaction to end (its locks go at once). */
  releaseStartedAt: number;
}

/**
 * The common scene: a long transaction opens, a migration runs under the session's recorder while
 * `direct` watches, the long transaction ends, the migration finishes. The long transaction always
 * ends, and the run always settles, before this returns or throws.
 */
async function runScene(ctx: LessonContext, session: MonitorSession, spec: SceneSpec): Promise<SceneOutcome> {
  const listener = (s: LockSnapshot) => spec.onSnapshot(s);
  session.on('locks', listener);
  let tx: LongTransaction | undefined;
  let run: Promise<{ recorded: RecordedRun; error?: unknown }> | undefined;
  try {
    tx = await LongTransaction.start({
      target: ctx.target,
      schema: ctx.schema,
      logger: ctx.logger,
      timeoutMs: spec.longTransactionTimeoutMs,
      signal: ctx.signal,
    });
    spec.onLongTransaction(tx);
    let settled = false;
    run = session.observe(
      spec.migrationId,
      spec.kind,
      spec.run,
      { signal: ctx.signal, onStart: spec.onPid },
      { lesson: spec.lesson },
    );
    run.then(
      ({ recorded }) => {
        settled = true;
        spec.recording.scene = recorded;
      },
      () => (settled = true),
    );
    await spec.direct({ tx, settled: () => settled });
    const releaseStartedAt = tx.open ? Date.now() : (await tx.ended).endedAt;
    const txEnd = await tx.end();
    const { recorded, error } = await run;
    return { recorded, error, tx, txEnd, releaseStartedAt };
  } finally {
    session.off('locks', listener);
    if (tx) await tx.end();
    if (run) await run.catch(() => undefined);
  }
}

function throwRunError(error: unknown, signal: AbortSignal | undefined): never {
  if (signal?.aborted || (error instanceof Error && error.name === 'CancelledError'))
    throw error instanceof CancelledError ? error : new CancelledError('Lesson cancelled.');
  throw error;
}

// ---------------------------------------------------------------------------------------------------
// Lesson 1: the lock-queue trap

/**
 * A slow report holds ACCESS SHARE on large_email; a plain ALTER TABLE … ADD COLUMN waits for ACCESS
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
  const state = await prepare(ctx);
  const migration = findMigration(state.lessons, LESSON_MIGRATIONS.addColumnPlain);
  recording.migration = migration.id;
  const runner = lessonRunner(ctx, state, [migration], expectedFailureLogger(logger));
  const tracker = new LockQueueTracker(ctx.schema);

  const { value: scene, cleaned } = await withCleanup(
    logger,
    () =>
      withSession(ctx, (session) =>
        runScene(ctx, session, {
          lesson: 'lock-queue',
          recording,
          migrationId: migration.id,
          kind: 'other',
          longTransactionTimeoutMs: observeTimeoutMs + stallMs + LONG_TX_SAFETY_MS,
          run: (o) => runner.migrateTo(migration.id, o),
          onLongTransaction: (tx) => (tracker.longTransactionPid = tx.pid),
          onSnapshot: (s) => tracker.observe(s),
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
        }).then((outcome) => ({
          outcome,
          samples: session.probeSamples(outcome.recorded.startedAt, outcome.recorded.endedAt),
        })),
      ),
    () => rollBackLessonMigrations(ctx),
  );
  const { outcome, samples } = scene;
  if (outcome.error !== undefined) throwRunError(outcome.error, signal);
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

// ---------------------------------------------------------------------------------------------------
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
  const state = await prepare(ctx);
  const migration = withLockTimeout(
    findMigration(state.lessons, LESSON_MIGRATIONS.addColumnWithLockTimeout),
    policy.lockTimeoutMs,
  );
  const runner = lessonRunner(ctx, state, [migration], expectedFailureLogger(logger));
  const tracker = new LockQueueTracker(ctx.schema);
  const attempts: LockAttempt[] = [];
  recording.migration = migration.id;
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

  const { value: scene, cleaned } = await withCleanup(
    logger,
    () =>
      withSession(ctx, (session) =>
        runScene(ctx, session, {
          lesson: 'lock-timeout',
          recording,
          migrationId: migration.id,
          kind: 'other',
          longTransactionTimeoutMs: worstCaseMs(policy) + LONG_TX_SAFETY_MS,
          run,
          onLongTransaction: (t) => {
            tx = t;
            tracker.longTransactionPid = t.pid;
          },
          onSnapshot: (s) => tracker.observe(s),
          onPid: (pid) => tracker.addDdlPid(pid),
          direct: async ({ tx: t, settled }) => {
            if (endAfterMs !== undefined) await until(settled, endAfterMs, signal);
            else await until(() => settled() || !t.open, worstCaseMs(policy) + LONG_TX_SAFETY_MS, signal);
          },
        }).then((outcome) => ({ outcome })),
      ),
    () => rollBackLessonMigrations(ctx),
  );
  const { outcome } = scene;
  const allTimedOut = attempts.length > 0 && attempts.every((a) => a.outcome === 'timeout');
  if (outcome.error !== undefined && !(allTimedOut && !signal?.aborted)) throwRunError(outcome.error, signal);
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

// ---------------------------------------------------------------------------------------------------
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
  const state = await prepare(ctx);
  const migration = findMigration(state.repo, CONCURRENT_INDEX_MIGRATION);
  recording.migration = migration.id;
  const runner = lessonRunner(ctx, state, [migration], expectedFailureLogger(logger));
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

  const { value: scene, cleaned: rolledBack } = await withCleanup(
    logger,
    () =>
      withSession(ctx, (session) =>
        runScene(ctx, session, {
          lesson: 'concurrent-waits',
          recording,
          migrationId: migration.id,
          kind: 'concurrent',
          longTransactionTimeoutMs: observeTimeoutMs + holdMs + LONG_TX_SAFETY_MS,
          run: (o) => runner.migrateTo(migration.id, o),
          onLongTransaction: (tx) => (tracker.longTransactionPid = tx.pid),
          onSnapshot: (s) => tracker.observe(s),
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
        }).then((outcome) => ({
          outcome,
          samples: session.probeSamples(outcome.recorded.startedAt - 60_000, outcome.recorded.endedAt),
        })),
      ),
    rollBackIndex,
  );
  const { outcome, samples } = scene;
  if (outcome.error !== undefined) throwRunError(outcome.error, signal);
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

// ---------------------------------------------------------------------------------------------------
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
  const state = await prepare(ctx);
  const migration = findMigration(state.lessons, LESSON_MIGRATIONS.uniqueEmailConcurrently);
  recording.migration = migration.id;
  if (await dropIndexConcurrently(ctx.target, ctx.schema, UNIQUE_EMAIL_INDEX, io)) {
    logger.warn(`Dropped ${UNIQUE_EMAIL_INDEX}, left by an earlier run.`);
  }
  const runner = lessonRunner(ctx, state, [migration], expectedFailureLogger(logger));
  const table = `${quoteIdent(ctx.schema)}.large_email`;
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
    verdict: failedConcurrentlyVerdict(observed),
  };
  logger.info(`Lesson "failed-concurrently": ${result.verdict}`);
  return result;
}

// ---------------------------------------------------------------------------------------------------

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

/** Starts a "slow report" for the panel's button: a long transaction on large_email (see LongTransaction). */
export function startLongTransaction(
  ctx: Pick<LessonContext, 'target' | 'schema' | 'logger' | 'signal'>,
  timeoutMs?: number,
): Promise<LongTransaction> {
  return LongTransaction.start({
    target: ctx.target,
    schema: ctx.schema,
    logger: ctx.logger,
    signal: ctx.signal,
    timeoutMs,
  });
}

/** Whether large_email currently has the lessons' column (e.g. for a walkthrough's completion check). */
export async function hasLessonColumn(
  ctx: Pick<LessonContext, 'target' | 'schema' | 'logger'>,
): Promise<boolean> {
  const client = await connect(ctx.target, APP_NAMES.admin, ctx.logger);
  try {
    const r = await client.query(
      `SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = $2 AND NOT attisdropped`,
      [`${quoteIdent(ctx.schema)}.large_email`, LESSON_COLUMN],
    );
    return (r.rowCount ?? 0) > 0;
  } finally {
    await client.end().catch(() => undefined);
  }
}

function defined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
