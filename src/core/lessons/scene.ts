/** What every lesson's scene shares: its context, a monitor session, clean-up, recording and readiness checks. */
import { CancelledError, LabError, describeError, throwIfAborted } from '../errors';
import type { Logger } from '../log';
import type { Migration } from '../migrations/runnerMigrations';
import type { MigrationRunner, RunOptions, RunResult } from '../migrations/runner';
import type { LockSnapshot } from '../monitor/lockMonitor';
import type { MigrationRunKind, RecordedRun } from '../monitor/recorder';
import { MonitorSession } from '../monitorSession';
import type { ProbeSample } from '../probe/stats';
import { indexState, withAdminSession } from './indexes';
import { LongTransaction, type LongTransactionEnd } from './longTransaction';
import {
  LESSON_COLUMN,
  expectedFailureLogger,
  lessonRunner,
  readLessonMigrationState,
  rollBackLessonMigrations,
  type LessonMigrationSources,
  type LessonMigrationState,
} from './migrations';
import { sleep, type LockAttempt } from './retry';
import { DEMO_SCENARIO, comparedKind } from '../scenarios/demo';
import { LESSON_NAMES, LOCK_QUEUE_LESSON, LOCK_TIMEOUT_LESSON } from '../scenarios/lessons';
import { quotedTable } from '../scenarios/types';

/** The table every lesson works on: the demo's seeded one. */
const TABLE = DEMO_SCENARIO.seed.large;
import type { LessonName, LessonResult } from './types';
import { lessonEntry, unfinishedLessonVerdict } from './record';

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

/** The index the demo's concurrent migration builds (the concurrent-waits lesson runs it). */
export const CONCURRENT_INDEX_NAME = DEMO_SCENARIO.index;
/** Extra life a lesson's long transaction gets beyond the lesson's own deadlines (a safety net only). */
export const LONG_TX_SAFETY_MS = 60_000;

// ---------------------------------------------------------------------------------------------------
// Shared plumbing

/** Polls `check` every `stepMs` until it is true (true) or `timeoutMs` passed (false); aborts throw. */
export async function until(
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
export async function withSession<T>(
  ctx: LessonContext,
  fn: (session: MonitorSession) => Promise<T>,
): Promise<T> {
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
export async function withCleanup<T, C>(
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
export interface LessonRecording {
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
export async function recordedLesson<R extends LessonResult>(
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
        serverVersion: ctx.session?.serverVersion,
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
export async function prepare(ctx: LessonContext): Promise<LessonMigrationState> {
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
      quotedTable(ctx.schema, TABLE),
    ]);
    if (!rows[0]?.t) {
      throw new LabError(
        `The lab tables do not exist in schema "${ctx.schema}" yet; apply ${DEMO_SCENARIO.initial} and seed before a lesson.`,
      );
    }
    const any = await client.query(`SELECT 1 FROM ${quotedTable(ctx.schema, TABLE)} LIMIT 1`);
    if (any.rowCount === 0) throw new LabError(`${TABLE} is empty: seed the tables before a lesson.`);
  });
  return state;
}

/** A lesson's one migration, ready to run. */
export interface LessonMigration {
  /** The lab's migration state once `prepare` has run. */
  state: LessonMigrationState;
  migration: Migration;
  /** Runs the applied lab migrations plus this one; its expected failures are logged quietly. */
  runner: MigrationRunner;
}

/** `prepare`, then the migration `pick` chooses, recorded for the lesson's entry, with its runner. */
export async function prepareLessonMigration(
  ctx: LessonContext,
  recording: LessonRecording,
  pick: (state: LessonMigrationState) => Migration,
): Promise<LessonMigration> {
  const state = await prepare(ctx);
  const migration = pick(state);
  recording.migration = migration.id;
  return {
    state,
    migration,
    runner: lessonRunner(ctx, state, [migration], expectedFailureLogger(ctx.logger)),
  };
}

/**
 * Everything that would make a lesson fail or leave the lab changed, as user sentences (empty: ready).
 * Lesson migrations left applied are not a problem: each lesson rolls them back first.
 */
export async function lessonProblems(
  ctx: LessonContext,
  lessons: readonly LessonName[] = LESSON_NAMES,
): Promise<string[]> {
  const problems: string[] = [];
  let state: LessonMigrationState;
  try {
    state = await readLessonMigrationState(ctx);
  } catch (e) {
    return [e instanceof Error ? e.message : String(e)];
  }
  const table = quotedTable(ctx.schema, TABLE);
  await withAdminSession(ctx.target, ctx, async (client) => {
    const { rows } = await client.query<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [table]);
    if (!rows[0]?.t) {
      problems.push(
        `The lab tables do not exist in schema "${ctx.schema}" yet; apply ${DEMO_SCENARIO.initial} and seed.`,
      );
      return;
    }
    const any = await client.query(`SELECT 1 FROM ${table} LIMIT 1`);
    if (any.rowCount === 0) problems.push(`${TABLE} is empty: seed the tables first.`);
    const alterLessons = lessons.includes('lock-queue') || lessons.includes('lock-timeout');
    const alters = [...LOCK_QUEUE_LESSON.migrations, ...LOCK_TIMEOUT_LESSON.migrations];
    if (alterLessons && !state.appliedLessons.some((m) => alters.includes(m.id))) {
      const col = await client.query(
        `SELECT 1 FROM pg_attribute WHERE attrelid = $1::regclass AND attname = $2 AND NOT attisdropped`,
        [table, LESSON_COLUMN],
      );
      if ((col.rowCount ?? 0) > 0)
        problems.push(`${TABLE} already has a column "${LESSON_COLUMN}", which the ALTER lessons add.`);
    }
    if (lessons.includes('concurrent-waits')) {
      const index = state.appliedRepo.find((m) => comparedKind(m.id) !== 'other');
      if (index)
        problems.push(
          `${index.id} is applied; roll back to ${DEMO_SCENARIO.initial} before the concurrent-waits lesson.`,
        );
      else if (await indexState(client, ctx.schema, CONCURRENT_INDEX_NAME))
        problems.push(
          `An index ${CONCURRENT_INDEX_NAME} exists (invalid, from an interrupted build?); drop it concurrently first.`,
        );
    }
  });
  return problems;
}

