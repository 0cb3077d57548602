/**
 * Traces a migration of a source (issue 12 §1, §3): replays what comes before it onto the source's
 * scratch database, fills the tables it touches, then runs it as its tool would while the lock
 * monitor (every session, every relation), per-table probes and an optional long transaction watch,
 * and attributes to each statement what was observed. Leaves nothing behind: probes, the long
 * transaction and the monitor end and the scratch database is reset, on success, cancel and failure.
 *
 * How each observation is made (README "Design decisions"):
 * - locks: the lock monitor's snapshots of the migration's backend (by pid, parallel workers
 *   included) during the statement, which also sees statements outside a transaction
 *   (CONCURRENTLY); inside a transaction block, the backend's own pg_locks right after the statement
 *   too, so a lock taken faster than a poll is never missed;
 * - rewrites: pg_relation_filenode() of the touched tables and their indexes, read on the
 *   migration's own connection right before and after the statement: inside a transaction only that
 *   session sees the new file before commit, outside one every session sees the same;
 * - only relations that existed before the migration count: a relation it creates blocks nobody.
 */
import type pg from 'pg';
import { APP_NAMES, connect, quoteIdent, type ConnectionTarget } from '../db';
import { CancelledError, LabError, describeError, throwIfAborted } from '../errors';
import type { Logger } from '../log';
import { lintSource, type StatementReport } from '../lint/lint';
import { LockMonitor, type LockSnapshot } from '../monitor/lockMonitor';
import type { Migration, MigrationSource } from '../migrations/model';
import {
  REPLAY_STATE_SCHEMA,
  migrationIndex,
  refusesTransactionBlock,
  replay,
  replayStatus,
  resetScratch,
  runSectionObserved,
  scratchDatabaseName,
  type ObservedStatement,
  type ReplayEnvironment,
} from '../migrations/replay';
import { isTransactionControl } from '../migrations/tools/common';
import { DEFAULT_STALLED_THRESHOLD_MS, type ProbeSample } from '../probe/stats';
import {
  latencyDuring,
  maxBlockedSessions,
  mergeLocks,
  observedLocks,
  predictionMismatch,
  progressPhases,
  rewrittenRelations,
  type RelationFile,
} from './attribution';
import { fillTables } from './fill';
import { labVersion } from './labVersion';
import { readProductionStatistics, statisticsLocation } from './statistics';
import { TableProbes } from './tableProbes';
import type {
  TraceLiveEvents,
  TraceLock,
  TraceMigration,
  TraceProgress,
  TraceReport,
  TraceStatement,
  TraceStatistics,
} from './types';
import { migrationVerdict, statementVerdict } from './verdict';

export interface TraceOptions {
  /** The lab server, maintenance database (for an external trace: the user's database itself). */
  target: ConnectionTarget;
  source: MigrationSource;
  /** Migration id (or version); default: the first pending on the scratch database, else the newest. */
  migration?: string;
  /** Trace a range: from `migration` through this one. */
  through?: string;
  /** Rows for the largest touched table (default 1,000,000). */
  rows?: number;
  rowsPerTable?: Record<string, number>;
  /**
   * A database whose statistics size the fill like production (statisticsTarget(url); the CLI's
   * `--stats-url-env`): the touched tables' reltuples are read from its catalog, read-only; the largest
   * touched table gets `rows` and the others their share. Not read on an external trace (no fill).
   */
  statistics?: ConnectionTarget;
  /** Hold a transaction that read every touched table open this long, from just before the migration. */
  longTransactionSeconds?: number;
  /** Read and write probe requests per second, each, per table (default 10). */
  ratePerSecond?: number;
  external?: { commit: boolean; allowNonTransactional: boolean; allowWrites: boolean };
  /** A probe request slower than this counts as stalled (migrationLab.probe.stalledThresholdMs). */
  stalledThresholdMs?: number;
  /** The lock monitor's poll interval during the trace (default 100 ms). */
  monitorIntervalMs?: number;
  /** Roles to create before replaying (migrationLab.replay.roles). */
  roles?: readonly string[];
  logger: Logger;
  signal?: AbortSignal;
  onProgress?: (p: TraceProgress) => void;
  live?: TraceLiveEvents;
}

