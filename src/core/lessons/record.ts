import type { RecordedAttempt, RecordedRun } from '../monitor/recorder';
import { formatMs } from '../monitor/verdict';
import type { LockAttempt } from './retry';
import { LESSON_TITLES } from '../scenarios/lessons';
import type { LessonName } from './types';

/** What a lesson's entry in the runs list is made of. */
export interface LessonEntrySpec {
  name: LessonName;
  /** The recorder's observation of the lesson's migration (all its attempts); absent if it never ran. */
  scene?: RecordedRun;
  /** The lesson's migration id (when there is no scene). */
  migration: string;
  /** Epoch ms; the scene's window when there is one. */
  startedAt: number;
  endedAt: number;
  outcome: 'succeeded' | 'failed' | 'cancelled';
  /** The lesson's verdict (computed from what it observed), or for a lesson that did not finish, why. */
  verdict: string;
  /** The migration's attempts; the scene's single run when omitted. */
  attempts?: readonly LockAttempt[];
  error?: string;
}

function attemptOf(a: LockAttempt): RecordedAttempt {
  const out: RecordedAttempt = {
    n: a.n,
    startedAt: a.startedAt,
    endedAt: a.endedAt,
    durationMs: a.durationMs,
    outcome: a.outcome,
  };
  if (a.sqlstate !== undefined) out.sqlstate = a.sqlstate;
  if (a.delayAfterMs !== undefined) out.delayAfterMs = a.delayAfterMs;
  return out;
}

/**
 * One entry of kind 'lesson' for the runs list: the lesson's own verdict and outcome, its whole span
 * as the duration (all attempts and the waits between them), the attempts inside, and the locks,
 * waiters and probe latency the recorder observed over that span (the facts the verdict rests on).
 */
export function lessonEntry(spec: LessonEntrySpec): RecordedRun {
  const scene = spec.scene;
  const startedAt = scene?.startedAt ?? spec.startedAt;
  const endedAt = scene?.endedAt ?? spec.endedAt;
  const span = Math.max(0, endedAt - startedAt);
  const attempts: RecordedAttempt[] = spec.attempts
    ? spec.attempts.map(attemptOf)
    : scene
      ? [
          {
            n: 1,
            startedAt: scene.startedAt,
            endedAt: scene.endedAt,
            durationMs: scene.wallMs,
            outcome: scene.outcome,
          },
        ]
      : [];
  const entry: RecordedRun = {
    migration: scene?.migration ?? spec.migration,
    migrations: scene ? [...scene.migrations] : [spec.migration],
    kind: 'lesson',
    pid: scene?.pid ?? null,
    startedAt,
    endedAt,
    durationMs: span,
    wallMs: span,
    outcome: spec.outcome,
    statements: scene ? scene.statements.map((s) => ({ ...s })) : [],
    locksHeld: scene ? [...scene.locksHeld] : [],
    locks: scene ? scene.locks.map((l) => ({ ...l })) : [],
    waiters: scene ? scene.waiters.map((w) => ({ ...w })) : [],
    maxWaiters: scene?.maxWaiters ?? 0,
    waitedFor: scene ? scene.waitedFor.map((w) => ({ ...w })) : [],
    phases: scene ? [...scene.phases] : [],
    reads: scene?.reads ?? null,
    writes: scene?.writes ?? null,
    snapshots: scene?.snapshots ?? 0,
    verdict: spec.verdict,
    lesson: spec.name,
    title: LESSON_TITLES[spec.name],
    attempts,
  };
  if (scene?.probeConcurrency) entry.probeConcurrency = { ...scene.probeConcurrency };
  if (scene?.stalledThresholdMs !== undefined) entry.stalledThresholdMs = scene.stalledThresholdMs;
  if (spec.error !== undefined) entry.error = spec.error;
  return entry;
}

/** The verdict of a lesson that did not finish: what happened, and nothing it did not observe. */
export function unfinishedLessonVerdict(
  name: LessonName,
  outcome: 'failed' | 'cancelled',
  spanMs: number,
  error?: string,
): string {
  const what = outcome === 'cancelled' ? 'was cancelled' : 'failed';
  return (
    `The lesson "${LESSON_TITLES[name]}" ${what} after ${formatMs(spanMs)}` +
    `${outcome === 'failed' && error ? `: ${error.replace(/\.$/, '')}` : ''}; it drew no conclusion.`
  );
}
