import { dirname } from 'node:path';
import * as vscode from 'vscode';
import { describeTableMarkdown, formatBytes } from '../core/catalog';
import { describeTarget } from '../core/connectionUrl';
import type { ClusterDir } from '../core/postgres/clusters';
import { CancelledError, LabError, describeError } from '../core/errors';
import { chooseInvalidIndex } from '../core/invalidIndexes';
import { DEMO_SCENARIO, appliedComparedMigration, comparedKind } from '../core/scenarios/demo';
import { LESSON_SCENARIOS } from '../core/scenarios/lessons';
import { PANEL_ACTIONS } from '../shared/protocol';
import { LESSON_ACTIONS } from './lessonActions';
import type { MigrationStatus, RunResult } from '../core/migrations/runner';
import { describeTargetForConfirmation, validateExternalUrl } from '../core/postgres/external';
import { validateRowCount } from '../core/seeder';
import { config, labSchema } from './config';
import { LockMonitorPanel } from './lockMonitorPanel';
import type { CommandContext } from './context';
import { insertDuplicates, runLesson } from './lessons';
import { ActionableError, revealLockMonitor, showLockMonitor } from './guidance';
import {
  addMigrationsFolder,
  checkSqlSelection,
  openMigrationFile,
  replayMigrations,
  resetScratchDatabase,
  rollBackMigrationsTo,
  type SourceCommandContext,
} from './sourceCommands';
import { exportTraceReport, openTraceReport, STATISTICS_URL_SECRET, traceMigration } from './trace';
import { OWN_MIGRATION_WALKTHROUGH } from './ownMigration';
import { toMarkdown, toReportJson } from '../core/monitor/report';
import type { MigrationRunKind, RecordedRun } from '../core/monitor/recorder';

export const EXTERNAL_URL_SECRET = 'migrationLab.postgres.externalUrl';
/** publisher.name from package.json, as walkthrough ids are qualified with it. */
export const WALKTHROUGH_EXTENSION_ID = 'migration-lab.migration-lab';

/** What every command may use; built once in activate(). */
// Declared apart so that lessons.ts and guidance.ts need not import this file (no import circle).
export type { CommandContext } from './context';

interface CommandSpec {
  /** Short title for messages ("Seeding", "Starting PostgreSQL"). */
  title: string;
  /** Offer to start PostgreSQL first instead of failing when it is not running. */
  needsDatabase?: boolean;
  run: (ctx: CommandContext, ...args: unknown[]) => Promise<unknown>;
}

/** Shows one sentence with "Show Log"; the full error (stack, detail) goes to the log. */
export function reportError(
  ctx: Pick<CommandContext, 'logger' | 'channel'>,
  title: string,
  e: unknown,
): void {
  if (e instanceof CancelledError) {
    ctx.logger.info(`${title}: ${e.message}`);
    void vscode.window.showInformationMessage(`${title}: ${e.message}`);
    return;
  }
  const detail = e instanceof LabError && e.detail ? `\n${e.detail}` : '';
  ctx.logger.error(
    `${title} failed: ${e instanceof Error ? (e.stack ?? e.message) : describeError(e)}${detail}`,
  );
  const sentence = e instanceof LabError ? e.message : `${title} failed: ${describeError(e)}`;
  // The way out, when there is one the user can take, is a button on the message.
  const actions = e instanceof ActionableError ? e.actions : [];
  // Not awaited: a command must not hang until the user dismisses its error.
  void vscode.window.showErrorMessage(sentence, ...actions.map((a) => a.title), 'Show Log').then((choice) => {
    if (choice === 'Show Log') ctx.channel.show(true);
    const action = actions.find((a) => a.title === choice);
    if (action) void vscode.commands.executeCommand(action.command, ...(action.args ?? []));
  });
}

/** Starts PostgreSQL with a cancellable progress notification. */
async function startPostgres(ctx: CommandContext): Promise<void> {
  await vscode.window.withProgress(
    {
      location: vscode.ProgressLocation.Notification,
      title: 'Migration Lab: starting PostgreSQL',
      cancellable: true,
    },
    async (progress, token) => {
      const abort = abortOn(token);
      progress.report({ message: `provider ${config.provider}, port ${config.port}` });
      // A major installed on demand from npm reports its steps (lookup, download, unpack) here.
      const onProgress = (message: string) => progress.report({ message });
      ctx.lab.on('progress', onProgress);
      try {
        await ctx.lab.start(config.labSettings(), abort.signal);
      } finally {
        ctx.lab.off('progress', onProgress);
      }
    },
  );
}

async function ensureDatabase(ctx: CommandContext): Promise<boolean> {
  if (ctx.lab.state.database === 'running') return true;
  const choice = await vscode.window.showWarningMessage(
    'PostgreSQL is not running; Migration Lab needs it for this.',
    'Start PostgreSQL',
  );
  if (choice !== 'Start PostgreSQL') return false;
  await startPostgres(ctx);
  return ctx.lab.connection !== undefined;
}

