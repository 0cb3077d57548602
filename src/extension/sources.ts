import { stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import * as vscode from 'vscode';
import { describeError } from '../core/errors';
import type { Lab } from '../core/lab';
import { globToRegExp, hasGlob } from '../core/migrations/folderGlob';
import type { Logger } from '../core/log';
import {
  IGNORED_FOLDERS,
  detectFolder,
  findSources,
  loadFound,
  type FoundSource,
} from '../core/migrations/detect';
import type { DemoScenario } from '../core/scenarios/demo';
import { loadScenarioSource, scenarioFolder } from '../core/scenarios/source';
import { isToolId, type MigrationSource, type ToolId } from '../core/migrations/model';
import {
  replayStatus,
  type ReplayEnvironment,
  type ReplayFailure,
  type ReplayProgress,
  type ReplayReport,
} from '../core/migrations/replay';

/** One migration folder of the workspace, as last read from disk, and its scratch database's state. */
export interface SourceEntry {
  found: FoundSource;
  /** Undefined when the folder could not be read (`loadError` says why). */
  source?: MigrationSource;
  loadError?: string;
  /** The scratch database's state; undefined while PostgreSQL is not running (or not yet read). */
  status?: ReplayReport;
  statusError?: string;
}

function settings(): { paths: string[]; formats: Record<string, string>; roles: string[] } {
  const c = vscode.workspace.getConfiguration('migrationLab');
  return {
    paths: c.get<string[]>('migrations.paths', []),
    formats: c.get<Record<string, string>>('migrations.formats', {}),
    roles: c.get<string[]>('replay.roles', []),
  };
}

/**
 * The workspace's migration sources: found once (bounded search per workspace folder, plus the folders
 * `migrationLab.migrations.paths` pins), each parsed once per change on disk (a debounced watcher), and
 * each one's scratch-database state read from the lab's server while it runs. The tree only reads
 * what is cached here.
 */
export class WorkspaceSources implements vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChange = this.changed.event;
  private list: SourceEntry[] = [];
  private readonly disposables: vscode.Disposable[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly poll: NodeJS.Timeout;
  /** When each folder was last read, and its own modification time then. */
  private readonly readAt = new Map<string, { at: number; folderMtime: number | undefined }>();
  /** Each workspace root's own modification time when it was last searched. */
  private readonly rootMtimes = new Map<string, number | undefined>();
  /** Folders whose files changed since the last reload; undefined entry = search again. */
  private dirty = new Set<string>();
  private rediscover = false;
  private refreshing: Promise<void> = Promise.resolve();
  /** Set once the first search finished (tests and the commands wait for it). */
  ready: Promise<void>;

  constructor(
    private readonly lab: Lab,
    private readonly logger: Logger,
    /** The extension's folder: the scenarios' bundled sources are under it. */
    private readonly packageRoot: string,
    /** The bundled demo: listed in the view as one more source, never found as a workspace source. */
    readonly demoScenario: DemoScenario,
  ) {
    this.ready = loadScenarioSource(packageRoot, demoScenario)
      .then((demo) => (this.demoSource = demo))
      .catch((e) => this.logger.warn(`Reading the demo's migrations: ${describeError(e)}`))
      .then(() => this.refresh());
    let wasRunning = lab.state.database === 'running';
    lab.on('state', (s) => {
      const running = s.database === 'running';
      if (running !== wasRunning) {
        wasRunning = running;
        void this.refreshStatus();
      }
    });
    // One watcher for the workspace: a change inside a listed folder reloads that folder; a new or
    // deleted .sql or marker file elsewhere searches again. Both debounced; only path checks here.
    // (A `**/*` watcher is not enough: a copied-in folder arrives as one folder event.)
    const anywhere = vscode.workspace.createFileSystemWatcher(
      '**/{*.sql,sqitch.plan,atlas.sum,*.toml,*.conf,_journal.json}',
    );
    const onAnywhere = (uri: vscode.Uri) => {
      const path = uri.fsPath;
      const owner = this.list.find((e) => path === e.found.path || path.startsWith(e.found.path + sep));
      if (owner) void this.onFileEvent(owner.found.path, path);
      else if (path.split(sep).some((part) => IGNORED_FOLDERS.has(part))) return;
      else if (/\.sql$|(^|[\\/])(sqitch\.plan|atlas\.sum|migration_lock\.toml)$/.test(path))
        this.schedule(undefined);
    };
    this.disposables.push(
      anywhere,
      anywhere.onDidCreate(onAnywhere),
      anywhere.onDidChange(onAnywhere),
      anywhere.onDidDelete(onAnywhere),
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration('migrationLab.migrations')) this.schedule(undefined);
      }),
      vscode.workspace.onDidChangeWorkspaceFolders(() => this.schedule(undefined)),
    );
    // File watchers can miss events (seen with code-server's remote watcher): a listed folder whose own
    // modification time moved since its last read (a file added, removed or atomically saved) is read
    // again. A stat per folder every few seconds; nothing is parsed unless something changed.
    this.poll = setInterval(() => void this.pollFolders(), FOLDER_POLL_MS);
  }

  private async pollFolders(): Promise<void> {
    // A folder copied or created at a workspace root moves the root's own time: search again.
    for (const folder of vscode.workspace.workspaceFolders ?? []) {
      const root = folder.uri.fsPath;
      const seen = this.rootMtimes.get(root);
      if (seen !== undefined && (await folderMtime(root)) !== seen) this.schedule(undefined);
    }
    for (const entry of this.list) {
      const seen = this.readAt.get(entry.found.path);
      if (seen && (await folderMtime(entry.found.path)) !== seen.folderMtime) this.schedule(entry.found.path);
    }
  }

  /**
   * A watcher event inside a listed folder: read the folder again, unless its last read already saw the
   * change (the poll got there first): same folder time, and the file unchanged since that read began.
   */
  private async onFileEvent(folder: string, file: string): Promise<void> {
    const seen = this.readAt.get(folder);
    if (seen && dirname(file) === folder) {
      const [fileStat, mtime] = await Promise.all([stat(file).catch(() => undefined), folderMtime(folder)]);
      if (mtime === seen.folderMtime && (fileStat === undefined || fileStat.mtimeMs < seen.at)) return;
    }
    this.schedule(folder);
  }

  get entries(): readonly SourceEntry[] {
    return this.list;
  }

  get demoPath(): string {
    return resolve(scenarioFolder(this.packageRoot, this.demoScenario));
  }

  /** The demo's migrations as files (listed while PostgreSQL is stopped); read once, it ships with us. */
  get demo(): MigrationSource | undefined {
    return this.demoSource;
  }
  private demoSource: MigrationSource | undefined;

  entryFor(path: string): SourceEntry | undefined {
    return this.list.find((e) => e.found.path === path);
  }

  /** Searches again and reloads every source; then reads their state. */
  refresh(): Promise<void> {
    this.refreshing = this.refreshing.then(() => this.discover()).then(() => this.refreshStatus());
    return this.refreshing;
  }

  private schedule(path: string | undefined): void {
    if (path === undefined) this.rediscover = true;
    else this.dirty.add(path);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.flush(), 300);
  }

  private async flush(): Promise<void> {
    const rediscover = this.rediscover;
    const dirty = [...this.dirty];
    this.rediscover = false;
    this.dirty.clear();
    this.refreshing = this.refreshing.then(async () => {
      if (rediscover) await this.discover(new Set(dirty));
      else {
        for (const path of dirty) {
          const entry = this.entryFor(path);
          if (entry) await this.load(entry);
        }
      }
      // refreshStatus redraws once, with the new parse and its state together.
      await this.refreshStatus();
    });
    await this.refreshing;
  }

  /**
   * Searches the workspace. A folder already listed keeps its parse unless it is in `reparse` (or
   * `reparse` is undefined: a manual refresh parses everything again).
   */
  private async discover(reparse?: ReadonlySet<string>): Promise<void> {
    const { paths, formats } = settings();
    const found = new Map<string, FoundSource>();
    for (const folder of vscode.workspace.workspaceFolders ?? []) {
      const root = folder.uri.fsPath;
      // Taken before the search: a folder added during it moves the time again, and the poll searches anew.
      this.rootMtimes.set(root, await folderMtime(root));
      const overrides: Record<string, ToolId> = {};
      for (const [path, tool] of Object.entries(formats)) {
        if (isToolId(tool)) overrides[resolve(root, path)] = tool;
        else this.logger.warn(`migrationLab.migrations.formats: "${tool}" (for ${path}) is not a tool id.`);
      }
      try {
        const result = await findSources(root, { overrides });
        if (result.truncated)
          this.logger.warn(
            `Looking for migration folders in ${root}: stopped at the folder limit; pin yours with migrationLab.migrations.paths.`,
          );
        for (const s of result.sources) found.set(s.path, s);
      } catch (e) {
        this.logger.warn(`Looking for migration folders in ${root}: ${describeError(e)}`);
      }
      for (const dir of await this.pinnedFolders(root, paths)) {
        if (found.has(dir)) continue;
        const detection = await detectFolder(dir, overrides[dir]);
        if (detection) found.set(dir, { path: dir, tool: detection.tool, evidence: detection.evidence });
        else
          this.logger.warn(`migrationLab.migrations.paths: ${dir} holds no migrations Migration Lab knows.`);
      }
    }
    found.delete(this.demoPath);
    const previous = new Map(this.list.map((e) => [e.found.path, e]));
    const next: SourceEntry[] = [];
    for (const f of [...found.values()].sort((a, b) => (a.path < b.path ? -1 : 1))) {
      const before = previous.get(f.path);
      if (before && before.found.tool === f.tool && reparse && !reparse.has(f.path)) {
        next.push(before);
        continue;
      }
      const entry: SourceEntry = { found: f, status: before?.status };
      await this.load(entry);
      next.push(entry);
    }
    this.list = next;
    this.changed.fire();
  }

  /** The folders a `migrationLab.migrations.paths` entry names: a path, or a glob over folders. */
  private async pinnedFolders(root: string, paths: readonly string[]): Promise<string[]> {
    const out = new Set<string>();
    for (const p of paths) {
      if (!hasGlob(p)) {
        out.add(isAbsolute(p) ? resolve(p) : resolve(root, p));
        continue;
      }
      const matcher = globToRegExp(p);
      const files = await vscode.workspace.findFiles(
        new vscode.RelativePattern(root, `${p.replace(/\/+$/, '')}/**/*`),
        '**/node_modules/**',
        5000,
      );
      for (const f of files) {
        // The deepest folder above the file whose path the glob matches.
        for (let dir = dirname(f.fsPath); dir.startsWith(root + sep); dir = dirname(dir)) {
          if (matcher.test(relative(root, dir).split(sep).join('/'))) {
            out.add(dir);
            break;
          }
        }
      }
    }
    return [...out];
  }

  /** How many times a folder was parsed since activation (the tests check a change parses once). */
  parses = 0;

  private async load(entry: SourceEntry): Promise<void> {
    this.parses++;
    this.readAt.set(entry.found.path, { at: Date.now(), folderMtime: await folderMtime(entry.found.path) });
    try {
      entry.source = await loadFound(entry.found);
      entry.loadError = undefined;
    } catch (e) {
      entry.source = undefined;
      entry.loadError = describeError(e);
      this.logger.warn(`Reading ${entry.found.path}: ${entry.loadError}`);
    }
  }

  /** Reads each source's scratch database (changing nothing); clears the state while PostgreSQL is stopped. */
  async refreshStatus(only?: SourceEntry): Promise<void> {
    const server = this.lab.state.database === 'running' ? this.lab.connection : undefined;
    for (const entry of only ? [only] : this.list) {
      if (!server || !entry.source) {
        entry.status = undefined;
        entry.statusError = undefined;
        continue;
      }
      try {
        entry.status = await replayStatus(entry.source, { server, logger: this.logger });
        entry.statusError = undefined;
      } catch (e) {
        entry.status = undefined;
        entry.statusError = describeError(e);
        this.logger.warn(`Reading the scratch database of ${entry.found.path}: ${entry.statusError}`);
      }
    }
    this.changed.fire();
  }

  /** Records what a replay, roll back or reset returned, without another round trip. */
  setStatus(entry: SourceEntry, report: ReplayReport): void {
    entry.status = report;
    entry.statusError = undefined;
    this.changed.fire();
  }

  /** What the core replay needs, on the lab's running server. */
  environment(
    signal: AbortSignal,
    onProgress: (p: ReplayProgress) => void,
    extraRoles: readonly string[] = [],
  ): ReplayEnvironment {
    const server = this.lab.connection;
    if (!server) throw new Error('PostgreSQL is not running.');
    const roles = [...new Set([...settings().roles, ...extraRoles])];
    return { server, logger: this.logger, signal, onProgress, roles };
  }

  /** Adds a folder to `migrationLab.migrations.paths` (workspace settings), with its tool when asked. */
  async addFolder(dir: string, tool?: ToolId): Promise<void> {
    const folder = vscode.workspace.getWorkspaceFolder(vscode.Uri.file(dir));
    const shown = folder ? relative(folder.uri.fsPath, dir).split(sep).join('/') || '.' : dir;
    const c = vscode.workspace.getConfiguration('migrationLab');
    const target = folder ? vscode.ConfigurationTarget.Workspace : vscode.ConfigurationTarget.Global;
    const paths = c.get<string[]>('migrations.paths', []);
    if (!paths.includes(shown)) await c.update('migrations.paths', [...paths, shown], target);
    if (tool) {
      const formats = { ...c.get<Record<string, string>>('migrations.formats', {}), [shown]: tool };
      await c.update('migrations.formats', formats, target);
    }
    await this.refresh();
  }

  dispose(): void {
    clearTimeout(this.timer);
    clearInterval(this.poll);
    for (const d of this.disposables) d.dispose();
    this.changed.dispose();
  }
}

