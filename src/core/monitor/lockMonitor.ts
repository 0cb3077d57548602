import { APP_NAMES, connect as openConnection, quoteIdent, type ConnectionTarget } from '../db';
import { describeError } from '../errors';
import { silentLogger, type Logger } from '../log';
import { DEMO_SCENARIO } from '../scenarios/demo';
import { dedupePids, roleOf, type SessionRole } from './roles';

/** One row of pg_locks joined with its session, as the panel's lock table shows it. */
export interface LockRow {
  pid: number;
  role: SessionRole;
  applicationName: string;
  /** pg_stat_activity.backend_type, e.g. 'client backend' or 'parallel worker'. */
  backendType: string | null;
  /** The parallel group leader of a parallel worker (PG13+), else null. */
  leaderPid: number | null;
  /** 'active', 'idle in transaction', … */
  state: string | null;
  /** wait_event_type:wait_event, e.g. 'Lock:relation'; null when not waiting. */
  waitEvent: string | null;
  /** 'relation', 'virtualxid', 'transactionid', … */
  locktype: string;
  mode: string;
  granted: boolean;
  /** schema.table of a relation lock (quoted only where needed), else null. */
  relation: string | null;
  /** What is locked: the relation, the virtualxid or the transactionid (as text). */
  target: string | null;
  /** Sessions this one waits for, de-duplicated (empty when granted). */
  blockedBy: number[];
  /** How long this lock has been waited for, in ms (null when granted). */
  waitingMs: number | null;
  /** The session's current or last query, cut to 200 characters. */
  query: string;
}

/** Who waits for whom: one entry per waiting session. */
export interface BlockingChain {
  waiterPid: number;
  waiterRole: SessionRole;
  blockerPids: number[];
  /** Roles of blockerPids, same order ('other' when the session was gone). */
  blockerRoles: SessionRole[];
  waitingMs: number;
  mode: string;
  locktype: string;
  target: string | null;
}

/** One row of pg_stat_progress_create_index. */
export interface IndexProgress {
  pid: number;
  role: SessionRole;
  /** 'CREATE INDEX', 'CREATE INDEX CONCURRENTLY', 'REINDEX', … */
  command: string;
  phase: string;
  /** The table (schema.table). */
  relation: string | null;
  /** The index, when it already has a catalog entry (not for a plain build). */
  index: string | null;
  lockersTotal: number;
  lockersDone: number;
  currentLockerPid: number | null;
  blocksTotal: number;
  blocksDone: number;
  tuplesTotal: number;
  tuplesDone: number;
  /** Percent of the current phase, from whichever counter the phase advances; null when none does. */
  percent: number | null;
}

export interface LockSnapshot {
  /** Epoch ms when the poll started. */
  at: number;
  locks: LockRow[];
  blockingChains: BlockingChain[];
  progress: IndexProgress[];
  /** How long the poll's queries took, ms. */
  pollMs: number;
}

export type MonitorState = 'stopped' | 'connecting' | 'running' | 'reconnecting';

export interface MonitorStatus {
  state: MonitorState;
  at: number;
  /** Connection attempts since the last good connection (while reconnecting). */
  attempt?: number;
  /** When the next attempt is due, in ms from `at`. */
  retryInMs?: number;
  /** Last error, one line. */
  error?: string;
  /** server_version_num of the connected server. */
  serverVersion?: number;
}

export interface MonitorStats {
  polls: number;
  /** Ticks skipped because the previous poll was still running. */
  skippedTicks: number;
  /** Polls that failed (query errors and lost connections). */
  errors: number;
  /** Connections opened after the first one. */
  reconnects: number;
  lastPollMs: number | null;
  meanPollMs: number | null;
  maxPollMs: number | null;
}

export interface Disposable {
  dispose(): void;
}

/**
 * A query the monitor runs on every poll, as a named prepared statement: PostgreSQL then parses
 * and plans it once per connection instead of on every poll (planning the pg_stat_activity joins was
 * most of a poll's cost: about 4 of 5 ms).
 */
export interface PreparedQuery {
  name: string;
  text: string;
  values?: unknown[];
}

/** The part of pg.Client the monitor uses (a fake stands in for it in unit tests). */
export interface MonitorClient {
  query(query: string | PreparedQuery, values?: unknown[]): Promise<{ rows: unknown[] }>;
  end(): Promise<void>;
  on(event: 'error', listener: (e: Error) => void): unknown;
  on(event: 'end', listener: () => void): unknown;
}