function abortOn(token: vscode.CancellationToken): AbortController {
  const controller = new AbortController();
  token.onCancellationRequested(() => controller.abort());
  return controller;
}

/**
 * Destructive steps on a database the user owns ask once, naming host and database;
 * the answer is remembered for that database.
 */
async function confirmDestructive(ctx: CommandContext, action: string): Promise<boolean> {
  if (ctx.lab.providerKind !== 'external') return true;
  const where = ctx.lab.describeDatabase();
  if (!where) return false;
  const key = `migrationLab.confirmedExternal:${where.host}:${where.port}/${where.database}`;
  if (ctx.extension.globalState.get<boolean>(key)) return true;
  const choice = await vscode.window.showWarningMessage(
    `${action} changes the schema "${labSchema(ctx.lab)}" in ${describeTargetForConfirmation(where)}. Continue?`,
    {
      modal: true,
      detail: 'Migration Lab only touches its own schema; this question is asked once per database.',
    },
    'Continue',
  );
  if (choice !== 'Continue') return false;
  await ctx.extension.globalState.update(key, true);
  return true;
}

async function pickRowCount(): Promise<number | undefined> {
  const preset = config.seedLargeCount;
  const options = [1_000_000, 5_000_000, 10_000_000];
  const items: (vscode.QuickPickItem & { rows?: number })[] = options.map((rows) => ({
    label: `${(rows / 1_000_000).toString()}M rows`,
    description: rows === preset ? 'default (migrationLab.seed.largeCount)' : undefined,
    detail:
      rows === 1_000_000
        ? 'Fast; a plain CREATE INDEX blocks writes for under a second, which is hard to see.'
        : rows === 5_000_000
          ? 'The demo: index builds take seconds, so blocked writes are easy to see.'
          : 'Longer builds; seeding takes a while.',
    rows,
  }));
  if (!options.includes(preset)) {
    items.unshift({
      label: `${preset.toLocaleString('en-US')} rows`,
      description: 'migrationLab.seed.largeCount',
      rows: preset,
    });
  }
  items.push({ label: 'Custom…', description: 'type a row count' });
  const picked = await pickWithDefault(
    items,
    items.find((i) => i.rows === preset),
    {
      title: `Seed Tables: rows in ${DEMO_SCENARIO.seed.large} (${DEMO_SCENARIO.seed.small} always gets 10)`,
      placeHolder: `How many rows should ${DEMO_SCENARIO.seed.large} hold?`,
    },
  );
  if (!picked) return undefined;
  if (picked.rows) return picked.rows;
  const typed = await vscode.window.showInputBox({
    title: 'Seed Tables: custom row count',
    prompt: `Rows in ${DEMO_SCENARIO.seed.large} (1 to 100,000,000)`,
    value: String(preset),
    validateInput: (v) => {
      try {
        validateRowCount(v);
        return undefined;
      } catch (e) {
        return (e as Error).message;
      }
    },
  });
  return typed === undefined ? undefined : validateRowCount(typed);
}

/**
 * A quick pick whose highlighted item (what Enter picks) is the default, wherever it sits in the list;
 * showQuickPick always highlights the first.
 */
function pickWithDefault<T extends vscode.QuickPickItem>(
  items: T[],
  defaultItem: T | undefined,
  options: { title: string; placeHolder: string },
): Promise<T | undefined> {
  return new Promise((resolve) => {
    const pick = vscode.window.createQuickPick<T>();
    pick.title = options.title;
    pick.placeholder = options.placeHolder;
    pick.items = items;
    if (defaultItem) pick.activeItems = [defaultItem];
    let chosen: T | undefined;
    pick.onDidAccept(() => {
      chosen = pick.selectedItems[0] ?? pick.activeItems[0];
      pick.hide();
    });
    pick.onDidHide(() => {
      pick.dispose();
      resolve(chosen);
    });
    pick.show();
  });
}

async function seed(ctx: CommandContext, rowsArg?: unknown): Promise<void> {
  const rows = rowsArg !== undefined ? validateRowCount(rowsArg) : await pickRowCount();
  if (rows === undefined) return;
  if ((await ctx.lab.hasLabData()) && !(await confirmDestructive(ctx, 'Seeding'))) return;
  await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: 'Migration Lab: seeding', cancellable: true },
    async (progress, token) => {
      const abort = abortOn(token);
      let reported = 0;
      const result = await ctx.lab.seed(rows, {
        signal: abort.signal,
        onProgress: (p) => {
          const pct = p.total > 0 ? (p.done / p.total) * 100 : 0;
          const message =
            p.phase === 'vacuum'
              ? 'VACUUM ANALYZE…'
              : `${p.done.toLocaleString('en-US')} / ${p.total.toLocaleString('en-US')} rows of ${DEMO_SCENARIO.seed.large}`;
          progress.report({
            message,
            increment: Math.max(0, pct - reported) * (p.phase === 'done' ? 1 : 0.95),
          });
          reported = pct;
        },
      });
      void vscode.window.showInformationMessage(
        `Seeded: ${DEMO_SCENARIO.seed.small} has ${result.smallRows} rows, ${DEMO_SCENARIO.seed.large} ${result.largeRows.toLocaleString('en-US')} (${(result.durationMs / 1000).toFixed(1)} s).`,
      );
    },
  );
}

