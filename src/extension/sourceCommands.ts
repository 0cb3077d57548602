import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { LabError } from '../core/errors';
import type { Logger } from '../core/log';
import { detectFolder, loadSource } from '../core/migrations/detect';
import { TOOL_IDS, TOOL_NAMES, type MigrationSource, type ToolId } from '../core/migrations/model';
import {
  migrationIndex,
  replay,
  replayDoneSentence,
  resetScratch,
  rollBack,
  type ReplayEnvironment,
  type ReplayReport,
} from '../core/migrations/replay';
import { currentRow, type CurrentRow } from './migrationsModel';
import { shownPath, type ReplayDiagnostics, type SourceEntry, type WorkspaceSources } from './sources';

/** What the source commands use (a part of the command context). */
export interface SourceCommandContext {
  sources: WorkspaceSources;
  diagnostics: ReplayDiagnostics;
  logger: Logger;
  channel: vscode.LogOutputChannel;
  /** Where Check SQL Selection writes its one-migration folder. */
  storageDir: string;
}

/**
 * The Migrations-view row a command was given (a source, or one of its migrations), resolved by its
 * folder and migration id against the sources as they are now: a row drawn before its folder was read
 * again still means the migration it showed, never the one now at its position, and never a prompt.
 */
export function resolveRow(arg: unknown, entries: readonly SourceEntry[]): CurrentRow | undefined {
  const row = currentRow(arg, entries);
  if (row?.missing !== undefined)
    throw new LabError(
      `${row.missing} is no longer in ${shownPath(row.entry.found.path)}; the Migrations view now lists what is there.`,
    );
  return row;
}

function loaded(entry: SourceEntry): MigrationSource {
  if (!entry.source)
    throw new LabError(`${shownPath(entry.found.path)} could not be read: ${entry.loadError ?? 'unknown'}`);
  return entry.source;
}

async function pickSource(ctx: SourceCommandContext, title: string): Promise<SourceEntry | undefined> {
  await ctx.sources.ready;
  const entries = ctx.sources.entries.filter((e) => e.source);
  if (entries.length === 0) {
    void vscode.window.showInformationMessage(
      'No migration folders found in this workspace; add one with "Add Migrations Folder…".',
    );
    return undefined;
  }
  if (entries.length === 1) return entries[0];
  const picked = await vscode.window.showQuickPick(
    entries.map((entry) => ({
      label: shownPath(entry.found.path),
      description: TOOL_NAMES[entry.found.tool],
      entry,
    })),
    { title, placeHolder: 'Migration folder' },
  );
  return picked?.entry;
}

/** Runs a replay step with progress "migration n of N" and a Cancel button. */
async function withReplayProgress(
  ctx: SourceCommandContext,
  title: string,
  work: (env: (roles?: readonly string[]) => ReplayEnvironment) => Promise<ReplayReport>,
): Promise<ReplayReport> {
  return vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `Migration Lab: ${title}`, cancellable: true },
    async (progress, token) => {
      const controller = new AbortController();
      const sub = token.onCancellationRequested(() => controller.abort());
      let last = 0;
      try {
        return await work((roles) =>
          ctx.sources.environment(
            controller.signal,
            (p) => {
              const done = ((p.index - 1) / p.total) * 100;
              progress.report({
                message: `${p.action === 'apply' ? 'migration' : 'rolling back'} ${p.index} of ${p.total}: ${p.migration}`,
                increment: done - last,
              });
              last = done;
            },
            roles,
          ),
        );
      } finally {
        sub.dispose();
      }
    },
  );
}

/**
 * Shows a report: the failure at its statement (and a missing role's "Create role and retry"), or one
 * line saying what was done. Returns the report of the retry when one ran.
 */
async function settle(
  ctx: SourceCommandContext,
  entry: SourceEntry,
  what: string,
  report: ReplayReport,
  retry: (roles: readonly string[]) => Promise<ReplayReport>,
): Promise<ReplayReport> {
  ctx.sources.setStatus(entry, report);
  if (!report.failure) {
    ctx.diagnostics.clear(entry.found.path);
    void vscode.window.showInformationMessage(replayDoneSentence(what, report));
    return report;
  }
  const { failure } = report;
  const on = report.serverVersion ? ` (PostgreSQL ${report.serverVersion})` : '';
  ctx.logger.error(`${what}${on}: ${failure.sentence} Left behind: ${failure.leftBehind}`);
  await ctx.diagnostics.show(entry.found.path, failure, entry.source);
  const actions = failure.missingRole ? ['Create role and retry', 'Show Log'] : ['Show Log'];
  const choice = await vscode.window.showErrorMessage(failure.sentence, ...actions);
  if (choice === 'Show Log') ctx.channel.show(true);
  if (choice === 'Create role and retry' && failure.missingRole) {
    ctx.logger.info(`${what}: creating role ${failure.missingRole} (NOLOGIN) and retrying.`);
    return settle(ctx, entry, what, await retry([failure.missingRole]), retry);
  }
  return report;
}

