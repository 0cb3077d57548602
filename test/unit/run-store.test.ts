import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { LessonResult } from '../../src/core/lessons/types';
import { memoryLogger } from '../../src/core/log';
import { RunRecorder, type MigrationRunKind, type RecordedRun } from '../../src/core/monitor/recorder';
import {
  RUN_STORE_LIMIT,
  RUN_STORE_VERSION,
  RunStoreFile,
  parseEntries,
  serializeEntries,
  type StoredTrace,
} from '../../src/core/monitor/runStore';

const T0 = 1_700_000_000_000;

/** A run as the recorder really makes it (so the test follows the recorder's shape as it changes). */
function recordedRun(n: number, kind: MigrationRunKind = 'locking'): RecordedRun {
  const recorder = new RunRecorder();
  const startedAt = T0 + n * 60_000;
  recorder.begin({ migrationId: `0002_run_${n}`, kind, startedAt, pid: 100 + n });
  return recorder.end({
    endedAt: startedAt + 3_000,
    result: {
      pid: 100 + n,
      migrations: [
        {
          id: `0002_run_${n}`,
          statements: [{ sql: 'CREATE INDEX …', durationMs: 2_900 }],
          durationMs: 2_950,
        },
      ],
    },
  });
}

const lesson = {
  name: 'failed-concurrently',
  observed: { duplicatesInserted: 3, failedWith: '23505' },
  verdict: 'A unique CONCURRENTLY build failed with 23505 and left an INVALID index.',
} as unknown as LessonResult;

/** A finished trace as the extension keeps it (the report's shape is the `trace --json` contract). */
function storedTrace(n: number): StoredTrace {
  const startedAt = T0 + n * 60_000;
  const verdict =
    'CREATE INDEX books_title_idx: held ShareLock on public.books for 1.2 s; writes of public.books stalled up to 1.3 s.';
  return {
    kind: 'trace',
    sourcePath: '/work/shop/db/migrations',
    migration: `0003_trace_${n}`,
    migrations: [`0003_trace_${n}`],
    outcome: 'succeeded',
    verdict,
    startedAt,
    endedAt: startedAt + 9_000,
    durationMs: 9_000,
    report: {
      source: 'db/migrations',
      tool: 'dbmate',
      postgres: '18.4',
      labVersion: '0.1.0',
      migrations: [
        {
          id: `0003_trace_${n}`,
          rows: { 'public.books': 1000 },
          verdict,
          statements: [
            {
              file: 'db/migrations/0003.sql',
              line: 2,
              sql: 'CREATE INDEX books_title_idx ON books (title)',
              durationMs: 1200,
              locks: [{ relation: 'public.books', mode: 'ShareLock', waitedMs: 0 }],
              rewrites: [],
              maxBlockedSessions: 1,
              reads: { 'public.books': { p50Ms: 2, p95Ms: 4, maxMs: 6, stalled: 0 } },
              writes: { 'public.books': { p50Ms: 900, p95Ms: 1300, maxMs: 1300, stalled: 3 } },
              verdict,
              startedAt,
              endedAt: startedAt + 1200,
              progressPhases: ['building index: scanning table'],
            },
          ],
        },
      ],
      writeProbes: { 'public.books': { kind: 'insert', reason: 'an INSERT of a synthetic row' } },
      fillLimits: [],
    },
  };
}