export interface LockMonitorOptions {
  target: ConnectionTarget;
  /**
   * Tables whose every lock is shown (granted or not), as SQL names for to_regclass, e.g.
   * `"migration_lab".orders` (see labRelations). Not-granted locks anywhere in the database are
   * shown too.
   */
  relations: readonly string[];
  /**
   * Show every lock of every session in the database, on any relation (a trace watches the
   * migration's backend whatever it touches, and then `relations` adds nothing). Default false.
   */
  everyLock?: boolean;
  /** Time between polls; default 200 ms (5 Hz). */
  intervalMs?: number;
  /** statement_timeout of the monitor's session; default 2000 ms. */
  statementTimeoutMs?: number;
  /** Longest wait before the next connection attempt after a failure; default 3000 ms. */
  maxBackoffMs?: number;
  logger?: Logger;
  /** Opens the monitor's connection; defaults to db.connect (tests inject a fake). */
  connect?: (target: ConnectionTarget, applicationName: string, logger: Logger) => Promise<MonitorClient>;
}

export const DEFAULT_MONITOR_INTERVAL_MS = 200;
const QUERY_TEXT_LIMIT = 200;

/** The tables a scenario watches (the demo's by default) in `schema`, as SQL names for to_regclass. */
export function labRelations(schema: string, tables: readonly string[] = DEMO_SCENARIO.tables): string[] {
  return tables.map((t) => `${quoteIdent(schema)}.${t}`);
}

/** The pg_locks ⋈ pg_stat_activity query, adapted to what the server version has. */
export function lockQuery(serverVersion: number): string {
  const hasLeader = serverVersion >= 130000;
  const hasWaitstart = serverVersion >= 140000;
  const leaderPid = hasLeader ? 'a.leader_pid' : 'NULL::int';
  const waitstart = hasWaitstart ? 'l.waitstart' : 'NULL::timestamptz';
  return `WITH rel AS (SELECT to_regclass(n)::oid AS oid FROM unnest($1::text[]) AS n),
     db AS (SELECT oid FROM pg_database WHERE datname = current_database())
SELECT a.pid,
       a.application_name,
       a.backend_type,
       ${leaderPid} AS leader_pid,
       la.application_name AS leader_application_name,
       a.state,
       a.wait_event_type || ':' || a.wait_event AS wait_event,
       l.locktype,
       l.mode,
       l.granted,
       CASE WHEN c.oid IS NOT NULL THEN format('%I.%I', ns.nspname, c.relname) END AS relation,
       coalesce(CASE WHEN c.oid IS NOT NULL THEN format('%I.%I', ns.nspname, c.relname) END,
                l.relation::text, l.virtualxid, l.transactionid::text) AS target,
       CASE WHEN NOT l.granted
            THEN array(SELECT DISTINCT b FROM unnest(pg_blocking_pids(a.pid)) AS b ORDER BY b) END AS blocked_by,
       CASE WHEN NOT l.granted
            THEN greatest(0, round(extract(epoch FROM clock_timestamp() - coalesce(${waitstart}, a.state_change)) * 1000))::float8
       END AS waiting_ms,
       left(a.query, ${QUERY_TEXT_LIMIT}) AS query
  FROM pg_locks l
  JOIN pg_stat_activity a ON a.pid = l.pid
  LEFT JOIN pg_stat_activity la ON la.pid = ${leaderPid} AND la.pid <> a.pid
  LEFT JOIN pg_class c ON c.oid = l.relation AND l.database = (SELECT oid FROM db)
  LEFT JOIN pg_namespace ns ON ns.oid = c.relnamespace
 WHERE a.datname = current_database()
   AND a.pid <> pg_backend_pid()
   AND ($2::boolean OR l.relation IN (SELECT oid FROM rel) OR NOT l.granted)
 ORDER BY l.granted, ${waitstart} NULLS LAST, a.pid, l.locktype, l.mode`;
}