/** One migration or lesson at a time: they share the lab's advisory lock and the recorder. */
function refuseWhileBusy(ctx: CommandContext): void {
  if (ctx.lab.state.runningMigration) {
    throw new LabError(
      'A migration is already running; wait for it or cancel it ("Cancel Running Migration").',
    );
  }
  if (ctx.observation.liveLesson) {
    throw new LabError('A lesson is running; wait for it or cancel it from its notification.');
  }
}

/** Runs a migration (up or down) with a cancellable progress notification that names each statement. */
async function runMigration(
  ctx: CommandContext,
  title: string,
  action: (signal: AbortSignal, onStatement: (sql: string) => void) => Promise<RunResult>,
): Promise<RunResult | undefined> {
  refuseWhileBusy(ctx);
  return vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `Migration Lab: ${title}`, cancellable: true },
    async (progress, token) => {
      const abort = abortOn(token);
      const result = await action(abort.signal, (sql) => progress.report({ message: sql }));
      const ms = result.migrations.reduce((sum, m) => sum + m.durationMs, 0);
      const ids = result.migrations.map((m) => m.id).join(', ') || 'nothing to do';
      ctx.logger.info(`${title}: ${ids} (${ms} ms, backend pid ${result.pid}).`);
      void vscode.window.showInformationMessage(
        result.migrations.length === 0
          ? `${title}: already there.`
          : `${title}: ${ids} done in ${(ms / 1000).toFixed(1)} s.`,
      );
      return result;
    },
  );
}

/** The demo's compared migrations are recorded (locks, waiters, probe latency, verdict); others just run. */
function runKindOf(id: string): MigrationRunKind | undefined {
  const kind = comparedKind(id);
  return kind === 'other' ? undefined : kind;
}

async function migrateTo(ctx: CommandContext, id: string): Promise<void> {
  const kind = runKindOf(id);
  const session = kind ? ctx.observation.ensure() : undefined;
  if (!kind || !session) {
    await runMigration(ctx, `migrate to ${id}`, (signal, onStatement) =>
      ctx.lab.migrateTo(id, {
        signal,
        onStatement: (e) => e.durationMs === undefined && onStatement(short(e.sql)),
      }),
    );
    return;
  }
  refuseWhileBusy(ctx);
  const otherId = appliedComparedMigration(ctx.lab.state.migrations.filter((m) => m.id !== id));
  const other = otherId !== undefined ? { id: otherId } : undefined;
  if (other && !ctx.lab.state.migrations.some((m) => m.id === id && m.applied)) {
    throw new ActionableError(
      `${other.id} is applied; the demo's two index migrations are alternatives, so roll it back before running ${id}.`,
      [{ title: 'Roll Back Index Migration', command: 'migrationLab.rollbackIndexMigration' }],
    );
  }
  // In front before the run starts: the seconds the walkthrough is about play out in the panel.
  revealLockMonitor(ctx);
  const outcome = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `Migration Lab: ${id}`, cancellable: true },
    (progress, token) => {
      const abort = abortOn(token);
      return session.observe(id, kind, (options) =>
        ctx.lab.migrateTo(id, {
          ...options,
          signal: abort.signal,
          onStatement: (e) => e.durationMs === undefined && progress.report({ message: short(e.sql) }),
        }),
      );
    },
  );
  if (outcome.error) throw outcome.error;
  void vscode.window.showInformationMessage(`${id}: ${outcome.recorded.verdict}`);
}

function rollbackTo(ctx: CommandContext, id: string | null) {
  return runMigration(ctx, `roll back to ${id ?? 'nothing'}`, (signal, onStatement) =>
    ctx.lab.rollbackTo(id, {
      signal,
      onStatement: (e) => e.durationMs === undefined && onStatement(short(e.sql)),
    }),
  );
}

function short(sql: string): string {
  const one = sql.replace(/\s+/g, ' ').trim();
  return one.length > 80 ? `${one.slice(0, 79)}…` : one;
}

/** The migration applied just before `id` (what rolling `id` back leaves), or null for none. */
export function rollbackTargetFor(migrations: MigrationStatus[], id: string): string | null {
  const applied = migrations.filter((m) => m.applied).map((m) => m.id);
  const index = applied.indexOf(id);
  return index > 0 ? applied[index - 1]! : null;
}

