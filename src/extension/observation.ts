import * as vscode from 'vscode';
import type { Lab } from '../core/lab';
import type { Logger } from '../core/log';
import { MonitorSession } from '../core/monitorSession';
import type { RecordedRun } from '../core/monitor/recorder';
import type { LessonName, LessonResult } from '../core/lessons';
import type { StoredEntries, StoredTrace } from '../core/monitor/runStore';
import { config, labSchema } from './config';

/**
 * Owns the MonitorSession (probe endpoint, sampler, lock monitor, recorded runs) for the running
 * database: made on first use, disposed when PostgreSQL stops. Runs survive a restart of the session.
 */
export class Observation implements vscode.Disposable {
  private current: MonitorSession | undefined;
  private readonly runsChanged = new vscode.EventEmitter<readonly RecordedRun[]>();
  private readonly sessionChanged = new vscode.EventEmitter<MonitorSession | undefined>();
  readonly onDidChangeRuns = this.runsChanged.event;
  /** A new session was made (or the old one went away): listeners re-subscribe. */
  readonly onDidChangeSession = this.sessionChanged.event;
  private kept: RecordedRun[] = [];
  private readonly lessonsChanged = new vscode.EventEmitter<void>();
  /** A lesson started, finished, or its results changed. */
  readonly onDidChangeLessons = this.lessonsChanged.event;
  private readonly lessonResults: LessonResult[] = [];
  private live: LessonName | undefined;
  /** The probe was on when PostgreSQL stopped (so it is started again with the next server). */
  private probeWasOn = false;
  /** Finished traces of workspace migrations, oldest first (kept with the runs, saved with them). */
  private readonly traceList: StoredTrace[] = [];
  private readonly tracesChanged = new vscode.EventEmitter<readonly StoredTrace[]>();
  readonly onDidChangeTraces = this.tracesChanged.event;

  constructor(
    private readonly lab: Lab,
    private readonly logger: Logger,
    /** Runs and lesson results saved by an earlier extension host (a window reload, a restart). */
    restored: StoredEntries = { runs: [], lessons: [] },
  ) {
    this.kept = [...restored.runs];
    this.lessonResults.push(...restored.lessons);
    this.traceList.push(...(restored.traces ?? []));
    lab.on('state', (s) => {
      if (s.database !== 'running' && this.current) void this.close();
    });
  }

  get session(): MonitorSession | undefined {
    return this.current;
  }

  get runs(): readonly RecordedRun[] {
    return this.current?.runs ?? this.kept;
  }

  /** What is saved between extension hosts: every run entry and the lessons' results. */
  entries(): StoredEntries {
    return { runs: [...this.runs], lessons: [...this.lessonResults], traces: [...this.traceList] };
  }

  get traces(): readonly StoredTrace[] {
    return this.traceList;
  }

  addTrace(trace: StoredTrace): void {
    this.traceList.push(trace);
    this.tracesChanged.fire(this.traceList);
  }

  /** The session for the running database (made now if needed); undefined when PostgreSQL is not running. */
  ensure(): MonitorSession | undefined {
    if (this.current) return this.current;
    const target = this.lab.connection;
    if (!target || this.lab.state.database !== 'running') return undefined;
    const session = new MonitorSession({
      target,
      schema: labSchema(this.lab),
      logger: this.logger,
      probePort: config.probePort,
      probeRate: config.probeRate,
      probeTimeoutMs: config.probeTimeoutMs,
      stalledThresholdMs: config.stalledThresholdMs,
      monitorIntervalMs: config.monitorIntervalMs,
      serverVersion: this.lab.state.serverVersion,
    });
    session.runs.push(...this.kept);
    session.on('runs', (runs) => {
      this.kept = [...runs];
      this.runsChanged.fire(runs);
    });
    session.startMonitor();
    this.current = session;
    this.sessionChanged.fire(session);
    return session;
  }

  get lessons(): readonly LessonResult[] {
    return this.lessonResults;
  }

  get liveLesson(): LessonName | undefined {
    return this.live;
  }

  setLiveLesson(name: LessonName | undefined): void {
    this.live = name;
    this.lessonsChanged.fire();
  }

  /** Keeps the newest result of each lesson. */
  addLesson(result: LessonResult): void {
    const i = this.lessonResults.findIndex((r) => r.name === result.name);
    if (i >= 0) this.lessonResults.splice(i, 1);
    this.lessonResults.push(result);
    this.lessonsChanged.fire();
  }

  lessonResult<N extends LessonName>(name: N): Extract<LessonResult, { name: N }> | undefined {
    return this.lessonResults.find((r) => r.name === name) as Extract<LessonResult, { name: N }> | undefined;
  }

  clearRuns(): void {
    if (this.traceList.length > 0) {
      this.traceList.length = 0;
      this.tracesChanged.fire(this.traceList);
    }
    this.kept = [];
    if (this.current) this.current.clearRuns();
    else this.runsChanged.fire([]);
  }

  /** Starts the probe on the new server when it was on as PostgreSQL stopped; once per stop. */
  async resumeProbe(): Promise<boolean> {
    if (!this.probeWasOn) return false;
    this.probeWasOn = false;
    const session = this.ensure();
    if (!session) return false;
    await session.startProbe();
    this.logger.info('Probe started again: it was on when PostgreSQL stopped.');
    return true;
  }

  private async close(): Promise<void> {
    const session = this.current;
    this.probeWasOn = session?.probeRunning ?? false;
    this.current = undefined;
    this.sessionChanged.fire(undefined);
    await session?.dispose();
  }

  dispose(): void {
    void this.close();
    this.runsChanged.dispose();
    this.sessionChanged.dispose();
    this.lessonsChanged.dispose();
    this.tracesChanged.dispose();
  }

  /** For deactivate(): waits until the probe server, sampler and monitor have stopped. */
  async shutdown(): Promise<void> {
    await this.close();
  }
}
