/**
 * Pure functions over the panel protocol's types (no DOM, no `vscode`), shared by the host and the panel
 * and unit-tested under plain Node: which buttons are available and why not, the saved state's version
 * check, the blocking chain's distinct shapes, and the chart's text alternative.
 */
import {
  PROTOCOL_VERSION,
  type BlockingChainDto,
  type ButtonStates,
  type PanelState,
  type SessionRoleDto,
  type StatementMarkDto,
} from './protocol';

/** Milliseconds as the panel writes them: "850 ms", "1.2 s", "–" for no value. */
export function ms(value: number | null | undefined): string {
  if (value === null || value === undefined) return '–';
  return value >= 1000 ? `${(value / 1000).toFixed(1)} s` : `${Math.round(value)} ms`;
}

// ---- buttons: the host decides, the panel draws ----

/** What the availability of the panel's buttons depends on (all of it the host's knowledge). */
export type ButtonInputs = Pick<
  PanelState,
  'lab' | 'probe' | 'live' | 'runs' | 'liveLesson' | 'slowReportPid'
>;

/**
 * For every panel action: null when the button can be pressed, else the one sentence that says why not
 * (the panel shows it as the button's tooltip and accessible description).
 */
export function buttonStates(s: ButtonInputs): ButtonStates {
  const db = s.lab.database;
  const notRunning =
    db === 'running'
      ? null
      : db === 'starting'
        ? 'PostgreSQL is starting.'
        : db === 'stopping'
          ? 'PostgreSQL is stopping.'
          : 'PostgreSQL is stopped: press Start PostgreSQL first.';
  const busy = s.lab.running
    ? `${s.lab.running.id} is running; wait for it or press Cancel.`
    : s.liveLesson
      ? `A lesson is running (${s.liveLesson.title}); wait for it to finish.`
      : null;
  const applied = s.lab.indexMigrationApplied;
  const notSeeded = s.lab.seeded ? null : `${s.lab.seedTable} has no rows yet: run Seed Tables first.`;
  const indexApplied = applied ? `${applied} is applied: press Roll Back first.` : null;
  const first = (...reasons: (string | null)[]) => reasons.find((r) => r !== null) ?? null;
  return {
    startPostgres: db === 'stopped' ? null : db === 'running' ? 'PostgreSQL is already running.' : notRunning,
    runLocking: first(notRunning, busy, indexApplied),
    rollback: first(
      notRunning,
      busy,
      applied ? null : 'No index migration is applied: there is nothing to roll back.',
    ),
    runConcurrent: first(notRunning, busy, indexApplied),
    cancel: s.lab.running ? null : 'No migration is running.',
    startProbe: first(notRunning, s.probe.running ? 'The probe is already running.' : null),
    // Stopping the probe mid-run would leave the run's verdict without latency.
    stopProbe: first(
      s.probe.running ? null : 'The probe is not running.',
      s.live ? 'A migration is being recorded; its verdict needs the probe.' : null,
      s.liveLesson ? 'A lesson is running; its verdict needs the probe.' : null,
    ),
    exportReport: s.runs.length > 0 ? null : 'No runs recorded yet.',
    openTerminal: notRunning,
    lessonLockQueue: first(notRunning, busy, notSeeded),
    lessonLockTimeout: first(notRunning, busy, notSeeded),
    lessonConcurrentWaits: first(notRunning, busy, notSeeded, indexApplied),
    lessonFailedConcurrently: first(notRunning, busy, notSeeded),
    startSlowReport: first(
      notRunning,
      s.slowReportPid !== null ? `The slow report is already open (pid ${s.slowReportPid}).` : null,
    ),
    endSlowReport: s.slowReportPid !== null ? null : 'No slow report is open.',
    dropInvalidIndex: first(
      notRunning,
      s.lab.running ? `${s.lab.running.id} is running.` : null,
      s.lab.invalidIndexes.length > 0 ? null : 'There is no invalid index.',
    ),
  };
}

// ---- the saved state (vscode.setState) ----

/** The saved state's shape version is the protocol's: a saved state of another version is dropped. */
export const PANEL_STATE_VERSION = PROTOCOL_VERSION;

