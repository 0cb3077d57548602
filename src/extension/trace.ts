import * as vscode from 'vscode';
import { LabError } from '../core/errors';
import type { StoredTrace } from '../core/monitor/runStore';
import { describeTargetForConfirmation } from '../core/postgres/external';
import { DEMO_SCENARIO } from '../core/scenarios/demo';
import { traceMarkdown } from '../core/trace/report';
import { statisticsTarget } from '../core/trace/statistics';
import { traceMigrations } from '../core/trace/trace';
import type { TraceReport } from '../core/trace/types';
import { config } from './config';
import type { CommandContext } from './context';
import { revealLockMonitor } from './guidance';
import { LockMonitorPanel } from './lockMonitorPanel';
import { DEFAULT_PROBE_WINDOW_MS } from '../core/probe/sampler';
import type { StatementMarkDto, WatchDto } from '../shared/protocol';
import { toLatencyByTableDto } from './panelDto';
import { resolveRow } from './sourceCommands';
import { shownPath, type SourceEntry } from './sources';
import {
  EXTERNAL_OPTIONS,
  externalChoices,
  externalQuestion,
  storedTraceOf,
  traceFileName,
  traceProgressLine,
  withStatementEvent,
  type ExternalChoices,
} from './traceModel';

/** The statistics database a trace sizes its tables from (row estimates only, read-only): a secret, like the external URL. */
export const STATISTICS_URL_SECRET = 'migrationLab.trace.statisticsUrl';

/** Trace reports open as read-only documents of this scheme (nothing to save, nothing left dirty). */
export const TRACE_REPORT_SCHEME = 'migration-lab-trace';

/** The panel's latency chart is redrawn at most this often during a trace. */
const LIVE_LATENCY_MS = 200;

/** The read-only Markdown of each kept trace, at `migration-lab-trace:/<startedAt>/trace-<id>.md`. */
export class TraceReportDocuments implements vscode.TextDocumentContentProvider {
  constructor(private readonly traces: () => readonly StoredTrace[]) {}

  static uri(trace: StoredTrace): vscode.Uri {
    return vscode.Uri.from({
      scheme: TRACE_REPORT_SCHEME,
      path: `/${trace.startedAt}/${traceFileName(trace, 'markdown')}`,
    });
  }

  provideTextDocumentContent(uri: vscode.Uri): string {
    const startedAt = Number(uri.path.split('/')[1]);
    const trace = this.traces().find((t) => t.startedAt === startedAt);
    return trace
      ? traceMarkdown(trace.report)
      : '# Trace report\n\nThis trace is no longer kept (the Runs view was cleared).\n';
  }
}

/** A Migrations-view row as the command receives it, or what a link, a test or a keybinding passes. */
type TraceArg =
  | { kind: 'migration'; entry: SourceEntry; index: number }
  | { kind: 'source'; entry: SourceEntry }
  /** A row of the demo's source (the lab's own migrations): traced on a scratch database of its own. */
  | { kind: 'scenarioMigration'; id: string }
  /** The walkthrough's button: the subject's newest migration. */
  | { walkthrough: true }
  /** A folder (absolute, or a workspace source's) and optionally the migration id. */
  | { source: string; migration?: string };

interface TraceTarget {
  entry: SourceEntry;
  /** Undefined: the tracer's default (the first pending). */
  migration?: string;
}

let tracing = false;

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null;
}

function entryForPath(ctx: CommandContext, path: string): SourceEntry | undefined {
  const demo = ctx.ownMigration.demoEntry();
  if (demo && (path === demo.found.path || path === ctx.sources.demoPath)) return demo;
  return ctx.sources.entries.find((e) => e.found.path === path);
}

async function pickMigration(entry: SourceEntry, title: string): Promise<string | undefined> {
  const source = entry.source!;
  const statuses = new Map(entry.status?.migrations.map((m) => [m.id, m.status]));
  const firstPending = source.migrations.find((m) => statuses.get(m.id) !== 'applied');
  const items = source.migrations.map((m) => ({
    label: m.id,
    description: [statuses.get(m.id), m.up.mode].filter(Boolean).join(' · '),
    id: m.id,
  }));
  // The first pending migration first: Enter traces what the tool would run next.
  const ordered = firstPending
    ? [items.find((i) => i.id === firstPending.id)!, ...items.filter((i) => i.id !== firstPending.id)]
    : items;
  const picked = await vscode.window.showQuickPick(ordered, { title, placeHolder: 'Migration to trace' });
  return picked?.id;
}

