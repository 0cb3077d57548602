/**
 * The one message protocol between the Lock Monitor panel (webview) and the extension host.
 * Both sides import this file; `type` fields are string literals so messages read well in logs.
 */
import type { LockSnapshot, MonitorStatus } from '../core/monitor/lockMonitor';
import type { RecordedRun } from '../core/monitor/recorder';
import type { ProbeSnapshot } from '../core/probe/sampler';
import type { LessonName, LessonResult } from '../core/lessons/types';

/** What the lab looks like, for the panel's header and buttons. */
export interface LabSummary {
  database: 'stopped' | 'starting' | 'running' | 'stopping';
  serverVersion?: string;
  seeded: boolean;
  largeRows?: number;
  /** Applied migration ids. */
  applied: string[];
  /** A migration (or rollback) in progress. */
  running?: { id: string; pid?: number };
  /** Indexes of the lab schema left INVALID by a failed or cancelled CONCURRENTLY build. */
  invalidIndexes: { index: string; table: string; indisready: boolean }[];
}

export interface LiveRunInfo {
  migration: string;
  kind: 'locking' | 'concurrent' | 'other';
  startedAt: number;
  pid?: number;
}

/**
 * A recorded run as the panel draws it. The optional fields are newer than some hosts: the panel shows
 * them when they are there and draws the run without them otherwise.
 */
export type PanelRun = RecordedRun & {
  /**
   * Most probe requests queued at once inside the probe itself (waiting for one of its pool's connections),
   * beside `maxWaiters` (most sessions waiting in PostgreSQL at once, which the pool size caps).
   */
  maxProbeQueued?: number;
};

/**
 * For every panel button: null when it can be pressed, else why not (one sentence, shown as its tooltip
 * and accessible description). Computed by the host, which knows; the panel only draws it.
 */
export type ButtonStates = Record<PanelAction, string | null>;

/** Everything the panel draws; sent whole after `ready`, then kept current with deltas. */
export interface PanelState {
  lab: LabSummary;
  probe: { running: boolean; url?: string };
  monitor: MonitorStatus | null;
  locks: LockSnapshot | null;
  latency: ProbeSnapshot | null;
  live: LiveRunInfo | null;
  runs: PanelRun[];
  /** One line comparing the newest locking and concurrent runs, computed from their numbers. */
  comparison: string | null;
  /** The newest result of each lesson that ran. */
  lessons: LessonResult[];
  /** The lesson running now. */
  liveLesson: LessonName | null;
  /** Backend pid of the open "slow report" (a long transaction), if one is open. */
  slowReportPid: number | null;
  /** Which buttons can be pressed, and why the others cannot. */
  buttons: ButtonStates;
}

// ---- host → webview ----

/** The full state, answering `ready`. */
export interface StateMessage {
  type: 'state';
  state: PanelState;
}
/** A newer lock snapshot. */
export interface LocksMessage {
  type: 'locks';
  locks: LockSnapshot;
}
/** A newer latency snapshot. */
export interface LatencyMessage {
  type: 'latency';
  latency: ProbeSnapshot;
}
/** Any other part of the state changed. */
export interface PatchMessage {
  type: 'patch';
  patch: Partial<Omit<PanelState, 'locks' | 'latency'>>;
}
/** Scroll to and highlight a section (e.g. the comparison, for "Compare Runs"). */
export interface RevealMessage {
  type: 'reveal';
  section: 'comparison' | 'locks' | 'runs';
}

export type ToWebview = StateMessage | LocksMessage | LatencyMessage | PatchMessage | RevealMessage;

// ---- webview → host ----

/** The panel's script is loaded; send the full state. */
export interface ReadyMessage {
  type: 'ready';
}

/** The panel's buttons, each running the command of the same name. */
export const PANEL_ACTIONS = {
  startPostgres: 'migrationLab.startPostgres',
  runLocking: 'migrationLab.runLockingIndexMigration',
  rollback: 'migrationLab.rollbackIndexMigration',
  runConcurrent: 'migrationLab.runConcurrentIndexMigration',
  cancel: 'migrationLab.cancelMigration',
  startProbe: 'migrationLab.startProbe',
  stopProbe: 'migrationLab.stopProbe',
  exportReport: 'migrationLab.exportRunReport',
  openTerminal: 'migrationLab.openProbeTerminal',
  lessonLockQueue: 'migrationLab.lessonLockQueue',
  lessonLockTimeout: 'migrationLab.lessonLockTimeout',
  lessonConcurrentWaits: 'migrationLab.lessonConcurrentWaits',
  lessonFailedConcurrently: 'migrationLab.lessonFailedConcurrently',
  startSlowReport: 'migrationLab.startSlowReport',
  endSlowReport: 'migrationLab.endSlowReport',
  dropInvalidIndex: 'migrationLab.dropInvalidIndex',
} as const;
export type PanelAction = keyof typeof PANEL_ACTIONS;

/** A button was pressed. */
export interface ActionMessage {
  type: 'action';
  action: PanelAction;
  /** For dropInvalidIndex: which index (the host checks it is one of the lab's invalid indexes). */
  index?: string;
}

export type FromWebview = ReadyMessage | ActionMessage;

/**
 * The command a button message runs and its arguments: the clicked index travels with "Drop it
 * concurrently and retry" (the host's command checks it is one of the lab's invalid indexes).
 */
export function commandFor(message: ActionMessage): { command: string; args: unknown[] } {
  const command = PANEL_ACTIONS[message.action];
  if (message.action === 'dropInvalidIndex' && message.index !== undefined)
    return { command, args: [message.index] };
  return { command, args: [] };
}

export function isFromWebview(value: unknown): value is FromWebview {
  if (!value || typeof value !== 'object') return false;
  const m = value as { type?: unknown; action?: unknown };
  if (m.type === 'ready') return true;
  const index = (value as { index?: unknown }).index;
  return (
    m.type === 'action' &&
    typeof m.action === 'string' &&
    Object.hasOwn(PANEL_ACTIONS, m.action) &&
    (index === undefined || typeof index === 'string')
  );
}
