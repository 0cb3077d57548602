import type { ConnectionTarget } from '../db';
import { LabError } from '../errors';
import type { Logger } from '../log';
import { compareVersions } from '../migrations/model';
import { loadRunnerMigrations, type Migration, type MigrationSection } from '../migrations/runnerMigrations';
import { MigrationRunner, type MigrationStatus } from '../migrations/runner';
import { MAX_LOCK_TIMEOUT_MS, retryOnLockTimeout } from './retry';
import {
  FAILED_CONCURRENTLY_LESSON,
  LESSON_COLUMN,
  LOCK_QUEUE_LESSON,
  LOCK_TIMEOUT_LESSON,
  LESSON_SOURCE,
} from '../scenarios/lessons';
import { DEMO_SCENARIO } from '../scenarios/demo';

/** The lesson migrations (folder migrations-lessons/) and how they are applied beside the lab's own. */

export const LESSON_MIGRATIONS = {
  /** ALTER TABLE … ADD COLUMN, no timeout. */
  addColumnPlain: LOCK_QUEUE_LESSON.migrations[0]!,
  /** The same with SET LOCAL lock_timeout (the value is rewritten from the lesson's setting). */
  addColumnWithLockTimeout: LOCK_TIMEOUT_LESSON.migrations[0]!,
  /** CREATE UNIQUE INDEX CONCURRENTLY over the seeded emails. */
  uniqueEmailConcurrently: FAILED_CONCURRENTLY_LESSON.migrations[0]!,
} as const;

export { LESSON_COLUMN };

export interface LessonMigrationSources {
  target: ConnectionTarget;
  schema: string;
  logger: Logger;
  /** The demo's migrations folder (DEMO_SCENARIO.source). */
  migrationsDir: string;
  /** The lesson migrations folder (LESSON_SOURCE). */
  lessonsDir: string;
}

/** Reads and checks the lesson migrations folder. */
export async function loadLessonMigrations(lessonsDir: string): Promise<Migration[]> {
  const all = await loadRunnerMigrations(lessonsDir, LESSON_SOURCE.tool);
  for (const id of Object.values(LESSON_MIGRATIONS)) {
    if (!all.some((m) => m.id === id)) {
      throw new LabError(`The lesson migration ${id}.sql is missing from ${lessonsDir}.`);
    }
  }
  return all;
}

export function findMigration(all: readonly Migration[], id: string): Migration {
  const m = all.find((x) => x.id === id);
  if (!m) throw new LabError(`There is no migration named ${id}.`);
  return m;
}

const LOCK_TIMEOUT_STATEMENT = /^\s*SET\s+(?:LOCAL\s+|SESSION\s+)?lock_timeout\b/i;

/** The SET statement that gives a section's statements `ms` of lock_timeout. */
export function lockTimeoutStatement(ms: number, transaction: boolean): string {
  if (!Number.isInteger(ms) || ms < 1 || ms > MAX_LOCK_TIMEOUT_MS) {
    throw new LabError(`The lock timeout must be a whole number of ms from 1 to ${MAX_LOCK_TIMEOUT_MS}.`);
  }
  // SET LOCAL ends with the migration's transaction; without one the runner's session closes after the run.
  return `SET ${transaction ? 'LOCAL ' : ''}lock_timeout = '${ms}ms'`;
}

function sectionWithLockTimeout(section: MigrationSection, ms: number): MigrationSection {
  const set = lockTimeoutStatement(ms, section.transaction);
  const rest = section.statements.filter((s) => !LOCK_TIMEOUT_STATEMENT.test(s));
  return { ...section, statements: [set, ...rest] };
}

/**
 * The migration with its up section's lock_timeout set to `ms`: an existing `SET [LOCAL]
 * lock_timeout` statement is replaced, else one is put first.
 */
export function withLockTimeout(migration: Migration, ms: number): Migration {
  return { ...migration, up: sectionWithLockTimeout(migration.up, ms) };
}

/** Which lab and lesson migrations are applied. */
export interface LessonMigrationState {
  repo: Migration[];
  lessons: Migration[];
  status: MigrationStatus[];
  /** Lab migrations applied, in version order. */
  appliedRepo: Migration[];
  /** Lesson migrations applied (left over from an interrupted lesson). */
  appliedLessons: Migration[];
}