export const PROGRESS_QUERY = `SELECT p.pid,
       a.application_name,
       p.command,
       p.phase,
       CASE WHEN c.oid IS NOT NULL THEN format('%I.%I', ns.nspname, c.relname) END AS relation,
       (SELECT format('%I.%I', n2.nspname, c2.relname)
          FROM pg_class c2 JOIN pg_namespace n2 ON n2.oid = c2.relnamespace
         WHERE p.index_relid <> 0 AND c2.oid = p.index_relid) AS index,
       p.lockers_total::float8 AS lockers_total,
       p.lockers_done::float8 AS lockers_done,
       nullif(p.current_locker_pid, 0)::int AS current_locker_pid,
       p.blocks_total::float8 AS blocks_total,
       p.blocks_done::float8 AS blocks_done,
       p.tuples_total::float8 AS tuples_total,
       p.tuples_done::float8 AS tuples_done
  FROM pg_stat_progress_create_index p
  LEFT JOIN pg_stat_activity a ON a.pid = p.pid
  LEFT JOIN pg_class c ON c.oid = p.relid
  LEFT JOIN pg_namespace ns ON ns.oid = c.relnamespace
 WHERE p.datname = current_database()
 ORDER BY p.pid`;

/**
 * The lock query and the progress query in one statement, so a poll is one round trip: each
 * result as a JSON array of the same rows (json_agg keeps the order of its sorted input).
 */
export function pollQuery(serverVersion: number): string {
  return `SELECT (SELECT coalesce(json_agg(l), '[]'::json) FROM (${lockQuery(serverVersion)}) AS l) AS locks,
       (SELECT coalesce(json_agg(p), '[]'::json) FROM (${PROGRESS_QUERY}) AS p) AS progress`;
}

const SESSIONS_QUERY = (serverVersion: number) => {
  const leaderPid = serverVersion >= 130000 ? 'a.leader_pid' : 'NULL::int';
  return `SELECT a.pid, a.application_name, a.backend_type, ${leaderPid} AS leader_pid,
       la.application_name AS leader_application_name
  FROM pg_stat_activity a
  LEFT JOIN pg_stat_activity la ON la.pid = ${leaderPid} AND la.pid <> a.pid
 WHERE a.pid = ANY($1::int[])`;
};

/**
 * Percent done of the phase an index build is in, from the counter that phase advances:
 * lockers while waiting, tuples while loading the tree, blocks while scanning; null while sorting
 * or when the phase has no totals.
 */
export function progressPercent(p: {
  phase: string;
  lockersTotal: number;
  lockersDone: number;
  blocksTotal: number;
  blocksDone: number;
  tuplesTotal: number;
  tuplesDone: number;
}): number | null {
  const pct = (done: number, total: number) =>
    total > 0 ? Math.min(100, Math.max(0, Math.round((done / total) * 1000) / 10)) : null;
  const phase = p.phase.toLowerCase();
  if (phase.startsWith('waiting')) return pct(p.lockersDone, p.lockersTotal);
  if (phase.includes('sorting')) return null;
  if (phase.includes('loading tuples')) return pct(p.tuplesDone, p.tuplesTotal);
  if (phase.includes('scanning') && p.blocksTotal > 0) return pct(p.blocksDone, p.blocksTotal);
  if (p.tuplesTotal > 0) return pct(p.tuplesDone, p.tuplesTotal);
  if (p.blocksTotal > 0) return pct(p.blocksDone, p.blocksTotal);
  return null;
}

interface RawLockRow {
  pid: number;
  application_name: string | null;
  backend_type: string | null;
  leader_pid: number | null;
  leader_application_name: string | null;
  state: string | null;
  wait_event: string | null;
  locktype: string;
  mode: string;
  granted: boolean;
  relation: string | null;
  target: string | null;
  blocked_by: number[] | null;
  waiting_ms: number | null;
  query: string | null;
}

interface RawProgressRow {
  pid: number;
  application_name: string | null;
  command: string;
  phase: string;
  relation: string | null;
  index: string | null;
  lockers_total: number | null;
  lockers_done: number | null;
  current_locker_pid: number | null;
  blocks_total: number | null;
  blocks_done: number | null;
  tuples_total: number | null;
  tuples_done: number | null;
}

interface RawSessionRow {
  pid: number;
  application_name: string | null;
  backend_type: string | null;
  leader_pid: number | null;
  leader_application_name: string | null;
}

