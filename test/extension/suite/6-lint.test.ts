import * as assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite, suiteTeardown, test } from 'mocha';
import * as vscode from 'vscode';
import { ROOT, activeExtension, ruleOf, waitFor } from '../support';

/**
 * A copy of a dbmate folder (the tests edit it, and an edited editor may be saved on shutdown): 0001
 * creates `orders`, 0002 indexes it with a plain CREATE INDEX (in dbmate's transaction).
 */
const COPY = mkdtempSync(join(tmpdir(), 'mlab-lint-'));
const MIGRATIONS = join(COPY, 'db', 'migrations');
cpSync(join(ROOT, 'test', 'fixtures', 'lint', 'dbmate', 'db', 'migrations'), MIGRATIONS, { recursive: true });
const INDEX_FILE = join(MIGRATIONS, '20240102000000_index_orders_customer.sql');
const STATEMENT = 'CREATE INDEX orders_customer_id_idx ON orders (customer_id)';

function labDiagnostics(uri: vscode.Uri): vscode.Diagnostic[] {
  return vscode.languages.getDiagnostics(uri).filter((d) => d.source === 'Migration Lab');
}

function hoverMarkdown(hovers: vscode.Hover[]): string {
  return hovers
    .flatMap((h) => h.contents)
    .map((c) => (typeof c === 'string' ? c : c.value))
    .join('\n');
}

suite('Lint in the editor', () => {
  suiteTeardown(async () => {
    rmSync(COPY, { recursive: true, force: true });
  });

  test('a plain CREATE INDEX on an existing table gets a diagnostic, a lock CodeLens and a lock hover', async () => {
    await activeExtension();
    const document = await vscode.workspace.openTextDocument(INDEX_FILE);
    await vscode.window.showTextDocument(document);

    const diagnostic = await waitFor('the index-without-concurrently diagnostic', () =>
      labDiagnostics(document.uri).find((d) => ruleOf(d) === 'index-without-concurrently'),
    );
    // The statement's own range (line 2 of the file, without its semicolon), not the whole file.
    assert.deepEqual(
      [
        diagnostic.range.start.line,
        diagnostic.range.start.character,
        diagnostic.range.end.line,
        diagnostic.range.end.character,
      ],
      [1, 0, 1, STATEMENT.length],
    );
    assert.equal(diagnostic.severity, vscode.DiagnosticSeverity.Warning);
    assert.match(diagnostic.message, /public\.orders/);
    const target = typeof diagnostic.code === 'object' ? diagnostic.code.target : undefined;
    assert.ok(target, 'the diagnostic links to its rule');
    assert.ok(target.path.endsWith('/docs/rules.md'), `code target ${target.toString()}`);
    assert.match(target.fragment, /^L\d+$/);

    const lens = await waitFor('a CodeLens naming ShareLock on public.orders', async () => {
      const all = await vscode.commands.executeCommand<vscode.CodeLens[]>(
        'vscode.executeCodeLensProvider',
        document.uri,
      );
      return all.find((l) => l.command?.title.includes('ShareLock on public.orders'));
    });
    assert.equal(lens.range.start.line, 1);
    assert.match(lens.command!.title, /blocks writes/);
    assert.match(lens.command!.title, /table scan/);

    const hovers = await vscode.commands.executeCommand<vscode.Hover[]>(
      'vscode.executeHoverProvider',
      document.uri,
      new vscode.Position(1, 5),
    );
    const text = hoverMarkdown(hovers);
    assert.match(text, /ShareLock/);
    assert.match(text, /blocks writes \(INSERT\/UPDATE\/DELETE\), not reads/);
    // The target major's page (the lab's server here), not "current", which moves with each release.
    assert.match(text, /https:\/\/www\.postgresql\.org\/docs\/1[4-8]\/sql-createindex\.html/);
  });

  test('an unsaved edit is linted as typed: CONCURRENTLY inside dbmate’s transaction is an error', async () => {
    await activeExtension();
    const document = await vscode.workspace.openTextDocument(INDEX_FILE);
    await vscode.window.showTextDocument(document);
    const edit = new vscode.WorkspaceEdit();
    edit.insert(document.uri, new vscode.Position(1, 'CREATE INDEX'.length), ' CONCURRENTLY');
    assert.ok(await vscode.workspace.applyEdit(edit));
    assert.ok(document.isDirty);

    const error = await waitFor('the concurrently-in-transaction diagnostic', () =>
      labDiagnostics(document.uri).find((d) => ruleOf(d) === 'concurrently-in-transaction'),
    );
    assert.equal(error.severity, vscode.DiagnosticSeverity.Error);
    assert.equal(error.range.start.line, 1);
    assert.deepEqual(
      labDiagnostics(document.uri).filter((d) => ruleOf(d) === 'index-without-concurrently'),
      [],
    );
    // Back to the saved text (this editor is the active one): nothing is left to save on shutdown.
    await vscode.commands.executeCommand('workbench.action.files.revert');
    assert.equal(document.isDirty, false);
  });

  test('a .sql file outside any migration folder is linted only with migrationLab.lint.allSqlFiles', async () => {
    await activeExtension();
    const folder = vscode.workspace.workspaceFolders?.[0];
    assert.ok(folder, 'the extension tests run with a workspace folder');
    const dir = join(folder.uri.fsPath, 'reports');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'monthly.sql');
    writeFileSync(file, 'ALTER TABLE accounts ADD COLUMN note text;\n');
    const settings = vscode.workspace.getConfiguration('migrationLab.lint');
    await settings.update('allSqlFiles', true, vscode.ConfigurationTarget.Global);
    try {
      const document = await vscode.workspace.openTextDocument(file);
      await vscode.window.showTextDocument(document);
      const d = await waitFor('a lock_timeout diagnostic on the loose file', () =>
        labDiagnostics(document.uri).find((x) => ruleOf(x) === 'access-exclusive-without-lock-timeout'),
      );
      assert.equal(d.range.start.line, 0);
      // No CodeLens on a loose file: how it would run is a guess.
      const lenses = await vscode.commands.executeCommand<vscode.CodeLens[]>(
        'vscode.executeCodeLensProvider',
        document.uri,
      );
      assert.deepEqual(
        lenses.filter((l) => l.command?.title.includes('AccessExclusiveLock')),
        [],
      );
      await settings.update('allSqlFiles', false, vscode.ConfigurationTarget.Global);
      await waitFor('the loose file’s diagnostics cleared', () =>
        labDiagnostics(document.uri).length === 0 ? true : undefined,
      );
    } finally {
      await settings.update('allSqlFiles', undefined, vscode.ConfigurationTarget.Global);
    }
  });
});
