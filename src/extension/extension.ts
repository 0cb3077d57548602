import { join } from 'node:path';
import * as vscode from 'vscode';
import { Lab, type LabState } from '../core/lab';
import type { RecordedRun } from '../core/monitor/recorder';
import { EXTERNAL_URL_SECRET, registerCommands, reportError, type CommandContext } from './commands';
import { config } from './config';
import { LOCK_MONITOR_VIEW_TYPE, LockMonitorPanel } from './lockMonitorPanel';
import { createLogger } from './logging';
import { Observation } from './observation';
import { SlowReport, lessonContextKeys } from './lessons';
import { ReplayDiagnostics, WorkspaceSources } from './sources';
import { DatabaseView, LabStatusBar, MigrationsView, RunsView } from './views';

let lab: Lab | undefined;
let observation: Observation | undefined;

function setContext(key: string, value: boolean): void {
  void vscode.commands.executeCommand('setContext', `migrationLab.${key}`, value);
}

/** Context keys the walkthrough and menus use; set only from observed state. */
function labContextKeys(s: LabState): void {
  setContext('databaseRunning', s.database === 'running');
  setContext('seeded', s.database === 'running' && s.seeded);
  setContext('migrationRunning', s.runningMigration !== undefined);
}

/** A run counts as observed only if it completed while both probes measured it. */
export function observedRun(runs: readonly RecordedRun[], kind: RecordedRun['kind']): boolean {
  return runs.some(
    (r) => r.kind === kind && !r.lesson && r.outcome === 'succeeded' && r.reads !== null && r.writes !== null,
  );
}

function runContextKeys(runs: readonly RecordedRun[]): void {
  setContext('lockingRunObserved', observedRun(runs, 'locking'));
  setContext('concurrentRunObserved', observedRun(runs, 'concurrent'));
}

/** "Rolled back" means: a locking run was observed, and now neither 0002 is applied. */
function rollbackContextKey(s: LabState, runs: readonly RecordedRun[]): void {
  const indexApplied = s.migrations.some((m) => m.applied && m.id.startsWith('0002_'));
  if (s.database === 'running' && observedRun(runs, 'locking') && !indexApplied && s.migrations.length > 0) {
    setContext('indexRolledBack', true);
  }
}

/** The Migrations view, saying above its rows when they carry no state because PostgreSQL is stopped. */
function migrationsTreeView(lab: Lab, provider: MigrationsView): vscode.Disposable {
  const view = vscode.window.createTreeView('migrationLab.migrations', { treeDataProvider: provider });
  const say = (s: LabState) => {
    view.message =
      s.database === 'running'
        ? undefined
        : 'PostgreSQL is not running: migrations are listed without [X]/[ ]. Start it to see and run them.';
  };
  say(lab.state);
  lab.on('state', say);
  return view;
}

/** The walkthrough opens by itself once, on the first activation after install. */
async function openWalkthroughOnce(context: vscode.ExtensionContext): Promise<void> {
  const key = 'migrationLab.walkthroughShown';
  if (context.globalState.get<boolean>(key) || !config.openWalkthroughOnFirstStart) return;
  await context.globalState.update(key, true);
  await vscode.commands.executeCommand('migrationLab.openWalkthrough');
}

/** What activate() returns: the extension-host tests read the real tree through it. */
export interface MigrationLabApi {
  migrationsView: MigrationsView;
  databaseView: DatabaseView;
  /** The workspace's migration sources and the replay diagnostics (the sources tests read them). */
  sources: WorkspaceSources;
  diagnostics: ReplayDiagnostics;
  /** Where the "Migration Lab" log channel's file is written (tests check what reached the log). */
  logUri: vscode.Uri;
}

/** Set by the bundle's first line (scripts/build.mjs banner), so activation time includes loading the code. */
declare const __migrationLabLoadStart: number | undefined;

