/**
 * The four lessons, as data: each names its migrations (the bundled lesson folder, or the demo's),
 * the table it watches, what it must observe to have taught its point, and the few facts that say so.
 * The extension (commands, walkthrough keys, panel cards), the CLI and reports iterate these values.
 */
import type { LessonName, LessonResult } from '../lessons/types';
import { formatMs } from '../monitor/verdict';
import { DEMO_SCENARIO } from './demo';
import type { BundledSource, ScenarioBase } from './types';

/** What one lesson observed (its result's `observed`). */
export type ObservedOf<N extends LessonName> = Extract<LessonResult, { name: N }>['observed'];

export interface LessonScenario<N extends LessonName = LessonName> extends ScenarioBase {
  kind: 'lesson';
  id: N;
  /** What happens while it runs, one phrase (progress notifications). */
  happening: string;
  /** Why it did not observe what it teaches (a phrase), or undefined when it did. */
  shortfall(o: ObservedOf<N>): string | undefined;
  /** The walkthrough's context keys it sets, each true once its part was observed. */
  contextKeys(o: ObservedOf<N>): Record<string, boolean>;
  /** The few observed facts its card, the CLI and the report list (the verdict says the rest). */
  facts(o: ObservedOf<N>): [string, string][];
}

/** The lesson migrations bundled beside the demo's (dbmate's format). */
export const LESSON_SOURCE: BundledSource = { folder: 'migrations-lessons', tool: 'dbmate' };

/** The column the ALTER lessons add (and drop again). */
export const LESSON_COLUMN = 'note';
/** The UNIQUE index the failed-CONCURRENTLY lesson tries to build over duplicate emails. */
export const UNIQUE_EMAIL_INDEX = 'large_email_email_key';

const yesNo = (b: boolean): string => (b ? 'yes' : 'no');
const table = DEMO_SCENARIO.seed.large;

export const LOCK_QUEUE_LESSON: LessonScenario<'lock-queue'> = {
  kind: 'lesson',
  id: 'lock-queue',
  title: 'The lock-queue trap',
  source: LESSON_SOURCE,
  tables: [table],
  migrations: ['0003_add_column_plain'],
  happening: `a slow report holds ${table}; ALTER TABLE waits; watch the reads…`,
  shortfall: (o) => (o.readsWaitedBehindDdl ? undefined : 'no read was seen waiting behind the ALTER'),
  contextKeys: (o) => ({ lockQueueObserved: o.readsWaitedBehindDdl }),
  facts: (o) => [
    ['reads waited behind the ALTER', yesNo(o.readsWaitedBehindDdl)],
    ['worst read stall', formatMs(o.maxReadStallMs)],
    ['ALTER waited for the long transaction', formatMs(o.ddlWaitedMs)],
    [
      'chain',
      o.chain
        ? `read ${o.chain.readerPid} → ALTER ${o.chain.ddlPid} → transaction ${o.chain.blockerPid}`
        : '–',
    ],
  ],
};

export const LOCK_TIMEOUT_LESSON: LessonScenario<'lock-timeout'> = {
  kind: 'lesson',
  id: 'lock-timeout',
  title: 'lock_timeout with retries',
  source: LESSON_SOURCE,
  tables: [table],
  migrations: ['0003_add_column_with_lock_timeout'],
  happening: 'ALTER TABLE with lock_timeout, retried…',
  shortfall: (o) =>
    o.timeouts === 0
      ? 'no attempt timed out'
      : o.succeeded
        ? undefined
        : `no attempt succeeded in ${o.attempts}`,
  contextKeys: (o) => ({ lockTimeoutObserved: o.succeeded && o.timeouts > 0 }),
  facts: (o) => [
    [
      'attempts',
      `${o.attempts}, ${o.timeouts} timed out${o.sqlstates.length > 0 ? ` (${[...new Set(o.sqlstates)].join(', ')})` : ''}, lock_timeout ${formatMs(o.lockTimeoutMs)}`,
    ],
    [
      'each attempt',
      o.attemptLog
        .map(
          (a) =>
            `#${a.n} ${a.outcome}${a.sqlstate ? ` ${a.sqlstate}` : ''} after ${formatMs(a.durationMs)}${a.delayAfterMs !== undefined ? `, then waited ${formatMs(a.delayAfterMs)}` : ''}`,
        )
        .join('; ') || '–',
    ],
    ['succeeded', yesNo(o.succeeded)],
    [
      'worst read stall',
      `${formatMs(o.maxReadStallMs)}${o.withoutTimeoutMaxReadStallMs !== null ? ` (without a timeout: ${formatMs(o.withoutTimeoutMaxReadStallMs)})` : ''}`,
    ],
  ],
};

