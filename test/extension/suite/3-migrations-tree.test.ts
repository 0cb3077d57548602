import * as assert from 'node:assert/strict';
import { suite, suiteSetup, suiteTeardown, test } from 'mocha';
import * as vscode from 'vscode';
import { activeExtension, runCommand, runCommandOk, treeLabel } from '../support';

/**
 * What the Migrations view shows, if the extension exposes its tree providers to tests
 * (activate() returning `{ migrationsView }`). Until then the same state is read where a person sees it
 * too: the "Migrate to…" quick pick lists every migration with "applied" on the applied ones.
 */
interface TestApi {
  migrationsView?: vscode.TreeDataProvider<unknown>;
}

let api: TestApi | undefined;

async function treeLabels(): Promise<string[] | undefined> {
  const view = api?.migrationsView;
  if (!view) return undefined;
  // The demo is one source among the workspace's: its rows are the children of "Demo: large_email".
  const roots = (await view.getChildren()) ?? [];
  let demo: unknown;
  for (const r of roots) {
    const item = await view.getTreeItem(r);
    if (item.label === 'Demo: large_email') demo = r;
  }
  assert.ok(demo !== undefined, 'the Migrations view lists "Demo: large_email"');
  // While PostgreSQL is stopped the demo's files are listed as notes without [X]/[ ] (no state).
  const children = ((await view.getChildren(demo)) ?? []).filter(
    (c) => (c as { kind?: string }).kind !== 'note',
  );
  return Promise.all(children.map(async (c) => treeLabel(await view.getTreeItem(c))));
}

/** `[X] id` / `[ ] id` for every migration, as the "Migrate to…" picker (and the tree) list them. */
async function migrationsAsListed(): Promise<string[]> {
  const messages = await runCommand('migrationLab.migrateTo');
  assert.deepEqual(messages.errors(), []);
  assert.equal(
    messages.quickPicks.length,
    1,
    `expected the migration picker, got ${JSON.stringify(messages.shown)}`,
  );
  const listed = messages.quickPicks[0]!.map(
    (i) => `${i.description === 'applied' ? '[X]' : '[ ]'} ${i.label}`,
  );
  const tree = await treeLabels();
  if (tree) assert.deepEqual(tree, listed, 'the Migrations tree and the picker disagree');
  return listed;
}

suite('The Migrations view follows the database (a real embedded PostgreSQL)', () => {
  suiteSetup(async function () {
    this.timeout(120_000);
    const ext = await activeExtension();
    api = (ext.exports ?? undefined) as TestApi | undefined;
    console.log(
      api?.migrationsView
        ? '    (checking the Migrations tree provider from the extension exports, and the picker)'
        : '    (activate() exports no migrationsView: checking the state through the "Migrate to…" picker only)',
    );
    if (api?.migrationsView) assert.deepEqual(await treeLabels(), [], 'empty while PostgreSQL is stopped');
    // The runner chose the provider (embedded, unless MIGRATION_LAB_TEST_PROVIDER says otherwise) and ports.
    await runCommandOk('migrationLab.startPostgres');
    await vscode.commands.executeCommand('migrationLab.migrations.focus');
  });

  suiteTeardown(async function () {
    this.timeout(60_000);
    await runCommandOk('migrationLab.stopPostgres');
  });

  test('a fresh database lists every migration as not applied', async () => {
    assert.deepEqual(await migrationsAsListed(), [
      '[ ] 0001_initial',
      '[ ] 0002_add_email_index',
      '[ ] 0002_add_email_index_concurrently',
    ]);
  });

  test('migrating to 0001_initial marks it applied, and only it', async () => {
    const shown = await runCommandOk('migrationLab.migrateTo', '0001_initial');
    assert.match(shown.join('\n'), /migrate to 0001_initial: 0001_initial done in \d+\.\d s\./);
    assert.deepEqual(await migrationsAsListed(), [
      '[X] 0001_initial',
      '[ ] 0002_add_email_index',
      '[ ] 0002_add_email_index_concurrently',
    ]);
    assert.deepEqual(await runCommandOk('migrationLab.migrateTo', '0001_initial'), [
      'migrate to 0001_initial: already there.',
    ]);
  });

  test('rolling 0001_initial back marks it not applied again', async () => {
    const shown = await runCommandOk('migrationLab.rollbackMigration', '0001_initial');
    assert.match(shown.join('\n'), /roll back to nothing: 0001_initial done in/);
    assert.deepEqual(await migrationsAsListed(), [
      '[ ] 0001_initial',
      '[ ] 0002_add_email_index',
      '[ ] 0002_add_email_index_concurrently',
    ]);
  });

  test('after Stop PostgreSQL the commands say the database is not running again', async () => {
    await runCommandOk('migrationLab.stopPostgres');
    if (api?.migrationsView) assert.deepEqual(await treeLabels(), []);
    const messages = await runCommand('migrationLab.migrateTo');
    assert.deepEqual(
      messages.shown.map((s) => s.message),
      ['PostgreSQL is not running; Migration Lab needs it for this.'],
    );
  });
});
