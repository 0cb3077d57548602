import * as assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite, suiteTeardown, test } from 'mocha';
import * as vscode from 'vscode';
import { ROOT, activeExtension, ruleOf, waitFor } from '../support';

/** A copy of the dbmate quick-fix fixture (the test writes a new migration into it). */
const COPY = mkdtempSync(join(tmpdir(), 'mlab-fixes-'));
cpSync(join(ROOT, 'test', 'fixtures', 'fixes', 'dbmate'), COPY, { recursive: true });
const CURRENT = join(COPY, '20240102000000_change_books.sql');
const CREATED = join(COPY, '20240102000001_books_title_idx_concurrently.sql');

function indexFinding(uri: vscode.Uri): vscode.Diagnostic | undefined {
  return vscode.languages
    .getDiagnostics(uri)
    .find((d) => d.source === 'Migration Lab' && ruleOf(d) === 'index-without-concurrently');
}

suite('Lint quick fixes in the editor', () => {
  suiteTeardown(() => rmSync(COPY, { recursive: true, force: true }));

  test('the CONCURRENTLY fix on a dbmate file creates the new transaction:false migration and clears the problem', async () => {
    await activeExtension();
    const document = await vscode.workspace.openTextDocument(CURRENT);
    await vscode.window.showTextDocument(document);
    const diagnostic = await waitFor('the index-without-concurrently diagnostic', () =>
      indexFinding(document.uri),
    );

    const actions = await vscode.commands.executeCommand<vscode.CodeAction[]>(
      'vscode.executeCodeActionProvider',
      document.uri,
      diagnostic.range,
      vscode.CodeActionKind.QuickFix.value,
    );
    const action = actions.find((a) => a.title.startsWith('Build the index CONCURRENTLY'));
    assert.ok(action, `actions: ${actions.map((a) => a.title).join(' | ')}`);
    assert.equal(
      action.title,
      'Build the index CONCURRENTLY in a new migration 20240102000001_books_title_idx_concurrently.sql',
    );
    assert.equal(action.isPreferred, true);
    assert.ok(action.kind?.contains(vscode.CodeActionKind.QuickFix));
    assert.ok(action.edit, 'the action carries its WorkspaceEdit');
    // (VS Code's executeCodeActionProvider drops an action's `diagnostics`, so that link is not checked here.)

    assert.ok(await vscode.workspace.applyEdit(action.edit));
    // Before anything is saved the new file is empty on disk, which dbmate cannot read: the current
    // file is linted with it as typed, so its other problems stay and none says the folder is unreadable.
    await waitFor('the lint of the unsaved result', () => {
      const mine = vscode.languages.getDiagnostics(document.uri).filter((d) => d.source === 'Migration Lab');
      return !indexFinding(document.uri) && mine.some((d) => ruleOf(d) === 'constraint-without-not-valid')
        ? mine
        : undefined;
    });
    assert.deepEqual(
      vscode.languages.getDiagnostics(document.uri).filter((d) => /cannot be read/.test(d.message)),
      [],
    );
    // As after a click on the light bulb: the new file exists, its text is in an editor, unsaved.
    assert.ok(existsSync(CREATED), 'the new migration file exists');
    const created = await vscode.workspace.openTextDocument(CREATED);
    assert.equal(
      created.getText(),
      '-- migrate:up transaction:false\nCREATE INDEX CONCURRENTLY IF NOT EXISTS books_title_idx ON books (title);\n\n-- migrate:down transaction:false\nDROP INDEX CONCURRENTLY IF EXISTS books_title_idx;\n',
    );
    assert.ok(await created.save());
    assert.ok(await document.save());
    assert.equal(readFileSync(CREATED, 'utf8'), created.getText());
    assert.doesNotMatch(readFileSync(CURRENT, 'utf8'), /CREATE INDEX/);
    await waitFor('the problem to go', () => (indexFinding(document.uri) ? undefined : true));

    // The new file is linted as a dbmate migration too: nothing about its index.
    await vscode.window.showTextDocument(created);
    const lens = await waitFor('a lens on the concurrent build', async () => {
      const all = await vscode.commands.executeCommand<vscode.CodeLens[]>(
        'vscode.executeCodeLensProvider',
        created.uri,
      );
      return all.find((l) => l.command?.title.includes('ShareUpdateExclusiveLock on public.books'));
    });
    assert.match(lens.command!.title, /not in a transaction/);
    assert.equal(indexFinding(created.uri), undefined);
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });
});