export const CONCURRENT_WAITS_LESSON: LessonScenario<'concurrent-waits'> = {
  kind: 'lesson',
  id: 'concurrent-waits',
  title: 'CONCURRENTLY waits for old transactions',
  // It builds the demo's own index, with the demo's migration.
  source: DEMO_SCENARIO.source,
  tables: [table],
  migrations: [DEMO_SCENARIO.compared.concurrent],
  happening: 'a slow report is open; CREATE INDEX CONCURRENTLY waits for it…',
  shortfall: (o) =>
    o.lockerPidMatched ? undefined : "the build was not seen waiting on the long transaction's pid",
  contextKeys: (o) => ({ concurrentWaitObserved: o.lockerPidMatched }),
  facts: (o) => [
    ['waiting phase seen', o.waitingPhaseSeen ?? 'none'],
    ['current_locker_pid = long transaction', `${yesNo(o.lockerPidMatched)} (pid ${o.longTransactionPid})`],
    ['reads / writes during the wait', `${o.readsDuringWait} / ${o.writesDuringWait}`],
    ['reads and writes kept flowing', yesNo(o.readsAndWritesFlowed)],
  ],
};

export const FAILED_CONCURRENTLY_LESSON: LessonScenario<'failed-concurrently'> = {
  kind: 'lesson',
  id: 'failed-concurrently',
  title: 'A failed CONCURRENTLY build',
  source: LESSON_SOURCE,
  tables: [table],
  migrations: ['0004_unique_email_concurrently'],
  happening: 'duplicates, then CREATE UNIQUE INDEX CONCURRENTLY…',
  shortfall: (o) =>
    !o.invalidIndexDetected
      ? 'no INVALID index was detected'
      : o.cleanedUp
        ? undefined
        : 'the INVALID index or the duplicates were not cleaned up',
  contextKeys: (o) => ({
    invalidIndexDetected: o.invalidIndexDetected,
    invalidIndexDropped: o.invalidIndexDetected && o.cleanedUp,
  }),
  facts: (o) => [
    ['build failed with', o.failedWith ?? 'nothing (it succeeded)'],
    [
      'INVALID index detected',
      `${yesNo(o.invalidIndexDetected)}${o.invalidIndex ? ` (${o.invalidIndex.index})` : ''}`,
    ],
    ['IF NOT EXISTS kept it', yesNo(o.ifNotExistsKeptInvalid)],
    ['cleaned up', yesNo(o.cleanedUp)],
  ],
};

/** Any one lesson's scenario. */
export type AnyLessonScenario = { [N in LessonName]: LessonScenario<N> }[LessonName];

/** The four lessons, in the order runAllLessons runs them. */
export const LESSON_SCENARIOS: readonly AnyLessonScenario[] = [
  LOCK_QUEUE_LESSON,
  LOCK_TIMEOUT_LESSON,
  CONCURRENT_WAITS_LESSON,
  FAILED_CONCURRENTLY_LESSON,
];

export const LESSON_NAMES: readonly LessonName[] = LESSON_SCENARIOS.map((s) => s.id);

/** Each lesson's title, as the Runs view, the panel, reports and notifications name it. */
export const LESSON_TITLES: Readonly<Record<LessonName, string>> = Object.fromEntries(
  LESSON_SCENARIOS.map((s) => [s.id, s.title]),
) as Record<LessonName, string>;

export function lessonScenario<N extends LessonName>(name: N): LessonScenario<N> {
  const found = LESSON_SCENARIOS.find((s) => s.id === name);
  if (!found) throw new Error(`No lesson scenario named ${name}.`);
  return found as unknown as LessonScenario<N>;
}

/** The result's own scenario, typed for its observations (TypeScript cannot correlate the union itself). */
function scenarioOf(r: LessonResult): Pick<LessonScenario, 'shortfall' | 'contextKeys' | 'facts'> {
  return lessonScenario(r.name) as never;
}

/** Why the lesson's result did not observe what it teaches, or undefined when it did. */
export function lessonShortfall(r: LessonResult): string | undefined {
  return scenarioOf(r).shortfall(r.observed);
}

/** The facts the lesson's card and the CLI list. */
export function lessonFacts(r: LessonResult): [string, string][] {
  return scenarioOf(r).facts(r.observed);
}

/** The walkthrough's context keys the result sets. */
export function lessonContextKeys(r: LessonResult): Record<string, boolean> {
  return scenarioOf(r).contextKeys(r.observed);
}
