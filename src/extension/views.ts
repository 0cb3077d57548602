import * as vscode from 'vscode';
import { columnSummary, formatBytes, indexSummary, type TableInfo } from '../core/catalog';
import { describeError } from '../core/errors';
import type { Lab, LabState } from '../core/lab';
import type { Logger } from '../core/log';
import type { RecordedAttempt, RecordedRun } from '../core/monitor/recorder';
import { DEMO_SCENARIO } from '../core/scenarios/demo';
import { attemptListRow, runListRow } from '../core/monitor/report';
import type { StoredTrace } from '../core/monitor/runStore';
import { traceListRow } from './traceModel';
import { MigrationsRows, type MigrationsItem, type MigrationsViewInput } from './migrationsModel';
import type { Observation } from './observation';
import { shownPath, type WorkspaceSources } from './sources';

type DatabaseItem = {
  label: string;
  description?: string;
  icon: string;
  tooltip?: string;
  contextValue?: string;
  /** For an invalid-index item: the index its inline "drop" command acts on. */
  index?: string;
  /** For a table item: the table Describe Table acts on. */
  table?: string;
  /** Expandable: its children, read when expanded (from the catalog). */
  children?: () => Promise<DatabaseItem[]>;
  /** Expanded at first. */
  expanded?: boolean;
};

/** A table's rows in the Tables section: its columns, then its indexes. */
export function tableChildren(t: TableInfo): DatabaseItem[] {
  const columns: DatabaseItem[] = t.columns.map((c) => ({
    label: c.name,
    description: columnSummary(c),
    icon: 'symbol-field',
    tooltip: `${t.name}.${c.name}: ${columnSummary(c)}`,
    contextValue: 'column',
  }));
  const indexes: DatabaseItem[] = t.indexes.map((i) => ({
    label: i.name,
    description: indexSummary(i),
    icon: i.valid && i.ready ? 'symbol-key' : 'warning',
    tooltip: i.definition,
    contextValue: i.valid ? 'index' : 'invalidIndex',
    index: i.valid ? undefined : i.name,
  }));
  return [...columns, ...indexes];
}

/** The Tables section: each table of the lab schema, expandable to its columns and indexes. */
export function tableItems(tables: readonly TableInfo[]): DatabaseItem[] {
  if (tables.length === 0)
    return [{ label: 'No tables yet', description: 'run "Seed Tables"', icon: 'circle-large-outline' }];
  return tables.map((t) => ({
    label: t.name,
    description: `${t.estimatedRows === null ? '' : `≈ ${t.estimatedRows.toLocaleString('en-US')} rows · `}${formatBytes(t.totalBytes)}`,
    icon: 'table',
    tooltip: `${t.schema}.${t.name}: ${t.columns.length} columns, ${t.indexes.length} indexes`,
    contextValue: 'table',
    table: t.name,
    children: async () => tableChildren(t),
  }));
}

/**
 * The "Database" section: provider, version, port, state, seed, and the lab schema's tables (read from
 * the catalog when expanded). Empty (welcome view) while stopped.
 */
export class DatabaseView implements vscode.TreeDataProvider<DatabaseItem> {
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeTreeData = this.changed.event;

  constructor(
    private readonly lab: Lab,
    private readonly logger?: Logger,
  ) {
    lab.on('state', () => this.changed.fire());
  }

  getTreeItem(item: DatabaseItem): vscode.TreeItem {
    const t = new vscode.TreeItem(
      item.label,
      item.children
        ? item.expanded
          ? vscode.TreeItemCollapsibleState.Expanded
          : vscode.TreeItemCollapsibleState.Collapsed
        : vscode.TreeItemCollapsibleState.None,
    );
    t.description = item.description;
    t.iconPath = new vscode.ThemeIcon(
      item.icon,
      item.icon === 'warning' ? new vscode.ThemeColor('problemsWarningIcon.foreground') : undefined,
    );
    t.tooltip = item.tooltip;
    t.contextValue = item.contextValue;
    return t;
  }

  async getChildren(item?: DatabaseItem): Promise<DatabaseItem[]> {
    if (item) return item.children ? item.children() : [];
    const items = databaseItems(this.lab.state);
    if (this.lab.state.database !== 'running') return items;
    return [
      ...items,
      {
        label: 'Tables',
        description: `schema ${this.lab.schema ?? ''}`,
        icon: 'list-tree',
        contextValue: 'tables',
        children: () => this.tables(),
      },
    ];
  }