export const DEFAULT_TRACE_ROWS = 1_000_000;
export const DEFAULT_TRACE_RATE = 10;
/** Polled twice as often as the panel's default, so that a short statement outside a transaction is seen. */
export const TRACE_MONITOR_INTERVAL_MS = 100;
/** How long the trace waits for probe requests still in flight after the last statement. */
const SETTLE_MS = 10_000;

/** Schemas whose relations are never the user's. */
const SYSTEM_SCHEMAS = ['pg_catalog', 'information_schema', 'pg_toast', REPLAY_STATE_SCHEMA];

interface HeldLock {
  relation: string;
  mode: string;
}

/** A statement between its start and the attribution. */
interface Pending {
  s: ObservedStatement;
  startedAt: number;
  endedAt?: number;
  filesBefore: RelationFile[];
  filesAfter?: RelationFile[];
  /** Inside a transaction block: the backend's locks before and right after the statement. */
  heldBefore: HeldLock[];
  heldAfter?: HeldLock[];
}

interface Existing {
  /** plain schema.name → relkind, of every user relation that existed before the migration. */
  relkinds: Map<string, string>;
}

const EXISTING_SQL = `SELECT n.nspname || '.' || c.relname AS name, c.relkind::text AS relkind
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname <> ALL($1::text[]) AND n.nspname NOT LIKE 'pg\\_temp%' AND n.nspname NOT LIKE 'pg\\_toast%'`;

const FILES_SQL = `SELECT n.nspname || '.' || c.relname AS relation, c.relkind::text AS relkind,
       pg_relation_filenode(c.oid)::text AS filenode
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.oid = ANY($1::oid[])
    OR c.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = ANY($1::oid[]))
    OR c.oid IN (SELECT reltoastrelid FROM pg_class WHERE oid = ANY($1::oid[]))`;

const OWN_LOCKS_SQL = `SELECT n.nspname || '.' || c.relname AS relation, l.mode
  FROM pg_locks l JOIN pg_class c ON c.oid = l.relation JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation' AND l.granted`;

/** Which migrations to trace: indexes into source.migrations, first to last. */
async function chooseRange(
  options: TraceOptions,
  env: ReplayEnvironment | undefined,
): Promise<[number, number]> {
  const { source } = options;
  if (source.migrations.length === 0) throw new LabError(`${source.path} has no migrations to trace.`);
  let first: number;
  if (options.migration !== undefined) first = migrationIndex(source, options.migration);
  else if (!env) first = source.migrations.length - 1;
  else {
    const status = await replayStatus(source, env);
    const pending = status.migrations.findIndex((m) => m.status !== 'applied');
    first = pending >= 0 ? pending : source.migrations.length - 1;
  }
  const last = options.through !== undefined ? migrationIndex(source, options.through) : first;
  if (last < first)
    throw new LabError(
      `${source.migrations[last]!.id} comes before ${source.migrations[first]!.id}; a traced range goes forward.`,
    );
  return [first, last];
}

/** Whether the section runs any statement outside a transaction block (so it cannot be rolled back). */
function runsOutsideTransaction(m: Migration): boolean {
  const s = m.up;
  if (s.mode === 'transaction') return false;
  if (s.mode === 'single-string')
    return (
      s.statements.length === 1 ||
      s.statements.some(refusesTransactionBlock) ||
      s.statements.some((x) => isTransactionControl(x.keywords))
    );
  return true;
}

function key(file: string, line: number, column: number): string {
  return `${file}:${line}:${column}`;
}

async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** The exact server version, e.g. "PostgreSQL 18.1", and its major. */
async function serverVersion(client: pg.Client): Promise<{ text: string; major: number }> {
  const { rows } = await client.query<{ v: string; n: number }>(
    "SELECT current_setting('server_version') AS v, current_setting('server_version_num')::int AS n",
  );
  const version = rows[0]!.v.split(' ')[0]!;
  return { text: `PostgreSQL ${version}`, major: Math.floor(rows[0]!.n / 10_000) };
}

