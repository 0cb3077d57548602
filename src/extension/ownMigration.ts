import * as vscode from 'vscode';
import { DEMO_SCENARIO } from '../core/scenarios/demo';
import type { Observation } from './observation';
import type { SourceEntry, WorkspaceSources } from './sources';

/**
 * The second walkthrough, "Check your own migration": its subject (the workspace's first migration
 * folder, or the bundled demo when the workspace has none) and the context keys its steps complete on.
 * Each key says what is observed now about the subject (VS Code keeps a step ticked once its key was
 * true), so a key is never set by a click, only by the state it names.
 */
export const OWN_MIGRATION_KEYS = {
  /** The workspace has a readable migration folder, or the user chose the bundled demo. */
  migrationsFound: 'migrationLab.own.migrationsFound',
  /** The Migrations view is visible and lists the subject with its tool. */
  toolNamed: 'migrationLab.own.toolNamed',
  /** A file of the subject has lint problems in the Problems panel. */
  lintFindings: 'migrationLab.own.lintFindings',
  /** The subject's scratch database has migrations applied (its replay status says so). */
  replayed: 'migrationLab.own.replayed',
  /** A trace of the subject finished (the Runs view keeps it). */
  traced: 'migrationLab.own.traced',
  /** A trace report of the subject was opened. */
  reportOpened: 'migrationLab.own.reportOpened',
} as const;
export type OwnMigrationStep = keyof typeof OWN_MIGRATION_KEYS;

/** The walkthrough's id inside the extension (package.json `contributes.walkthroughs`). */
export const OWN_MIGRATION_WALKTHROUGH = 'migrationLab.ownMigration';

/** Where the walkthrough's buttons act: a source, its newest migration and the one before it. */
export interface WalkthroughSubject {
  entry: SourceEntry;
  demo: boolean;
  /** The migration the walkthrough traces. */
  newest: string;
  /** The replay step's target: everything before `newest` (undefined when `newest` is the first). */
  beforeNewest?: string;
}

/** The demo's two 0002s are alternatives (a replay of both fails), so its "newest" is the locking one. */
export function subjectOf(entry: SourceEntry, demo: boolean): WalkthroughSubject | undefined {
  const migrations = entry.source?.migrations ?? [];
  if (migrations.length === 0) return undefined;
  const { compared, initial } = DEMO_SCENARIO;
  if (demo && migrations.some((m) => m.id === compared.locking))
    return { entry, demo, newest: compared.locking, beforeNewest: initial };
  return { entry, demo, newest: migrations.at(-1)!.id, beforeNewest: migrations.at(-2)?.id };
}

const DEMO_CHOSEN = 'migrationLab.own.demoChosen';

export class OwnMigrationWalkthrough implements vscode.Disposable {
  private readonly disposables: vscode.Disposable[] = [];
  private readonly keys = new Map<OwnMigrationStep, boolean>();
  /** Steps whose key has been true in this window: VS Code keeps such a step ticked (a trace resets the replay). */
  private readonly seen = new Set<OwnMigrationStep>();
  /** Folders whose trace report was opened in this window. */
  private readonly reportsOpened = new Set<string>();
  private demo: SourceEntry | undefined;
  private migrationsViewVisible = false;

  constructor(
    private readonly sources: WorkspaceSources,
    private readonly observation: Observation,
    private readonly workspaceState: vscode.Memento,
    migrationsView: vscode.TreeView<unknown>,
  ) {
    this.migrationsViewVisible = migrationsView.visible;
    this.disposables.push(
      sources.onDidChange(() => this.update()),
      observation.onDidChangeTraces(() => this.update()),
      migrationsView.onDidChangeVisibility((e) => {
        this.migrationsViewVisible = e.visible;
        this.update();
      }),
      vscode.languages.onDidChangeDiagnostics(() => this.update()),
    );
    this.update();
  }

  /** The demo as a source entry of its own (stable, so a replay's status recorded on it stays). */
  demoEntry(): SourceEntry | undefined {
    const source = this.sources.demo;
    if (!source) return undefined;
    if (this.demo?.source !== source)
      this.demo = { found: { path: source.path, tool: source.tool, evidence: source.evidence }, source };
    return this.demo;
  }

  /** The workspace's first readable migration folder; the bundled demo when there is none. */
  subject(): WalkthroughSubject | undefined {
    const own = this.sources.entries.find((e) => e.source && e.source.migrations.length > 0);
    if (own) return subjectOf(own, false);
    const demo = this.demoEntry();
    return demo ? subjectOf(demo, true) : undefined;
  }

  /** "Use the bundled demo": the fallback when the workspace has no migrations (remembered per workspace). */
  async useDemo(): Promise<WalkthroughSubject | undefined> {
    await this.workspaceState.update(DEMO_CHOSEN, true);
    this.update();
    return this.subject();
  }

  reportOpened(sourcePath: string): void {
    this.reportsOpened.add(sourcePath);
    this.update();
  }

  /** What each step's key is now (the extension-host tests read it). */
  get state(): Readonly<Record<OwnMigrationStep, boolean>> {
    const out = {} as Record<OwnMigrationStep, boolean>;
    for (const step of Object.keys(OWN_MIGRATION_KEYS) as OwnMigrationStep[])
      out[step] = this.keys.get(step) ?? false;
    return out;
  }

  /** The steps ticked in this window, in the walkthrough's order. */
  get ticked(): OwnMigrationStep[] {
    return (Object.keys(OWN_MIGRATION_KEYS) as OwnMigrationStep[]).filter((step) => this.seen.has(step));
  }

  /** Reads the observed state again and sets the keys that changed. */
  update(): void {
    const subject = this.subject();
    const own = subject !== undefined && !subject.demo;
    const path = subject?.entry.found.path;
    const chosenDemo = this.workspaceState.get<boolean>(DEMO_CHOSEN, false);
    this.set('migrationsFound', own || (chosenDemo && subject !== undefined));
    this.set('toolNamed', this.migrationsViewVisible && subject !== undefined);
    this.set('lintFindings', subject !== undefined && this.hasLintFindings(subject.entry));
    this.set('replayed', subject?.entry.status?.migrations.some((m) => m.status === 'applied') === true);
    this.set('traced', path !== undefined && this.observation.traces.some((t) => t.sourcePath === path));
    this.set('reportOpened', path !== undefined && this.reportsOpened.has(path));
  }

  private hasLintFindings(entry: SourceEntry): boolean {
    const files = entry.source?.migrations.flatMap((m) => m.files) ?? [];
    return files.some((file) =>
      vscode.languages.getDiagnostics(vscode.Uri.file(file)).some((d) => d.source === 'Migration Lab'),
    );
  }

  private set(step: OwnMigrationStep, value: boolean): void {
    if (value) this.seen.add(step);
    if (this.keys.get(step) === value) return;
    this.keys.set(step, value);
    void vscode.commands.executeCommand('setContext', OWN_MIGRATION_KEYS[step], value);
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }
}
