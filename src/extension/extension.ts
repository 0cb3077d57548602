import { join } from 'node:path';
import * as vscode from 'vscode';
import { Lab, type LabState } from '../core/lab';
import { DEMO_SCENARIO, appliedComparedMigration } from '../core/scenarios/demo';
import type { RecordedRun } from '../core/monitor/recorder';
import { RunStoreFile } from '../core/monitor/runStore';
import { describeError } from '../core/errors';
import type { Logger } from '../core/log';
import { EXTERNAL_URL_SECRET, registerCommands, reportError, type CommandContext } from './commands';
import { config } from './config';
import { LOCK_MONITOR_VIEW_TYPE, LockMonitorPanel } from './lockMonitorPanel';
import { MigrationLint } from './lintDiagnostics';
import { registerLintQuickFixes } from './lintFixes';
import { LintStatusBar } from './lintStatus';
import { registerLockLens } from './lockLens';
import { createLogger } from './logging';
import { Observation } from './observation';
import { SlowReport, lessonContextKeys } from './lessons';
import { ReplayDiagnostics, WorkspaceSources } from './sources';
import { OwnMigrationWalkthrough } from './ownMigration';
import { TRACE_REPORT_SCHEME, TraceReportDocuments } from './trace';
import { DatabaseView, LabStatusBar, MigrationsView, RunsView } from './views';

let lab: Lab | undefined;
let observation: Observation | undefined;
let runStore: RunStoreFile | undefined;
let log: Logger | undefined;
/** VS Code gives deactivate() about 5 s; what is not stopped by then is found on the next activation. */
const DEACTIVATE_BUDGET_MS = 4_000;

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

/** "Rolled back" means: a locking run was observed, and now neither of the demo's compared migrations is applied. */
function rollbackContextKey(s: LabState, runs: readonly RecordedRun[]): void {
  const indexApplied = appliedComparedMigration(s.migrations) !== undefined;
  if (s.database === 'running' && observedRun(runs, 'locking') && !indexApplied && s.migrations.length > 0) {
    setContext('indexRolledBack', true);
  }
}

