import * as assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite, suiteTeardown, test } from 'mocha';
import * as vscode from 'vscode';
import { activeExtension, waitFor } from '../support';

interface Api {
  lintStatus: { shown: { text: string; tooltip: string } | undefined };
}

/**
 * A dbmate folder of our own: 0001 creates `orders`; 0002 (in dbmate's transaction) indexes it
 * without CONCURRENTLY (index-without-concurrently, a warning) and adds a column without a
 * lock_timeout (access-exclusive-without-lock-timeout, a warning). Outside the workspace, so the
 * other suites never see it.
 */
const COPY = mkdtempSync(join(tmpdir(), 'mlab-lint-rules-'));
const MIGRATIONS = join(COPY, 'db', 'migrations');
mkdirSync(MIGRATIONS, { recursive: true });
writeFileSync(
  join(MIGRATIONS, '20240101000000_create_orders.sql'),
  '-- migrate:up\nCREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint);\n\n-- migrate:down\nDROP TABLE orders;\n',
);
const FILE = join(MIGRATIONS, '20240102000000_change_orders.sql');
writeFileSync(
  FILE,
  '-- migrate:up\nCREATE INDEX orders_customer_id_idx ON orders (customer_id);\nALTER TABLE orders ADD COLUMN note text;\n\n' +
    '-- migrate:down\nALTER TABLE orders DROP COLUMN note;\nDROP INDEX orders_customer_id_idx;\n',
);

const INDEX_RULE = 'index-without-concurrently';
const TIMEOUT_RULE = 'access-exclusive-without-lock-timeout';

function ruleOf(d: vscode.Diagnostic): string {
  return typeof d.code === 'object' ? String(d.code.value) : String(d.code);
}

/** The lab's diagnostics on the file as [line, rule, severity], in line order. */
function shown(uri: vscode.Uri): [number, string, vscode.DiagnosticSeverity][] {
  return vscode.languages
    .getDiagnostics(uri)
    .filter((d) => d.source === 'Migration Lab')
    .map((d): [number, string, vscode.DiagnosticSeverity] => [d.range.start.line, ruleOf(d), d.severity])
    .sort((a, b) => a[0] - b[0] || a[1].localeCompare(b[1]));
}

/** Waits until the diagnostics are exactly `expected` (they change after a settings change relints). */
async function diagnosticsBecome(
  uri: vscode.Uri,
  expected: [number, string, vscode.DiagnosticSeverity][],
  what: string,
): Promise<void> {
  await waitFor(what, () =>
    JSON.stringify(shown(uri)) === JSON.stringify(expected) ? true : undefined,
  ).catch((e: unknown) => {
    throw new Error(`${(e as Error).message}; shown: ${JSON.stringify(shown(uri))}`);
  });
}

suite('Lint in the editor: migrationLab.lint.rules and the status bar summary', () => {
  const settings = () => vscode.workspace.getConfiguration('migrationLab.lint');

  suiteTeardown(async () => {
    await settings().update('rules', undefined, vscode.ConfigurationTarget.Global);
    rmSync(COPY, { recursive: true, force: true });
  });

  test('a rule turned off disappears, a rule given another severity shows it, and the status bar counts what is shown', async () => {
    const api = (await activeExtension()).exports as Api;
    assert.equal(
      JSON.stringify(settings().get('rules') ?? {}),
      '{}',
      'the test starts from the default (every rule at its own severity)',
    );
    const document = await vscode.workspace.openTextDocument(FILE);
    await vscode.window.showTextDocument(document);
    const { Warning, Error: ErrorSeverity } = vscode.DiagnosticSeverity;

    await diagnosticsBecome(
      document.uri,
      [
        [1, INDEX_RULE, Warning],
        [2, TIMEOUT_RULE, Warning],
      ],
      'both warnings at their own severity',
    );
    const before = await waitFor('the status bar summary of two warnings', () =>
      api.lintStatus.shown?.text === '$(warning) Lint: 2 problems' ? api.lintStatus.shown : undefined,
    );
    assert.match(before.tooltip, /a dbmate migration, PostgreSQL \d+\): 0 errors, 2 warnings, 0 infos/);

    try {
      await settings().update(
        'rules',
        { [INDEX_RULE]: 'off', [TIMEOUT_RULE]: 'error' },
        vscode.ConfigurationTarget.Global,
      );
      await diagnosticsBecome(
        document.uri,
        [[2, TIMEOUT_RULE, ErrorSeverity]],
        'the index rule gone and the lock_timeout rule an error',
      );
      const after = await waitFor('the status bar summary of one error', () =>
        api.lintStatus.shown?.text === '$(error) Lint: 1 problem' ? api.lintStatus.shown : undefined,
      );
      assert.match(after.tooltip, /: 1 errors, 0 warnings, 0 infos/);

      await settings().update(
        'rules',
        { [INDEX_RULE]: 'off', [TIMEOUT_RULE]: 'off' },
        vscode.ConfigurationTarget.Global,
      );
      await diagnosticsBecome(document.uri, [], 'every rule of the file off');
      await waitFor('the status bar saying there is nothing', () =>
        api.lintStatus.shown?.text === '$(check) Lint: no problems' ? true : undefined,
      );
    } finally {
      await settings().update('rules', undefined, vscode.ConfigurationTarget.Global);
    }

    await diagnosticsBecome(
      document.uri,
      [
        [1, INDEX_RULE, Warning],
        [2, TIMEOUT_RULE, Warning],
      ],
      'both warnings back once the setting is removed',
    );
    await waitFor('the status bar back to two warnings', () =>
      api.lintStatus.shown?.text === '$(warning) Lint: 2 problems' ? true : undefined,
    );
  });

  test('the status bar summary is hidden for a file the lint does not cover', async () => {
    const api = (await activeExtension()).exports as Api;
    const other = await vscode.workspace.openTextDocument({ language: 'plaintext', content: 'not SQL' });
    await vscode.window.showTextDocument(other);
    await waitFor('the summary hidden', () => (api.lintStatus.shown === undefined ? true : undefined));
    await vscode.commands.executeCommand('workbench.action.revertAndCloseActiveEditor');
  });
});
