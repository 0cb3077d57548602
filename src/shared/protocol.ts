/**
 * The one message protocol between the Lock Monitor panel (webview) and the extension host, with its own
 * data shapes (DTOs): core's internal types may change without the panel noticing, because the host maps
 * them to these in src/extension/panelDto.ts (one function per DTO). Imports neither `vscode` nor core.
 * `type` fields are string literals so messages read well in logs.
 */

/**
 * The shape version of everything below. Raise it whenever a DTO changes shape: the panel drops a saved
 * state of another version rather than draw yesterday's shape. 4: latency per watched table
 * (`LatencySnapshotDto.tables`), the watched tables (`PanelState.watch`, with their rows, replacing
 * `LabSummary.largeRows`), statement marks (`PanelState.statements`), `LabSummary.seedTable`.
 */
export const PROTOCOL_VERSION = 4;

/** Who a PostgreSQL session is, as the panel colours it. */
export type SessionRoleDto =
  'migration' | 'probe-read' | 'probe-write' | 'monitor' | 'long-transaction' | 'seeder' | 'admin' | 'other';

/** One row of the locks table. */
export interface LockRowDto {
  pid: number;
  role: SessionRoleDto;
  applicationName: string;
  backendType: string | null;
  leaderPid: number | null;
  state: string | null;
  /** wait_event_type:wait_event; null when not waiting. */
  waitEvent: string | null;
  locktype: string;
  mode: string;
  granted: boolean;
  relation: string | null;
  target: string | null;
  blockedBy: number[];
  waitingMs: number | null;
  query: string;
}

/** Who waits for whom: one entry per waiting session. */
export interface BlockingChainDto {
  waiterPid: number;
  waiterRole: SessionRoleDto;
  blockerPids: number[];
  blockerRoles: SessionRoleDto[];
  waitingMs: number;
  mode: string;
  locktype: string;
  target: string | null;
}

/** One row of pg_stat_progress_create_index. */
export interface IndexProgressDto {
  pid: number;
  role: SessionRoleDto;
  command: string;
  phase: string;
  relation: string | null;
  index: string | null;
  lockersTotal: number;
  lockersDone: number;
  currentLockerPid: number | null;
  blocksTotal: number;
  blocksDone: number;
  tuplesTotal: number;
  tuplesDone: number;
  percent: number | null;
}

export interface LockSnapshotDto {
  at: number;
  locks: LockRowDto[];
  blockingChains: BlockingChainDto[];
  progress: IndexProgressDto[];
  pollMs: number;
}

export interface MonitorStatusDto {
  state: 'stopped' | 'connecting' | 'running' | 'reconnecting';
  at: number;
  attempt?: number;
  retryInMs?: number;
  error?: string;
  serverVersion?: number;
}

/** Latency of one kind of probe request (reads or writes) over the window. */
export interface LatencyStatsDto {
  count: number;
  inFlight: number;
  p50Ms: number | null;
  p95Ms: number | null;
  maxMs: number | null;
  stalled: number;
  errors: number;
  timeouts: number;
}

export interface ProbePointDto {
  t: number;
  latencyMs: number;
  kind: 'read' | 'write';
  inFlight: boolean;
  outcome?: string;
}

/** One watched table's probe requests over the window: its reads and its writes. */
export interface TableLatencyDto {
  /** Schema-qualified, as in {@link WatchedTableDto.table}. */
  table: string;
  read: LatencyStatsDto;
  write: LatencyStatsDto;
  points: ProbePointDto[];
}

/** The latency of every watched table over the window ending at `at`. */
export interface LatencySnapshotDto {
  at: number;
  windowMs: number;
  /** The stall threshold the host counts with (the setting): the chart shades above it. */
  stalledThresholdMs: number;
  running: boolean;
  /** One entry per watched table, in the order of {@link WatchDto.tables}. */
  tables: TableLatencyDto[];
}