/** Turns raw lock-query rows into LockRows (roles, de-duplicated blockers). Pure; exported for tests. */
export function toLockRows(raw: readonly RawLockRow[]): LockRow[] {
  return raw.map((r) => ({
    pid: r.pid,
    role: roleOf({
      pid: r.pid,
      applicationName: r.application_name,
      backendType: r.backend_type,
      leaderPid: r.leader_pid,
      leaderApplicationName: r.leader_application_name,
    }),
    applicationName: r.application_name ?? '',
    backendType: r.backend_type,
    leaderPid: r.leader_pid ?? null,
    state: r.state,
    waitEvent: r.wait_event,
    locktype: r.locktype,
    mode: r.mode,
    granted: r.granted,
    relation: r.relation,
    target: r.target,
    blockedBy: r.granted ? [] : dedupePids(r.blocked_by),
    waitingMs: r.granted || r.waiting_ms === null ? null : Number(r.waiting_ms),
    query: (r.query ?? '').slice(0, QUERY_TEXT_LIMIT),
  }));
}

/** One chain per waiting session, from lock rows; `roles` labels blockers not in the rows. */
export function toBlockingChains(
  locks: readonly LockRow[],
  roles: ReadonlyMap<number, SessionRole> = new Map(),
): BlockingChain[] {
  const known = new Map<number, SessionRole>(roles);
  for (const l of locks) known.set(l.pid, l.role);
  const byWaiter = new Map<number, BlockingChain>();
  for (const l of locks) {
    if (l.granted) continue;
    const chain: BlockingChain = {
      waiterPid: l.pid,
      waiterRole: l.role,
      blockerPids: l.blockedBy,
      blockerRoles: l.blockedBy.map((p) => known.get(p) ?? 'other'),
      waitingMs: l.waitingMs ?? 0,
      mode: l.mode,
      locktype: l.locktype,
      target: l.target,
    };
    const previous = byWaiter.get(l.pid);
    if (!previous || chain.waitingMs > previous.waitingMs) byWaiter.set(l.pid, chain);
  }
  return [...byWaiter.values()];
}

function toProgress(raw: readonly RawProgressRow[]): IndexProgress[] {
  return raw.map((r) => {
    const p = {
      pid: r.pid,
      role: roleOf({ pid: r.pid, applicationName: r.application_name }),
      command: r.command,
      phase: r.phase,
      relation: r.relation,
      index: r.index,
      lockersTotal: Number(r.lockers_total ?? 0),
      lockersDone: Number(r.lockers_done ?? 0),
      currentLockerPid: r.current_locker_pid ?? null,
      blocksTotal: Number(r.blocks_total ?? 0),
      blocksDone: Number(r.blocks_done ?? 0),
      tuplesTotal: Number(r.tuples_total ?? 0),
      tuplesDone: Number(r.tuples_done ?? 0),
    };
    return { ...p, percent: progressPercent(p) };
  });
}

/** SQLSTATEs after which the session is gone or unusable: connection exceptions and shutdowns. */
function isConnectionError(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || !/^[0-9A-Z]{5}$/.test(code)) return true; // socket errors, timeouts
  return code.startsWith('08') || code.startsWith('57P');
}

class PollTimeout extends Error {
  constructor(ms: number) {
    super(`The lock monitor's poll did not answer within ${ms} ms.`);
    this.name = 'PollTimeout';
  }
}

interface Session {
  client: MonitorClient;
  alive: boolean;
  serverVersion: number;
  pollSql: string;
  sessionsSql: string;
}

/**
 * Polls pg_locks ⋈ pg_stat_activity and pg_stat_progress_create_index on one dedicated connection.
 * Polls never overlap (a slow poll makes the next ticks skip), errors never escape the loop, and a
 * lost connection is re-opened with backoff.
 */
export class LockMonitor {
  readonly intervalMs: number;
  private readonly relations: string[];
  private readonly statementTimeoutMs: number;
  private readonly maxBackoffMs: number;
  private readonly logger: Logger;
  private readonly openClient: NonNullable<LockMonitorOptions['connect']>;
  private readonly snapshotListeners = new Set<(s: LockSnapshot) => void>();
  private readonly statusListeners = new Set<(s: MonitorStatus) => void>();
  private timer: NodeJS.Timeout | undefined;
  private session: Session | undefined;
  /** Bumped by start() and stop(): work of an older generation is dropped when it completes. */
  private generation = 0;
  private busy = false;
  private everConnected = false;
  private attempts = 0;
  private retryAt = 0;
  private current: MonitorStatus = { state: 'stopped', at: Date.now() };
  private last: LockSnapshot | undefined;
  private counters = { polls: 0, skippedTicks: 0, errors: 0, reconnects: 0, totalMs: 0, maxMs: 0 };
  private lastPollMs: number | null = null;