function migrationArg(arg: unknown): string | undefined {
  if (typeof arg === 'string') return arg;
  if (arg && typeof arg === 'object' && typeof (arg as MigrationStatus).id === 'string')
    return (arg as MigrationStatus).id;
  return undefined;
}

/** The table an argument names: a table name, or a Tables-view item ({ table }). */
function tableArg(arg: unknown): string | undefined {
  if (typeof arg === 'string') return arg;
  if (arg && typeof arg === 'object' && typeof (arg as { table?: unknown }).table === 'string')
    return (arg as { table: string }).table;
  return undefined;
}

/** Describe Table: the table's columns and indexes from the catalog, as a Markdown document. */
async function describeTable(ctx: CommandContext, arg: unknown): Promise<void> {
  const tables = await ctx.lab.tables();
  if (tables.length === 0) {
    void vscode.window.showInformationMessage(
      `The schema "${labSchema(ctx.lab)}" has no tables yet; run "Seed Tables" first.`,
    );
    return;
  }
  let name = tableArg(arg);
  if (!name) {
    const picked = await vscode.window.showQuickPick(
      tables.map((t) => ({
        label: t.name,
        description: `${t.columns.length} columns, ${t.indexes.length} indexes, ${formatBytes(t.totalBytes)}`,
      })),
      { title: 'Describe Table', placeHolder: `A table of the schema "${labSchema(ctx.lab)}"` },
    );
    name = picked?.label;
  }
  if (!name) return;
  const table = tables.find((t) => t.name === name);
  if (!table) throw new LabError(`The schema "${labSchema(ctx.lab)}" has no table "${name}".`);
  const doc = await vscode.workspace.openTextDocument({
    language: 'markdown',
    content: describeTableMarkdown(table),
  });
  await vscode.window.showTextDocument(doc, { preview: true });
}

/** Copy Connection String: the running server's postgres:// URL (with its password) to the clipboard. */
async function copyConnectionString(ctx: CommandContext): Promise<void> {
  const target = ctx.lab.connection;
  if (!target) throw new LabError('PostgreSQL is not running; start it first.');
  await vscode.env.clipboard.writeText(ctx.lab.connectionUrl());
  const where = describeTarget(target);
  // The URL carries the password: the log and the message name only where it points.
  ctx.logger.info(`Copied the connection string of ${where} to the clipboard (password not logged).`);
  void vscode.window.showInformationMessage(
    `Copied a postgres:// URL for ${where}, password included, to the clipboard: paste it into psql or another client.`,
  );
}

/**
 * Delete Lab Data: after a modal confirmation naming the folder and its size, stops PostgreSQL and
 * deletes this lab's cluster; then offers (another confirmation, folders and sizes named) to delete
 * clusters earlier runs left under /var/lib/migration-lab.
 */
async function deleteLabData(ctx: CommandContext): Promise<void> {
  refuseWhileBusy(ctx);
  const ours = ctx.lab.labClusters();
  const leftovers = ctx.lab.leftoverClusters().filter((c) => !c.inUse);
  if (ours.length === 0 && leftovers.length === 0) {
    void vscode.window.showInformationMessage('Migration Lab has no cluster on disk to delete.');
    return;
  }
  const size = (dirs: readonly ClusterDir[]) => formatBytes(dirs.reduce((sum, d) => sum + d.bytes, 0));
  if (ours.length > 0) {
    const choice = await vscode.window.showWarningMessage(
      `Delete this lab's PostgreSQL cluster in ${ours.map((d) => d.path).join(' and ')} (${size(ours)})? PostgreSQL stops and every table, the seed and the applied migrations are gone.`,
      { modal: true, detail: ours.map((d) => `${d.path} (${formatBytes(d.bytes)})`).join('\n') },
      'Delete',
    );
    if (choice !== 'Delete') return;
  }
  let extra: ClusterDir[] = [];
  if (leftovers.length > 0) {
    const choice = await vscode.window.showWarningMessage(
      `Also delete ${leftovers.length === 1 ? 'the cluster' : `${leftovers.length} clusters`} earlier runs left in ${dirname(leftovers[0]!.path)} (${size(leftovers)})?`,
      { modal: true, detail: leftovers.map((d) => `${d.path} (${formatBytes(d.bytes)})`).join('\n') },
      'Delete Them Too',
    );
    if (choice === 'Delete Them Too') extra = leftovers;
  }
  const deleted = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: 'Migration Lab: deleting lab data' },
    () => ctx.lab.deleteLabData(extra),
  );
  const kept = [...ours, ...extra].filter((d) => !deleted.some((x) => x.path === d.path));
  void vscode.window.showInformationMessage(
    `Deleted ${deleted.length === 1 ? '1 cluster' : `${deleted.length} clusters`} (${size(deleted)} freed).` +
      (kept.length > 0 ? ` Kept ${kept.map((d) => d.path).join(', ')}: a server runs on it.` : ''),
  );
}

