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

describe('saved runs (versioned JSON, bounded)', () => {
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
    new RunStoreFile(path, logger).save({ runs, lessons: [lesson] });
    const loaded = new RunStoreFile(path, logger).load();
    assert.deepEqual(loaded, { runs, lessons: [lesson] });
    assert.ok(logger.lines.some((l) => /Restored 2 recorded run\(s\) and 1 lesson result/.test(l)));
  });

  it('a missing file is no runs and no warning; a broken one is no runs and a warning', () => {
    const logger = memoryLogger();
    assert.deepEqual(new RunStoreFile(join(dir, 'none.json'), logger).load(), { runs: [], lessons: [] });
    assert.equal(logger.lines.length, 0, logger.lines.join('\n'));
    const broken = join(dir, 'broken.json');
    writeFileSync(broken, 'not json');
    assert.deepEqual(new RunStoreFile(broken, logger).load(), { runs: [], lessons: [] });
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