export interface SavedPanelState {
  version: number;
  state: PanelState;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

/** The state to draw from what vscode.getState() returned, or undefined when it is absent or not ours. */
export function restoreSavedState(saved: unknown): PanelState | undefined {
  if (!isObject(saved) || saved.version !== PANEL_STATE_VERSION || !isObject(saved.state)) return undefined;
  const s = saved.state;
  const lab = s.lab;
  const valid =
    isObject(lab) &&
    typeof lab.database === 'string' &&
    Array.isArray(lab.applied) &&
    Array.isArray(lab.invalidIndexes) &&
    isObject(s.probe) &&
    Array.isArray(s.runs) &&
    Array.isArray(s.lessons) &&
    isObject(s.buttons) &&
    isObject(s.watch) &&
    Array.isArray(s.watch.tables) &&
    Array.isArray(s.statements) &&
    (s.locks === null || isObject(s.locks)) &&
    (s.latency === null || (isObject(s.latency) && Array.isArray(s.latency.tables)));
  return valid ? (s as unknown as PanelState) : undefined;
}

// ---- who waits for whom, by shape ----

/** Waiting sessions that wait the same way on the same blockers: one line of the collapsed chain. */
export interface ChainShape {
  waiterRole: SessionRoleDto;
  waiterPids: number[];
  mode: string;
  locktype: string;
  target: string | null;
  blockers: { pid: number; role: SessionRoleDto }[];
  /** The longest wait among them. */
  maxWaitingMs: number;
}

/** Groups the chain by (waiter role, lock mode and target, blockers), the largest group first. */
export function chainShapes(chains: readonly BlockingChainDto[]): ChainShape[] {
  const byKey = new Map<string, ChainShape>();
  for (const c of chains) {
    const key = JSON.stringify([c.waiterRole, c.mode, c.locktype, c.target, c.blockerPids]);
    let shape = byKey.get(key);
    if (!shape) {
      shape = {
        waiterRole: c.waiterRole,
        waiterPids: [],
        mode: c.mode,
        locktype: c.locktype,
        target: c.target,
        blockers: c.blockerPids.map((pid, i) => ({ pid, role: c.blockerRoles[i] ?? 'other' })),
        maxWaitingMs: 0,
      };
      byKey.set(key, shape);
    }
    shape.waiterPids.push(c.waiterPid);
    shape.maxWaitingMs = Math.max(shape.maxWaitingMs, c.waitingMs);
  }
  return [...byKey.values()].sort(
    (a, b) => b.waiterPids.length - a.waiterPids.length || b.maxWaitingMs - a.maxWaitingMs,
  );
}

/** Who waits, named by role first: "probe-read 4711", or "20 probe-write sessions" for a group. */
export function waitersSubject(shape: Pick<ChainShape, 'waiterRole' | 'waiterPids'>): string {
  const n = shape.waiterPids.length;
  return n === 1 ? `${shape.waiterRole} ${shape.waiterPids[0]}` : `${n} ${shape.waiterRole} sessions`;
}

// ---- the chart's text alternative ----

/** The latency chart's accessible name: what it shows and the latest p95 of each table's reads and writes. */
export function latencyChartLabel(latency: PanelState['latency']): string {
  if (!latency) return 'Latency chart of reads and writes: the probe has not measured yet.';
  const one = latency.tables.length === 1;
  const parts = latency.tables.map(
    (t) =>
      `${one ? '' : `${t.table} `}reads p95 ${ms(t.read.p95Ms)}, ${one ? '' : `${t.table} `}writes p95 ${ms(t.write.p95Ms)}`,
  );
  const of = one ? ` of ${latency.tables[0]!.table}` : '';
  return `Latency chart of reads and writes${of}, last ${latency.windowMs / 1000} s: ${parts.join('; ') || 'no table watched'}.`;
}

/** A statement mark's text for its tooltip and accessible name: "label, 1.2 s: SQL" (or "running"). */
export function statementMarkText(mark: StatementMarkDto, now: number): string {
  const took =
    mark.endedAt === null ? `running for ${ms(now - mark.startedAt)}` : ms(mark.endedAt - mark.startedAt);
  return `${mark.label}, ${took}: ${mark.sql}`;
}