/** Replay Migrations…: up to a migration (the clicked row, or picked), onto the source's scratch database. */
export async function replayMigrations(ctx: SourceCommandContext, arg?: unknown): Promise<void> {
  const row = resolveRow(arg, ctx.sources.entries);
  const entry = row?.entry ?? (await pickSource(ctx, 'Replay Migrations…'));
  if (!entry) return;
  const source = loaded(entry);
  let to: string | undefined;
  if (row?.index !== undefined) to = source.migrations[row.index]?.id;
  else if (typeof arg === 'string') to = arg;
  else if (!row) {
    const statuses = entry.status?.migrations;
    const picked = await vscode.window.showQuickPick(
      [
        { label: 'All migrations', id: undefined as string | undefined },
        ...source.migrations.map((m, k) => ({
          label: m.id,
          description: statuses?.[k]?.status === 'applied' ? 'applied' : undefined,
          id: m.id as string | undefined,
        })),
      ],
      { title: 'Replay Migrations…', placeHolder: 'Apply migrations up to and including' },
    );
    if (!picked) return;
    to = picked.id;
  }
  if (to !== undefined) migrationIndex(source, to); // an unknown id is one sentence, before any work
  const what = `Replay ${shownPath(entry.found.path)}${to ? ` up to ${to}` : ''}`;
  const run = (roles: readonly string[] = []) =>
    withReplayProgress(ctx, what, (env) => replay(source, env(roles), to === undefined ? {} : { to }));
  await settle(ctx, entry, what, await run(), run);
}

/**
 * Roll Back Migrations To…: from a row, undoes that migration and every later one (as the demo's
 * Roll back does); from the palette, keeps the migrations up to the one picked.
 */
export async function rollBackMigrationsTo(ctx: SourceCommandContext, arg?: unknown): Promise<void> {
  const row = resolveRow(arg, ctx.sources.entries);
  const entry = row?.entry ?? (await pickSource(ctx, 'Roll Back Migrations To…'));
  if (!entry) return;
  const source = loaded(entry);
  let keep: string | undefined;
  if (row?.index !== undefined) keep = row.index > 0 ? source.migrations[row.index - 1]!.id : undefined;
  else if (typeof arg === 'string') keep = arg;
  else {
    const statuses = entry.status?.migrations;
    const picked = await vscode.window.showQuickPick(
      [
        { label: 'nothing', description: 'roll back every migration', id: undefined as string | undefined },
        ...source.migrations
          .map((m, k) => ({ m, k }))
          .filter(({ k }) => statuses === undefined || statuses[k]?.status === 'applied')
          .map(({ m }) => ({
            label: m.id,
            description: 'keep this and older',
            id: m.id as string | undefined,
          })),
      ],
      { title: 'Roll Back Migrations To…', placeHolder: 'Keep migrations up to and including' },
    );
    if (!picked) return;
    keep = picked.id;
  }
  const what = `Roll back ${shownPath(entry.found.path)} to ${keep ?? 'nothing'}`;
  const run = (roles: readonly string[] = []) =>
    withReplayProgress(ctx, what, (env) => rollBack(source, env(roles), keep));
  await settle(ctx, entry, what, await run(), run);
}

/** Reset Scratch Database: drops and recreates the source's scratch database. */
export async function resetScratchDatabase(ctx: SourceCommandContext, arg?: unknown): Promise<void> {
  // The folder's: a migration row whose file was deleted since still names its folder.
  const entry =
    currentRow(arg, ctx.sources.entries)?.entry ?? (await pickSource(ctx, 'Reset Scratch Database'));
  if (!entry) return;
  const source = loaded(entry);
  const report = await withReplayProgress(ctx, `Resetting ${shownPath(entry.found.path)}`, (env) =>
    resetScratch(source, env()),
  );
  ctx.sources.setStatus(entry, report);
  ctx.diagnostics.clear(entry.found.path);
  void vscode.window.showInformationMessage(`Reset ${report.database}: nothing applied.`);
}

/** Opens a migration's (first) file. */
export async function openMigrationFile(ctx: SourceCommandContext, arg: unknown): Promise<void> {
  const row = resolveRow(arg, ctx.sources.entries);
  const m = row?.index === undefined ? undefined : row.entry.source?.migrations[row.index];
  if (!m?.files[0]) return;
  await vscode.window.showTextDocument(vscode.Uri.file(m.files[0]), { preview: true });
}

