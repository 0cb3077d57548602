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
  /** Redraws on every lab state change: the tests see a state tick through it. */
  databaseView?: vscode.TreeDataProvider<unknown>;
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

/** The demo's migration rows (the elements the provider hands VS Code) and their tree items. */
async function demoRows(
  view: vscode.TreeDataProvider<unknown>,
): Promise<{ rows: unknown[]; items: vscode.TreeItem[] }> {
  const roots = (await view.getChildren()) ?? [];
  const items = await Promise.all(roots.map((r) => view.getTreeItem(r)));
  const demo = roots[items.findIndex((t) => t.label === 'Demo: large_email')];
  assert.ok(demo !== undefined, 'the Migrations view lists "Demo: large_email"');
  const rows = [...((await view.getChildren(demo)) ?? [])];
  return { rows, items: await Promise.all(rows.map((r) => view.getTreeItem(r))) };
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

  test('a lab state tick redraws nothing in the Migrations view; a migration redraws its rows alone, keeping their ids', async () => {
    const view = api?.migrationsView;
    const database = api?.databaseView;
    assert.ok(
      view?.onDidChangeTreeData && database?.onDidChangeTreeData,
      'activate() exports both tree providers',
    );
    const before = await demoRows(view);
    const ids = before.items.map((t) => t.id);
    assert.ok(
      ids.every((id) => typeof id === 'string' && id.length > 0),
      `every row has an id: ${JSON.stringify(ids)}`,
    );
    const redraws: unknown[] = [];
    let labTicks = 0;
    const listening = [
      view.onDidChangeTreeData((e) => redraws.push(e)),
      database.onDidChangeTreeData(() => labTicks++),
    ];
    try {
      // Show Migrations reads the lab's state again: a state change whose migrations are fresh but equal.
      await runCommandOk('migrationLab.showMigrations');
      assert.ok(labTicks > 0, 'the lab state changed (the Database view redrew)');
      assert.equal(redraws.length, 0, 'the Migrations view redrew for a state that shows the same');

      await runCommandOk('migrationLab.migrateTo', '0001_initial');
      assert.ok(redraws.length > 0, 'applying a migration redraws its row');
      for (const e of redraws)
        assert.ok(
          Array.isArray(e) && e.length > 0,
          `rows redrawn one by one, never the whole tree: ${String(e)}`,
        );
      const after = await demoRows(view);
      assert.deepEqual(
        after.items.map((t) => t.id),
        ids,
        'the same ids after the redraw',
      );
      after.rows.forEach((row, k) => assert.equal(row, before.rows[k], 'the same element for each row'));
      assert.equal(after.items[0]?.label, '[X] 0001_initial');
      assert.equal(after.items[0]?.contextValue, 'migration.applied');
    } finally {
      listening.forEach((l) => l.dispose());
    }
    // As the next test found it.
    await runCommandOk('migrationLab.rollbackMigration', '0001_initial');
    assert.deepEqual(
      (await demoRows(view)).items.map((t) => t.label),
      ['[ ] 0001_initial', '[ ] 0002_add_email_index', '[ ] 0002_add_email_index_concurrently'],
    );
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
