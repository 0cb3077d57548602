import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { after, describe, it } from 'node:test';
import { detectFolder, findSources, loadSource } from '../../src/core/migrations/detect';
import { MigrationFolderError, TOOL_IDS } from '../../src/core/migrations/model';

const FIXTURES = join(__dirname, '../../../test/fixtures/tools');
const temps: string[] = [];
after(() => temps.forEach((t) => rmSync(t, { recursive: true, force: true })));

function tree(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'migration-lab-detect-'));
  temps.push(dir);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  return dir;
}

const DBMATE = '-- migrate:up\nSELECT 1;\n';

void describe('findSources', () => {
  void it("finds every fixture folder with its own tool's name", async () => {
    const { sources, truncated } = await findSources(FIXTURES);
    assert.equal(truncated, false);
    const found = sources.map((s) => `${relative(FIXTURES, s.path)} ${s.tool}`).sort();
    const expected = [
      'atlas/migrations atlas',
      'atlas/unmarked atlas',
      'dbmate/migrations dbmate',
      'dbmate/two-statements dbmate',
      'dbmate/unmarked dbmate',
      'diesel/migrations diesel',
      'diesel/unmarked diesel',
      'drizzle/migrations drizzle',
      'drizzle/unmarked drizzle',
      'flyway/auto-detected flyway',
      'flyway/migrations flyway',
      'flyway/mixed flyway',
      'golang-migrate/migrations golang-migrate',
      'golang-migrate/unmarked golang-migrate',
      'goose/migrations goose',
      'goose/unmarked goose',
      'liquibase/changelog liquibase',
      'liquibase/unmarked liquibase',
      'node-pg-migrate/migrations node-pg-migrate',
      'node-pg-migrate/unmarked node-pg-migrate',
      'plain/migrations plain',
      'plain/unmarked plain',
      'prisma/migrations prisma',
      'prisma/unmarked prisma',
      'sqitch/project sqitch',
      'sqitch/unmarked sqitch',
      'sqlx/migrations sqlx',
      'sqlx/unmarked sqlx',
    ];
    assert.deepEqual(found, expected);
    // Every tool has a fixture, and every source says why.
    assert.deepEqual([...new Set(sources.map((s) => s.tool))].sort(), [...TOOL_IDS].sort());
    assert.ok(sources.every((s) => s.evidence.length > 0 && s.evidence.every((e) => e.endsWith('.'))));
  });

  void it('skips dependencies, VCS data and build output', async () => {
    const root = tree({
      'db/migrations/001_a.sql': DBMATE,
      'node_modules/pkg/migrations/001_a.sql': DBMATE,
      '.git/migrations/001_a.sql': DBMATE,
      'dist/migrations/001_a.sql': DBMATE,
      'target/migrations/001_a.sql': DBMATE,
      'build/migrations/001_a.sql': DBMATE,
      'out/migrations/001_a.sql': DBMATE,
    });
    const { sources } = await findSources(root);
    assert.deepEqual(
      sources.map((s) => relative(root, s.path)),
      [join('db', 'migrations')],
    );
  });

  void it('counts numbered .sql files anywhere, loose ones only in a folder named for them', async () => {
    const root = tree({
      'scripts/seed.sql': 'SELECT 1;',
      'sql/seed.sql': 'SELECT 1;',
      'changes/0001_a.sql': 'SELECT 1;',
      'README.md': '',
    });
    const { sources } = await findSources(root);
    assert.deepEqual(
      sources.map((s) => [relative(root, s.path), s.tool]),
      [
        ['changes', 'plain'],
        ['sql', 'plain'],
      ],
    );
  });

  void it('does not look inside a tool folder for more sources (Prisma and Sqitch subfolders)', async () => {
    const { sources } = await findSources(join(FIXTURES, 'prisma'));
    assert.equal(sources.length, 2);
  });

  void it('lets an override set the tool of a folder, saying what detection alone would say', async () => {
    const root = tree({ 'migrations/001_a.sql': DBMATE });
    const { sources } = await findSources(root, { overrides: { migrations: 'plain' } });
    assert.equal(sources[0].tool, 'plain');
    assert.match(sources[0].evidence[0], /override/);
    assert.match(sources[0].evidence[1], /dbmate/);
  });

  void it('stops at the folder limit and says so', async () => {
    const files: Record<string, string> = {};
    for (let k = 0; k < 30; k++) files[`f${k}/x.txt`] = '';
    const { truncated } = await findSources(tree(files), { maxFolders: 10 });
    assert.equal(truncated, true);
  });

  void it('stops when cancelled', async () => {
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(findSources(FIXTURES, { signal: controller.signal }), /Cancelled/);
  });
});

void describe('detectFolder / loadSource', () => {
  void it('prefers the strongest evidence (sqlx marker over golang-migrate naming)', async () => {
    const dir = tree({ '1_a.up.sql': '-- no-transaction\nSELECT 1;', '1_a.down.sql': 'SELECT 2;' });
    const found = await detectFolder(dir);
    assert.equal(found?.tool, 'sqlx');
    assert.equal(
      (await detectFolder(tree({ '1_a.up.sql': 'SELECT 1;', '1_a.down.sql': 'SELECT 2;' })))?.tool,
      'golang-migrate',
    );
  });

  void it('refuses a folder with nothing to load, and one that does not exist, in one sentence', async () => {
    await assert.rejects(
      loadSource(tree({ 'README.md': '' })),
      (e: unknown) => e instanceof MigrationFolderError && /no migrations found/.test(e.message),
    );
    await assert.rejects(
      loadSource(join(tmpdir(), 'migration-lab-no-such-folder')),
      (e: unknown) =>
        e instanceof MigrationFolderError && /cannot read this folder \(ENOENT\)/.test(e.message),
    );
  });
});