/** The command table: ids match package.json's `contributes.commands`. */
/** Opens one of the extension's walkthroughs (in the editor area, not to the side). */
async function openWalkthrough(walkthrough: string): Promise<void> {
  await vscode.commands.executeCommand(
    'workbench.action.openWalkthrough',
    `${WALKTHROUGH_EXTENSION_ID}#${walkthrough}`,
    false,
  );
}

/** A database URL the user types once and the extension keeps in Secret Storage. */
interface UrlSecret {
  key: string;
  /** What the URL is, for the log (the URL itself never is). */
  name: string;
  title: string;
  prompt: string;
  /** Told the user once it is saved. */
  saved: string;
  /** When given, an empty answer removes the secret, with this log line and message; else it is refused. */
  removed?: { log: string; message: string };
}

/** Asks for the URL (masked, kept open when focus moves) and stores or removes it; Escape changes nothing. */
async function askUrlSecret(ctx: CommandContext, secret: UrlSecret): Promise<void> {
  const { removed } = secret;
  const url = await vscode.window.showInputBox({
    title: secret.title,
    prompt: secret.prompt,
    placeHolder: 'postgres://user:password@host:5432/database',
    password: true,
    ignoreFocusOut: true,
    validateInput: (v) => (removed && v.trim() === '' ? undefined : validateExternalUrl(v)),
  });
  if (url === undefined) return;
  if (removed && url.trim() === '') {
    await ctx.extension.secrets.delete(secret.key);
    ctx.logger.info(removed.log);
    void vscode.window.showInformationMessage(removed.message);
    return;
  }
  await ctx.extension.secrets.store(secret.key, url.trim());
  ctx.logger.info(`${secret.name} saved in Secret Storage.`);
  void vscode.window.showInformationMessage(secret.saved);
}