  private async tables(): Promise<DatabaseItem[]> {
    try {
      return tableItems(await this.lab.tables());
    } catch (e) {
      this.logger?.warn(`Reading the lab schema's tables: ${describeError(e)}`);
      return [{ label: 'Could not read the tables', description: describeError(e), icon: 'error' }];
    }
  }

  dispose(): void {
    this.changed.dispose();
  }
}

export function databaseItems(s: LabState): DatabaseItem[] {
  if (s.database === 'stopped') return [];
  if (s.database !== 'running')
    return [{ label: s.database === 'starting' ? 'Starting…' : 'Stopping…', icon: 'loading~spin' }];
  const invalid: DatabaseItem[] = s.invalidIndexes.map((i) => ({
    label: `Invalid index ${i.index}`,
    description: `on ${i.table}${i.indisready ? '' : ', not ready'}`,
    icon: 'warning',
    contextValue: 'invalidIndex',
    tooltip:
      `${i.definition}\n\nLeft INVALID by a failed or cancelled CONCURRENTLY build. The planner never uses it; ` +
      (i.indisready
        ? 'it is ready, so every INSERT and UPDATE still maintains it (cost without benefit).'
        : 'it is not ready, so writes skip it, but its name is taken: a retry fails (42P07) and IF NOT EXISTS silently keeps it.') +
      ' Drop it with DROP INDEX CONCURRENTLY, then retry.',
    index: i.index,
  }));
  return [
    ...invalid,
    { label: 'Running', description: `PostgreSQL ${s.serverVersion ?? ''}`, icon: 'pass-filled' },
    { label: 'Provider', description: s.provider, icon: 'server-process' },
    { label: 'Address', description: `${s.host}:${s.port} / ${s.databaseName}`, icon: 'plug' },
    s.seeded
      ? {
          label: 'Seeded',
          description: `${DEMO_SCENARIO.seed.large} ≈ ${(s.largeRows ?? 0).toLocaleString('en-US')} rows`,
          icon: 'database',
        }
      : { label: 'Not seeded', description: 'run "Seed Tables"', icon: 'circle-large-outline' },
  ];
}

export type { MigrationsItem } from './migrationsModel';

/**
 * The "Migrations" section: every migration source of the workspace (its tool, its migrations with
 * `[X]` / `[ ]` against its scratch database), and the bundled demo as one more source, whose
 * migrations run on the lab's own database as before. Redraws only the rows whose look changed (a lab
 * state tick that changes nothing shown redraws nothing): a redraw of the whole tree drops every row's
 * handle until VS Code fetches it again, and an inline action clicked meanwhile got no row.
 */
export class MigrationsView implements vscode.TreeDataProvider<MigrationsItem> {
  private readonly changed = new vscode.EventEmitter<MigrationsItem[] | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly rows = new MigrationsRows();

  constructor(
    private readonly lab: Lab,
    private readonly sources: WorkspaceSources,
  ) {
    this.rows.update(this.input());
    lab.on('state', () => this.update());
    sources.onDidChange(() => this.update());
  }

  private input(): MigrationsViewInput {
    const s = this.lab.state;
    return {
      running: s.database === 'running',
      demoMigrationRunning: s.runningMigration !== undefined,
      demoMigrations: s.migrations,
      entries: this.sources.entries,
      scenario: this.sources.demoScenario,
      demo: this.sources.demo,
      demoPath: this.sources.demoPath,
      shownPath,
    };
  }

  private update(): void {
    const redraw = this.rows.update(this.input());
    if (redraw === 'root') this.changed.fire(undefined);
    else if (redraw.length > 0) this.changed.fire(redraw);
  }

  getTreeItem(item: MigrationsItem): vscode.TreeItem {
    const row = this.rows.row(item);
    if (!row) throw new Error('Not a row of the Migrations view.');
    const { look } = row;
    const t = new vscode.TreeItem(
      look.label,
      look.expanded === undefined
        ? vscode.TreeItemCollapsibleState.None
        : look.expanded
          ? vscode.TreeItemCollapsibleState.Expanded
          : vscode.TreeItemCollapsibleState.Collapsed,
    );
    // Stable across redraws, so VS Code keeps the row (its selection, focus and handle) when its state changes.
    t.id = row.id;
    t.description = look.description;
    t.tooltip = look.tooltip;
    t.contextValue = look.contextValue;
    t.iconPath = new vscode.ThemeIcon(look.icon);
    if (look.opensFile)
      t.command = { command: 'migrationLab.openMigrationFile', title: 'Open File', arguments: [item] };
    return t;
  }

  getChildren(item?: MigrationsItem): MigrationsItem[] {
    return this.rows.children(item);
  }

  dispose(): void {
    this.changed.dispose();
  }
}

