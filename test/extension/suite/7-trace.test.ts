import * as assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite, suiteSetup, suiteTeardown, test } from 'mocha';
import * as vscode from 'vscode';
import {
  ROOT,
  activeExtension,
  manifest,
  runCommand,
  sourceMigrationRows,
  treeLabel,
  waitFor,
  waitUntil,
} from '../support';

/** The parts of activate()'s result these tests read. */
interface StoredTraceLike {
  kind: 'trace';
  sourcePath: string;
  migration: string;
  verdict: string;
  startedAt: number;
  report: {
    source: string;
    tool: string;
    migrations: {
      id: string;
      rows: Record<string, number>;
      statements: { sql: string; locks: { relation: string; mode: string }[] }[];
    }[];
  };
}
interface Api {
  migrationsView: vscode.TreeDataProvider<unknown>;
  runsView: vscode.TreeDataProvider<unknown>;
  sources: {
    entries: readonly { found: { path: string; tool: string }; source?: unknown }[];
    ready: Promise<void>;
  };
  observation: { traces: readonly StoredTraceLike[] };
  ownMigration: { state: Record<string, boolean>; ticked: string[] };
}

const STEPS = ['migrationsFound', 'toolNamed', 'lintFindings', 'replayed', 'traced', 'reportOpened'];
const NEWEST = '20250102000000_index_orders_customer';

let api: Api;
let workspace: string;
let shopDir: string;
const exportDir = mkdtempSync(join(tmpdir(), 'mlab-trace-export-'));

async function label(provider: vscode.TreeDataProvider<unknown>, item: unknown): Promise<string> {
  return treeLabel(await provider.getTreeItem(item));
}

async function migrationRows(): Promise<unknown[]> {
  return sourceMigrationRows(api.migrationsView, shopDir);
}

const settings = () => vscode.workspace.getConfiguration('migrationLab');