async function resolveTarget(ctx: CommandContext, arg: unknown): Promise<TraceTarget | undefined> {
  await ctx.sources.ready;
  if (isObject(arg)) {
    const a = arg as TraceArg;
    if ('walkthrough' in a) {
      const subject = ctx.ownMigration.subject();
      if (!subject) throw new LabError('No migrations to trace: open a folder with migrations first.');
      return { entry: subject.entry, migration: subject.newest };
    }
    if ('kind' in a && (a.kind === 'migration' || a.kind === 'source') && a.entry?.source) {
      // By folder and id against the sources as they are now: a row drawn before a re-read still means its migration.
      const demo = ctx.ownMigration.demoEntry();
      const row = resolveRow(a, [...ctx.sources.entries, ...(demo ? [demo] : [])])!;
      if (row.index !== undefined)
        return { entry: row.entry, migration: row.entry.source?.migrations[row.index]?.id };
      const migration = await pickMigration(
        row.entry,
        `Trace a migration of ${shownPath(row.entry.found.path)}`,
      );
      return migration ? { entry: row.entry, migration } : undefined;
    }
    if ('kind' in a && a.kind === 'scenarioMigration') {
      const demo = ctx.ownMigration.demoEntry();
      return demo ? { entry: demo, migration: a.id } : undefined;
    }
    if ('source' in a && typeof a.source === 'string') {
      const entry = entryForPath(ctx, a.source);
      if (!entry) throw new LabError(`${a.source} is not a migration folder the lab lists.`);
      return { entry, migration: a.migration };
    }
  }
  // From the palette: the folder, then the migration.
  const demo = ctx.ownMigration.demoEntry();
  const entries = [...ctx.sources.entries.filter((e) => e.source), ...(demo ? [demo] : [])];
  const picked =
    entries.length === 1
      ? { entry: entries[0]! }
      : await vscode.window.showQuickPick(
          entries.map((entry) => ({
            label: entry === demo ? DEMO_SCENARIO.title : shownPath(entry.found.path),
            description: entry === demo ? 'the bundled demo' : entry.found.tool,
            entry,
          })),
          { title: 'Trace Migration…', placeHolder: 'Migration folder' },
        );
  if (!picked) return undefined;
  const migration = await pickMigration(picked.entry, 'Trace Migration…');
  return migration ? { entry: picked.entry, migration } : undefined;
}

/**
 * On a database the user owns (§3): one modal question naming it. The default traces and rolls back;
 * "Choose…" offers committing, non-transactional sections and write probes, each off unless picked.
 */
async function askExternal(ctx: CommandContext, migration: string): Promise<ExternalChoices | undefined> {
  const where = ctx.lab.describeDatabase();
  if (!where) throw new LabError('The external database is not connected; start PostgreSQL first.');
  const rollBack = 'Trace and Roll Back';
  const choose = 'Choose What It May Do…';
  const answer = await vscode.window.showWarningMessage(
    externalQuestion(migration, describeTargetForConfirmation(where)),
    {
      modal: true,
      detail:
        'The locks and timings are real; the effects of transactional sections are not kept. Sections outside a transaction cannot be rolled back, so they are refused unless you allow them.',
    },
    rollBack,
    choose,
  );
  if (answer === rollBack) return externalChoices([]);
  if (answer !== choose) return undefined;
  const picked = await vscode.window.showQuickPick(
    EXTERNAL_OPTIONS.map((o) => ({ label: o.label, detail: o.detail, key: o.key, picked: false })),
    {
      canPickMany: true,
      title: `What may the trace do on ${describeTargetForConfirmation(where)}?`,
      placeHolder: 'Nothing checked: roll back, refuse sections outside a transaction, probes only read',
    },
  );
  if (!picked) return undefined;
  const choices = externalChoices(picked.map((p) => p.key));
  ctx.logger.info(
    `Trace on ${describeTargetForConfirmation(where)}: commit ${choices.commit ? 'yes' : 'no (roll back)'}, ` +
      `sections outside a transaction ${choices.allowNonTransactional ? 'allowed' : 'refused'}, ` +
      `write probes ${choices.allowWrites ? 'allowed' : 'off'}.`,
  );
  return choices;
}

