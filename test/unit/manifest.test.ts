import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DEFAULT_STALLED_THRESHOLD_MS } from '../../src/core/probe/stats';
import { LESSON_ACTIONS } from '../../src/extension/lessonActions';
import { PANEL_ACTIONS } from '../../src/shared/protocol';

const root = join(__dirname, '../../..');
const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  contributes: {
    commands: { command: string; title: string; category?: string }[];
    configuration: {
      properties: Record<string, { description?: string; markdownDescription?: string; default?: unknown }>;
    };
    menus: Record<string, { command: string }[]>;
  };
};
// The command table is the one place commands are registered; read its keys as text, since
// src/extension imports vscode and cannot load under plain node.
const commandTable = readFileSync(join(root, 'src/extension/commands.ts'), 'utf8');
const registered = new Set([
  ...[...commandTable.matchAll(/^ {2}'(migrationLab\.[A-Za-z]+)': \{/gm)].map((m) => m[1]),
  // The lesson commands are made from the lesson scenarios, one per LESSON_ACTIONS entry.
  ...(commandTable.includes('PANEL_ACTIONS[LESSON_ACTIONS[lesson.id]]')
    ? Object.values(LESSON_ACTIONS).map((action) => PANEL_ACTIONS[action])
    : []),
]);

describe('package.json contributions', () => {
  it('every contributed command is registered, and every registered command is contributed', () => {
    const contributed = new Set(manifest.contributes.commands.map((c) => c.command));
    assert.ok(registered.size >= 10, `found the command table (${registered.size} entries)`);
    assert.deepEqual([...contributed].sort(), [...registered].sort());
  });

  it('every command is in the "Migration Lab" category', () => {
    for (const c of manifest.contributes.commands) assert.equal(c.category, 'Migration Lab', c.command);
  });

  it('menus only name contributed commands', () => {
    const contributed = new Set(manifest.contributes.commands.map((c) => c.command));
    for (const [menu, items] of Object.entries(manifest.contributes.menus)) {
      for (const item of items) assert.ok(contributed.has(item.command), `${menu}: ${item.command}`);
    }
  });

  it('every setting is under migrationLab.* and has a description', () => {
    const settings = Object.entries(manifest.contributes.configuration.properties);
    assert.ok(settings.length >= 4);
    for (const [key, spec] of settings) {
      assert.match(key, /^migrationLab\./);
      assert.ok((spec.description ?? spec.markdownDescription ?? '').length > 20, `${key} has a description`);
    }
  });

  it('the stall threshold has one default: the setting declares what the sampler and verdicts use', () => {
    const spec = manifest.contributes.configuration.properties['migrationLab.probe.stalledThresholdMs'];
    assert.equal(spec?.default, DEFAULT_STALLED_THRESHOLD_MS);
  });
});
