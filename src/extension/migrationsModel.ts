/**
 * The Migrations view's rows as plain data (no `vscode`, unit-tested under plain node): what each row
 * shows, its stable id, which rows a state change redraws, and a clicked row resolved against the
 * sources as they are now.
 */
import { TOOL_NAMES, type MigrationSource, type ToolId } from '../core/migrations/model';
import type { MigrationReplayStatus } from '../core/migrations/replay';
import type { MigrationStatus } from '../core/migrations/runner';
import type { DemoScenario } from '../core/scenarios/demo';
import type { SourceEntry } from './sources';

/** A codicon per tool, so sources of different tools are told apart at a glance. */
export const TOOL_ICONS: Record<ToolId, string> = {
  dbmate: 'rocket',
  'golang-migrate': 'symbol-namespace',
  goose: 'feedback',
  flyway: 'symbol-event',
  liquibase: 'symbol-misc',
  sqitch: 'git-commit',
  prisma: 'symbol-structure',
  drizzle: 'symbol-color',
  atlas: 'globe',
  diesel: 'flame',
  sqlx: 'symbol-interface',
  'node-pg-migrate': 'symbol-method',
  plain: 'file-code',
};

/** A row of the Migrations view: the element VS Code holds and hands to the row's commands. */
export type MigrationsItem =
  /** A bundled scenario's source (the demo), run on the lab's own database. */
  | { kind: 'scenario'; scenario: DemoScenario }
  /** A migration of the demo: the lab's own runner state (spread, so the demo's commands read `.id`). */
  | ({ kind: 'scenarioMigration' } & MigrationStatus)
  | { kind: 'source'; entry: SourceEntry }
  | {
      kind: 'migration';
      entry: SourceEntry;
      /** Position in the source. */
      index: number;
      id: string;
      status?: MigrationReplayStatus;
    }
  | { kind: 'note'; label: string; description?: string; icon: string; tooltip?: string };

/** What the view reads to draw: the lab's state and the workspace's sources. */
export interface MigrationsViewInput {
  /** PostgreSQL runs, so rows carry [X]/[ ] state. */
  running: boolean;
  /** One of the demo's migrations runs right now (its rows spin). */
  demoMigrationRunning: boolean;
  /** The demo's migrations as the lab's runner read them. */
  demoMigrations: readonly MigrationStatus[];
  entries: readonly SourceEntry[];
  scenario: DemoScenario;
  /** The demo's files (listed while PostgreSQL is stopped), and their folder. */
  demo?: MigrationSource;
  demoPath: string;
  /** A folder as the user reads it (relative to its workspace folder). */
  shownPath: (path: string) => string;
}

/** Everything a row draws: a redraw is needed exactly when one of these changes. */
export interface RowLook {
  label: string;
  description?: string;
  tooltip?: string;
  contextValue?: string;
  icon: string;
  /** Undefined: a leaf; true: expanded at first. */
  expanded?: boolean;
  /** A click opens the migration's first file. */
  opensFile?: boolean;
}

export interface ShownRow {
  /** Stable across redraws: the source's path (or the scenario) and the migration id. */
  id: string;
  look: RowLook;
  item: MigrationsItem;
}

/** The whole tree: every row by id, and each parent's children ids in order ('' is the root). */
export interface ShownTree {
  rows: ReadonlyMap<string, ShownRow>;
  children: ReadonlyMap<string, readonly string[]>;
}

export const ROOT = '';

/** The row id of a migration: its source's folder and its id, unique across the view. */
export function migrationRowId(sourcePath: string, migrationId: string): string {
  return `${sourcePath}#${migrationId}`;
}

function scenarioRow(input: MigrationsViewInput): ShownRow {
  const { scenario, running, demo, demoPath } = input;
  const count = `${demo?.migrations.length ?? scenario.migrations.length} migrations`;
  return {
    id: `scenario:${scenario.id}`,
    item: { kind: 'scenario', scenario },
    look: {
      label: scenario.title,
      expanded: true,
      contextValue: 'scenarioSource',
      icon: TOOL_ICONS[scenario.source.tool],
      description: `${count} · ${running ? "the lab's database" : 'PostgreSQL is not running: no state'}`,
      tooltip: [
        `${scenario.title}: bundled ${TOOL_NAMES[scenario.source.tool]} migrations, run on the lab's own database.`,
        demoPath,
        `Watches ${scenario.tables.join(', ')}; compares ${scenario.compared.locking} with ${scenario.compared.concurrent}.`,
      ].join('\n'),
    },
  };
}

