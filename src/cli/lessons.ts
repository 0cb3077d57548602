import { LESSON_NAMES, LESSON_TITLES, type LessonName, type LessonResult } from '../core/lessons';
import { formatMs } from '../core/monitor/verdict';
import { wrap } from './format';

export { LESSON_TITLES };

/** The JSON --lessons --json prints: `{ "lessons": [{ name, observed, verdict }, …] }`. */
export interface LessonsReport {
  lessons: { name: LessonName; observed: object; verdict: string }[];
}

export function lessonsJson(results: readonly LessonResult[]): LessonsReport {
  return {
    lessons: results.map((r) => ({ name: r.name, observed: r.observed, verdict: r.verdict })),
  };
}

/**
 * Why a lesson did not observe what it teaches (a phrase), or undefined when it did: reads waited
 * behind the DDL; attempts timed out and one then succeeded; the build waited on the long
 * transaction's pid; the failed build left an INVALID index that was then cleaned up.
 */
export function lessonShortfall(r: LessonResult): string | undefined {
  switch (r.name) {
    case 'lock-queue':
      return r.observed.readsWaitedBehindDdl ? undefined : 'no read was seen waiting behind the ALTER';
    case 'lock-timeout': {
      const o = r.observed;
      if (o.timeouts === 0) return 'no attempt timed out';
      return o.succeeded ? undefined : `no attempt succeeded in ${o.attempts}`;
    }
    case 'concurrent-waits':
      return r.observed.lockerPidMatched
        ? undefined
        : "the build was not seen waiting on the long transaction's pid";
    case 'failed-concurrently': {
      const o = r.observed;
      if (!o.invalidIndexDetected) return 'no INVALID index was detected';
      return o.cleanedUp ? undefined : 'the INVALID index or the duplicates were not cleaned up';
    }
  }
}

/** One sentence on why the lessons do not count as a success, or undefined when all four taught theirs. */
export function lessonsFailure(results: readonly LessonResult[]): string | undefined {
  const ran = new Set(results.map((r) => r.name));
  const missing = LESSON_NAMES.filter((n) => !ran.has(n));
  if (missing.length > 0)
    return `The lesson${missing.length === 1 ? '' : 's'} ${missing.join(', ')} did not run.`;
  const short = results.flatMap((r) => {
    const why = lessonShortfall(r);
    return why ? [`${r.name} (${why})`] : [];
  });
  if (short.length === 0) return undefined;
  return `Not every lesson observed what it teaches: ${short.join('; ')}.`;
}

function yesNo(b: boolean): string {
  return b ? 'yes' : 'no';
}

/** Two or three key observations of a lesson, as [label, value] pairs. */
export function keyFacts(r: LessonResult): [string, string][] {
  switch (r.name) {
    case 'lock-queue': {
      const o = r.observed;
      return [
        ['reads waited behind the ALTER', yesNo(o.readsWaitedBehindDdl)],
        ['worst read stall', formatMs(o.maxReadStallMs)],
        ['ALTER waited for the long transaction', formatMs(o.ddlWaitedMs)],
      ];
    }
    case 'lock-timeout': {
      const o = r.observed;
      const without =
        o.withoutTimeoutMaxReadStallMs !== null
          ? ` (without a timeout: ${formatMs(o.withoutTimeoutMaxReadStallMs)})`
          : '';
      return [
        [
          'attempts',
          `${o.attempts}, ${o.timeouts} timed out${o.sqlstates.length > 0 ? ` (${[...new Set(o.sqlstates)].join(', ')})` : ''}, lock_timeout ${formatMs(o.lockTimeoutMs)}`,
        ],
        ['succeeded', yesNo(o.succeeded)],
        ['worst read stall', `${formatMs(o.maxReadStallMs)}${without}`],
      ];
    }
    case 'concurrent-waits': {
      const o = r.observed;
      return [
        ['waiting phase seen', o.waitingPhaseSeen ?? 'none'],
        [
          'current_locker_pid = long transaction',
          `${yesNo(o.lockerPidMatched)} (pid ${o.longTransactionPid})`,
        ],
        ['reads and writes kept flowing', yesNo(o.readsAndWritesFlowed)],
      ];
    }
    case 'failed-concurrently': {
      const o = r.observed;
      return [
        ['build failed with', o.failedWith ?? 'nothing (it succeeded)'],
        [
          'INVALID index detected',
          `${yesNo(o.invalidIndexDetected)}${o.invalidIndex ? ` (${o.invalidIndex.index})` : ''}`,
        ],
        ['cleaned up', yesNo(o.cleanedUp)],
      ];
    }
  }
}

/** The human report: one short block per lesson (title, key facts, verdict), then the outcome. */
export function lessonsReport(results: readonly LessonResult[], width = 100): string {
  if (results.length === 0) return 'No lesson finished.\n';
  const out = ['Lessons'];
  for (const [i, r] of results.entries()) {
    const shortfall = lessonShortfall(r);
    out.push(
      '',
      `${i + 1}. ${r.name} — ${LESSON_TITLES[r.name]}${shortfall ? ` (NOT observed: ${shortfall})` : ''}`,
    );
    const facts = keyFacts(r);
    const labelWidth = Math.max(...facts.map(([label]) => label.length)) + 2;
    for (const [label, value] of facts) out.push(`   ${`${label}:`.padEnd(labelWidth)}${value}`);
    out.push(...wrap(`Verdict: ${r.verdict}`, width - 3).map((l) => `   ${l}`));
  }
  const failure = lessonsFailure(results);
  out.push('', failure ?? 'All four lessons observed what they teach.');
  return `${out.join('\n')}\n`;
}