/** Every resource the trace opened, so that one finally closes them all, whatever happened. */
class Resources {
  monitor?: LockMonitor;
  probes?: TableProbes;
  longTransaction?: { client: pg.Client; timer?: NodeJS.Timeout; ended: boolean };
  migrationClient?: pg.Client;
  admin?: pg.Client;
  latencyTimer?: NodeJS.Timeout;

  constructor(private readonly logger: Logger) {}

  async endLongTransaction(): Promise<void> {
    const lt = this.longTransaction;
    if (!lt || lt.ended) return;
    lt.ended = true;
    clearTimeout(lt.timer);
    await lt.client.query('ROLLBACK').catch(() => undefined);
    await lt.client
      .end()
      .catch((e: unknown) => this.logger.debug(`trace: closing the long transaction: ${describeError(e)}`));
  }

  async close(): Promise<void> {
    clearInterval(this.latencyTimer);
    const steps: [string, () => Promise<void> | undefined][] = [
      ['the long transaction', () => this.endLongTransaction()],
      ['the probes', () => this.probes?.stop()],
      ['the lock monitor', () => this.monitor?.stop()],
      ['the migration connection', () => this.migrationClient?.end()],
      ['the admin connection', () => this.admin?.end()],
    ];
    for (const [what, step] of steps) {
      try {
        await step();
      } catch (e) {
        this.logger.warn(`trace: ending ${what}: ${describeError(e)}`);
      }
    }
  }
}

/**
 * The tables the traced statements lock, resolved on the database: a lock on an index counts for
 * its table; relations that do not exist yet (created by the migration) are left out.
 */
async function touchedTables(
  client: pg.Client,
  relations: readonly string[],
): Promise<{ name: string; oid: number }[]> {
  if (relations.length === 0) return [];
  const { rows } = await client.query<{ name: string; oid: number }>(
    `SELECT DISTINCT tn.nspname || '.' || t.relname AS name, t.oid::int AS oid
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       LEFT JOIN pg_index i ON i.indexrelid = c.oid
       JOIN pg_class t ON t.oid = coalesce(i.indrelid, c.oid)
       JOIN pg_namespace tn ON tn.oid = t.relnamespace
      WHERE n.nspname || '.' || c.relname = ANY($1::text[]) AND t.relkind IN ('r', 'p')
      ORDER BY 1`,
    [relations],
  );
  return rows;
}