/** A table the panel watches, and what its probes do (the host's words). */
export interface WatchedTableDto {
  /** Schema-qualified, e.g. "migration_lab.large_email". */
  table: string;
  /** What one read request is, e.g. "GET /list_large/" or "a primary-key lookup". */
  read: string;
  /** What one write request is, or why there is none. */
  write: string;
  /** Rows the table holds (an estimate), when the host knows. */
  rows?: number;
}

/** What the panel watches now: the demo's table, or the tables under trace. */
export interface WatchDto {
  /** Who feeds the panel, e.g. "Demo: large_email" or "Trace of 0003_orders". */
  title: string;
  tables: WatchedTableDto[];
}

/** A statement's time on the timeline, marked on the latency chart (text on hover and focus). */
export interface StatementMarkDto {
  /** Stable across patches: the panel keys its marks by it. */
  key: string;
  /** Short, e.g. "0003_orders.sql:12". */
  label: string;
  /** The statement's text. */
  sql: string;
  startedAt: number;
  /** null while the statement runs. */
  endedAt: number | null;
}

/** A run's latency in one direction. */
export interface RunLatencyDto {
  count: number;
  p50Ms: number | null;
  p95Ms: number | null;
  maxMs: number | null;
  stalled: number;
}

/** A recorded run, as the panel draws it. */
export interface RunDto {
  /** Stable across patches: the panel keys its cards and the comparison by it. */
  key: string;
  migration: string;
  kind: string;
  outcome: 'succeeded' | 'failed' | 'cancelled';
  startedAt: number;
  endedAt: number;
  durationMs: number;
  /** The lesson's title for a lesson's run, else the migration. */
  title: string;
  /** Attempts of a lesson's migration (absent: one run). */
  attempts?: number;
  verdict: string;
  reads: RunLatencyDto | null;
  writes: RunLatencyDto | null;
  locksHeld: string[];
  /** Most sessions seen waiting in PostgreSQL at once. */
  maxWaiters: number;
  /** Most probe requests queued inside the probe at once (absent when the probe was off). */
  maxProbeQueued?: number;
  phases: string[];
  stalledThresholdMs?: number;
}

/** The two runs the host compares (core's rule) and its conclusion line. */
export interface ComparisonDto {
  /** Keys of the compared runs, in the order to draw them. */
  runKeys: [string, string];
  conclusion: string;
}

/** A lesson's newest result: its title, verdict and the few facts its card lists. */
export interface LessonDto {
  name: string;
  title: string;
  verdict: string;
  facts: [string, string][];
}

/** What the lab looks like, for the panel's header and buttons. */
export interface LabSummary {
  database: 'stopped' | 'starting' | 'running' | 'stopping';
  serverVersion?: string;
  seeded: boolean;
  /** The table the demo seeds (schema-qualified): the lessons' buttons wait for its rows. */
  seedTable: string;
  /** Applied migration ids. */
  applied: string[];
  /** The demo's index migration (locking or concurrent) that is applied, if one is. */
  indexMigrationApplied: string | null;
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
 * For every panel button: null when it can be pressed, else why not (one sentence, shown as its tooltip
 * and accessible description). Computed by the host, which knows; the panel only draws it.
 */
export type ButtonStates = Record<PanelAction, string | null>;

/** Everything the panel draws; sent whole after `ready`, then kept current with deltas. */
export interface PanelState {
  lab: LabSummary;
  probe: { running: boolean; url?: string };
  monitor: MonitorStatusDto | null;
  locks: LockSnapshotDto | null;
  latency: LatencySnapshotDto | null;
  /** The tables the chart draws and the header lists. */
  watch: WatchDto;
  /** Statement boundaries on the timeline (a trace's statements), oldest first. */
  statements: StatementMarkDto[];
  live: LiveRunInfo | null;
  runs: RunDto[];
  /** The pair of runs to compare side by side (the host's rule), or null while there is none. */
  comparison: ComparisonDto | null;
  /** The newest result of each lesson that ran. */
  lessons: LessonDto[];
  /** The lesson running now. */
  liveLesson: { name: string; title: string } | null;
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
  locks: LockSnapshotDto;
}
/** A newer latency snapshot. */
export interface LatencyMessage {
  type: 'latency';
  latency: LatencySnapshotDto;
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