  constructor(private readonly options: LockMonitorOptions) {
    this.intervalMs = Math.max(10, options.intervalMs ?? DEFAULT_MONITOR_INTERVAL_MS);
    this.relations = [...options.relations];
    this.statementTimeoutMs = Math.max(100, options.statementTimeoutMs ?? 2000);
    this.maxBackoffMs = Math.max(100, options.maxBackoffMs ?? 3000);
    this.logger = options.logger ?? silentLogger;
    this.openClient = options.connect ?? openConnection;
  }

  get status(): MonitorStatus {
    return this.current;
  }

  /** The newest snapshot (e.g. for a panel that just opened). */
  get latest(): LockSnapshot | undefined {
    return this.last;
  }

  get running(): boolean {
    return this.timer !== undefined;
  }

  /** Poll timings, for the status line and the benchmark. */
  get stats(): MonitorStats {
    const { polls, skippedTicks, errors, reconnects, totalMs, maxMs } = this.counters;
    return {
      polls,
      skippedTicks,
      errors,
      reconnects,
      lastPollMs: this.lastPollMs,
      meanPollMs: polls > 0 ? totalMs / polls : null,
      maxPollMs: polls > 0 ? maxMs : null,
    };
  }

  onSnapshot(listener: (snapshot: LockSnapshot) => void): Disposable {
    this.snapshotListeners.add(listener);
    return { dispose: () => this.snapshotListeners.delete(listener) };
  }

  onStatus(listener: (status: MonitorStatus) => void): Disposable {
    this.statusListeners.add(listener);
    return { dispose: () => this.statusListeners.delete(listener) };
  }

  /** Starts polling (returns at once; the connection opens in the background). Idempotent. */
  start(): void {
    if (this.timer) return;
    this.generation++;
    this.busy = false;
    this.attempts = 0;
    this.retryAt = 0;
    this.everConnected = false;
    this.setStatus({ state: 'connecting' });
    this.timer = setInterval(() => this.tick(), this.intervalMs);
    this.timer.unref?.();
    this.tick();
  }

  /** Stops polling and closes the connection. Idempotent; resolves once the connection is closed. */
  async stop(): Promise<void> {
    const wasRunning = this.timer !== undefined;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.generation++;
    this.busy = false;
    const session = this.session;
    this.session = undefined;
    if (session) await this.closeClient(session.client);
    if (wasRunning) this.setStatus({ state: 'stopped' });
  }

  private tick(): void {
    if (!this.timer) return;
    if (this.busy) {
      this.counters.skippedTicks++;
      return;
    }
    if (!this.session && Date.now() < this.retryAt) return;
    this.busy = true;
    const generation = this.generation;
    this.cycle(generation)
      .catch((e: unknown) => this.logger.warn(`Lock monitor: ${describeError(e)}`))
      .finally(() => {
        if (generation === this.generation) this.busy = false;
      });
  }

  private async cycle(generation: number): Promise<void> {
    let session = this.session;
    if (!session) {
      try {
        session = await this.open();
      } catch (e) {
        if (generation === this.generation) this.connectFailed(e);
        return;
      }
      if (generation !== this.generation) {
        await this.closeClient(session.client);
        return;
      }
      if (this.everConnected) this.counters.reconnects++;
      this.everConnected = true;
      this.attempts = 0;
      this.session = session;
      this.setStatus({ state: 'running', serverVersion: session.serverVersion });
    }

    let snapshot: LockSnapshot;
    try {
      snapshot = await this.withTimeout(this.poll(session));
    } catch (e) {
      if (generation !== this.generation) return;
      this.counters.errors++;
      if (!session.alive || isConnectionError(e)) {
        this.logger.warn(`Lock monitor lost its connection: ${describeError(e)}`);
        this.session = undefined;
        void this.closeClient(session.client);
        this.connectFailed(e);
      } else {
        this.logger.warn(`Lock monitor poll failed: ${describeError(e)}`);
        this.setStatus({ state: 'running', serverVersion: session.serverVersion, error: oneLine(e) });
      }
      return;
    }
    if (generation !== this.generation) return;
    this.counters.polls++;
    this.counters.totalMs += snapshot.pollMs;
    this.counters.maxMs = Math.max(this.counters.maxMs, snapshot.pollMs);
    this.lastPollMs = snapshot.pollMs;
    this.last = snapshot;
    if (this.current.state !== 'running' || this.current.error)
      this.setStatus({ state: 'running', serverVersion: session.serverVersion });
    for (const listener of [...this.snapshotListeners]) {
      try {
        listener(snapshot);
      } catch (e) {
        this.logger.warn(`A lock monitor listener failed: ${describeError(e)}`);
      }
    }
  }

