import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { LessonResult } from '../../src/core/lessons/types';
import { loadSource } from '../../src/core/migrations/detect';
import { toRunnerMigration } from '../../src/core/migrations/runnerMigrations';
import {
  DEMO_SCENARIO,
  LESSON_NAMES,
  LESSON_SCENARIOS,
  LESSON_TITLES,
  appliedComparedMigration,
  comparedAlternatives,
  comparedKind,
  lessonContextKeys,
  lessonShortfall,
  loadScenarioSource,
  qualifiedTables,
} from '../../src/core/scenarios';

const ROOT = join(__dirname, '../../..');
const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  contributes: { walkthroughs: { steps: { completionEvents?: string[] }[] }[] };
};
/** The context keys the walkthrough's steps complete on (`onContext:migrationLab.<key>`). */
const walkthroughKeys = new Set(
  manifest.contributes.walkthroughs
    .flatMap((w) => w.steps)
    .flatMap((s) => s.completionEvents ?? [])
    .map((e) => /^onContext:migrationLab\.(\w+)$/.exec(e)?.[1])
    .filter((k): k is string => k !== undefined),
);

describe('the scenarios agree with the migrations they bundle', () => {
  for (const scenario of [DEMO_SCENARIO, ...LESSON_SCENARIOS]) {
    it(`${scenario.id}: its source loads through its tool's adapter and holds every migration it names`, async () => {
      const source = await loadScenarioSource(ROOT, scenario);
      assert.equal(source.tool, scenario.source.tool);
      const ids = source.migrations.map((m) => m.id);
      for (const id of scenario.migrations)
        assert.ok(ids.includes(id), `${id} is in ${scenario.source.folder}`);
    });
  }

  it("the demo's initial migration creates the tables it watches, and both compared migrations build its index", async () => {
    const source = await loadScenarioSource(ROOT, DEMO_SCENARIO);
    const up = (id: string) =>
      source.migrations
        .find((m) => m.id === id)!
        .up.statements.map((s) => s.text)
        .join('\n');
    for (const table of DEMO_SCENARIO.tables)
      assert.match(up(DEMO_SCENARIO.initial), new RegExp(`CREATE TABLE ${table} `));
    const { locking, concurrent } = DEMO_SCENARIO.compared;
    assert.match(
      up(locking),
      new RegExp(`CREATE INDEX ${DEMO_SCENARIO.index} ON ${DEMO_SCENARIO.probe.table} `),
    );
    assert.match(up(concurrent), new RegExp(`CREATE INDEX CONCURRENTLY ${DEMO_SCENARIO.index} ON `));
    assert.ok(DEMO_SCENARIO.tables.includes(DEMO_SCENARIO.seed.large));
    assert.ok(DEMO_SCENARIO.tables.includes(DEMO_SCENARIO.probe.table));
  });

  it('qualifies the watched tables with the lab schema, which is a setting', () => {
    assert.deepEqual(qualifiedTables(DEMO_SCENARIO, 'lab2'), ['lab2.large_email', 'lab2.small_email']);
  });
});

describe("the demo's source as the lab's runner runs it", () => {
  it('keeps ids, versions and each section’s transaction, read through the dbmate adapter', async () => {
    const migrations = (await loadScenarioSource(ROOT, DEMO_SCENARIO)).migrations.map(toRunnerMigration);
    const byId = new Map(migrations.map((m) => [m.id, m]));
    const { locking, concurrent } = DEMO_SCENARIO.compared;
    assert.deepEqual(
      migrations.map((m) => [m.id, m.version]),
      [
        [DEMO_SCENARIO.initial, '0001'],
        [locking, '0002'],
        [concurrent, '0002'],
      ],
    );
    assert.equal(byId.get(locking)!.up.transaction, true);
    assert.equal(byId.get(concurrent)!.up.transaction, false);
    assert.equal(byId.get(concurrent)!.fileName, `${concurrent}.sql`);
    assert.equal(byId.get(DEMO_SCENARIO.initial)!.up.statements.length, 2);
    for (const m of migrations) assert.equal(m.up.transactionConflict, undefined, m.id);
  });

  it('refuses CONCURRENTLY in a transactional section before anything runs, with the tool’s way out', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mlab-scenario-'));
    try {
      writeFileSync(
        join(dir, '0001_index.sql'),
        '-- migrate:up\nCREATE INDEX CONCURRENTLY i ON t (x);\n-- migrate:down\nDROP INDEX i;\n',
      );
      const [m] = (await loadSource(dir, 'dbmate')).migrations.map(toRunnerMigration);
      assert.match(
        m!.up.transactionConflict ?? '',
        /^0001_index\.sql: line 2 has CREATE INDEX CONCURRENTLY.*transaction:false/,
      );
      assert.equal(m!.down?.transactionConflict, undefined);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("the demo's compared pair", () => {
  it('is the runner’s one set of alternatives, and names the applied one', () => {
    const { locking, concurrent } = DEMO_SCENARIO.compared;
    assert.deepEqual(comparedAlternatives(), [[locking, concurrent]]);
    assert.equal(comparedKind(locking), 'locking');
    assert.equal(comparedKind(concurrent), 'concurrent');
    assert.equal(comparedKind(DEMO_SCENARIO.initial), 'other');
    assert.equal(
      appliedComparedMigration([
        { id: DEMO_SCENARIO.initial, applied: true },
        { id: concurrent, applied: true },
      ]),
      concurrent,
    );
    assert.equal(appliedComparedMigration([{ id: locking, applied: false }]), undefined);
  });
});

describe('the lesson scenarios', () => {
  it('are the four lessons, in order, each with its own title', () => {
    assert.deepEqual(LESSON_NAMES, ['lock-queue', 'lock-timeout', 'concurrent-waits', 'failed-concurrently']);
    assert.equal(new Set(Object.values(LESSON_TITLES)).size, 4);
  });

  // Only the fields the expectations read; the rest of `observed` does not matter to them.
  const results = (observed: boolean): LessonResult[] =>
    [
      { name: 'lock-queue', observed: { readsWaitedBehindDdl: observed } },
      { name: 'lock-timeout', observed: { timeouts: observed ? 2 : 0, succeeded: true, attempts: 3 } },
      { name: 'concurrent-waits', observed: { lockerPidMatched: observed } },
      { name: 'failed-concurrently', observed: { invalidIndexDetected: observed, cleanedUp: true } },
    ].map((r) => ({ ...r, verdict: 'v' }) as unknown as LessonResult);

  it('say what was not observed, and nothing when it was', () => {
    for (const r of results(true)) assert.equal(lessonShortfall(r), undefined, r.name);
    for (const r of results(false)) assert.match(lessonShortfall(r) ?? '', /\w/, r.name);
  });

  it("set only context keys the walkthrough completes on, and tick each lesson's step when observed", () => {
    for (const r of results(true)) {
      const keys = lessonContextKeys(r);
      for (const key of Object.keys(keys))
        assert.ok(walkthroughKeys.has(key) || key === 'invalidIndexDetected', key);
      assert.ok(
        Object.entries(keys).some(([key, value]) => value && walkthroughKeys.has(key)),
        `${r.name} ticks a walkthrough step`,
      );
    }
    for (const r of results(false)) {
      assert.ok(
        Object.entries(lessonContextKeys(r)).every(([key, value]) => !value || !walkthroughKeys.has(key)),
        `${r.name} ticks nothing it did not observe`,
      );
    }
  });
});