/** The status bar item: provider, version, port, state; a click starts PostgreSQL or shows the view. */
export class LabStatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem(
    'migrationLab.status',
    vscode.StatusBarAlignment.Left,
    10,
  );

  constructor(private readonly lab: Lab) {
    this.item.name = 'Migration Lab';
    lab.on('state', () => this.render());
    this.render();
    this.item.show();
  }

  private render(): void {
    const s = this.lab.state;
    switch (s.database) {
      case 'stopped':
        this.item.text = '$(circle-slash) Postgres stopped';
        this.item.tooltip = 'Migration Lab: PostgreSQL is not running. Click to start it.';
        this.item.command = 'migrationLab.startPostgres';
        break;
      case 'starting':
      case 'stopping':
        this.item.text = `$(loading~spin) Postgres ${s.database}…`;
        this.item.tooltip = undefined;
        this.item.command = 'migrationLab.showLog';
        break;
      case 'running':
        this.item.text = `$(database) Postgres ${s.serverVersion ?? ''} :${s.port}`;
        this.item.tooltip = `Migration Lab: PostgreSQL ${s.serverVersion} (${s.provider}) on ${s.host}:${s.port}, database ${s.databaseName}. Click to show migrations.`;
        this.item.command = 'migrationLab.showMigrations';
        break;
    }
    if (s.runningMigration) this.item.text += ` $(sync~spin) ${s.runningMigration.id}`;
  }

  dispose(): void {
    this.item.dispose();
  }
}

/** A row of the Runs view: a recorded entry, one attempt inside a lesson's entry, or a trace. */
export type RunsItem =
  { run: RecordedRun } | { run: RecordedRun; attempt: RecordedAttempt } | { trace: StoredTrace };

/**
 * The "Runs" section: every recorded migration run, lesson and trace, newest first; a click opens its
 * report; a lesson expands to its attempts.
 */
export class RunsView implements vscode.TreeDataProvider<RunsItem> {
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeTreeData = this.changed.event;

  constructor(private readonly observation: Observation) {
    observation.onDidChangeRuns(() => this.changed.fire());
    observation.onDidChangeTraces(() => this.changed.fire());
  }

  getTreeItem(item: RunsItem): vscode.TreeItem {
    if ('trace' in item) {
      const row = traceListRow(item.trace);
      const t = new vscode.TreeItem(row.label);
      t.id = `trace:${item.trace.startedAt}`;
      t.contextValue = 'trace';
      t.description = row.description;
      t.tooltip = row.tooltip;
      t.iconPath = new vscode.ThemeIcon('graph-line');
      t.command = {
        command: 'migrationLab.openTraceReport',
        title: 'Open Trace Report',
        arguments: [item.trace],
      };
      return t;
    }
    const { run } = item;
    const open = { command: 'migrationLab.openRunReport', title: 'Open Run Report', arguments: [run] };
    if ('attempt' in item) {
      const row = attemptListRow(item.attempt);
      const t = new vscode.TreeItem(row.label);
      t.description = row.description;
      t.iconPath = new vscode.ThemeIcon(item.attempt.outcome === 'succeeded' ? 'pass' : 'watch');
      t.command = open;
      return t;
    }
    const row = runListRow(run);
    const lesson = run.kind === 'lesson';
    const t = new vscode.TreeItem(
      row.label,
      lesson && (run.attempts?.length ?? 0) > 1
        ? vscode.TreeItemCollapsibleState.Collapsed
        : vscode.TreeItemCollapsibleState.None,
    );
    t.contextValue = lesson ? 'run.lesson' : 'run';
    t.description = row.description;
    t.tooltip = row.tooltip;
    t.iconPath = new vscode.ThemeIcon(
      run.outcome !== 'succeeded' ? 'error' : lesson ? 'mortar-board' : 'pulse',
    );
    t.command = open;
    return t;
  }

  getChildren(item?: RunsItem): RunsItem[] {
    if (item) {
      if ('trace' in item || 'attempt' in item) return [];
      return (item.run.attempts ?? []).map((attempt) => ({ run: item.run, attempt }));
    }
    const rows: { at: number; item: RunsItem }[] = [
      ...this.observation.runs.map((run) => ({ at: run.startedAt, item: { run } })),
      ...this.observation.traces.map((trace) => ({ at: trace.startedAt, item: { trace } })),
    ];
    // Newest first; a stable sort keeps the order entries were recorded in for equal times.
    return rows
      .reverse()
      .sort((a, b) => b.at - a.at)
      .map((r) => r.item);
  }

  dispose(): void {
    this.changed.dispose();
  }
}