export async function traceMigrations(options: TraceOptions): Promise<TraceReport> {
  const { source, logger, signal, onProgress, live } = options;
  const external = options.external;
  const threshold = options.stalledThresholdMs ?? DEFAULT_STALLED_THRESHOLD_MS;
  const progress = (p: TraceProgress) => {
    logger.info(`trace: ${p.message}`);
    onProgress?.(p);
  };
  const env: ReplayEnvironment | undefined = external
    ? undefined
    : { server: options.target, logger, signal, roles: options.roles };
  const [first, last] = await chooseRange(options, env);
  const migrations = source.migrations.slice(first, last + 1);
  if (external && !external.allowNonTransactional) {
    const outside = migrations.find(runsOutsideTransaction);
    if (outside)
      throw new LabError(
        `${outside.id} runs statements outside a transaction (${outside.up.why.replace(/\.$/, '')}), so on an external database it is refused unless non-transactional sections are allowed: they cannot be rolled back.`,
      );
  }
  throwIfAborted(signal);
  const db: ConnectionTarget = env
    ? { ...options.target, database: scratchDatabaseName(source) }
    : options.target;
  const res = new Resources(logger);
  let scratchTouched = false;
  let onAbort: (() => void) | undefined;
  try {
    // 1. Everything before the first traced migration, and nothing else, on the scratch database.
    if (env) {
      scratchTouched = true;
      const status = await replayStatus(source, env);
      const beyond = status.migrations.slice(first).some((m) => m.status === 'applied');
      if (first === 0) {
        progress({
          phase: 'replay',
          message: `resetting ${db.database}: ${migrations[0]!.id} is the first migration.`,
        });
        await resetScratch(source, env);
      } else {
        const previous = source.migrations[first - 1]!;
        progress({
          phase: 'replay',
          message: `replaying ${source.path} up to ${previous.id}.`,
          done: 0,
          total: first,
        });
        const report = await replay(
          source,
          {
            ...env,
            onProgress: (p) =>
              onProgress?.({
                phase: 'replay',
                message: `replaying ${p.migration}`,
                done: p.index,
                total: p.total,
              }),
          },
          { to: previous.id, reset: beyond },
        );
        if (report.failure)
          throw new LabError(
            `The migrations before ${migrations[0]!.id} could not be replayed: ${report.failure.sentence}`,
          );
      }
    }
    throwIfAborted(signal);

    res.admin = await connect(db, APP_NAMES.admin, logger);
    const version = await serverVersion(res.admin);
    // 2. What the linter predicts, statement by statement, and the tables the statements touch.
    const lint = await lintSource(source, { pgMajor: version.major });
    const predictions = new Map<string, StatementReport>();
    const files = new Set(migrations.flatMap((m) => m.files));
    for (const s of lint.statements) if (files.has(s.file)) predictions.set(key(s.file, s.line, s.column), s);
    const lockedRelations = [
      ...new Set(
        migrations.flatMap((m) =>
          m.up.statements.flatMap(
            (s) =>
              predictions.get(key(s.file, s.start.line, s.start.column))?.locks.map((l) => l.relation) ?? [],
          ),
        ),
      ),
    ];
    const tables = await touchedTables(res.admin, lockedRelations);
    const tableNames = tables.map((t) => t.name);
    logger.info(`trace: touched tables: ${tableNames.join(', ') || 'none'}.`);

    // 3. Rows in them: synthetic on the scratch database, estimated from the catalog on an external one.
    const rows: Record<string, number> = {};
    const fillLimits: string[] = [];
    let statistics: TraceStatistics | undefined;
    if (options.statistics && external)
      logger.info(
        'trace: the statistics database is not read on an external database: nothing is filled there.',
      );
    else if (options.statistics && tableNames.length > 0) {
      const from = statisticsLocation(options.statistics);
      progress({
        phase: 'fill',
        message: `reading the row estimates of ${tableNames.join(', ')} from the statistics database ${from.database} on ${from.host} (catalog only, read-only).`,
      });
      statistics = await readProductionStatistics(options.statistics, tableNames, logger);
      if (statistics.note) progress({ phase: 'fill', message: statistics.note });
      throwIfAborted(signal);
    }
    if (!external && tableNames.length > 0) {
      progress({ phase: 'fill', message: `filling ${tableNames.join(', ')}.` });
      const estimates = statistics?.estimates ?? {};
      const fill = await fillTables(
        db,
        {
          tables: tableNames,
          rows: options.rows ?? DEFAULT_TRACE_ROWS,
          rowsPerTable: options.rowsPerTable,
          ...(Object.keys(estimates).length > 0 ? { productionRowEstimates: estimates } : {}),
        },
        {
          logger,
          signal,
          onProgress: (p) =>
            onProgress?.({ phase: 'fill', message: `filling ${p.table}`, done: p.inserted, total: p.total }),
        },
      );
      for (const t of fill.tables) {
        rows[t.table] = t.inserted;
        if (t.limitedBy) fillLimits.push(t.limitedBy);
      }
    } else if (tableNames.length > 0) {
      const { rows: estimates } = await res.admin.query<{ name: string; n: number }>(
        `SELECT n.nspname || '.' || c.relname AS name, greatest(c.reltuples, 0)::float8 AS n
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = ANY($1::oid[])`,
        [tables.map((t) => t.oid)],
      );
      for (const e of estimates) rows[e.name] = Math.round(e.n);
    }
    throwIfAborted(signal);

    const existing: Existing = { relkinds: new Map() };
    const admin = res.admin;
    /** Reads the user's relations that exist (committed) now, i.e. before the next migration. */
    const readExisting = async () => {
      const { rows: rels } = await admin.query<{ name: string; relkind: string }>(EXISTING_SQL, [
        SYSTEM_SCHEMAS,
      ]);
      existing.relkinds = new Map(rels.map((r) => [r.name, r.relkind]));
    };
    await readExisting();
    const isTable = (relation: string) => ['r', 'p'].includes(existing.relkinds.get(relation) ?? '');

    // 4. Watchers: the lock monitor on every session, probes per table, the optional long transaction.
    progress({ phase: 'trace', message: 'starting the lock monitor and the probes.' });
    const snapshots: LockSnapshot[] = [];
    const monitor = new LockMonitor({
      target: db,
      relations: [],
      everyLock: true,
      intervalMs: options.monitorIntervalMs ?? TRACE_MONITOR_INTERVAL_MS,
      logger,
    });
    res.monitor = monitor;
    monitor.onSnapshot((s) => {
      snapshots.push(s);
      live?.onLocks?.(s);
    });
    monitor.start();
    await waitFor(
      () => snapshots.length > 0,
      15_000,
      signal,
      'The lock monitor could not connect to the traced database.',
    );

    const probes = new TableProbes({
      target: db,
      tables: tableNames,
      ratePerSecond: options.ratePerSecond ?? DEFAULT_TRACE_RATE,
      readOnly: external ? !external.allowWrites : false,
      logger,
      stalledThresholdMs: threshold,
    });
    res.probes = probes;
    await probes.start();
    const writeProbes: TraceReport['writeProbes'] = {};
    const readProbes: NonNullable<TraceReport['readProbes']> = {};
    for (const t of tableNames) {
      writeProbes[t] = probes.writeKind(t);
      const read = probes.readKind(t);
      if (read) readProbes[t] = read;
    }
    const byTable = () => {
      const out: Record<string, { reads: ProbeSample[]; writes: ProbeSample[] }> = {};
      for (const t of tableNames) {
        const all = probes.samples(t);
        out[t] = {
          reads: all.filter((s) => s.kind === 'read'),
          writes: all.filter((s) => s.kind === 'write'),
        };
      }
      return out;
    };
    if (live?.onLatency) {
      res.latencyTimer = setInterval(() => live.onLatency?.(byTable()), 500);
      res.latencyTimer.unref?.();
    }

    res.migrationClient = await connect(db, APP_NAMES.migration, logger);
    const client = res.migrationClient;
    const pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
    onAbort = () => {
      res.admin
        ?.query('SELECT pg_cancel_backend($1)', [pid])
        .catch((e: unknown) => logger.warn(`trace: cancelling the migration: ${describeError(e)}`));
    };
    signal?.addEventListener('abort', onAbort);

    if (options.longTransactionSeconds && options.longTransactionSeconds > 0 && tableNames.length > 0) {
      const lt = await connect(db, APP_NAMES.longTransaction, logger);
      res.longTransaction = { client: lt, ended: false };
      await lt.query('BEGIN');
      for (const t of tableNames) await lt.query(`SELECT 1 FROM ${qualified(t)} LIMIT 1`);
      const ms = options.longTransactionSeconds * 1000;
      res.longTransaction.timer = setTimeout(() => void res.endLongTransaction(), ms);
      res.longTransaction.timer.unref?.();
      logger.info(
        `trace: a transaction that read ${tableNames.join(', ')} stays open ${options.longTransactionSeconds} s.`,
      );
    }

    // 5. The migration(s), statement by statement, as the tool runs them.
    const traced: TraceMigration[] = [];
    /** What attribution needs of each statement besides its TraceStatement. */
    const observed = new Map<
      TraceStatement,
      {
        heldAfter?: HeldLock[];
        heldBefore: HeldLock[];
        failed?: string;
        existing: ReadonlySet<string>;
        /** Where the statement starts on its line (with file and line, the linter's key). */
        column: number;
      }
    >();
    const tableOids = tables.map((t) => t.oid);
    const readFiles = async (): Promise<RelationFile[]> =>
      tableOids.length === 0 ? [] : (await client.query<RelationFile>(FILES_SQL, [tableOids])).rows;
    const ownLocks = async () => (await client.query<HeldLock>(OWN_LOCKS_SQL)).rows;
    let failedSentence: string | undefined;
    for (const migration of migrations) {
      throwIfAborted(signal);
      progress({ phase: 'trace', message: `running ${migration.id} (${migration.up.mode}).` });
      // Relations an earlier traced migration created count from now on.
      await readExisting();
      const existingNow = new Set(existing.relkinds.keys());
      const statements: TraceStatement[] = [];
      let heldBefore: HeldLock[] = [];
      const pending = new Map<number, Pending>();
      const result = await runSectionObserved(client, migration.up, {
        commit: external ? external.commit : true,
        signal,
        observer: {
          before: async (s) => {
            const filesBefore = await readFiles();
            if (!s.inTransaction) heldBefore = [];
            const startedAt = Date.now();
            pending.set(s.index, { s, startedAt, filesBefore, heldBefore });
            const st = s.statement;
            live?.onStatement?.({
              migration: migration.id,
              file: st.file,
              line: st.start.line,
              sql: st.text,
              startedAt,
            });
          },
          after: async (s) => {
            const endedAt = Date.now();
            const entry = pending.get(s.index)!;
            entry.endedAt = endedAt;
            if (s.inTransaction) {
              entry.heldAfter = await ownLocks();
              heldBefore = entry.heldAfter;
            } else heldBefore = [];
            entry.filesAfter = await readFiles();
            const st = s.statement;
            live?.onStatement?.({
              migration: migration.id,
              file: st.file,
              line: st.start.line,
              sql: st.text,
              startedAt: entry.startedAt,
              endedAt,
            });
          },
        },
      });
      if (result.failure) {
        const entry = pending.get(result.failure.index);
        if (entry && entry.endedAt === undefined) entry.endedAt = Date.now();
        if (signal?.aborted) throw new CancelledError('The trace was cancelled.');
        const st = migration.up.statements[result.failure.index];
        failedSentence = `${migration.id} failed${st ? ` at ${st.file}:${st.start.line}` : ''}: ${result.failure.message}${result.failure.sqlstate ? ` (SQLSTATE ${result.failure.sqlstate})` : ''}`;
        logger.warn(`trace: ${failedSentence}`);
      }
      traced.push({ id: migration.id, rows, statements, verdict: '' });
      // Attribution happens after the probes settle; keep what is needed.
      for (const entry of [...pending.values()].sort((a, b) => a.s.index - b.s.index)) {
        const st = entry.s.statement;
        const statement: TraceStatement = {
          file: st.file,
          line: st.start.line,
          sql: st.text,
          durationMs: Math.round(((entry.endedAt ?? Date.now()) - entry.startedAt) * 100) / 100,
          locks: [],
          rewrites: entry.filesAfter ? rewrittenRelations(entry.filesBefore, entry.filesAfter) : [],
          maxBlockedSessions: 0,
          reads: {},
          writes: {},
          verdict: '',
          startedAt: entry.startedAt,
          endedAt: entry.endedAt ?? Date.now(),
          progressPhases: [],
        };
        statements.push(statement);
        observed.set(statement, {
          heldAfter: entry.heldAfter,
          heldBefore: entry.heldBefore,
          existing: existingNow,
          column: st.start.column,
          failed: result.failure?.index === entry.s.index ? failedSentence : undefined,
        });
      }
      if (result.failure) break;
    }

    // 6. Let requests that were in flight during the statements complete, then stop watching.
    const lastEnd = Math.max(0, ...traced.flatMap((m) => m.statements.map((s) => s.endedAt)));
    await waitFor(
      () =>
        tableNames.every((t) =>
          probes.samples(t).every((s) => s.startedAt > lastEnd || s.outcome !== undefined),
        ),
      SETTLE_MS,
      signal,
    ).catch(() => undefined);
    throwIfAborted(signal);
    await sleep(2 * (options.monitorIntervalMs ?? TRACE_MONITOR_INTERVAL_MS), signal); // one more poll after the end
    const now = Date.now();

    for (const m of traced) {
      for (const s of m.statements) {
        const extra = observed.get(s)!;
        const window = { pid, startedAt: s.startedAt, endedAt: s.endedAt };
        const keep = (relation: string) => extra.existing.has(relation);
        const seen = observedLocks(snapshots, window, keep);
        const held = (extra.heldAfter ?? []).filter((l) => keep(l.relation));
        const heldBefore = new Set((extra.heldBefore ?? []).map((l) => `${l.relation}\0${l.mode}`));
        const newlyHeld: TraceLock[] = held
          .filter((l) => !heldBefore.has(`${l.relation}\0${l.mode}`))
          .map((l) => ({ relation: l.relation, mode: l.mode, waitedMs: 0 }));
        // In a transaction the monitor also sees locks held since earlier statements: only new ones count.
        const fromMonitor = extra.heldAfter
          ? seen.filter((l) => l.waitedMs > 0 || !heldBefore.has(`${l.relation}\0${l.mode}`))
          : seen;
        s.locks = mergeLocks(newlyHeld, fromMonitor);
        s.maxBlockedSessions = maxBlockedSessions(snapshots, window);
        s.progressPhases = progressPhases(snapshots, window);
        for (const t of tableNames) {
          const samples = probes.samples(t);
          s.reads[t] = latencyDuring(samples, 'read', s, now, threshold);
          s.writes[t] = latencyDuring(samples, 'write', s, now, threshold);
        }
        const prediction = predictions.get(key(s.file, s.line, extra.column));
        const tooShortToSee =
          !extra.heldAfter &&
          s.locks.length === 0 &&
          snapshots.filter((x) => x.at >= s.startedAt && x.at <= s.endedAt).length === 0;
        if (prediction) {
          s.predicted = prediction.locks
            .filter((l) => keep(l.relation))
            .map((l) => ({ relation: l.relation, mode: l.mode }));
          if (!extra.failed && !tooShortToSee) {
            const mismatch = predictionMismatch(s.predicted, s.locks, {
              heldAfter: extra.heldAfter,
              isTable,
            });
            if (mismatch) {
              s.predictionMismatch = mismatch;
              logger.error(
                `trace: linter bug: ${s.file}:${s.line}: ${mismatch} Please report it with the statement: ${s.sql.slice(0, 300)}`,
              );
            }
          }
        }
        s.verdict = statementVerdict({
          statement: s,
          rows,
          stalledThresholdMs: threshold,
          failed: extra.failed,
          tooShortToSee,
        });
      }
      m.verdict = migrationVerdict(
        m.statements,
        threshold,
        m === traced[traced.length - 1] ? failedSentence : undefined,
      );
    }
    return {
      source: source.path,
      tool: source.tool,
      postgres: version.text,
      labVersion: labVersion(),
      migrations: traced,
      writeProbes,
      readProbes,
      fillLimits,
      ...(statistics ? { statistics } : {}),
      findings: lint.findings
        .filter((f) => files.has(f.file))
        .map((f) => ({
          rule: f.rule,
          severity: f.severity,
          file: f.file,
          line: f.line,
          column: f.column,
          message: f.message,
        })),
    };
  } catch (e) {
    if (signal?.aborted && !(e instanceof CancelledError))
      throw new CancelledError('The trace was cancelled.');
    if (e instanceof CancelledError) throw new CancelledError('The trace was cancelled.');
    throw e;
  } finally {
    if (onAbort) signal?.removeEventListener('abort', onAbort);
    progress({ phase: 'cleanup', message: 'ending the probes, the long transaction and the lock monitor.' });
    await res.close();
    if (env && scratchTouched) {
      progress({ phase: 'cleanup', message: `resetting ${db.database}.` });
      // Without the signal: a cancelled trace must still leave an empty scratch database.
      await resetScratch(source, { ...env, signal: undefined }).catch((e: unknown) =>
        logger.warn(`trace: resetting the scratch database: ${describeError(e)}`),
      );
    }
  }
}

/** `schema.table` (plain) as SQL. */
function qualified(plain: string): string {
  const dot = plain.indexOf('.');
  return `${quoteIdent(plain.slice(0, dot))}.${quoteIdent(plain.slice(dot + 1))}`;
}

/** Polls `check` every 20 ms until it holds; throws `message` (or a cancel) when it does not in time. */
async function waitFor(
  check: () => boolean,
  timeoutMs: number,
  signal?: AbortSignal,
  message?: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    throwIfAborted(signal);
    if (Date.now() > deadline) throw new LabError(message ?? 'Timed out.');
    await sleep(20, signal);
  }
}