export async function readLessonMigrationState(src: LessonMigrationSources): Promise<LessonMigrationState> {
  const repo = await loadRunnerMigrations(src.migrationsDir, DEMO_SCENARIO.source.tool);
  const lessons = await loadLessonMigrations(src.lessonsDir);
  const probe = new MigrationRunner({
    target: src.target,
    schema: src.schema,
    migrations: [...repo, ...lessons],
    logger: src.logger,
  });
  const status = await probe.status();
  const applied = new Set(status.filter((s) => s.applied).map((s) => s.id));
  const lessonIds = new Set(lessons.map((m) => m.id));
  const lowestLesson = lessons.map((m) => m.version).sort(compareVersions)[0] ?? '0';
  const clash = status.find(
    (s) => s.applied && !lessonIds.has(s.id) && compareVersions(s.version || '0', lowestLesson) >= 0,
  );
  if (clash) {
    throw new LabError(
      `${clash.id} is applied and its version is in the lessons' range (${lowestLesson} and up); ` +
        `roll it back before running a lesson.`,
    );
  }
  return {
    repo,
    lessons,
    status,
    appliedRepo: repo.filter((m) => applied.has(m.id)),
    appliedLessons: lessons.filter((m) => applied.has(m.id)),
  };
}

/** A runner that knows the applied lab migrations plus `extra` (so that planning needs nothing else). */
export function lessonRunner(
  src: LessonMigrationSources,
  state: LessonMigrationState,
  extra: readonly Migration[],
  logger: Logger = src.logger,
): MigrationRunner {
  const ids = new Set(extra.map((m) => m.id));
  return new MigrationRunner({
    target: src.target,
    schema: src.schema,
    migrations: [...state.appliedRepo.filter((m) => !ids.has(m.id)), ...extra],
    logger,
  });
}

/** The highest applied lab migration below `version` (the target a lesson migration rolls back to). */
export function rollbackFloor(state: LessonMigrationState, version: string): Migration | undefined {
  return state.appliedRepo.filter((m) => compareVersions(m.version, version) < 0).at(-1);
}

/**
 * Rolls back every applied lesson migration (newest first), retrying on a lock timeout so that a
 * cleanup never queues reads behind it for long. Resolves with the ids rolled back.
 */
export async function rollBackLessonMigrations(
  src: LessonMigrationSources,
  options: { signal?: AbortSignal; state?: LessonMigrationState } = {},
): Promise<string[]> {
  const state = options.state ?? (await readLessonMigrationState(src));
  if (state.appliedLessons.length === 0) return [];
  const lowest = state.appliedLessons.map((m) => m.version).sort(compareVersions)[0]!;
  const floor = rollbackFloor(state, lowest);
  const runner = lessonRunner(src, state, state.appliedLessons, expectedFailureLogger(src.logger));
  src.logger.info(`Rolling back lesson migrations: ${state.appliedLessons.map((m) => m.id).join(', ')}.`);
  const run = await retryOnLockTimeout(
    () => runner.rollbackTo(floor?.id ?? null, { signal: options.signal }),
    {
      signal: options.signal,
      policy: { maxAttempts: 5, initialDelayMs: 500, lockTimeoutMs: 1000 },
      onAttempt: (a) => {
        if (a.outcome !== 'succeeded')
          src.logger.warn(`Rolling back, attempt ${a.n}: ${a.error ?? a.outcome}`);
      },
    },
  );
  if (!run.succeeded) throw run.error;
  return run.value!.migrations.map((m) => m.id);
}

/**
 * The runner logs a failed migration as an error; in a lesson a lock timeout or a failed
 * CONCURRENTLY build is the point, so those lines go out as warnings.
 */
export function expectedFailureLogger(logger: Logger): Logger {
  return {
    trace: (m) => logger.trace(m),
    debug: (m) => logger.debug(m),
    info: (m) => logger.info(m),
    warn: (m) => logger.warn(m),
    error: (m) => logger.warn(typeof m === 'string' ? m : m.message),
  };
}