export async function assertReady(ctx: LessonContext, lessons: readonly LessonName[]): Promise<void> {
  const problems = await lessonProblems(ctx, lessons);
  if (problems.length > 0) throw new LabError(problems.join(' '));
}

export interface SceneSpec {
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

export interface SceneOutcome {
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
export async function runScene(
  ctx: LessonContext,
  session: MonitorSession,
  spec: SceneSpec,
): Promise<SceneOutcome> {
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

/** What a lesson watches during its scene: the long transaction's pid, then every lock snapshot. */
export interface SceneTracker {
  longTransactionPid?: number;
  observe(snapshot: LockSnapshot): void;
}

export interface LessonSceneSpec<C> extends Omit<
  SceneSpec,
  'longTransactionTimeoutMs' | 'onLongTransaction' | 'onSnapshot'
> {
  /** The longest the lesson itself lets the scene last, ms; the long transaction gets LONG_TX_SAFETY_MS more. */
  deadlineMs: number;
  tracker: SceneTracker;
  /** Called with the long transaction once it holds its lock (after the tracker has its pid). */
  onLongTransaction?: (tx: LongTransaction) => void;
  /** Probe samples are kept from this many ms before the migration started (default 0) until it ended. */
  samplesLeadMs?: number;
  /** Undoes what the lesson changed; runs whatever happened (see `withCleanup`). */
  cleanup: () => Promise<C>;
  /** True for a failed migration the lesson reports as its result rather than throws (default: none). */
  reportsError?: () => boolean;
}

export interface LessonScene<C> {
  outcome: SceneOutcome;
  /** The probe's samples around the migration. */
  samples: ProbeSample[];
  cleaned: C;
}

/**
 * A lesson's scene from start to clean-up: in the context's session (or a private one), `runScene`
 * with `tracker` watching, then `cleanup`. A failed or cancelled migration is thrown once cleaned up,
 * unless `reportsError` says the lesson reports it.
 */
export async function runLessonScene<C>(
  ctx: LessonContext,
  spec: LessonSceneSpec<C>,
): Promise<LessonScene<C>> {
  const { deadlineMs, tracker, onLongTransaction, samplesLeadMs = 0, cleanup, reportsError, ...scene } = spec;
  const { value, cleaned } = await withCleanup(
    ctx.logger,
    () =>
      withSession(ctx, (session) =>
        runScene(ctx, session, {
          ...scene,
          longTransactionTimeoutMs: deadlineMs + LONG_TX_SAFETY_MS,
          onLongTransaction: (tx) => {
            tracker.longTransactionPid = tx.pid;
            onLongTransaction?.(tx);
          },
          onSnapshot: (s) => tracker.observe(s),
        }).then((outcome) => ({
          outcome,
          samples: session.probeSamples(outcome.recorded.startedAt - samplesLeadMs, outcome.recorded.endedAt),
        })),
      ),
    cleanup,
  );
  const { error } = value.outcome;
  if (error !== undefined && !reportsError?.()) throwRunError(error, ctx.signal);
  return { ...value, cleaned };
}

export function throwRunError(error: unknown, signal: AbortSignal | undefined): never {
  if (signal?.aborted || (error instanceof Error && error.name === 'CancelledError'))
    throw error instanceof CancelledError ? error : new CancelledError('Lesson cancelled.');
  throw error;
}

/** The options given, without the keys set to undefined (so that defaults apply). */
export function defined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
