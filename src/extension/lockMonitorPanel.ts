import { randomBytes } from 'node:crypto';
import * as vscode from 'vscode';
import type { Lab, LabState } from '../core/lab';
import type { Logger } from '../core/log';
import type { LockSnapshot, MonitorStatus } from '../core/monitor/lockMonitor';
import { DEFAULT_PROBE_WINDOW_MS, type ProbeSnapshot } from '../core/probe/sampler';
import type { MonitorSession } from '../core/monitorSession';
import { DEMO_SCENARIO, appliedComparedMigration } from '../core/scenarios/demo';
import { LESSON_SCENARIOS } from '../core/scenarios/lessons';
import { qualifiedTable } from '../core/scenarios/types';
import {
  commandFor,
  isFromWebview,
  type LabSummary,
  type PanelAction,
  type LatencySnapshotDto,
  type LockSnapshotDto,
  type PanelState,
  type RunDto,
  type StatementMarkDto,
  type ToWebview,
  type WatchDto,
} from '../shared/protocol';
import { buttonStates } from '../shared/model';
import {
  toComparisonDto,
  toLatencySnapshotDto,
  toLessonDto,
  toLiveLessonDto,
  toLockSnapshotDto,
  toMonitorStatusDto,
  toRunDto,
} from './panelDto';
import { labSchema } from './config';
import { LESSON_ACTIONS } from './lessonActions';
import type { Observation } from './observation';
import type { SlowReport } from './slowReport';

export const LOCK_MONITOR_VIEW_TYPE = 'migrationLab.lockMonitor';

/** Text for HTML made here (scenario titles are ours, but say so in the code, not by trust). */
function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function labSummary(s: LabState, schema: string): LabSummary {
  return {
    database: s.database,
    serverVersion: s.serverVersion,
    seeded: s.seeded,
    seedTable: qualifiedTable(schema, DEMO_SCENARIO.seed.large),
    applied: s.migrations.filter((m) => m.applied).map((m) => m.id),
    indexMigrationApplied: appliedComparedMigration(s.migrations) ?? null,
    running: s.runningMigration,
    invalidIndexes: s.invalidIndexes.map((i) => ({
      index: i.index,
      table: i.table,
      indisready: i.indisready,
    })),
  };
}

/** The Lock Monitor webview panel: one at a time, restored after a window reload by the serializer. */
export class LockMonitorPanel implements vscode.Disposable {
  private static current: LockMonitorPanel | undefined;
  private readonly disposables: vscode.Disposable[] = [];
  private sessionListeners: (() => void)[] = [];
  private pendingReveal: 'comparison' | 'locks' | 'runs' | undefined;
  /** Set while another source than the demo's session feeds the chart and the locks (a trace). */
  private feed:
    { watch: WatchDto; latency: LatencySnapshotDto | null; locks: LockSnapshotDto | null } | undefined;
  private statements: StatementMarkDto[] = [];

  static get instance(): LockMonitorPanel | undefined {
    return LockMonitorPanel.current;
  }

  /**
   * Opens (or reveals) the panel. `beside`: in the group beside the active editor (the walkthrough stays
   * in view), and `preserveFocus` keeps the focus where it is; a panel already in front stays where it is.
   */
  static show(
    extensionUri: vscode.Uri,
    lab: Lab,
    observation: Observation,
    slowReport: SlowReport,
    logger: Logger,
    place: { beside?: boolean; preserveFocus?: boolean } = {},
  ): LockMonitorPanel {
    const column = place.beside ? vscode.ViewColumn.Beside : vscode.ViewColumn.Active;
    const current = LockMonitorPanel.current;
    if (current) {
      if (!current.panel.visible)
        current.panel.reveal(place.beside ? column : undefined, place.preserveFocus);
      else if (!place.preserveFocus) current.panel.reveal();
      return current;
    }
    const panel = vscode.window.createWebviewPanel(
      LOCK_MONITOR_VIEW_TYPE,
      'Lock Monitor',
      { viewColumn: column, preserveFocus: place.preserveFocus ?? false },
      LockMonitorPanel.options(extensionUri),
    );
    return new LockMonitorPanel(panel, extensionUri, lab, observation, slowReport, logger);
  }