export const COMMANDS: Record<string, CommandSpec> = {
  'migrationLab.startPostgres': { title: 'Starting PostgreSQL', run: (ctx) => startPostgres(ctx) },
  'migrationLab.stopPostgres': {
    title: 'Stopping PostgreSQL',
    run: async (ctx) => {
      await ctx.lab.stop();
    },
  },
  'migrationLab.seedTables': { title: 'Seeding', needsDatabase: true, run: (ctx, rows) => seed(ctx, rows) },
  'migrationLab.showMigrations': {
    title: 'Showing migrations',
    run: async (ctx) => {
      await vscode.commands.executeCommand('migrationLab.migrations.focus');
      if (ctx.lab.state.database === 'running') await ctx.lab.refresh();
    },
  },
  'migrationLab.migrateTo': {
    title: 'Migrating',
    needsDatabase: true,
    run: async (ctx, arg) => {
      let id = migrationArg(arg);
      if (!id) {
        const picked = await vscode.window.showQuickPick(
          ctx.lab.state.migrations.map((m) => ({
            label: m.id,
            description: m.applied ? 'applied' : undefined,
          })),
          { title: 'Migrate to…', placeHolder: 'Apply migrations up to and including' },
        );
        id = picked?.label;
      }
      if (id) await migrateTo(ctx, id);
    },
  },
  'migrationLab.rollbackTo': {
    title: 'Rolling back',
    needsDatabase: true,
    run: async (ctx, arg) => {
      let target: string | null | undefined = migrationArg(arg);
      if (target === undefined) {
        const applied = ctx.lab.state.migrations.filter((m) => m.applied);
        const picked = await vscode.window.showQuickPick(
          [
            { label: 'zero', description: 'roll back every migration', id: null },
            ...applied.map((m) => ({
              label: m.id,
              description: 'keep this and older',
              id: m.id as string | null,
            })),
          ],
          { title: 'Roll Back to…', placeHolder: 'Keep migrations up to and including' },
        );
        if (!picked) return;
        target = picked.id;
      }
      await rollbackTo(ctx, target);
    },
  },
  'migrationLab.rollbackMigration': {
    title: 'Rolling back',
    needsDatabase: true,
    run: async (ctx, arg) => {
      const id = migrationArg(arg);
      if (id) await rollbackTo(ctx, rollbackTargetFor(ctx.lab.state.migrations, id));
    },
  },
  'migrationLab.runLockingIndexMigration': {
    title: 'Locking index migration',
    needsDatabase: true,
    run: (ctx) => migrateTo(ctx, DEMO_SCENARIO.compared.locking),
  },
  'migrationLab.runConcurrentIndexMigration': {
    title: 'Concurrent index migration',
    needsDatabase: true,
    run: (ctx) => migrateTo(ctx, DEMO_SCENARIO.compared.concurrent),
  },
  'migrationLab.rollbackIndexMigration': {
    title: 'Rolling back the index',
    needsDatabase: true,
    run: (ctx) => rollbackTo(ctx, DEMO_SCENARIO.initial),
  },
  'migrationLab.cancelMigration': {
    title: 'Cancelling the migration',
    run: async (ctx) => {
      if (!(await ctx.lab.cancelMigration()))
        void vscode.window.showInformationMessage('No migration is running.');
    },
  },
  'migrationLab.resetLab': {
    title: 'Resetting the lab',
    needsDatabase: true,
    run: async (ctx) => {
      if (!(await confirmDestructive(ctx, 'Reset Lab'))) return;
      await ctx.lab.reset();
      void vscode.window.showInformationMessage(`Lab reset: schema "${labSchema(ctx.lab)}" dropped.`);
    },
  },
  'migrationLab.setExternalUrl': {
    title: 'Setting the external database URL',
    run: (ctx) =>
      askUrlSecret(ctx, {
        key: EXTERNAL_URL_SECRET,
        name: 'External PostgreSQL URL',
        title: 'External PostgreSQL URL',
        prompt: 'Kept in VS Code Secret Storage, never in settings or logs.',
        saved: 'External PostgreSQL URL saved. Set migrationLab.postgres.provider to "external" to use it.',
      }),
  },
  'migrationLab.setStatisticsUrl': {
    title: 'Setting the statistics database URL for traces',
    run: (ctx) =>
      askUrlSecret(ctx, {
        key: STATISTICS_URL_SECRET,
        name: 'Statistics database URL',
        title: 'Statistics Database URL for Traces',
        prompt:
          'A trace sizes its tables like this database (row estimates from its catalog, read-only). Kept in Secret Storage, never in settings or logs. Leave empty to stop using one.',
        saved: 'Statistics database saved: the next trace sizes its tables from its row estimates.',
        removed: {
          log: 'Statistics database URL removed: traces size tables from migrationLab.trace.rows.',
          message: 'Traces no longer read a statistics database.',
        },
      }),
  },
  'migrationLab.openLockMonitor': {
    title: 'Opening the Lock Monitor',
    needsDatabase: true,
    run: async (ctx) => {
      // Beside the active editor (the walkthrough), not in its place.
      showLockMonitor(ctx, { beside: true });
      await ctx.observation.ensure()?.startProbe();
      // The walkthrough step ticks only once the panel is open and the probes really run.
      if (ctx.observation.session?.probeRunning) {
        await vscode.commands.executeCommand('setContext', 'migrationLab.lockMonitorOpen', true);
      }
    },
  },
  'migrationLab.startProbe': {
    title: 'Starting the probe',
    needsDatabase: true,
    run: async (ctx) => {
      const url = await ctx.observation.ensure()?.startProbe();
      if (url && !LockMonitorPanel.instance) {
        void vscode.window.setStatusBarMessage(
          `Migration Lab: probing ${url}/list_large/ and /insert_large/`,
          5000,
        );
      }
    },
  },
  'migrationLab.stopProbe': {
    title: 'Stopping the probe',
    run: async (ctx) => {
      await ctx.observation.session?.stopProbe();
    },
  },
  'migrationLab.openProbeTerminal': {
    title: 'Opening the probe terminal',
    needsDatabase: true,
    run: async (ctx) => {
      const url = await ctx.observation.ensure()!.startEndpoint();
      // The demo's own loop: one read a second with a timestamp, so a stall is visible in plain text.
      const loop = `while true; do printf '%s ' "$(date +%H:%M:%S)"; curl -s -m 60 -o /dev/null -w '%{http_code} in %{time_total}s\\n' ${url}/list_large/ || echo 'no answer'; sleep 1; done`;
      const terminal = vscode.window.createTerminal({
        name: 'Migration Lab: probe',
        shellPath: '/bin/sh',
        shellArgs: ['-c', `echo 'curl ${url}/list_large/ every second (Ctrl+C to stop)'; ${loop}`],
        iconPath: new vscode.ThemeIcon('radio-tower'),
      });
      terminal.show();
    },
  },
  'migrationLab.compareRuns': {
    title: 'Comparing runs',
    run: async (ctx) => {
      const panel = LockMonitorPanel.instance ?? showLockMonitor(ctx);
      panel.reveal('comparison');
      const kinds = new Set(ctx.observation.runs.filter((r) => r.outcome === 'succeeded').map((r) => r.kind));
      if (kinds.has('locking') && kinds.has('concurrent')) {
        await vscode.commands.executeCommand('setContext', 'migrationLab.comparisonOpened', true);
      } else {
        void vscode.window.showInformationMessage(
          'Run both index migrations (locking and concurrent) to compare them.',
        );
      }
    },
  },
  'migrationLab.exportRunReport': {
    title: 'Exporting the run report',
    run: async (ctx, formatArg, uriArg) => {
      const runs = ctx.observation.runs;
      if (runs.length === 0) {
        void vscode.window.showInformationMessage('No runs to export yet.');
        return;
      }
      const format =
        formatArg === 'json' || formatArg === 'markdown'
          ? formatArg
          : (
              await vscode.window.showQuickPick(
                [
                  {
                    label: 'Markdown',
                    description: 'readable report with the comparison',
                    format: 'markdown' as const,
                  },
                  {
                    label: 'JSON',
                    description: '{ "runs": [...] }, documented in the README',
                    format: 'json' as const,
                  },
                ],
                { title: 'Export Run Report' },
              )
            )?.format;
      if (!format) return;
      const content =
        format === 'json'
          ? `${JSON.stringify(toReportJson(runs, Date.now(), ctx.lab.state.serverVersion), null, 2)}\n`
          : toMarkdown(runs, ctx.lab.state.serverVersion);
      const folder = vscode.workspace.workspaceFolders?.[0]?.uri ?? ctx.extension.globalStorageUri;
      const uri =
        uriArg instanceof vscode.Uri
          ? uriArg
          : await vscode.window.showSaveDialog({
              defaultUri: vscode.Uri.joinPath(
                folder,
                `migration-lab-runs.${format === 'json' ? 'json' : 'md'}`,
              ),
              filters: format === 'json' ? { JSON: ['json'] } : { Markdown: ['md'] },
            });
      if (!uri) return;
      await vscode.workspace.fs.writeFile(uri, Buffer.from(content, 'utf8'));
      ctx.logger.info(`Exported ${runs.length} run(s) to ${uri.fsPath}.`);
      await vscode.window.showTextDocument(uri, { preview: true });
    },
  },
  'migrationLab.openRunReport': {
    title: 'Opening the run report',
    run: async (ctx, arg) => {
      // From the Runs view's inline button the argument is the tree element ({ run }), from a click the run.
      const given = arg && typeof arg === 'object' && 'run' in arg ? (arg as { run: RecordedRun }).run : arg;
      const run = (given as RecordedRun | undefined) ?? ctx.observation.runs.at(-1);
      if (!run) return;
      const doc = await vscode.workspace.openTextDocument({
        language: 'markdown',
        content: toMarkdown([run], ctx.lab.state.serverVersion),
      });
      await vscode.window.showTextDocument(doc, { preview: true });
    },
  },
  'migrationLab.clearRuns': {
    title: 'Clearing runs and traces',
    run: async (ctx) => ctx.observation.clearRuns(),
  },
  'migrationLab.openWalkthrough': {
    title: 'Opening the walkthrough',
    run: () => openWalkthrough('migrationLab.gettingStarted'),
  },
  // One command per lesson scenario, titled by it.
  ...Object.fromEntries(
    LESSON_SCENARIOS.map((lesson): [string, CommandSpec] => [
      PANEL_ACTIONS[LESSON_ACTIONS[lesson.id]],
      { title: lesson.title, needsDatabase: true, run: (ctx) => runLesson(ctx, lesson.id) },
    ]),
  ),
  'migrationLab.startSlowReport': {
    title: 'Starting the slow report',
    needsDatabase: true,
    run: (ctx) => ctx.slowReport.start(ctx),
  },
  'migrationLab.endSlowReport': {
    title: 'Ending the slow report',
    run: (ctx) => ctx.slowReport.end(),
  },
  'migrationLab.insertDuplicateEmails': {
    title: 'Inserting duplicate emails',
    needsDatabase: true,
    run: (ctx) => insertDuplicates(ctx),
  },
  'migrationLab.dropInvalidIndex': {
    title: 'Dropping the invalid index',
    needsDatabase: true,
    run: async (ctx, arg) => {
      const chosen = chooseInvalidIndex(ctx.lab.state.invalidIndexes, arg);
      if ('reason' in chosen) {
        void vscode.window.showInformationMessage(chosen.reason);
        return;
      }
      const name = chosen.index;
      await vscode.window.withProgress(
        {
          location: vscode.ProgressLocation.Notification,
          // It waits for every open transaction on the table (a slow report, say): let the user give up.
          title: `Migration Lab: DROP INDEX CONCURRENTLY ${name}`,
          cancellable: true,
        },
        (_progress, token) => ctx.lab.dropInvalidIndex(name, abortOn(token).signal),
      );
      // Retry the migration whose failure left it, if that is what happened.
      const retry = ctx.lab.state.lastFailedMigration;
      if (retry) await migrateTo(ctx, retry);
      else void vscode.window.showInformationMessage(`Dropped the invalid index ${name}.`);
    },
  },
  'migrationLab.describeTable': {
    title: 'Describing the table',
    needsDatabase: true,
    run: (ctx, arg) => describeTable(ctx, arg),
  },
  'migrationLab.copyConnectionString': {
    title: 'Copying the connection string',
    needsDatabase: true,
    run: (ctx) => copyConnectionString(ctx),
  },
  'migrationLab.deleteLabData': {
    title: 'Deleting the lab data',
    run: (ctx) => deleteLabData(ctx),
  },
  'migrationLab.replayMigrations': {
    title: 'Replaying migrations',
    needsDatabase: true,
    run: (ctx, arg) => replayMigrations(sourceContext(ctx), walkthroughReplayArg(ctx, arg)),
  },
  'migrationLab.rollBackMigrationsTo': {
    title: 'Rolling back migrations',
    needsDatabase: true,
    run: (ctx, arg) => rollBackMigrationsTo(sourceContext(ctx), arg),
  },
  'migrationLab.resetScratchDatabase': {
    title: 'Resetting the scratch database',
    needsDatabase: true,
    run: (ctx, arg) => resetScratchDatabase(sourceContext(ctx), arg),
  },
  'migrationLab.addMigrationsFolder': {
    title: 'Adding a migrations folder',
    run: (ctx, arg) => addMigrationsFolder(sourceContext(ctx), arg),
  },
  'migrationLab.checkSqlSelection': {
    title: 'Checking the SQL',
    needsDatabase: true,
    run: (ctx, arg) => checkSqlSelection(sourceContext(ctx), arg),
  },
  'migrationLab.openMigrationFile': {
    title: 'Opening the migration',
    run: (ctx, arg) => openMigrationFile(sourceContext(ctx), arg),
  },
  'migrationLab.refreshMigrations': {
    title: 'Looking for migration folders',
    run: (ctx) => ctx.sources.refresh(),
  },
  'migrationLab.traceMigration': {
    title: 'Tracing',
    needsDatabase: true,
    run: (ctx, arg) => traceMigration(ctx, arg),
  },
  'migrationLab.openTraceReport': {
    title: 'Opening the trace report',
    run: (ctx, ...args) => openTraceReport(ctx, ...args),
  },
  'migrationLab.exportTraceReport': {
    title: 'Exporting the trace report',
    run: (ctx, ...args) => exportTraceReport(ctx, ...args),
  },
  'migrationLab.openNewestMigration': {
    title: 'Opening the newest migration',
    run: async (ctx) => {
      await ctx.sources.ready;
      const subject = ctx.ownMigration.subject();
      const file = subject?.entry.source?.migrations.find((m) => m.id === subject.newest)?.files[0];
      if (!file) {
        void vscode.window.showInformationMessage(
          'No migrations found; open a folder with migrations first.',
        );
        return;
      }
      await vscode.window.showTextDocument(vscode.Uri.file(file), { preview: false });
    },
  },
  'migrationLab.useDemoMigrations': {
    title: 'Using the demo migrations',
    run: async (ctx) => {
      await ctx.sources.ready;
      const subject = await ctx.ownMigration.useDemo();
      if (subject && !subject.demo) {
        void vscode.window.showInformationMessage(
          `This workspace has migrations (${subject.entry.found.path}); the walkthrough uses them.`,
        );
      }
    },
  },
  'migrationLab.openOwnMigrationWalkthrough': {
    title: 'Opening the walkthrough',
    run: () => openWalkthrough(OWN_MIGRATION_WALKTHROUGH),
  },
  'migrationLab.showLog': {
    title: 'Showing the log',
    run: async (ctx) => ctx.channel.show(),
  },
};

