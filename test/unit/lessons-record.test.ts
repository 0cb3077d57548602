import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { lessonEntry, unfinishedLessonVerdict } from '../../src/core/lessons/record';
import { LESSON_TITLES } from '../../src/core/scenarios/lessons';
import type { LockAttempt } from '../../src/core/lessons/retry';
import { RunRecorder, type RecordedRun } from '../../src/core/monitor/recorder';
import {
  runListRow,
  toMarkdown,
  toReportJson,
  validateRunReport,
  comparisonConclusion,
} from '../../src/core/monitor/report';

const T0 = Date.UTC(2025, 0, 1, 12, 0, 0);

/** The lock_timeout lesson's scene as the recorder saw it: 3 attempts over 6 s, the last one 30 ms. */
function scene(): RecordedRun {
  const rec = new RunRecorder();
  rec.begin({ migrationId: '0003_add_column_with_lock_timeout', kind: 'other', pid: 300, startedAt: T0 });
  return rec.end({
    result: {
      pid: 300,
      migrations: [
        {
          id: '0003_add_column_with_lock_timeout',
          statements: [{ sql: 'ALTER TABLE large_email ADD COLUMN note text', durationMs: 30 }],
          durationMs: 30,
        },
      ],
    },
    endedAt: T0 + 6000,
    probeStats: {
      reads: { count: 60, p50Ms: 3, p95Ms: 900, maxMs: 1100, stalled: 3, errors: 0 },
      writes: { count: 60, p50Ms: 3, p95Ms: 800, maxMs: 1000, stalled: 0, errors: 0 },
    },
  });
}

const attempts: LockAttempt[] = [
  {
    n: 1,
    startedAt: T0,
    endedAt: T0 + 1000,
    durationMs: 1000,
    outcome: 'timeout',
    sqlstate: '55P03',
    delayAfterMs: 1000,
  },
  {
    n: 2,
    startedAt: T0 + 2000,
    endedAt: T0 + 3000,
    durationMs: 1000,
    outcome: 'timeout',
    sqlstate: '55P03',
    delayAfterMs: 2000,
  },
  { n: 3, startedAt: T0 + 5970, endedAt: T0 + 6000, durationMs: 30, outcome: 'succeeded' },
];

const VERDICT = 'With lock_timeout = 1.0 s: 2 attempts gave up after 1.0 s with 55P03 …';

function entry(): RecordedRun {
  return lessonEntry({
    name: 'lock-timeout',
    scene: scene(),
    migration: '0003_add_column_with_lock_timeout',
    startedAt: T0 - 500,
    endedAt: T0 + 7000,
    outcome: 'succeeded',
    verdict: VERDICT,
    attempts,
  });
}

void describe('a lesson is one entry of its own kind', () => {
  void it('its duration is the whole span of its attempts, not the last attempt (30 ms)', () => {
    const e = entry();
    assert.equal(e.kind, 'lesson');
    assert.equal(e.lesson, 'lock-timeout');
    assert.equal(e.title, LESSON_TITLES['lock-timeout']);
    assert.equal(e.durationMs, 6000);
    assert.equal(e.outcome, 'succeeded');
    assert.deepEqual(
      e.attempts?.map((a) => [a.n, a.outcome, a.sqlstate, a.durationMs]),
      [
        [1, 'timeout', '55P03', 1000],
        [2, 'timeout', '55P03', 1000],
        [3, 'succeeded', undefined, 30],
      ],
    );
  });

  void it("its verdict is the lesson's own (from what it observed), not the recorder's generic one", () => {
    const e = entry();
    assert.equal(e.verdict, VERDICT);
    assert.doesNotMatch(e.verdict, /No lock on the watched tables was observed/);
    assert.deepEqual(e.reads, scene().reads, "the probe's numbers over the scene are kept");
  });

  void it('a lesson without retries has its single run as its one attempt', () => {
    const s = scene();
    const e = lessonEntry({
      name: 'lock-queue',
      scene: s,
      migration: s.migration,
      startedAt: T0,
      endedAt: T0 + 6000,
      outcome: 'succeeded',
      verdict: 'Reads stalled …',
    });
    assert.deepEqual(
      e.attempts?.map((a) => [a.n, a.outcome, a.durationMs]),
      [[1, 'succeeded', 6000]],
    );
  });

  void it('a cancelled lesson says so and concludes nothing', () => {
    const text = unfinishedLessonVerdict('lock-queue', 'cancelled', 2500);
    assert.equal(text, 'The lesson "The lock-queue trap" was cancelled after 2.5 s; it drew no conclusion.');
  });

  void it('is listed as "Lesson: <title> · succeeded · 6.0 s over 3 attempts"', () => {
    const row = runListRow(entry(), () => '12:00:00');
    assert.equal(row.label, 'Lesson: lock_timeout with retries');
    assert.equal(row.description, 'succeeded · 6.0 s over 3 attempts · 12:00:00');
  });

  void it('the JSON report carries kind "lesson", its name, title and attempts, and stays valid', () => {
    const report = toReportJson([entry()], T0);
    assert.deepEqual(validateRunReport(JSON.parse(JSON.stringify(report))), { ok: true, errors: [] });
    const run = report.runs[0]!;
    assert.equal(run.kind, 'lesson');
    assert.equal(run.lesson, 'lock-timeout');
    assert.equal(run.title, 'lock_timeout with retries');
    assert.equal(run.durationMs, 6000);
    assert.deepEqual(
      run.attempts?.map((a) => [a.n, a.outcome, a.sqlstate, a.delayAfterMs]),
      [
        [1, 'timeout', '55P03', 1000],
        [2, 'timeout', '55P03', 2000],
        [3, 'succeeded', undefined, undefined],
      ],
    );
  });

  void it('the Markdown report has a lesson section with its attempts, and no comparison with lessons', () => {
    const md = toMarkdown([entry(), entry()]);
    assert.match(md, /^## 1\. Lesson: lock_timeout with retries \(succeeded\)$/m);
    assert.match(md, /^Started .*, took 6\.0 s over 3 attempts of 0003_add_column_with_lock_timeout\.$/m);
    assert.match(md, /^- attempt 1: timeout \(SQLSTATE 55P03\) after 1\.0 s, then waited 1\.0 s$/m);
    assert.match(md, /^- attempt 3: succeeded after 30 ms$/m);
    assert.doesNotMatch(md, /^## Comparison$/m);
    assert.equal(comparisonConclusion([entry(), entry()]), undefined);
  });

  void it('between demo runs, a lesson keeps its number and stays out of the comparison table', () => {
    const demo = (migration: string, kind: 'locking' | 'concurrent', ms: number): RecordedRun => {
      const rec = new RunRecorder();
      rec.begin({ migrationId: migration, kind, pid: 100, startedAt: T0 });
      return rec.end({
        result: { pid: 100, migrations: [{ id: migration, statements: [], durationMs: ms }] },
        endedAt: T0 + ms,
      });
    };
    const md = toMarkdown([
      demo('0002_add_email_index', 'locking', 3600),
      entry(),
      demo('0002_add_email_index_concurrently', 'concurrent', 5000),
    ]);
    assert.match(md, /^## 2\. Lesson: lock_timeout with retries \(succeeded\)$/m);
    assert.match(md, /^\| \| 1\. 0002_add_email_index \| 3\. 0002_add_email_index_concurrently \|$/m);
    assert.match(md, /^\| Duration \| 3\.6 s \| 5\.0 s \|$/m);
  });
});