function scenarioChildren(input: MigrationsViewInput): ShownRow[] {
  const { demoPath } = input;
  if (!input.running)
    return (input.demo?.migrations ?? []).map((m) => {
      const look = {
        label: m.id,
        description: 'no state: PostgreSQL is not running',
        icon: 'circle-large-outline',
        tooltip: m.files.join('\n'),
      };
      // Not the migration's row id: a note is another kind of element than the row shown while running.
      return { id: `note:${migrationRowId(demoPath, m.id)}`, item: { kind: 'note', ...look }, look };
    });
  return input.demoMigrations.map((m) => {
    let description: string | undefined;
    if (m.applied && m.appliedAt)
      description = `applied ${m.appliedAt.toLocaleTimeString()}${m.durationMs !== undefined ? ` in ${m.durationMs} ms` : ''}`;
    if (m.fileMissing) description = 'applied, file missing';
    return {
      id: migrationRowId(demoPath, m.id),
      item: { kind: 'scenarioMigration', ...m },
      look: {
        label: `${m.applied ? '[X]' : '[ ]'} ${m.id}`,
        contextValue: m.applied ? 'migration.applied' : 'migration.pending',
        icon: input.demoMigrationRunning ? 'loading~spin' : m.applied ? 'pass' : 'circle-large-outline',
        description,
        tooltip: `${m.id}: ${m.applied ? 'applied' : 'not applied'}`,
      },
    };
  });
}

function sourceRow(input: MigrationsViewInput, entry: SourceEntry): ShownRow {
  const { found, source, loadError, status, statusError } = entry;
  const count = source ? `${source.migrations.length} migrations` : 'unreadable';
  const applied = status?.migrations.filter((m) => m.status === 'applied').length;
  return {
    id: `source:${found.path}`,
    item: { kind: 'source', entry },
    look: {
      label: `${TOOL_NAMES[found.tool]}: ${input.shownPath(found.path)}`,
      expanded: true,
      contextValue: 'migrationSource',
      icon: loadError ? 'error' : TOOL_ICONS[found.tool],
      description: loadError
        ? loadError
        : statusError
          ? `${count} · ${statusError}`
          : status
            ? `${applied} of ${source?.migrations.length ?? 0} applied · ${status.database}${status.needsReset ? ' · resets next' : ''}`
            : input.running
              ? `${count} · reading…`
              : `${count} · PostgreSQL is not running: no state`,
      tooltip: [
        found.path,
        ...found.evidence,
        ...(status ? [`Scratch database: ${status.database}`] : []),
        ...(status?.needsReset ? [`The next replay resets it: ${status.needsReset}`] : []),
      ].join('\n'),
    },
  };
}

function sourceChildren(entry: SourceEntry): ShownRow[] {
  const { source, status } = entry;
  if (!source) return [];
  // By id: a file added since the state was read must not take its neighbour's mark.
  const outcomes = new Map(status?.migrations.map((o) => [o.id, o]));
  return source.migrations.map((m, index) => {
    const outcome = outcomes.get(m.id);
    const mark = outcome === undefined ? '' : outcome.status === 'applied' ? '[X] ' : '[ ] ';
    return {
      id: migrationRowId(entry.found.path, m.id),
      item: { kind: 'migration', entry, index, id: m.id, status: outcome?.status },
      look: {
        label: `${mark}${m.id}`,
        contextValue:
          outcome === undefined
            ? 'sourceMigration'
            : outcome.status === 'applied'
              ? 'sourceMigration.applied'
              : 'sourceMigration.pending',
        icon:
          outcome?.status === 'applied'
            ? 'pass'
            : outcome?.status === 'failed'
              ? 'error'
              : 'circle-large-outline',
        description: [
          m.up.mode,
          m.down ? undefined : 'no down',
          outcome?.status === 'applied' && outcome.durationMs ? `${outcome.durationMs} ms` : undefined,
        ]
          .filter(Boolean)
          .join(' · '),
        tooltip: `${m.files.join('\n')}\n${m.up.why}`,
        opensFile: m.files[0] !== undefined,
      },
    };
  });
}

/** Every row of the view: each workspace source with its migrations, then the demo. */
export function migrationsTree(input: MigrationsViewInput): ShownTree {
  const rows = new Map<string, ShownRow>();
  const children = new Map<string, string[]>();
  const add = (parent: string, row: ShownRow, kids: readonly ShownRow[]) => {
    rows.set(row.id, row);
    children.get(parent)!.push(row.id);
    children.set(row.id, []);
    for (const kid of kids) add(row.id, kid, []);
  };
  children.set(ROOT, []);
  for (const entry of input.entries) add(ROOT, sourceRow(input, entry), sourceChildren(entry));
  add(ROOT, scenarioRow(input), scenarioChildren(input));
  return { rows, children };
}

function sameLook(a: RowLook, b: RowLook): boolean {
  return (
    a.label === b.label &&
    a.description === b.description &&
    a.tooltip === b.tooltip &&
    a.contextValue === b.contextValue &&
    a.icon === b.icon &&
    a.expanded === b.expanded &&
    a.opensFile === b.opensFile
  );
}