  private async open(): Promise<Session> {
    const client = await this.openClient(this.options.target, APP_NAMES.monitor, this.logger);
    const session: Session = { client, alive: true, serverVersion: 0, pollSql: '', sessionsSql: '' };
    client.on('error', () => (session.alive = false));
    client.on('end', () => (session.alive = false));
    try {
      await this.withTimeout(
        client.query(
          `SET statement_timeout = ${Math.round(this.statementTimeoutMs)}; SET lock_timeout = ${Math.round(this.statementTimeoutMs)}`,
        ),
      );
      const { rows } = await this.withTimeout(
        client.query("SELECT current_setting('server_version_num')::int AS v"),
      );
      session.serverVersion = Number((rows[0] as { v: number } | undefined)?.v ?? 0);
    } catch (e) {
      await this.closeClient(client);
      throw e;
    }
    session.pollSql = pollQuery(session.serverVersion);
    session.sessionsSql = SESSIONS_QUERY(session.serverVersion);
    return session;
  }

  private connectFailed(e: unknown): void {
    this.attempts++;
    const delay = Math.min(this.maxBackoffMs, 200 * 2 ** Math.min(10, this.attempts - 1));
    this.retryAt = Date.now() + delay;
    if (this.attempts === 1 || this.attempts % 10 === 0)
      this.logger.warn(`Lock monitor cannot connect (attempt ${this.attempts}): ${describeError(e)}`);
    this.setStatus({
      state: this.everConnected || this.attempts > 1 ? 'reconnecting' : 'connecting',
      attempt: this.attempts,
      retryInMs: delay,
      error: oneLine(e),
    });
  }

  private async poll(session: Session): Promise<LockSnapshot> {
    const at = Date.now();
    const t0 = performance.now();
    const { rows: pollRows } = await session.client.query({
      name: 'migration-lab:poll',
      text: session.pollSql,
      values: [this.relations, this.options.everyLock === true],
    });
    const polled = pollRows[0] as { locks: RawLockRow[]; progress: RawProgressRow[] } | undefined;
    const locks = toLockRows(polled?.locks ?? []);
    const seen = new Set(locks.map((l) => l.pid));
    const unknownBlockers = [...new Set(locks.flatMap((l) => l.blockedBy))].filter((p) => !seen.has(p));
    const roles = new Map<number, SessionRole>();
    if (unknownBlockers.length > 0) {
      const { rows } = await session.client.query({
        name: 'migration-lab:sessions',
        text: session.sessionsSql,
        values: [unknownBlockers],
      });
      for (const r of rows as RawSessionRow[]) {
        roles.set(
          r.pid,
          roleOf({
            pid: r.pid,
            applicationName: r.application_name,
            backendType: r.backend_type,
            leaderPid: r.leader_pid,
            leaderApplicationName: r.leader_application_name,
          }),
        );
      }
    }
    const pollMs = performance.now() - t0;
    return {
      at,
      locks,
      blockingChains: toBlockingChains(locks, roles),
      progress: toProgress(polled?.progress ?? []),
      pollMs: Math.round(pollMs * 100) / 100,
    };
  }

  /** A client-side guard on top of statement_timeout, for a server that stopped answering. */
  private withTimeout<T>(work: Promise<T>): Promise<T> {
    const ms = this.statementTimeoutMs + 3000;
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([
      work,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new PollTimeout(ms)), ms);
        timer.unref?.();
      }),
    ]).finally(() => clearTimeout(timer));
  }

  private async closeClient(client: MonitorClient): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      client.end().catch(() => undefined),
      new Promise<void>((r) => {
        timer = setTimeout(r, 2000);
        timer.unref?.();
      }),
    ]).finally(() => clearTimeout(timer));
  }

  private setStatus(status: Omit<MonitorStatus, 'at'>): void {
    this.current = { ...status, at: Date.now() };
    for (const listener of [...this.statusListeners]) {
      try {
        listener(this.current);
      } catch (e) {
        this.logger.warn(`A lock monitor status listener failed: ${describeError(e)}`);
      }
    }
  }
}

function oneLine(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  return text.split('\n')[0]!.slice(0, 300);
}
