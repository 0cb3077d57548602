import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PANEL_ACTIONS, isFromWebview } from '../../src/webview/protocol';

describe('webview message protocol', () => {
  it('accepts ready and every panel action', () => {
    assert.equal(isFromWebview({ type: 'ready' }), true);
    assert.equal(
      isFromWebview({ type: 'action', action: 'dropInvalidIndex', index: 'large_email_email_key' }),
      true,
    );
    for (const action of Object.keys(PANEL_ACTIONS))
      assert.equal(isFromWebview({ type: 'action', action }), true, action);
  });

  it('rejects anything else, so a webview cannot run an arbitrary command', () => {
    for (const bad of [
      null,
      'ready',
      {},
      { type: 'action' },
      { type: 'action', action: 'workbench.action.quit' },
      { type: 'action', action: 'toString' },
      { type: 'command', command: 'migrationLab.resetLab' },
      { type: 'action', action: 'dropInvalidIndex', index: 42 },
    ]) {
      assert.equal(isFromWebview(bad), false, JSON.stringify(bad));
    }
  });

  it('maps each action to a contributed migrationLab command', async () => {
    const { readFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const manifest = JSON.parse(readFileSync(join(__dirname, '../../../package.json'), 'utf8')) as {
      contributes: { commands: { command: string }[] };
    };
    const contributed = new Set(manifest.contributes.commands.map((c) => c.command));
    for (const command of Object.values(PANEL_ACTIONS)) assert.ok(contributed.has(command), command);
  });
});