function sameIds(a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  return a !== undefined && b !== undefined && a.length === b.length && a.every((id, k) => id === b[k]);
}

/**
 * What a change redraws: 'root' when the top-level rows changed; otherwise the ids of the rows whose
 * look or children changed, in tree order ([] when nothing shown changed). A row listed is not
 * followed by its children: VS Code fetches a redrawn row's children again anyway.
 */
export function rowsToRedraw(before: ShownTree, after: ShownTree): 'root' | string[] {
  if (!sameIds(before.children.get(ROOT), after.children.get(ROOT))) return 'root';
  const ids: string[] = [];
  const visit = (id: string) => {
    const was = before.rows.get(id);
    const now = after.rows.get(id);
    if (!was || !now) return;
    if (!sameIds(before.children.get(id), after.children.get(id)) || !sameLook(was.look, now.look)) {
      ids.push(id);
      return;
    }
    for (const kid of after.children.get(id) ?? []) visit(kid);
  };
  for (const id of after.children.get(ROOT) ?? []) visit(id);
  return ids;
}

/**
 * The view's rows over time. VS Code keys a row by the element object it was given, so each id keeps
 * one element whose fields are refreshed in place: a redraw of one row keeps the others' handles, and
 * a command handed an element reads the state as it is now.
 */
export class MigrationsRows {
  private shown: ShownTree = { rows: new Map(), children: new Map([[ROOT, []]]) };
  private readonly elements = new Map<string, MigrationsItem>();
  /** Each element's row as last read (an element no longer listed keeps its last one). */
  private readonly rowOf = new WeakMap<MigrationsItem, ShownRow>();

  /** Reads the input again; returns the elements to redraw, 'root', or [] when nothing shown changed. */
  update(input: MigrationsViewInput): 'root' | MigrationsItem[] {
    const before = this.shown;
    const after = migrationsTree(input);
    for (const [id, row] of after.rows) {
      let element = this.elements.get(id);
      if (element && element.kind === row.item.kind) refill(element, row.item);
      else this.elements.set(id, (element = row.item));
      this.rowOf.set(element, row);
    }
    for (const id of [...this.elements.keys()]) if (!after.rows.has(id)) this.elements.delete(id);
    this.shown = after;
    const redraw = rowsToRedraw(before, after);
    return redraw === 'root' ? 'root' : redraw.map((id) => this.elements.get(id)!);
  }

  /** The element's row as shown now (as last shown, for an element no longer listed). */
  row(element: MigrationsItem): ShownRow | undefined {
    return this.rowOf.get(element);
  }

  /** The root's rows, or an element's; none for an element no longer listed. */
  children(element?: MigrationsItem): MigrationsItem[] {
    const id = element === undefined ? ROOT : this.rowOf.get(element)?.id;
    if (id === undefined || (element !== undefined && this.elements.get(id) !== element)) return [];
    return (this.shown.children.get(id) ?? []).map((kid) => this.elements.get(kid)!);
  }
}

/** Replaces an object's own fields with another's, keeping the object. */
function refill(target: object, fresh: object): void {
  const t = target as Record<string, unknown>;
  for (const key of Object.keys(t)) if (!(key in fresh)) delete t[key];
  Object.assign(t, fresh);
}

/** A source's row, or one of its migrations' rows, as a command receives it. */
interface SourceRowArg {
  kind?: unknown;
  entry?: SourceEntry;
  index?: unknown;
  id?: unknown;
}

/** A row resolved against the sources as they are now; `missing` names a migration no longer there. */
export interface CurrentRow {
  entry: SourceEntry;
  /** The migration's position now (a migration row); undefined for a source's row. */
  index?: number;
  missing?: string;
}

/**
 * A source or migration row (from the view, or built by the walkthrough) resolved by its folder and its
 * migration's id against `entries`: an element drawn before the folder was read again may hold an older
 * entry, whose positions moved since. Undefined when `arg` is no such row.
 */
export function currentRow(arg: unknown, entries: readonly SourceEntry[]): CurrentRow | undefined {
  if (!arg || typeof arg !== 'object') return undefined;
  const a = arg as SourceRowArg;
  if (!a.entry?.found) return undefined;
  const entry = entries.find((e) => e.found.path === a.entry!.found.path) ?? a.entry;
  if (a.kind !== 'migration') return { entry };
  const id =
    typeof a.id === 'string'
      ? a.id
      : typeof a.index === 'number'
        ? a.entry.source?.migrations[a.index]?.id
        : undefined;
  const index = id === undefined ? -1 : (entry.source?.migrations.findIndex((m) => m.id === id) ?? -1);
  return index >= 0 ? { entry, index } : { entry, missing: id ?? `migration ${String(a.index)}` };
}
