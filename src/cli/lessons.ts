import type { LessonName, LessonResult } from '../core/lessons';
import { LESSON_NAMES, LESSON_TITLES, lessonFacts, lessonShortfall } from '../core/scenarios/lessons';
import { wrap } from './format';

export { LESSON_TITLES, lessonShortfall };

/** The JSON --lessons --json prints: `{ "lessons": [{ name, observed, verdict }, …] }`. */
export interface LessonsReport {
  lessons: { name: LessonName; observed: object; verdict: string }[];
}

export function lessonsJson(results: readonly LessonResult[]): LessonsReport {
  return {
    lessons: results.map((r) => ({ name: r.name, observed: r.observed, verdict: r.verdict })),
  };
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
    const facts = lessonFacts(r);
    const labelWidth = Math.max(...facts.map(([label]) => label.length)) + 2;
    for (const [label, value] of facts) out.push(`   ${`${label}:`.padEnd(labelWidth)}${value}`);
    out.push(...wrap(`Verdict: ${r.verdict}`, width - 3).map((l) => `   ${l}`));
  }
  const failure = lessonsFailure(results);
  out.push('', failure ?? `All ${LESSON_NAMES.length} lessons observed what they teach.`);
  return `${out.join('\n')}\n`;
}