  static options(extensionUri: vscode.Uri): vscode.WebviewPanelOptions & vscode.WebviewOptions {
    return {
      enableScripts: true,
      localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'dist', 'webview')],
    };
  }

  /** Re-attaches a panel VS Code restored after a reload. */
  static revive(
    panel: vscode.WebviewPanel,
    extensionUri: vscode.Uri,
    lab: Lab,
    observation: Observation,
    slowReport: SlowReport,
    logger: Logger,
  ): LockMonitorPanel {
    panel.webview.options = LockMonitorPanel.options(extensionUri);
    return new LockMonitorPanel(panel, extensionUri, lab, observation, slowReport, logger);
  }

  private constructor(
    private readonly panel: vscode.WebviewPanel,
    private readonly extensionUri: vscode.Uri,
    private readonly lab: Lab,
    private readonly observation: Observation,
    private readonly slowReport: SlowReport,
    private readonly logger: Logger,
  ) {
    LockMonitorPanel.current = this;
    panel.iconPath = vscode.Uri.joinPath(extensionUri, 'media', 'activity-bar.svg');
    panel.webview.html = this.html();
    this.disposables.push(
      panel.onDidDispose(() => this.dispose()),
      panel.webview.onDidReceiveMessage((m: unknown) => this.receive(m)),
      observation.onDidChangeSession((s) => this.attach(s)),
      observation.onDidChangeRuns(() =>
        this.patch({ runs: this.panelRuns(), comparison: this.comparison() }),
      ),
      observation.onDidChangeLessons(() =>
        this.patch({
          lessons: this.observation.lessons.map(toLessonDto),
          liveLesson: toLiveLessonDto(this.observation.liveLesson),
        }),
      ),
      slowReport.onDidChange((pid) => this.patch({ slowReportPid: pid ?? null })),
    );
    const onLab = (s: LabState) => this.patch({ lab: labSummary(s, this.schema), watch: this.watch() });
    lab.on('state', onLab);
    this.disposables.push({ dispose: () => lab.off('state', onLab) });
    this.attach(observation.session);
  }

  private comparison(): PanelState['comparison'] {
    return toComparisonDto(this.observation.runs);
  }

  private get schema(): string {
    return labSchema(this.lab);
  }

  /** The demo's probed table, schema-qualified: the one table its chart draws. */
  private get demoTable(): string {
    return qualifiedTable(this.schema, DEMO_SCENARIO.probe.table);
  }

  /** What the chart draws now: the feed's tables, else the demo's probed table. */
  private watch(): WatchDto {
    if (this.feed) return this.feed.watch;
    const { probe, title } = DEMO_SCENARIO;
    const rows = this.lab.state.database === 'running' ? (this.lab.state.largeRows ?? 0) : undefined;
    return {
      title,
      tables: [
        {
          table: this.demoTable,
          read: probe.read,
          write: probe.write,
          ...(rows !== undefined ? { rows } : {}),
        },
      ],
    };
  }

  private latency(session: MonitorSession | undefined): PanelState['latency'] {
    if (this.feed) return this.feed.latency;
    const snapshot = session?.latencySnapshot();
    return snapshot ? toLatencySnapshotDto(snapshot, this.demoTable) : null;
  }

  /**
   * Lets another source than the demo's session feed the chart and the locks (a trace): `watch` names its
   * tables. Until {@link endFeed}, the session's locks and latency are not drawn, and the statement marks
   * start empty. Call it again to rename the watch or change its tables.
   */
  startFeed(watch: WatchDto): void {
    const fresh = !this.feed;
    this.feed = { watch, latency: this.feed?.latency ?? null, locks: this.feed?.locks ?? null };
    if (fresh) this.statements = [];
    this.post({ type: 'state', state: this.fullState() });
  }

  /** A newer latency snapshot of the feed's tables (see panelDto's toLatencyByTableDto). */
  feedLatency(latency: LatencySnapshotDto): void {
    if (!this.feed) return;
    this.feed.latency = latency;
    this.post({ type: 'latency', latency });
  }

  /** A newer lock snapshot of the feed's monitor. */
  feedLocks(locks: LockSnapshot): void {
    if (!this.feed) return;
    this.feed.locks = toLockSnapshotDto(locks);
    this.post({ type: 'locks', locks: this.feed.locks });
  }

  /** The statement boundaries to mark on the timeline (oldest first); replaces the previous list. */
  setStatements(statements: StatementMarkDto[]): void {
    this.statements = statements;
    this.patch({ statements });
  }

  /** The demo's session draws again; the feed's statement marks go. */
  endFeed(): void {
    if (!this.feed) return;
    this.feed = undefined;
    this.statements = [];
    this.post({ type: 'state', state: this.fullState() });
  }

  private attach(session: MonitorSession | undefined): void {
    this.sessionListeners.forEach((off) => off());
    this.sessionListeners = [];
    if (session) {
      const on = <E extends 'locks' | 'latency' | 'probe' | 'live' | 'monitorStatus'>(
        event: E,
        fn: (...args: never[]) => void,
      ) => {
        session.on(event, fn as never);
        this.sessionListeners.push(() => session.off(event, fn as never));
      };
      on('locks', (locks: LockSnapshot) => {
        if (!this.feed) this.post({ type: 'locks', locks: toLockSnapshotDto(locks) });
      });
      on('latency', (latency: ProbeSnapshot) => {
        if (!this.feed)
          this.post({ type: 'latency', latency: toLatencySnapshotDto(latency, this.demoTable) });
      });
      on('probe', (probe) => this.patch({ probe }));
      on('live', (live) => this.patch({ live: live ?? null }));
      on('monitorStatus', (monitor: MonitorStatus) => this.patch({ monitor: toMonitorStatusDto(monitor) }));
    }
    this.post({ type: 'state', state: this.fullState() });
  }

  private fullState(): PanelState {
    const session = this.observation.session;
    const state: Omit<PanelState, 'buttons'> = {
      lab: labSummary(this.lab.state, this.schema),
      probe: { running: session?.probeRunning ?? false, url: session?.probeUrl },
      monitor: session?.monitorStatus ? toMonitorStatusDto(session.monitorStatus) : null,
      locks: this.feed
        ? this.feed.locks
        : session?.latestLocks
          ? toLockSnapshotDto(session.latestLocks)
          : null,
      latency: this.latency(session),
      watch: this.watch(),
      statements: this.statements,
      live: session?.liveRun ?? null,
      runs: this.panelRuns(),
      comparison: this.comparison(),
      lessons: this.observation.lessons.map(toLessonDto),
      liveLesson: toLiveLessonDto(this.observation.liveLesson),
      slowReportPid: this.slowReport.pid ?? null,
    };
    return { ...state, buttons: buttonStates(state) };
  }

  /** The recorded runs with the figures the panel shows beside them, computed here (the panel computes nothing). */
  private panelRuns(): RunDto[] {
    return this.observation.runs.map(toRunDto);
  }

  private receive(message: unknown): void {
    if (!isFromWebview(message)) {
      this.logger.warn(`Lock Monitor: ignored an unknown message ${JSON.stringify(message).slice(0, 100)}`);
      return;
    }
    if (message.type === 'ready') {
      this.post({ type: 'state', state: this.fullState() });
      if (this.pendingReveal) this.post({ type: 'reveal', section: this.pendingReveal });
      this.pendingReveal = undefined;
      return;
    }
    const { command, args } = commandFor(message);
    void vscode.commands.executeCommand(command, ...args);
  }

  private patch(patch: Extract<ToWebview, { type: 'patch' }>['patch']): void {
    // Every change that can enable or disable a button carries the buttons' new states (and reasons).
    const buttons = buttonStates({ ...this.fullState(), ...patch });
    this.post({ type: 'patch', patch: { ...patch, buttons } });
  }

  post(message: ToWebview): void {
    // A hidden webview drops messages; it asks for the full state again (`ready`) when shown.
    if (this.panel.visible) void this.panel.webview.postMessage(message);
  }

  reveal(section: 'comparison' | 'locks' | 'runs'): void {
    this.panel.reveal();
    // A panel just made or just shown has no script yet; it asks with `ready`, and the reveal follows.
    this.pendingReveal = section;
    this.post({ type: 'reveal', section });
  }

  private html(): string {
    const webview = this.panel.webview;
    const nonce = randomBytes(16).toString('base64');
    const asset = (name: string) =>
      webview.asWebviewUri(vscode.Uri.joinPath(this.extensionUri, 'dist', 'webview', name));
    const csp = [
      "default-src 'none'",
      `img-src ${webview.cspSource} data:`,
      `style-src ${webview.cspSource} 'nonce-${nonce}'`,
      `font-src ${webview.cspSource}`,
      `script-src 'nonce-${nonce}'`,
    ].join('; ');
    // aria-disabled rather than disabled: a disabled button leaves the Tab order and cannot say why it is
    // disabled; these stay focusable, in one fixed order, and carry the host's reason as their tooltip.
    const button = (action: PanelAction, label: string, secondary = false) =>
      `<button type="button" data-action="${action}"${secondary ? ' class="secondary"' : ''} aria-disabled="true" title="Waiting for the extension…">${label}</button>`;
    return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${asset('panel.css')}">
<title>Lock Monitor</title>
</head>
<body>
<header>
  <h1>Lock Monitor</h1>
  <div id="status" aria-live="polite"></div>
  <div id="live" role="status" hidden></div>
  <div id="render-error" role="alert" hidden></div>
  <div class="actions" aria-label="Migration actions" role="group">
    ${button('startPostgres', 'Start PostgreSQL')}
    ${button('runLocking', 'Run Locking Index Migration')}
    ${button('rollback', 'Roll Back', true)}
    ${button('runConcurrent', 'Run Concurrent Index Migration')}
    ${button('cancel', 'Cancel', true)}
    ${button('startProbe', 'Start Probe', true)}
    ${button('stopProbe', 'Stop Probe', true)}
    ${button('openTerminal', 'Open Probe Terminal', true)}
    ${button('exportReport', 'Export Run Report', true)}
  </div>
</header>
<section id="latency-section" aria-labelledby="latency-h">
  <h2 id="latency-h">Latency of reads and writes, last ${DEFAULT_PROBE_WINDOW_MS / 1000} s</h2>
  <p id="watch" class="muted"></p>
  <div id="chart"></div>
  <div id="statement-detail" class="statement-detail" hidden></div>
  <ol id="statements" class="statements" aria-label="Statements on the timeline" hidden></ol>
  <div id="latency-stats"></div>
</section>
<div class="grid">
  <section id="progress-section" aria-labelledby="progress-h"><h2 id="progress-h">Index build</h2><div id="progress"></div></section>
  <section id="chains-section" aria-labelledby="chains-h">
    <h2 id="chains-h">Who waits for whom</h2>
    <div id="chains"></div>
    <button type="button" id="chains-toggle" class="secondary" aria-expanded="false" aria-controls="chains-all" hidden>Show every waiting session</button>
    <ul id="chains-all" class="chains" hidden></ul>
  </section>
</div>
<section id="locks-section" aria-labelledby="locks-h"><h2 id="locks-h">Locks on the watched tables (pg_locks)</h2><div id="locks"></div></section>
<section id="lessons-section" aria-labelledby="lessons-h">
  <h2 id="lessons-h">Lessons: when reads do stall, and CONCURRENTLY's traps</h2>
  <div id="invalid" role="alert" hidden></div>
  <div class="actions" role="group" aria-label="Lessons">
    ${LESSON_SCENARIOS.map((lesson) => button(LESSON_ACTIONS[lesson.id], esc(lesson.title))).join('\n    ')}
    ${button('startSlowReport', 'Start Slow Report', true)}
    ${button('endSlowReport', 'End Slow Report', true)}
  </div>
  <div id="slow-report" class="muted"></div>
  <div id="lessons"></div>
</section>
<section id="runs-section" aria-labelledby="runs-h"><h2 id="runs-h">Runs</h2><div id="runs"></div></section>
<section id="comparison-section" aria-labelledby="comparison-h"><h2 id="comparison-h">Comparison</h2><div id="comparison"></div></section>
<script nonce="${nonce}" src="${asset('panel.js')}"></script>
</body>
</html>`;
  }

  dispose(): void {
    if (LockMonitorPanel.current === this) LockMonitorPanel.current = undefined;
    this.sessionListeners.forEach((off) => off());
    this.disposables.forEach((d) => d.dispose());
    this.panel.dispose();
  }
}