export function activate(context: vscode.ExtensionContext): MigrationLabApi {
  const activateStart = performance.now();
  const loadStart = typeof __migrationLabLoadStart === 'number' ? __migrationLabLoadStart : activateStart;
  const channel = vscode.window.createOutputChannel('Migration Lab', { log: true });
  const logger = createLogger(channel);
  try {
    const theLab = new Lab({
      storageDir: context.globalStorageUri.fsPath,
      composeFile: join(context.extensionPath, 'docker-compose.yml'),
      migrationsDir: join(context.extensionPath, 'migrations'),
      logger,
      getExternalUrl: async () => context.secrets.get(EXTERNAL_URL_SECRET),
    });
    lab = theLab;
    const theObservation = new Observation(theLab, logger);
    observation = theObservation;
    const slowReport = new SlowReport();
    const sources = new WorkspaceSources(theLab, logger, join(context.extensionPath, 'migrations'));
    const diagnostics = new ReplayDiagnostics();
    const migrationsView = new MigrationsView(theLab, sources);
    const databaseView = new DatabaseView(theLab, logger);
    const ctx: CommandContext = {
      lab: theLab,
      logger,
      channel,
      extension: context,
      observation: theObservation,
      slowReport,
      sources,
      diagnostics,
    };
    theLab.on('state', labContextKeys);
    theLab.on('state', (s) => rollbackContextKey(s, theObservation.runs));
    labContextKeys(theLab.state);
    runContextKeys([]);
    context.subscriptions.push(
      channel,
      sources,
      diagnostics,
      theObservation,
      ...registerCommands(ctx),
      vscode.window.registerTreeDataProvider('migrationLab.database', databaseView),
      migrationsTreeView(theLab, migrationsView),
      vscode.window.registerTreeDataProvider('migrationLab.runs', new RunsView(theObservation)),
      new LabStatusBar(theLab),
      theObservation.onDidChangeRuns(runContextKeys),
      slowReport,
      slowReport.onDidChange((pid) => setContext('slowReportRunning', pid !== undefined)),
      theObservation.onDidChangeLessons(() => {
        // Keys only ever turn on: a lesson once observed stays ticked.
        for (const result of theObservation.lessons) {
          for (const [key, value] of Object.entries(lessonContextKeys(result)))
            if (value) setContext(key, true);
        }
      }),
      theObservation.onDidChangeSession((s) => {
        setContext('probeRunning', s?.probeRunning ?? false);
        s?.on('probe', (p) => setContext('probeRunning', p.running));
      }),
      vscode.window.registerWebviewPanelSerializer(LOCK_MONITOR_VIEW_TYPE, {
        async deserializeWebviewPanel(panel) {
          LockMonitorPanel.revive(panel, context.extensionUri, theLab, theObservation, slowReport, logger);
        },
      }),
      { dispose: () => LockMonitorPanel.instance?.dispose() },
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (
          theLab.state.database === 'running' &&
          config.restartSettings.some((s) => e.affectsConfiguration(s))
        ) {
          void vscode.window.showInformationMessage(
            'Migration Lab: the new PostgreSQL setting takes effect after Stop and Start PostgreSQL.',
          );
        }
      }),
    );
    void openWalkthroughOnce(context);
    const end = performance.now();
    logger.info(
      `Migration Lab activated in ${(end - loadStart).toFixed(1)} ms (loading the bundle ${(activateStart - loadStart).toFixed(1)} ms, activate() ${(end - activateStart).toFixed(1)} ms; VS Code ${vscode.version}, ${vscode.env.uiKind === vscode.UIKind.Web ? 'web' : 'desktop'}).`,
    );
    return { migrationsView, databaseView, sources, diagnostics, logUri: context.logUri };
  } catch (e) {
    reportError({ logger, channel }, 'Activating Migration Lab', e);
    throw e;
  }
}

/** Stops what the lab started (probe server, monitor, the embedded server), so no process outlives the editor. */
export async function deactivate(): Promise<void> {
  await observation?.shutdown();
  await lab?.stop();
  observation = undefined;
  lab = undefined;
}
