import * as assert from 'node:assert/strict';
import { suite, test } from 'mocha';
import * as vscode from 'vscode';
import { EXTENSION_ID, ROOT, activeExtension, manifest } from '../support';

suite('Activation', () => {
  test('the extension under development loads and activates', async () => {
    const ext = await activeExtension();
    assert.equal(ext.isActive, true);
    // The development copy (this clone), not some installed Migration Lab.
    assert.equal(vscode.Uri.file(ext.extensionPath).fsPath, vscode.Uri.file(ROOT).fsPath);
    assert.equal(vscode.extensions.all.filter((e) => e.id === EXTENSION_ID).length, 1);
  });

  test('every command in contributes.commands is registered', async () => {
    await activeExtension();
    const registered = new Set(await vscode.commands.getCommands(true));
    const contributed = manifest.contributes.commands.map((c) => c.command);
    assert.ok(contributed.length >= 20, `only ${contributed.length} contributed commands`);
    const missing = contributed.filter((id) => !registered.has(id));
    assert.deepEqual(missing, [], `contributed but not registered: ${missing.join(', ')}`);
  });

  test('every contributed command has a title in the "Migration Lab" category', () => {
    for (const c of manifest.contributes.commands as {
      command: string;
      title: string;
      category?: string;
    }[]) {
      assert.ok(c.title.trim().length > 0, `${c.command} has no title`);
      assert.equal(c.category, 'Migration Lab', `${c.command} category`);
    }
  });
});