/** Trace Migration…: the migration on its source's scratch database, live in the Lock Monitor, then its report. */
export async function traceMigration(ctx: CommandContext, arg?: unknown): Promise<StoredTrace | undefined> {
  const target = await resolveTarget(ctx, arg);
  if (!target) return undefined;
  const { entry } = target;
  if (!entry.source)
    throw new LabError(`${shownPath(entry.found.path)} could not be read: ${entry.loadError ?? 'unknown'}`);
  if (tracing)
    throw new LabError('A trace is already running; wait for it or cancel it from its notification.');
  if (ctx.lab.state.runningMigration)
    throw new LabError('A migration is running; wait for it or cancel it ("Cancel Running Migration").');
  if (ctx.observation.liveLesson) throw new LabError('A lesson is running; wait for it or cancel it.');
  const server = ctx.lab.connection;
  if (!server) throw new LabError('PostgreSQL is not running; start it to trace a migration.');
  const label = target.migration ?? `the first pending migration of ${shownPath(entry.found.path)}`;
  const external = ctx.lab.providerKind === 'external' ? await askExternal(ctx, label) : undefined;
  if (ctx.lab.providerKind === 'external' && !external) return undefined;
  // Nothing is filled on an external database, so its statistics would size nothing.
  const statisticsUrl = external ? undefined : await ctx.extension.secrets.get(STATISTICS_URL_SECRET);
  const statistics = statisticsUrl ? statisticsTarget(statisticsUrl) : undefined;

  tracing = true;
  const startedAt = Date.now();
  const panel = revealLockMonitor(ctx);
  // The panel draws the trace's tables (named as the probes report them) and its statements.
  let watch: WatchDto = { title: `Trace of ${label}`, tables: [] };
  let marks: StatementMarkDto[] = [];
  panel.startFeed(watch);
  let report: TraceReport;
  try {
    report = await vscode.window.withProgress(
      {
        location: vscode.ProgressLocation.Notification,
        title: `Migration Lab: tracing ${label}`,
        cancellable: true,
      },
      async (progress, token) => {
        const abort = new AbortController();
        const sub = token.onCancellationRequested(() => abort.abort());
        let reached = 0;
        let phase = '';
        let latencyAt = 0;
        try {
          return await traceMigrations({
            target: server,
            source: entry.source!,
            migration: target.migration,
            rows: config.traceRows,
            rowsPerTable: config.traceRowsPerTable,
            ratePerSecond: config.traceRate,
            stalledThresholdMs: config.stalledThresholdMs,
            // As a replay of the folder would: roles its GRANTs need, created NOLOGIN on the scratch server.
            roles: config.replayRoles,
            longTransactionSeconds: config.traceLongTransactionSeconds || undefined,
            external,
            statistics,
            logger: ctx.logger,
            signal: abort.signal,
            onProgress: (p) => {
              const line = traceProgressLine(p);
              progress.report({ message: line.message, increment: Math.max(0, line.percent - reached) });
              reached = Math.max(reached, line.percent);
              if (p.phase !== phase) ctx.logger.info(`Trace of ${label}: ${line.message}`);
              phase = p.phase;
            },
            live: {
              onLocks: (snapshot) => LockMonitorPanel.instance?.feedLocks(snapshot),
              onLatency: (byTable) => {
                const now = Date.now();
                if (now - latencyAt < LIVE_LATENCY_MS) return;
                latencyAt = now;
                const panelNow = LockMonitorPanel.instance;
                if (!panelNow) return;
                const tables = Object.keys(byTable);
                if (tables.join('\n') !== watch.tables.map((t) => t.table).join('\n')) {
                  watch = {
                    title: watch.title,
                    tables: tables.map((table) => ({
                      table,
                      read: 'a primary-key lookup of an existing row',
                      write: 'an insert of a synthetic row, or an update where inserts are impossible',
                    })),
                  };
                  panelNow.startFeed(watch);
                }
                panelNow.feedLatency(
                  toLatencyByTableDto(byTable, {
                    at: now,
                    windowMs: DEFAULT_PROBE_WINDOW_MS,
                    stalledThresholdMs: config.stalledThresholdMs,
                    running: true,
                  }),
                );
              },
              onStatement: (s) => {
                marks = withStatementEvent(marks, s);
                LockMonitorPanel.instance?.setStatements(marks);
              },
            },
          });
        } finally {
          sub.dispose();
        }
      },
    );
  } finally {
    tracing = false;
    LockMonitorPanel.instance?.endFeed();
    // The trace leaves the scratch database reset: the view shows what is there now.
    if (ctx.sources.entries.includes(entry)) void ctx.sources.refreshStatus(entry);
  }
  const trace = storedTraceOf(report, entry.found.path, startedAt, Date.now());
  ctx.observation.addTrace(trace);
  ctx.logger.info(
    `Trace of ${trace.migrations.join(', ')} (${shownPath(entry.found.path)}): ${trace.verdict}`,
  );
  await openTraceReport(ctx, trace);
  const markdown = 'Export as Markdown…';
  const json = 'Export as JSON…';
  // Not awaited: the command ends when the report is open, not when the message is dismissed.
  void vscode.window
    .showInformationMessage(`Traced ${trace.migration}: ${trace.verdict}`, markdown, json)
    .then((choice) => {
      if (choice === markdown || choice === json)
        void vscode.commands.executeCommand(
          'migrationLab.exportTraceReport',
          choice === json ? 'json' : 'markdown',
          trace,
        );
    });
  return trace;
}