suite('Trace a migration from the Migrations view; the "Check your own migration" walkthrough ticks', () => {
  suiteSetup(async function () {
    this.timeout(120_000);
    api = (await activeExtension()).exports as Api;
    workspace = vscode.workspace.workspaceFolders![0]!.uri.fsPath;
    shopDir = join(workspace, 'shop', 'db', 'migrations');
    // Small tables: the test is about the editor's side, the tracer's own tests measure locks at scale.
    await settings().update('trace.rows', 2000, vscode.ConfigurationTarget.Global);
    await settings().update('trace.rate', 5, vscode.ConfigurationTarget.Global);
    const started = await runCommand('migrationLab.startPostgres');
    assert.deepEqual(started.errors(), []);
  });

  suiteTeardown(async function () {
    this.timeout(60_000);
    await runCommand('migrationLab.stopPostgres');
    await settings().update('trace.rows', undefined, vscode.ConfigurationTarget.Global);
    await settings().update('trace.rate', undefined, vscode.ConfigurationTarget.Global);
    rmSync(join(workspace, 'shop'), { recursive: true, force: true });
    rmSync(exportDir, { recursive: true, force: true });
  });

  test('the walkthrough is contributed with one observed-state key per step, in order', () => {
    const walkthroughs = (
      manifest as unknown as {
        contributes: { walkthroughs: { id: string; steps: { completionEvents: string[] }[] }[] };
      }
    ).contributes.walkthroughs;
    const own = walkthroughs.find((w) => w.id === 'migrationLab.ownMigration');
    assert.ok(own, 'the second walkthrough is contributed');
    assert.deepEqual(
      own.steps.map((s) => s.completionEvents),
      STEPS.map((k) => [`onContext:migrationLab.own.${k}`]),
    );
    assert.deepEqual(Object.keys(api.ownMigration.state).sort(), [...STEPS].sort());
  });

  test('without migrations in the workspace, the walkthrough works on the bundled demo', async function () {
    this.timeout(40_000);
    await api.sources.ready;
    // Folders earlier suites copied in are gone (their teardown): the workspace has no migrations.
    await waitUntil('no migration folder in the workspace', () =>
      api.sources.entries.every((e) => !e.source),
    );
    assert.equal(api.ownMigration.state.migrationsFound, false, 'nothing found, and the demo not chosen yet');
    const chosen = await runCommand('migrationLab.useDemoMigrations');
    assert.deepEqual(chosen.errors(), []);
    await waitUntil('migrationsFound (the demo chosen)', () => api.ownMigration.state.migrationsFound);
    // Its "newest" is the plain index build (the two 0002s are alternatives, a replay of both fails).
    assert.deepEqual((await runCommand('migrationLab.openNewestMigration')).errors(), []);
    const file = vscode.window.activeTextEditor?.document.uri.fsPath ?? '';
    assert.match(file, /migrations[\\/]0002_add_email_index\.sql$/);
    await waitUntil(
      'lint problems on the demo’s plain CREATE INDEX',
      () => api.ownMigration.state.lintFindings,
    );
    await vscode.commands.executeCommand('workbench.action.closeActiveEditor');
  });

  test('the copied folder is found and the lab names its tool; nothing else has ticked', async function () {
    this.timeout(40_000);
    cpSync(join(ROOT, 'test/fixtures/trace-workspace/shop'), join(workspace, 'shop'), { recursive: true });
    await waitFor('the shop folder in the Migrations view', () =>
      api.sources.entries.some((e) => e.found.path === shopDir) ? true : undefined,
    );
    assert.equal(api.sources.entries.find((e) => e.found.path === shopDir)!.found.tool, 'dbmate');
    // Folders earlier suites copied in are gone (their teardown): the walkthrough's subject is this one.
    await waitUntil('the shop folder as the only migration folder', () =>
      api.sources.entries.every((e) => e.found.path === shopDir || !e.source),
    );
    await waitUntil('migrationsFound', () => api.ownMigration.state.migrationsFound === true);
    const state = api.ownMigration.state;
    assert.equal(state.lintFindings, false, 'no migration is open yet');
    assert.equal(state.replayed, false, 'a fresh scratch database');
    assert.equal(state.traced, false);
    assert.equal(state.reportOpened, false);
    const shown = await runCommand('migrationLab.showMigrations');
    assert.deepEqual(shown.errors(), []);
    await waitUntil(
      'toolNamed (the Migrations view is visible on the folder)',
      () => api.ownMigration.state.toolNamed,
    );
  });

  test('opening the newest migration shows its lint findings', async function () {
    this.timeout(40_000);
    const opened = await runCommand('migrationLab.openNewestMigration');
    assert.deepEqual(opened.errors(), []);
    const file = join(shopDir, `${NEWEST}.sql`);
    assert.equal(vscode.window.activeTextEditor?.document.uri.fsPath, file);
    await waitUntil('lint problems on the newest migration', () =>
      vscode.languages.getDiagnostics(vscode.Uri.file(file)).some((d) => d.source === 'Migration Lab'),
    );
    await waitUntil('lintFindings', () => api.ownMigration.state.lintFindings);
  });

  test('the walkthrough’s Replay applies everything before the newest migration', async function () {
    this.timeout(60_000);
    const replayed = await runCommand('migrationLab.replayMigrations', { walkthrough: true });
    assert.deepEqual(replayed.errors(), []);
    await waitUntil('replayed', () => api.ownMigration.state.replayed);
    const labels = await Promise.all((await migrationRows()).map((r) => label(api.migrationsView, r)));
    assert.deepEqual(labels, ['[X] 20250101000000_create_shop', `[ ] ${NEWEST}`]);
  });

  test('"Trace this migration" on the pending row traces it, opens the report and keeps it in the Runs view', async function () {
    this.timeout(180_000);
    const before = api.observation.traces.length;
    const row = (await migrationRows())[1];
    const inline = (
      manifest as unknown as {
        contributes: { menus: Record<string, { command: string; when: string; group?: string }[]> };
      }
    ).contributes.menus['view/item/context']!.find((m) => m.command === 'migrationLab.traceMigration');
    const contextValue = (await api.migrationsView.getTreeItem(row)).contextValue!;
    assert.equal(contextValue, 'sourceMigration.pending');
    assert.ok(
      inline && new RegExp(/viewItem =~ \/(.*)\/$/.exec(inline.when)![1]!).test(contextValue),
      inline?.when,
    );
    assert.match(inline.group ?? '', /^inline/);

    const traced = await runCommand('migrationLab.traceMigration', row);
    assert.deepEqual(traced.errors(), []);
    assert.equal(api.observation.traces.length, before + 1);
    const trace = api.observation.traces.at(-1)!;
    assert.equal(trace.migration, NEWEST);
    assert.equal(trace.sourcePath, shopDir);
    assert.equal(trace.report.tool, 'dbmate');
    const [migration] = trace.report.migrations;
    assert.equal(migration?.id, NEWEST);
    assert.ok(
      Object.values(migration.rows).some((n) => n > 0),
      JSON.stringify(migration.rows),
    );
    // What the monitor saw the plain CREATE INDEX hold, as pg_locks spells it.
    const locks = migration.statements.flatMap((s) => s.locks);
    assert.ok(
      locks.some((l) => l.mode === 'ShareLock' && /orders$/.test(l.relation)),
      JSON.stringify(locks),
    );
    assert.match(traced.shown.map((s) => s.message).join('\n'), new RegExp(`Traced ${NEWEST}`));

    // The report: a read-only Markdown document, shown in the Markdown preview (which opens it as it loads).
    const doc = await waitFor('the report document', () =>
      vscode.workspace.textDocuments.find((d) => d.uri.scheme === 'migration-lab-trace'),
    );
    assert.match(doc.getText(), new RegExp(NEWEST));
    await waitFor('a Markdown preview tab', () =>
      vscode.window.tabGroups.all
        .flatMap((g) => g.tabs)
        .find((t) => t.input instanceof vscode.TabInputWebview && /markdown\.preview/.test(t.input.viewType)),
    );

    // The Runs view lists it first (newest), and a click opens its report again.
    const first = ((await api.runsView.getChildren()) ?? [])[0];
    const item = await api.runsView.getTreeItem(first);
    assert.equal(item.label, `Trace: ${NEWEST}`);
    assert.equal(item.contextValue, 'trace');
    assert.equal(item.command?.command, 'migrationLab.openTraceReport');
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    await waitUntil('the report closed', () =>
      vscode.window.tabGroups.all
        .flatMap((g) => g.tabs)
        .every((t) => !(t.input instanceof vscode.TabInputWebview)),
    );
    const reopened = await runCommand(item.command.command, ...(item.command.arguments ?? []));
    assert.deepEqual(reopened.errors(), []);
    await waitFor('the report shown again from the Runs view', () =>
      vscode.window.tabGroups.all
        .flatMap((g) => g.tabs)
        .find((t) => t.input instanceof vscode.TabInputWebview && /markdown\.preview/.test(t.input.viewType)),
    );

    assert.equal(api.ownMigration.state.traced, true);
    assert.equal(api.ownMigration.state.reportOpened, true);
    // The trace leaves the scratch database reset (replayed is false again); VS Code keeps a step ticked.
    assert.equal(api.ownMigration.state.replayed, false);
    assert.deepEqual(api.ownMigration.ticked, STEPS, 'every step of the walkthrough has ticked');
  });

  test('a trace that cannot be done is one sentence with Show Log, and keeps nothing', async function () {
    this.timeout(30_000);
    const before = api.observation.traces.length;
    const failed = await runCommand('migrationLab.traceMigration', {
      source: shopDir,
      migration: '29991231000000_nope',
    });
    const errors = failed.shown.filter((s) => s.kind === 'error');
    assert.equal(errors.length, 1, JSON.stringify(failed.shown));
    assert.match(errors[0]!.message, /29991231000000_nope/);
    assert.ok(!errors[0]!.message.includes('\n'), 'one sentence, details in the log');
    assert.ok(errors[0]!.items.includes('Show Log'));
    assert.equal(api.observation.traces.length, before);
  });

  test('Cancel on the notification aborts the trace mid-migration: nothing kept, the scratch database reset', async function () {
    this.timeout(120_000);
    const before = api.observation.traces.length;
    // The notification's Cancel button is the token withProgress hands the task; press it when the
    // migration's statement runs (the fixture's index build lasts seconds).
    const win = vscode.window as unknown as { withProgress: typeof vscode.window.withProgress };
    const withProgress = win.withProgress;
    const cancel = new vscode.CancellationTokenSource();
    const lines: string[] = [];
    win.withProgress = ((options, task) =>
      withProgress.call(vscode.window, options, (progress) =>
        task(
          {
            report: (value) => {
              if (value.message) lines.push(value.message);
              if (value.message?.startsWith('3 of 4, trace: running')) cancel.cancel();
              progress.report(value);
            },
          },
          cancel.token,
        ),
      )) as typeof vscode.window.withProgress;
    let messages;
    try {
      messages = await runCommand('migrationLab.traceMigration', { source: shopDir, migration: NEWEST });
    } finally {
      win.withProgress = withProgress;
    }
    assert.ok(cancel.token.isCancellationRequested, `cancelled during the trace: ${lines.join(' | ')}`);
    assert.deepEqual(messages.errors(), [], 'a cancel is not a failure');
    assert.ok(
      messages.shown.some((m) => m.kind === 'info' && /cancel/i.test(m.message)),
      JSON.stringify(messages.shown),
    );
    assert.ok(
      lines.some((l) => l.startsWith('2 of 4, fill')),
      lines.join(' | '),
    );
    assert.equal(api.observation.traces.length, before, 'a cancelled trace is not kept');
    await waitUntil('the scratch database reset (nothing applied)', async () =>
      (await Promise.all((await migrationRows()).map((r) => label(api.migrationsView, r)))).every((l) =>
        l.startsWith('[ ] '),
      ),
    );
  });

  test('Export as Markdown and as JSON write the report and the `trace --json` shape', async function () {
    this.timeout(30_000);
    const trace = api.observation.traces.at(-1)!;
    const json = vscode.Uri.file(join(exportDir, 'trace.json'));
    const md = vscode.Uri.file(join(exportDir, 'trace.md'));
    assert.deepEqual((await runCommand('migrationLab.exportTraceReport', 'json', trace, json)).errors(), []);
    assert.deepEqual(
      (await runCommand('migrationLab.exportTraceReport', 'markdown', trace, md)).errors(),
      [],
    );
    assert.deepEqual(JSON.parse(readFileSync(json.fsPath, 'utf8')), trace.report);
    const text = readFileSync(md.fsPath, 'utf8');
    assert.match(text, new RegExp(NEWEST));
    const doc = vscode.workspace.textDocuments.find((d) => d.uri.scheme === 'migration-lab-trace');
    assert.equal(text, doc?.getText(), 'the export is the report that was shown');
  });
});