describe('saved runs (versioned JSON, bounded)', () => {
  it('loads a file written before traces existed (no "traces" key) whole, with no traces and no problem', () => {
    const runs = [recordedRun(1, 'locking'), recordedRun(2, 'concurrent')];
    // Exactly what the lab wrote before this change: version 1, runs and lessons only.
    const old = JSON.stringify({ version: 1, savedAt: new Date(T0).toISOString(), runs, lessons: [lesson] });
    const parsed = parseEntries(old);
    assert.deepEqual(parsed.problems, []);
    assert.deepEqual(parsed.runs, runs);
    assert.deepEqual(parsed.lessons, [lesson]);
    assert.deepEqual(parsed.traces, []);
  });

  it('round-trips traces beside the runs, and the version stays the one older labs read', () => {
    const runs = [recordedRun(1)];
    const traces = [storedTrace(1), storedTrace(2)];
    const text = serializeEntries({ runs, lessons: [], traces });
    assert.equal((JSON.parse(text) as { version: number }).version, 1);
    const parsed = parseEntries(text);
    assert.deepEqual(parsed.problems, []);
    assert.deepEqual(parsed.traces, traces);
    assert.deepEqual(parsed.runs, runs, 'a trace never turns up among the runs');
  });

  it('drops a trace without its report (or with a broken one) and says so; keeps the good one', () => {
    const good = storedTrace(1);
    const noReport: Partial<StoredTrace> = storedTrace(2);
    delete noReport.report;
    const badStatements = {
      ...storedTrace(3),
      report: { ...good.report, migrations: [{ id: 'x', verdict: 'v' }] },
    };
    const text = JSON.stringify({
      version: RUN_STORE_VERSION,
      runs: [],
      lessons: [],
      traces: [good, noReport, badStatements, { ...good, kind: 'locking' }],
    });
    const parsed = parseEntries(text);
    assert.deepEqual(parsed.traces, [good]);
    assert.match(parsed.problems.join(), /3 of its 4 traces have an unknown shape/);
  });

  it('keeps only the newest traces', () => {
    const traces = [1, 2, 3, 4].map(storedTrace);
    const parsed = parseEntries(serializeEntries({ runs: [], lessons: [], traces }, 2));
    assert.deepEqual(
      parsed.traces.map((t) => t.migration),
      ['0003_trace_3', '0003_trace_4'],
    );
  });

  it('round-trips every run kind and the lesson results unchanged', () => {
    const runs = [recordedRun(1, 'locking'), recordedRun(2, 'concurrent'), recordedRun(3, 'other')];
    const parsed = parseEntries(serializeEntries({ runs, lessons: [lesson] }));
    assert.deepEqual(parsed.problems, []);
    assert.deepEqual(parsed.runs, runs);
    assert.deepEqual(parsed.lessons, [lesson]);
  });

  it('writes its version, and keeps only the newest 200 runs', () => {
    const runs = Array.from({ length: RUN_STORE_LIMIT + 5 }, (_, i) => recordedRun(i));
    const text = serializeEntries({ runs, lessons: [] });
    const file = JSON.parse(text) as { version: number; runs: RecordedRun[] };
    assert.equal(file.version, RUN_STORE_VERSION);
    assert.equal(file.runs.length, 200);
    assert.equal(file.runs[0]!.migration, '0002_run_5', 'the five oldest were dropped');
    assert.equal(file.runs.at(-1)!.migration, `0002_run_${RUN_STORE_LIMIT + 4}`);
  });

  it('reads nothing from a file of another version, and says why', () => {
    const text = JSON.stringify({ version: RUN_STORE_VERSION + 1, runs: [recordedRun(1)], lessons: [] });
    const parsed = parseEntries(text);
    assert.deepEqual(parsed.runs, []);
    assert.match(parsed.problems.join(), /version 2, this lab reads 1/);
  });

  it('drops entries of an unknown shape but keeps the good ones', () => {
    const good = recordedRun(1);
    const text = JSON.stringify({
      version: RUN_STORE_VERSION,
      runs: [good, { migration: 'x' }, null, 'text', { ...good, startedAt: 'yesterday' }],
      lessons: [lesson, { name: 'lock-queue' }],
    });
    const parsed = parseEntries(text);
    assert.deepEqual(parsed.runs, [good]);
    assert.deepEqual(parsed.lessons, [lesson]);
    assert.match(parsed.problems.join(), /4 of its 5 runs have an unknown shape/);
    assert.match(parsed.problems.join(), /1 of its 2 lessons/);
  });

  it('keeps the exact server version a run recorded; a run saved before versions were recorded still loads', () => {
    const recorder = new RunRecorder();
    recorder.begin({ migrationId: '0002_on_14', kind: 'locking', startedAt: T0 });
    const on14 = recorder.end({ endedAt: T0 + 1_000, serverVersion: '14.23' });
    assert.equal(on14.serverVersion, '14.23');
    const old = recordedRun(1);
    assert.equal('serverVersion' in old, false);
    // As a file written before this field existed: the run has no "serverVersion" key at all.
    const parsed = parseEntries(serializeEntries({ runs: [old, on14], lessons: [] }));
    assert.deepEqual(parsed.problems, []);
    assert.deepEqual(parsed.runs, [old, on14]);
    assert.equal(parsed.runs[1]!.serverVersion, '14.23');
    // A version of another type is an entry of an unknown shape, not a wrong version shown.
    const wrong = parseEntries(
      serializeEntries({ runs: [{ ...on14, serverVersion: 14 } as unknown as RecordedRun], lessons: [] }),
    );
    assert.deepEqual(wrong.runs, []);
    assert.match(wrong.problems.join(), /1 of its 1 runs have an unknown shape/);
  });

  it('reads nothing from broken JSON', () => {
    const parsed = parseEntries('{"version":1,"runs":[');
    assert.deepEqual(parsed.runs, []);
    assert.match(parsed.problems[0]!, /not JSON/);
  });
});

describe('RunStoreFile', () => {
  const dir = mkdtempSync(join(tmpdir(), 'migration-lab-runstore-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('saves and loads back (what a window reload or a restart does), and logs the restore', () => {
    const path = join(dir, 'nested', 'runs.json');
    const logger = memoryLogger();
    const runs = [recordedRun(1), recordedRun(2, 'concurrent')];
    const traces = [storedTrace(3)];
    new RunStoreFile(path, logger).save({ runs, lessons: [lesson], traces });
    const loaded = new RunStoreFile(path, logger).load();
    assert.deepEqual(loaded, { runs, lessons: [lesson], traces });
    assert.ok(
      logger.lines.some((l) => /Restored 2 recorded run\(s\), 1 lesson result\(s\) and 1 trace\(s\)/.test(l)),
    );
  });

  it('a missing file is no runs and no warning; a broken one is no runs and a warning', () => {
    const logger = memoryLogger();
    const none = { runs: [], lessons: [], traces: [] };
    assert.deepEqual(new RunStoreFile(join(dir, 'none.json'), logger).load(), none);
    assert.equal(logger.lines.length, 0, logger.lines.join('\n'));
    const broken = join(dir, 'broken.json');
    writeFileSync(broken, 'not json');
    assert.deepEqual(new RunStoreFile(broken, logger).load(), none);
    assert.ok(logger.lines.some((l) => l.startsWith('warn') && /not JSON/.test(l)));
  });

  it('bounds what it writes', () => {
    const path = join(dir, 'bounded.json');
    new RunStoreFile(path, memoryLogger(), 3).save({
      runs: [1, 2, 3, 4, 5].map((n) => recordedRun(n)),
      lessons: [],
    });
    const file = JSON.parse(readFileSync(path, 'utf8')) as { runs: RecordedRun[] };
    assert.deepEqual(
      file.runs.map((r) => r.migration),
      ['0002_run_3', '0002_run_4', '0002_run_5'],
    );
  });
});
