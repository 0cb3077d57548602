import * as assert from 'node:assert/strict';
import { suite, suiteSetup, test } from 'mocha';
import * as vscode from 'vscode';
import { activeExtension, captureMessages, runCommand } from '../support';

const NOT_RUNNING = 'PostgreSQL is not running; Migration Lab needs it for this.';

/** Commands that cannot do anything without the lab's PostgreSQL (needsDatabase in src/extension/commands.ts). */
const NEED_DATABASE: [string, ...unknown[]][] = [
  ['migrationLab.seedTables', 1000],
  ['migrationLab.migrateTo', '0001_initial'],
  ['migrationLab.rollbackTo', '0001_initial'],
  ['migrationLab.rollbackMigration', '0001_initial'],
  ['migrationLab.runLockingIndexMigration'],
  ['migrationLab.runConcurrentIndexMigration'],
  ['migrationLab.rollbackIndexMigration'],
  ['migrationLab.resetLab'],
  ['migrationLab.openLockMonitor'],
  ['migrationLab.startProbe'],
  ['migrationLab.openProbeTerminal'],
];

function lockMonitorTabs(): vscode.Tab[] {
  return vscode.window.tabGroups.all.flatMap((g) => g.tabs).filter((t) => t.label === 'Lock Monitor');
}

suite('Commands that need a database, with PostgreSQL stopped', () => {
  suiteSetup(async () => {
    await activeExtension();
  });

  for (const [command, ...args] of NEED_DATABASE) {
    test(`${command} says PostgreSQL is not running and offers to start it`, async () => {
      // Answer the warning by dismissing it: nothing may start, nothing may fail.
      const messages = await runCommand(command, ...args);
      const warnings = messages.shown.filter((s) => s.kind === 'warning');
      assert.deepEqual(
        warnings.map((w) => [w.message, w.items]),
        [[NOT_RUNNING, ['Start PostgreSQL']]],
        `what ${command} showed: ${JSON.stringify(messages.shown)}`,
      );
      assert.deepEqual(messages.errors(), []);
      assert.deepEqual(messages.quickPicks, [], 'no quick pick before the database question');
      assert.equal(lockMonitorTabs().length, 0, 'the Lock Monitor did not open');
    });
  }

  test('the status-only commands work without a database', async () => {
    const messages = captureMessages();
    try {
      await vscode.commands.executeCommand('migrationLab.cancelMigration');
      await vscode.commands.executeCommand('migrationLab.exportRunReport');
      await vscode.commands.executeCommand('migrationLab.showMigrations');
    } finally {
      messages.restore();
    }
    assert.deepEqual(
      messages.shown.map((s) => s.message),
      ['No migration is running.', 'No runs to export yet.'],
    );
  });
});