/** The walkthrough's Replay ({ "walkthrough": true } in its command link): the subject's migrations up to the one before its newest (that one is traced). */
function walkthroughReplayArg(ctx: CommandContext, arg: unknown): unknown {
  if (!(arg && typeof arg === 'object' && (arg as { walkthrough?: unknown }).walkthrough === true))
    return arg;
  const subject = ctx.ownMigration.subject();
  if (!subject?.entry.source)
    throw new LabError('No migrations to replay: open a folder with migrations first.');
  const index = subject.beforeNewest
    ? subject.entry.source.migrations.findIndex((m) => m.id === subject.beforeNewest)
    : subject.entry.source.migrations.length - 1;
  return { kind: 'migration', entry: subject.entry, index };
}

function sourceContext(ctx: CommandContext): SourceCommandContext {
  return {
    sources: ctx.sources,
    diagnostics: ctx.diagnostics,
    logger: ctx.logger,
    channel: ctx.channel,
    storageDir: ctx.extension.globalStorageUri.fsPath,
  };
}

/** Registers every command in the table, each behind the error boundary. */
export function registerCommands(ctx: CommandContext): vscode.Disposable[] {
  return Object.entries(COMMANDS).map(([id, spec]) =>
    vscode.commands.registerCommand(id, async (...args: unknown[]) => {
      try {
        if (spec.needsDatabase && !(await ensureDatabase(ctx))) return undefined;
        return await spec.run(ctx, ...args);
      } catch (e) {
        reportError(ctx, spec.title, e);
        return undefined;
      }
    }),
  );
}
