import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PANEL_ACTIONS, commandFor, isFromWebview } from '../../src/shared/protocol';
import { chooseInvalidIndex } from '../../src/core/invalidIndexes';

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

describe('panel button → command', () => {
  it('passes the clicked invalid index to the drop command (not the first one)', () => {
    const { command, args } = commandFor({ type: 'action', action: 'dropInvalidIndex', index: 'b_idx' });
    assert.equal(command, 'migrationLab.dropInvalidIndex');
    assert.deepEqual(args, ['b_idx']);
  });

  it('runs other buttons without arguments', () => {
    assert.deepEqual(commandFor({ type: 'action', action: 'runLocking' }), {
      command: 'migrationLab.runLockingIndexMigration',
      args: [],
    });
  });
});

describe('which invalid index to drop', () => {
  const invalid = [{ index: 'a_idx' }, { index: 'b_idx' }];
  it('drops the one asked for, by name or from a tree item', () => {
    assert.deepEqual(chooseInvalidIndex(invalid, 'b_idx'), { index: 'b_idx' });
    assert.deepEqual(chooseInvalidIndex(invalid, { index: 'b_idx' }), { index: 'b_idx' });
  });
  it('drops the first when none is named', () => {
    assert.deepEqual(chooseInvalidIndex(invalid, undefined), { index: 'a_idx' });
  });
  it('refuses an index that is not one of the invalid ones', () => {
    const chosen = chooseInvalidIndex(invalid, 'users_pkey');
    assert.ok('reason' in chosen && /users_pkey/.test(chosen.reason));
    assert.ok('reason' in chooseInvalidIndex([], undefined));
  });
});