/** The trace an argument names: a kept trace, a Runs-view row ({ trace }), or the newest. */
function traceArg(ctx: CommandContext, args: readonly unknown[]): StoredTrace | undefined {
  for (const a of args) {
    if (!isObject(a)) continue;
    const t = (a.kind === 'trace' ? a : a.trace) as StoredTrace | undefined;
    if (t && t.kind === 'trace') return ctx.observation.traces.find((k) => k.startedAt === t.startedAt) ?? t;
  }
  return ctx.observation.traces.at(-1);
}

/** Open Trace Report: the Markdown report as a read-only document, in the Markdown preview. */
export async function openTraceReport(ctx: CommandContext, ...args: unknown[]): Promise<void> {
  const trace = traceArg(ctx, args);
  if (!trace) {
    void vscode.window.showInformationMessage(
      'No trace yet: trace a migration from the Migrations view first.',
    );
    return;
  }
  const uri = TraceReportDocuments.uri(trace);
  try {
    await vscode.commands.executeCommand('markdown.showPreview', uri);
  } catch (e) {
    // Without the built-in Markdown extension the text itself is the report.
    ctx.logger.warn(`The Markdown preview is not available (${String(e)}); opening the report as text.`);
    await vscode.window.showTextDocument(uri, { preview: true });
  }
  ctx.ownMigration.reportOpened(trace.sourcePath);
}

/** Export Trace Report…: Markdown (for the pull request) or JSON (the `trace --json` shape), via a save dialog. */
export async function exportTraceReport(ctx: CommandContext, ...args: unknown[]): Promise<void> {
  const trace = traceArg(ctx, args);
  if (!trace) {
    void vscode.window.showInformationMessage('No trace to export yet.');
    return;
  }
  let format = args.find((a): a is 'markdown' | 'json' => a === 'markdown' || a === 'json');
  if (!format) {
    format = (
      await vscode.window.showQuickPick(
        [
          { label: 'Markdown', description: 'the report, for a pull request', format: 'markdown' as const },
          { label: 'JSON', description: 'as `trace --json` prints it', format: 'json' as const },
        ],
        { title: `Export the trace of ${trace.migration}` },
      )
    )?.format;
  }
  if (!format) return;
  const folder = vscode.workspace.workspaceFolders?.[0]?.uri ?? ctx.extension.globalStorageUri;
  const uri =
    args.find((a): a is vscode.Uri => a instanceof vscode.Uri) ??
    (await vscode.window.showSaveDialog({
      defaultUri: vscode.Uri.joinPath(folder, traceFileName(trace, format)),
      filters: format === 'json' ? { JSON: ['json'] } : { Markdown: ['md'] },
      title: format === 'json' ? 'Export as JSON' : 'Export as Markdown',
    }));
  if (!uri) return;
  const content =
    format === 'json' ? `${JSON.stringify(trace.report, null, 2)}\n` : traceMarkdown(trace.report);
  await vscode.workspace.fs.writeFile(uri, Buffer.from(content, 'utf8'));
  ctx.logger.info(
    `Exported the trace of ${trace.migration} as ${format === 'json' ? 'JSON' : 'Markdown'} to ${uri.fsPath}.`,
  );
  void vscode.window.showInformationMessage(`Exported the trace of ${trace.migration} to ${uri.fsPath}.`);
}
