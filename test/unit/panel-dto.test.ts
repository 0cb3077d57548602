import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LESSON_TITLES, type FailedConcurrentlyResult } from '../../src/core/lessons/types';
import { toBlockingChains } from '../../src/core/monitor/lockMonitor';
import { RunRecorder, type RecordedRun } from '../../src/core/monitor/recorder';
import { toReportJson } from '../../src/core/monitor/report';
import { toComparisonDto, toLessonDto, toRunDto } from '../../src/extension/panelDto';
import { lockRow } from '../fixtures/monitorRows';

const T0 = Date.UTC(2025, 0, 1, 12, 0, 0);

function run(migration: string, kind: 'locking' | 'concurrent', startedAt: number): RecordedRun {
  const rec = new RunRecorder();
  rec.begin({ migrationId: migration, kind, pid: 100, startedAt });
  const locks = [lockRow(100, 'ShareLock', true, { role: 'migration' })];
  rec.observe({ at: startedAt, locks, blockingChains: toBlockingChains(locks), progress: [], pollMs: 1 });
  return rec.end({
    result: { pid: 100, migrations: [{ id: migration, statements: [], durationMs: 1000 }] },
    endedAt: startedAt + 1000,
  });
}

describe('the panel DTOs the host sends', () => {
  it('compares the same pair as the exported report (one rule, in core)', () => {
    // Two locking runs and one concurrent: the pair is the newest locking and the concurrent run.
    const runs = [
      run('0002_add_email_index', 'locking', T0),
      run('0002_add_email_index_concurrently', 'concurrent', T0 + 10_000),
      run('0002_add_email_index', 'locking', T0 + 20_000),
    ];
    const dto = toComparisonDto(runs);
    const report = toReportJson(runs, T0);
    assert.ok(dto && report.comparison);
    assert.equal(dto.conclusion, report.comparison.conclusion);
    const keys = runs.map((r) => toRunDto(r).key);
    assert.deepEqual(dto.runKeys, [keys[2], keys[1]]);
  });

  it('sends no pair while there is nothing to compare', () => {
    assert.equal(toComparisonDto([run('0002_add_email_index', 'locking', T0)]), null);
  });

  it("names a lesson with core's title and lists its facts", () => {
    const result: FailedConcurrentlyResult = {
      name: 'failed-concurrently',
      verdict: 'v',
      observed: {
        duplicatesInserted: 3,
        failedWith: '23505',
        invalidIndexDetected: true,
        invalidIndex: null,
        ifNotExistsSucceeded: true,
        ifNotExistsNotice: null,
        ifNotExistsKeptInvalid: true,
        plainRetryFailedWith: '42P07',
        droppedConcurrently: true,
        duplicatesRemoved: 3,
        cleanedUp: true,
        migration: 'm',
      },
    };
    const dto = toLessonDto(result);
    assert.equal(dto.title, LESSON_TITLES['failed-concurrently']);
    assert.deepEqual(dto.facts[0], ['failed with', '23505']);
  });
});