/** The Migrations view, saying above its rows when they carry no state because PostgreSQL is stopped. */
function migrationsTreeView(lab: Lab, provider: MigrationsView): vscode.TreeView<unknown> {
  const view = vscode.window.createTreeView<unknown>('migrationLab.migrations', {
    treeDataProvider: provider as vscode.TreeDataProvider<unknown>,
  });
  // Set only when it changes: each assignment is a message to the workbench, and state ticks are frequent.
  const say = (s: LabState) => {
    const message =
      s.database === 'running'
        ? undefined
        : 'PostgreSQL is not running: migrations are listed without [X]/[ ]. Start it to see and run them.';
    if (view.message !== message) view.message = message;
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
  /** The kept runs and traces (the trace tests read what a trace added). */
  observation: Observation;
  runsView: RunsView;
  /** The "Check your own migration" walkthrough's subject and step keys (its tests read them). */
  ownMigration: OwnMigrationWalkthrough;
  /** The lint's status bar summary (the lint tests read what it shows). */
  lintStatus: LintStatusBar;
}

/** Set by the bundle's first line (scripts/build.mjs banner), so activation time includes loading the code. */
declare const __migrationLabLoadStart: number | undefined;
/** Set by the bundle's last line (the build's footer): loading ends here, before VS Code prepares the context. */
declare const __migrationLabLoadEnd: number | undefined;

export function activate(context: vscode.ExtensionContext): MigrationLabApi {
  const activateStart = performance.now();
  const loadStart = typeof __migrationLabLoadStart === 'number' ? __migrationLabLoadStart : activateStart;
  const loadEnd = typeof __migrationLabLoadEnd === 'number' ? __migrationLabLoadEnd : activateStart;
  const channel = vscode.window.createOutputChannel('Migration Lab', { log: true });
  const logger = createLogger(channel);
  try {
    const theLab = new Lab({
      storageDir: context.globalStorageUri.fsPath,
      composeFile: join(context.extensionPath, 'docker-compose.yml'),
      migrationsDir: join(context.extensionPath, DEMO_SCENARIO.source.folder),
      logger,
      getExternalUrl: async () => context.secrets.get(EXTERNAL_URL_SECRET),
    });
    lab = theLab;
    log = logger;
    // Runs and lesson results outlive the extension host (a window reload, a restart of VS Code).
    const store = new RunStoreFile(join(context.globalStorageUri.fsPath, 'runs.json'), logger);
    runStore = store;
    const theObservation = new Observation(theLab, logger, store.load());
    observation = theObservation;
    const save = () => store.save(theObservation.entries());
    const slowReport = new SlowReport();
    const sources = new WorkspaceSources(theLab, logger, context.extensionPath, DEMO_SCENARIO);
    const diagnostics = new ReplayDiagnostics();
    const migrationsView = new MigrationsView(theLab, sources);
    const migrationsTree = migrationsTreeView(theLab, migrationsView);
    const ownMigration = new OwnMigrationWalkthrough(
      sources,
      theObservation,
      context.workspaceState,
      migrationsTree,
    );
    const databaseView = new DatabaseView(theLab, logger);
    const runsView = new RunsView(theObservation);
    const ctx: CommandContext = {
      ownMigration,
      lab: theLab,
      logger,
      channel,
      extension: context,
      observation: theObservation,
      slowReport,
      sources,
      diagnostics,
    };
    // A repair the lab made on its own (an unfinished cluster set aside, a leftover index dropped).
    theLab.on('notice', (sentence) => {
      void vscode.window.showWarningMessage(sentence, 'Show Log').then((choice) => {
        if (choice === 'Show Log') channel.show(true);
      });
    });
    theLab.on('state', labContextKeys);
    theLab.on('state', (s) => rollbackContextKey(s, theObservation.runs));
    theLab.on('state', (s) => {
      // The panel had the probe on before PostgreSQL stopped: a restart brings it back, as the user left it.
      if (s.database === 'running' && LockMonitorPanel.instance) {
        theObservation
          .resumeProbe()
          .catch((e: unknown) => reportError({ logger, channel }, 'Starting the probe again', e));
      }
    });
    labContextKeys(theLab.state);
    runContextKeys(theObservation.runs);
    setContext('traceRecorded', theObservation.traces.length > 0);
    const lessonKeys = () => {
      // Keys only ever turn on: a lesson once observed stays ticked.
      for (const result of theObservation.lessons) {
        for (const [key, value] of Object.entries(lessonContextKeys(result)))
          if (value) setContext(key, true);
      }
    };
    lessonKeys();
    context.subscriptions.push(
      channel,
      sources,
      diagnostics,
      theObservation,
      ...registerCommands(ctx),
      vscode.window.registerTreeDataProvider('migrationLab.database', databaseView),
      migrationsTree,
      ownMigration,
      vscode.window.registerTreeDataProvider('migrationLab.runs', runsView),
      vscode.workspace.registerTextDocumentContentProvider(
        TRACE_REPORT_SCHEME,
        new TraceReportDocuments(() => theObservation.traces),
      ),
      theObservation.onDidChangeTraces(save),
      theObservation.onDidChangeTraces((traces) => setContext('traceRecorded', traces.length > 0)),
      new LabStatusBar(theLab),
      theObservation.onDidChangeRuns(runContextKeys),
      theObservation.onDidChangeRuns(save),
      theObservation.onDidChangeLessons(save),
      slowReport,
      slowReport.onDidChange((pid) => setContext('slowReportRunning', pid !== undefined)),
      theObservation.onDidChangeLessons(lessonKeys),
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
    // The linter itself (and its WebAssembly parser) is imported on the first .sql file, not here.
    const migrationLint = new MigrationLint({ logger, lab: theLab, extensionPath: context.extensionPath });
    const lintStatus = new LintStatusBar(migrationLint);
    context.subscriptions.push(
      migrationLint,
      ...registerLockLens(migrationLint),
      registerLintQuickFixes(migrationLint, logger),
      lintStatus,
    );
    void openWalkthroughOnce(context);
    void reattachLeftover(theLab, theObservation, logger);
    const end = performance.now();
    const loadMs = loadEnd - loadStart;
    const activateMs = end - activateStart;
    logger.info(
      `Migration Lab activated in ${(loadMs + activateMs).toFixed(1)} ms (loading the bundle ${loadMs.toFixed(1)} ms, activate() ${activateMs.toFixed(1)} ms; ` +
        `VS Code prepared the extension context for ${(activateStart - loadEnd).toFixed(1)} ms in between; VS Code ${vscode.version}, ${vscode.env.uiKind === vscode.UIKind.Web ? 'web' : 'desktop'}).`,
    );
    return {
      migrationsView,
      databaseView,
      sources,
      diagnostics,
      logUri: context.logUri,
      observation: theObservation,
      runsView,
      ownMigration,
      lintStatus,
    };
  } catch (e) {
    reportError({ logger, channel }, 'Activating Migration Lab', e);
    throw e;
  }
}

/**
 * A server an earlier extension host could not stop in time (a window reload, a killed editor) is
 * re-attached: the status bar, the views and the panel show it running, and the log says so.
 */
async function reattachLeftover(theLab: Lab, theObservation: Observation, logger: Logger): Promise<void> {
  try {
    if (!(await theLab.reattach(config.labSettings()))) return;
    // A Lock Monitor restored with the window shows the locks again right away.
    if (LockMonitorPanel.instance) theObservation.ensure();
  } catch (e) {
    logger.warn(`Could not re-attach to the PostgreSQL an earlier session left running: ${describeError(e)}`);
  }
}

/**
 * Stops what the lab started (probe server, monitor, the embedded server), so no process outlives the
 * editor, within VS Code's deactivation budget: PostgreSQL is told to stop first (a fast shutdown takes
 * well under a second), and what is still running when the budget ends is found on the next activation.
 */
export async function deactivate(): Promise<void> {
  const theLab = lab;
  const theObservation = observation;
  observation = undefined;
  lab = undefined;
  if (theObservation) runStore?.save(theObservation.entries());
  let timer: NodeJS.Timeout | undefined;
  const stopped = await Promise.race([
    Promise.allSettled([theObservation?.shutdown(), theLab?.stop()]).then(() => true),
    new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), DEACTIVATE_BUDGET_MS))),
  ]).finally(() => clearTimeout(timer));
  if (!stopped) {
    log?.warn(
      `PostgreSQL was still stopping after ${DEACTIVATE_BUDGET_MS / 1000} s; the next activation re-attaches to it or stops it.`,
    );
  }
}