/** Add Migrations Folder…: pins a folder in `migrationLab.migrations.paths`, asking its tool when unknown. */
export async function addMigrationsFolder(ctx: SourceCommandContext, arg?: unknown): Promise<void> {
  let dir: string | undefined =
    arg instanceof vscode.Uri ? arg.fsPath : typeof arg === 'string' ? arg : undefined;
  if (!dir) {
    const picked = await vscode.window.showOpenDialog({
      canSelectFolders: true,
      canSelectFiles: false,
      canSelectMany: false,
      title: 'Add Migrations Folder',
      openLabel: 'Add',
      defaultUri: vscode.workspace.workspaceFolders?.[0]?.uri,
    });
    dir = picked?.[0]?.fsPath;
  }
  if (!dir) return;
  const detected = await detectFolder(dir);
  let tool: ToolId | undefined;
  if (!detected) {
    const picked = await vscode.window.showQuickPick(
      TOOL_IDS.map((t) => ({ label: TOOL_NAMES[t], tool: t })),
      { title: `Which tool's migrations are in ${shownPath(dir)}?`, placeHolder: 'Migration tool' },
    );
    if (!picked) return;
    tool = picked.tool;
  }
  await ctx.sources.addFolder(dir, tool);
  void vscode.window.showInformationMessage(
    `Added ${shownPath(dir)} (${TOOL_NAMES[tool ?? detected!.tool]}) to the Migrations view.`,
  );
}

/**
 * Check SQL Selection: the selection (or, when nothing is selected, the clipboard) as one migration,
 * transactional or not as asked, replayed onto a fresh scratch database of its own.
 */
export async function checkSqlSelection(ctx: SourceCommandContext, arg?: unknown): Promise<void> {
  const editor = vscode.window.activeTextEditor;
  const selection = editor && !editor.selection.isEmpty ? editor.selection : undefined;
  const sql = selection ? editor!.document.getText(selection) : await vscode.env.clipboard.readText();
  if (!sql.trim()) {
    void vscode.window.showInformationMessage('Select some SQL (or copy it) to check it as a migration.');
    return;
  }
  const modes = [
    { label: 'In a transaction', description: 'as most tools run a migration', transactional: true },
    {
      label: 'Not in a transaction',
      description: 'statement by statement (CREATE INDEX CONCURRENTLY)',
      transactional: false,
    },
  ];
  // A keybinding (or a test) may say which: "transaction" or "no-transaction".
  const mode =
    arg === 'transaction'
      ? modes[0]
      : arg === 'no-transaction'
        ? modes[1]
        : await vscode.window.showQuickPick(modes, {
            title: `Check SQL ${selection ? 'Selection' : 'from the Clipboard'}`,
            placeHolder: 'Run it…',
          });
  if (!mode) return;
  // Written as a plain SQL migration (run as psql runs a file): wrapped in BEGIN; … COMMIT; for one
  // transaction, statement by statement otherwise. Line 2 of the file is the SQL's line 1 either way.
  const dir = join(ctx.storageDir, 'check-sql');
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const body = /;\s*$/.test(sql) ? sql : `${sql};`;
  await writeFile(
    join(dir, '0001_checked_sql.sql'),
    mode.transactional ? `BEGIN;\n${body}\nCOMMIT;\n` : `-- checked statement by statement\n${body}\n`,
  );
  const source = await loadSource(dir, 'plain');
  const report = await withReplayProgress(ctx, 'Checking the SQL', (env) =>
    replay(source, env(), { reset: true }),
  );
  ctx.diagnostics.clear(dir);
  if (!report.failure) {
    const m = report.migrations[0];
    void vscode.window.showInformationMessage(
      `The SQL ran ${mode.transactional ? 'in a transaction' : 'statement by statement'} on PostgreSQL ${report.serverVersion ?? '(version unknown)'} in ${m?.durationMs ?? 0} ms (${m?.statements ?? 0} statements).`,
    );
    return;
  }
  if (selection && editor) {
    await ctx.diagnostics.show(dir, report.failure, undefined, {
      uri: editor.document.uri,
      lineShift: selection.start.line - 1,
      columnShift: selection.start.character,
      columnShiftLine: 2,
    });
  }
  const sentence = report.failure.error.message + (report.failure.wayOut ? ` ${report.failure.wayOut}` : '');
  ctx.logger.error(
    `Check SQL on PostgreSQL ${report.serverVersion ?? '(version unknown)'}: ${report.failure.sentence}`,
  );
  void vscode.window.showErrorMessage(`The SQL fails: ${sentence}`, 'Show Log').then((c) => {
    if (c === 'Show Log') ctx.channel.show(true);
  });
}
