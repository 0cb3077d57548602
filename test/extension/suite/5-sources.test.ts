import * as assert from 'node:assert/strict';
import { cpSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite, suiteSetup, suiteTeardown, test } from 'mocha';
import * as vscode from 'vscode';
import {
  ROOT,
  activeExtension,
  captureMessages,
  runCommand,
  sourceMigrationRows,
  sourceRow,
  treeLabel,
  waitFor,
  waitUntil,
} from '../support';

/** The parts of activate()'s result these tests read. */
interface Api {
  migrationsView: vscode.TreeDataProvider<unknown>;
  sources: {
    entries: readonly { found: { path: string; tool: string } }[];
    ready: Promise<void>;
    parses: number;
  };
}

let api: Api;
let workspace: string;
let dbmateDir: string;
let prismaDir: string;
let demoWhileStopped: string[];

async function label(item: unknown): Promise<string> {
  return treeLabel(await api.migrationsView.getTreeItem(item));
}

async function migrationRows(dir: string): Promise<unknown[]> {
  return sourceMigrationRows(api.migrationsView, dir);
}

async function migrationLabels(dir: string): Promise<string[]> {
  return Promise.all((await migrationRows(dir)).map(label));
}

suite(
  'The Migrations view lists the workspace’s migration folders and replays them (a real PostgreSQL)',
  () => {
    suiteSetup(async function () {
      this.timeout(120_000);
      api = (await activeExtension()).exports as Api;
      workspace = vscode.workspace.workspaceFolders![0]!.uri.fsPath;
      dbmateDir = join(workspace, 'db', 'migrations');
      prismaDir = join(workspace, 'prisma', 'migrations');
      cpSync(join(ROOT, 'test/fixtures/tools/dbmate/migrations'), dbmateDir, { recursive: true });
      cpSync(join(ROOT, 'test/fixtures/tools/prisma/migrations'), prismaDir, { recursive: true });
      // Before the server starts: the demo is listed from its files, without state.
      await api.sources.ready;
      const demo = ((await api.migrationsView.getChildren()) ?? []).at(-1);
      assert.equal(await label(demo), 'Demo: large_email');
      demoWhileStopped = await Promise.all(((await api.migrationsView.getChildren(demo)) ?? []).map(label));
      const started = await runCommand('migrationLab.startPostgres');
      assert.deepEqual(started.errors(), []);
    });

    suiteTeardown(async function () {
      this.timeout(60_000);
      await runCommand('migrationLab.stopPostgres');
      rmSync(join(workspace, 'db'), { recursive: true, force: true });
      rmSync(join(workspace, 'prisma'), { recursive: true, force: true });
      // The pinned folder and its setting too: later suites start from a workspace without migrations.
      rmSync(join(workspace, 'build'), { recursive: true, force: true });
      await vscode.workspace
        .getConfiguration('migrationLab')
        .update('migrations.paths', undefined, vscode.ConfigurationTarget.Workspace);
    });

    test('while PostgreSQL is stopped the demo lists its migrations without [X]/[ ]', () => {
      assert.deepEqual(demoWhileStopped, [
        '0001_initial',
        '0002_add_email_index',
        '0002_add_email_index_concurrently',
      ]);
    });

    test('folders copied into the workspace appear with their tool, without a manual refresh', async function () {
      this.timeout(30_000);
      // Found by the file watcher (debounced), not by a command.
      await waitFor('the dbmate and Prisma folders in the Migrations view', () =>
        api.sources.entries.length >= 2 ? true : undefined,
      );
      const tools = Object.fromEntries(api.sources.entries.map((e) => [e.found.path, e.found.tool]));
      assert.equal(tools[dbmateDir], 'dbmate');
      assert.equal(tools[prismaDir], 'prisma');
      const folder = vscode.workspace.workspaceFolders![0]!.name;
      const roots = await Promise.all(((await api.migrationsView.getChildren()) ?? []).map(label));
      assert.deepEqual(roots, [
        `dbmate: ${join(folder, 'db', 'migrations')}`,
        `Prisma Migrate: ${join(folder, 'prisma', 'migrations')}`,
        'Demo: large_email',
      ]);
      const icons = await Promise.all(
        [dbmateDir, prismaDir].map(async (d) => {
          const icon = (await api.migrationsView.getTreeItem(await sourceRow(api.migrationsView, d)))
            .iconPath;
          return icon instanceof vscode.ThemeIcon ? icon.id : undefined;
        }),
      );
      assert.equal(new Set(icons).size, 2, `each tool has its own icon: ${JSON.stringify(icons)}`);
      // PostgreSQL runs: every migration is listed as not applied on its fresh scratch database.
      await waitUntil(
        'the scratch databases read',
        async () => (await migrationLabels(dbmateDir)).every((l) => l.startsWith('[ ] ')),
        20_000,
      );
      assert.deepEqual(await migrationLabels(dbmateDir), [
        '[ ] 20240101000000_create_tables',
        '[ ] 20240102000000_index_books_title',
        '[ ] 20240103000000_add_reviews',
      ]);
    });

    test('"replay up to here" on a row applies it and the ones before, and only them', async function () {
      this.timeout(60_000);
      const rows = await migrationRows(dbmateDir);
      const messages = await runCommand('migrationLab.replayMigrations', rows[1]);
      assert.deepEqual(messages.errors(), []);
      assert.match(messages.shown.map((s) => s.message).join('\n'), /2 of 3 applied on mlab_dbmate_/);
      assert.deepEqual(await migrationLabels(dbmateDir), [
        '[X] 20240101000000_create_tables',
        '[X] 20240102000000_index_books_title',
        '[ ] 20240103000000_add_reviews',
      ]);
      const prisma = await runCommand('migrationLab.replayMigrations', (await migrationRows(prismaDir))[0]);
      assert.deepEqual(prisma.errors(), []);
      assert.match((await migrationLabels(prismaDir))[0]!, /^\[X\] /);
    });

    test('"roll back to here" on an applied row undoes it (the down section) and keeps the older ones', async function () {
      this.timeout(60_000);
      const rows = await migrationRows(dbmateDir);
      const messages = await runCommand('migrationLab.rollBackMigrationsTo', rows[1]);
      assert.deepEqual(messages.errors(), []);
      assert.deepEqual(await migrationLabels(dbmateDir), [
        '[X] 20240101000000_create_tables',
        '[ ] 20240102000000_index_books_title',
        '[ ] 20240103000000_add_reviews',
      ]);
    });

    test('a failing migration opens its file with a diagnostic on the failing statement', async function () {
      this.timeout(60_000);
      const rows = await migrationRows(dbmateDir);
      const messages = await runCommand('migrationLab.replayMigrations', rows[2]);
      const errors = messages.errors();
      assert.equal(errors.length, 1, JSON.stringify(messages.shown));
      assert.match(errors[0]!, /20240103000000_add_reviews/);
      assert.match(errors[0]!, /bookz/);
      const file = join(dbmateDir, '20240103000000_add_reviews.sql');
      const editor = await waitFor('the failing file in the editor', () =>
        vscode.window.activeTextEditor?.document.uri.fsPath === file
          ? vscode.window.activeTextEditor
          : undefined,
      );
      const diagnostics = vscode.languages.getDiagnostics(vscode.Uri.file(file));
      assert.equal(diagnostics.length, 1);
      const [d] = diagnostics;
      assert.equal(d!.severity, vscode.DiagnosticSeverity.Error);
      assert.equal(d!.code, '42P01');
      assert.match(d!.message, /bookz/);
      // The statement is the CREATE TABLE on line 2 (0-based 1) up to its closing parenthesis.
      assert.equal(d!.range.start.line, 1);
      assert.match(editor.document.getText(d!.range), /^CREATE TABLE reviews[\s\S]*bookz \(id\)\s*\)$/);
      // The cursor is where PostgreSQL pointed, inside the statement.
      assert.ok(d!.range.contains(editor.selection.active), 'the cursor is on the failing statement');
      assert.deepEqual(await migrationLabels(dbmateDir), [
        '[X] 20240101000000_create_tables',
        '[X] 20240102000000_index_books_title',
        '[ ] 20240103000000_add_reviews',
      ]);
    });

    test('Reset Scratch Database leaves nothing applied and clears the diagnostic', async function () {
      this.timeout(60_000);
      const messages = await runCommand(
        'migrationLab.resetScratchDatabase',
        await sourceRow(api.migrationsView, dbmateDir),
      );
      assert.deepEqual(messages.errors(), []);
      assert.deepEqual(
        vscode.languages.getDiagnostics(vscode.Uri.file(join(dbmateDir, '20240103000000_add_reviews.sql'))),
        [],
      );
      assert.deepEqual(await migrationLabels(dbmateDir), [
        '[ ] 20240101000000_create_tables',
        '[ ] 20240102000000_index_books_title',
        '[ ] 20240103000000_add_reviews',
      ]);
    });

    test('migrationLab.migrations.paths pins a folder the search skips; a missing role offers "Create role and retry"', async function () {
      this.timeout(60_000);
      // Under build/ (build output: never searched) and granting to a role the server does not have.
      const pinned = join(workspace, 'build', 'reports', 'migrations');
      mkdirSync(pinned, { recursive: true });
      writeFileSync(
        join(pinned, '20240101000000_reports.sql'),
        '-- migrate:up\nCREATE TABLE reports (id int);\nGRANT SELECT ON reports TO mlab_e2e_reporting;\n\n-- migrate:down\nDROP TABLE reports;\n',
      );
      await vscode.workspace
        .getConfiguration('migrationLab')
        .update('migrations.paths', ['build/*/migrations'], vscode.ConfigurationTarget.Workspace);
      await waitFor('the pinned folder in the Migrations view', () =>
        api.sources.entries.some((e) => e.found.path === pinned) ? true : undefined,
      );
      await waitUntil(
        'its state read',
        async () => (await migrationLabels(pinned)).every((l) => l.startsWith('[ ] ')),
        20_000,
      );
      const messages = captureMessages((shown) =>
        shown.items.includes('Create role and retry') ? 'Create role and retry' : undefined,
      );
      try {
        await vscode.commands.executeCommand(
          'migrationLab.replayMigrations',
          await sourceRow(api.migrationsView, pinned),
        );
      } finally {
        messages.restore();
      }
      const [failed, ...rest] = messages.shown;
      assert.equal(failed?.kind, 'error');
      assert.match(failed!.message, /mlab_e2e_reporting/);
      assert.deepEqual(failed!.items, ['Create role and retry', 'Show Log']);
      assert.deepEqual(
        rest.map((r) => r.kind),
        ['info'],
        `after the retry: ${JSON.stringify(rest)}`,
      );
      assert.match(rest[0]!.message, /1 of 1 applied/);
      assert.deepEqual(await migrationLabels(pinned), ['[X] 20240101000000_reports']);
    });

    test('Check SQL Selection: CONCURRENTLY fails in a transaction (a diagnostic on the selection) and runs without one', async function () {
      this.timeout(60_000);
      const file = join(workspace, 'check.sql');
      writeFileSync(
        file,
        '-- not selected\nCREATE TABLE checked (id int);\nCREATE INDEX CONCURRENTLY checked_id ON checked (id);\n',
      );
      const editor = await vscode.window.showTextDocument(vscode.Uri.file(file));
      editor.selection = new vscode.Selection(1, 0, 2, 54);
      const inTransaction = await runCommand('migrationLab.checkSqlSelection', 'transaction');
      assert.equal(inTransaction.errors().length, 1, JSON.stringify(inTransaction.shown));
      assert.match(inTransaction.errors()[0]!, /CONCURRENTLY|transaction block/i);
      const diagnostics = vscode.languages.getDiagnostics(vscode.Uri.file(file));
      assert.equal(diagnostics.length, 1);
      assert.equal(diagnostics[0]!.code, '25001');
      // On the CREATE INDEX line of the document (0-based 2), not on the temporary file's.
      assert.equal(diagnostics[0]!.range.start.line, 2);

      await vscode.window.showTextDocument(vscode.Uri.file(file)).then((e) => {
        e.selection = new vscode.Selection(1, 0, 2, 54);
      });
      const autocommit = await runCommand('migrationLab.checkSqlSelection', 'no-transaction');
      assert.deepEqual(autocommit.errors(), []);
      assert.match(
        autocommit.shown.map((m) => m.message).join('\n'),
        /statement by statement .* \(2 statements\)/,
      );
      assert.deepEqual(vscode.languages.getDiagnostics(vscode.Uri.file(file)), []);
    });

    test('a new migration file shows up by itself, the folder parsed once for the change', async function () {
      this.timeout(30_000);
      const before = api.sources.parses;
      const file = join(dbmateDir, '20240104000000_add_notes.sql');
      writeFileSync(
        file,
        '-- migrate:up\nALTER TABLE books ADD COLUMN notes text;\n\n-- migrate:down\nALTER TABLE books DROP COLUMN notes;\n',
      );
      await waitUntil(
        'the fourth migration in the view, with its state',
        async () => (await migrationLabels(dbmateDir))[3] === '[ ] 20240104000000_add_notes',
        20_000,
      );
      assert.equal(api.sources.parses - before, 1, 'one parse of the changed folder, none of the others');
      assert.equal((await migrationLabels(dbmateDir))[3], '[ ] 20240104000000_add_notes');
      rmSync(file);
      await waitUntil(
        'the migration gone again',
        async () => (await migrationLabels(dbmateDir)).length === 3,
        20_000,
      );
    });

    test('a row drawn before a file was inserted above it still acts on its own migration, without asking', async function () {
      this.timeout(30_000);
      const rows = await migrationRows(dbmateDir);
      const row = rows[1]!;
      assert.equal(await label(row), '[ ] 20240102000000_index_books_title');
      // What a command may be handed from an earlier draw: the row's fields as they were (its position 1).
      const drawnEarlier = { ...(row as object) };
      const inserted = join(dbmateDir, '20240101500000_add_authors.sql');
      writeFileSync(
        inserted,
        '-- migrate:up\nCREATE TABLE authors (id int);\n\n-- migrate:down\nDROP TABLE authors;\n',
      );
      try {
        await waitUntil(
          'the inserted migration second in the view',
          async () => (await migrationLabels(dbmateDir))[1] === '[ ] 20240101500000_add_authors',
          20_000,
        );
        const now = await migrationRows(dbmateDir);
        assert.equal(now[2], row, 'the same element, one row down');
        assert.equal(
          (await api.migrationsView.getTreeItem(row)).id,
          `${dbmateDir}#20240102000000_index_books_title`,
        );
        const messages = await runCommand('migrationLab.openMigrationFile', drawnEarlier);
        assert.deepEqual(messages.errors(), []);
        assert.deepEqual(messages.quickPicks, [], 'no prompt for the folder or the migration');
        assert.equal(
          vscode.window.activeTextEditor?.document.uri.fsPath,
          join(dbmateDir, '20240102000000_index_books_title.sql'),
          'the file of the migration the row showed, not of the one now at its position',
        );
      } finally {
        rmSync(inserted);
      }
      await waitUntil(
        'the migration gone again',
        async () => (await migrationLabels(dbmateDir)).length === 3,
        20_000,
      );
    });
  },
);