/**
 * The Problems entries of failed replays: one diagnostic at the failing statement, cleared for a
 * source when it replays, rolls back or resets cleanly.
 */
export class ReplayDiagnostics implements vscode.Disposable {
  private readonly collection = vscode.languages.createDiagnosticCollection('migrationLab.replay');
  /** Which files each source's diagnostics are in, to clear them. */
  private readonly bySource = new Map<string, vscode.Uri[]>();

  clear(sourcePath: string): void {
    for (const uri of this.bySource.get(sourcePath) ?? []) this.collection.delete(uri);
    this.bySource.delete(sourcePath);
  }

  /**
   * Puts the failure on its statement and opens the file there. `source` gives the statement's full
   * range; `shift` moves lines (for SQL checked from a selection, written to a file of its own).
   */
  async show(
    sourcePath: string,
    failure: ReplayFailure,
    source?: MigrationSource,
    place?: { uri: vscode.Uri; lineShift: number; columnShift: number; columnShiftLine: number },
  ): Promise<vscode.Diagnostic> {
    this.clear(sourcePath);
    const { error } = failure;
    const uri = place?.uri ?? vscode.Uri.file(error.file);
    const toPos = (line: number, column: number) => {
      const l = line - 1 + (place?.lineShift ?? 0);
      const c = column - 1 + (line === place?.columnShiftLine ? place.columnShift : 0);
      return new vscode.Position(Math.max(0, l), Math.max(0, c));
    };
    const at = toPos(error.line, error.column);
    const statement = source?.migrations
      .flatMap((m) => [...m.up.statements, ...(m.down?.statements ?? [])])
      .find(
        (s) =>
          s.file === error.file &&
          (s.start.line < error.line || (s.start.line === error.line && s.start.column <= error.column)) &&
          (s.end.line > error.line || (s.end.line === error.line && s.end.column >= error.column)),
      );
    const range = statement
      ? new vscode.Range(
          toPos(statement.start.line, statement.start.column),
          toPos(statement.end.line, statement.end.column),
        )
      : new vscode.Range(at, at.translate(0, 1));
    const diagnostic = new vscode.Diagnostic(
      range,
      `${error.message}${error.sqlstate ? ` (SQLSTATE ${error.sqlstate})` : ''}${failure.wayOut ? ` ${failure.wayOut}` : ''}`,
      vscode.DiagnosticSeverity.Error,
    );
    diagnostic.source = 'Migration Lab replay';
    if (error.sqlstate) diagnostic.code = error.sqlstate;
    this.collection.set(uri, [diagnostic]);
    this.bySource.set(sourcePath, [uri]);
    await vscode.window.showTextDocument(uri, { selection: new vscode.Range(at, at), preview: false });
    return diagnostic;
  }

  dispose(): void {
    this.collection.dispose();
  }
}

/** How often listed folders are checked for changes a file watcher may have missed. */
const FOLDER_POLL_MS = 2_000;

async function folderMtime(path: string): Promise<number | undefined> {
  return stat(path).then(
    (s) => s.mtimeMs,
    () => undefined,
  );
}

/** The workspace-relative path a person recognises. */
export function shownPath(path: string): string {
  const folder = vscode.workspace.getWorkspaceFolder(vscode.Uri.file(path));
  return folder ? join(folder.name, relative(folder.uri.fsPath, path)) : path;
}
