/**
 * Replays a migration source onto its own scratch database on the lab's server (issue 10 §2).
 *
 * - One database per source, named from the tool, the folder and a hash of its path
 *   (`scratchDatabaseName`): never the lab's own database, never a user database.
 * - The lab's applied state lives in `migration_lab_replay.applied` inside that database; the tool's
 *   own history table is created too, in the tool's shape (historyTables.ts), and left alone.
 * - Each section runs as its tool runs it (model.ts: transaction / single-string / autocommit;
 *   Drizzle and Flyway `group=true`: all pending migrations in one transaction), timed.
 * - A failure names the migration, file, line, column, SQLSTATE, what is left behind, and for 25001
 *   the tool's rule and its documented way out; a missing role is named so a caller can create it.
 * - A section that cannot be undone by PostgreSQL (autocommit, or a string) marks the database dirty
 *   before it runs; a cancel or a crash then leaves the mark, and the next replay resets.
 */
import { createHash } from 'node:crypto';
import { basename } from 'node:path';
import type pg from 'pg';
import { connect, quoteIdent, type ConnectionTarget } from '../db';
import { CancelledError, LabError, describeError, isPgError, throwIfAborted } from '../errors';
import type { Logger } from '../log';
import { HISTORY_TABLES } from './historyTables';
import {
  TOOL_NAMES,
  compareVersions,
  type Migration,
  type MigrationSection,
  type MigrationSource,
  type MigrationStatement,
  type SectionMode,
  type SourcePosition,
  type ToolId,
} from './model';
import { locateErrorPosition } from './sqlScanner';
import { isTransactionControl } from './tools/common';
import { flywayNonTransactional } from './tools/flyway';

/** The schema inside each scratch database that holds the lab's own replay state. */
export const REPLAY_STATE_SCHEMA = 'migration_lab_replay';
/** Every scratch database name starts with this; nothing else is ever dropped by a reset. */
export const SCRATCH_PREFIX = 'mlab_';
const APP_NAME = 'migration-lab:replay';

/**
 * The scratch database of a source: `mlab_<tool>_<folder>_<8 hex of the path's hash>`, lower-case,
 * only [a-z0-9_], at most 63 bytes (PostgreSQL's limit). Stable for a folder, distinct across folders.
 */
export function scratchDatabaseName(source: Pick<MigrationSource, 'path' | 'tool'>): string {
  const hash = createHash('sha256').update(source.path).digest('hex').slice(0, 8);
  const clean = (s: string) =>
    s
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '_')
      .replace(/^_+|_+$/g, '');
  const tool = clean(source.tool);
  const folder =
    clean(basename(source.path)).slice(0, 63 - SCRATCH_PREFIX.length - tool.length - 11) || 'dir';
  return `${SCRATCH_PREFIX}${tool}_${folder}_${hash}`;
}

export interface ReplayProgress {
  /** 1-based number of the migration now running. */
  index: number;
  total: number;
  migration: string;
  /** What is being done. */
  action: 'apply' | 'roll back';
}

export interface ReplayEnvironment {
  /** The lab's server as its superuser; `database` is the lab's own (used only for administration). */
  server: ConnectionTarget;
  logger: Logger;
  signal?: AbortSignal;
  /**
   * Roles to create (NOLOGIN) on the scratch server before replaying, for migrations that GRANT to
   * or set OWNER TO roles the real database has (setting `migrationLab.replay.roles`, CLI `--role`).
   */
  roles?: readonly string[];
  onProgress?: (progress: ReplayProgress) => void;
}

/** Where and why a statement failed, as the JSON contract spells it. */
export interface ReplayErrorInfo {
  /** PostgreSQL's SQLSTATE; null when the tool itself refuses to run the migration. */
  sqlstate: string | null;
  message: string;
  file: string;
  line: number;
  column: number;
}

export type MigrationReplayStatus = 'applied' | 'failed' | 'pending';

export interface MigrationOutcome {
  id: string;
  version: string;
  mode: SectionMode;
  statements: number;
  /** Time of its last (successful or failed) run; 0 for pending ones. */
  durationMs: number;
  status: MigrationReplayStatus;
  error?: ReplayErrorInfo;
  /**
   * Each statement's time in ms, in order, when this run sent the statements one by one (not in the
   * replay JSON contract; for the editor and the human report).
   */
  statementMs?: number[];
}

export interface ReplayFailure {
  migration: string;
  /** One sentence for the user: migration, file:line:column, message, SQLSTATE, and what to do. */
  sentence: string;
  error: ReplayErrorInfo;
  /** What the failed section left in the database (non-transactional sections), or that it left nothing. */
  leftBehind: string;
  /** For 25001: the tool's documented way out of its transaction. */
  wayOut?: string;
  /** For 42704 "role … does not exist": the role, so a caller can offer "create role and retry". */
  missingRole?: string;
}

export interface ReplayReport {
  tool: ToolId;
  database: string;
  migrations: MigrationOutcome[];
  failure?: ReplayFailure;
  /** Set when the replay started by resetting the scratch database, saying why. */
  resetBecause?: string;
  /** From replayStatus: the next replay will reset the scratch database, and why. */
  needsReset?: string;
}

/** `--to` / "replay up to here" named a migration the source does not have. */
export class UnknownMigrationError extends LabError {
  constructor(
    readonly wanted: string,
    source: MigrationSource,
  ) {
    const known = source.migrations.map((m) => m.version);
    super(
      `No migration "${wanted}" in ${source.path} (versions: ${known.slice(0, 8).join(', ')}${known.length > 8 ? ', …' : ''}).`,
    );
    this.name = 'UnknownMigrationError';
  }
}

/**
 * Index of the migration named by id or version (the last one with that version); versions compare
 * as numbers, so "2" names 000002.
 */
export function migrationIndex(source: MigrationSource, wanted: string): number {
  const byId = source.migrations.findIndex((m) => m.id === wanted);
  if (byId >= 0) return byId;
  for (let k = source.migrations.length - 1; k >= 0; k--)
    if (compareVersions(source.migrations[k].version, wanted) === 0) return k;
  throw new UnknownMigrationError(wanted, source);
}

function sectionText(section: MigrationSection): string {
  return section.script ? section.script.text : section.statements.map((s) => s.text).join('\n;\n');
}

/** What identifies a migration's content: a changed file means the scratch database must be rebuilt. */
function checksum(m: Migration): string {
  return createHash('sha256').update(m.id).update('\0').update(sectionText(m.up)).digest('hex');
}

function literal(value: string | number | null): string {
  if (value === null) return 'NULL';
  if (typeof value === 'number') return String(value);
  return `'${value.replace(/'/g, "''")}'`;
}

// Quoted by hand: quoteIdent would load the pg driver when this module loads (the CLI's lint and the
// extension's activation import it without connecting anywhere).
const S = `"${REPLAY_STATE_SCHEMA}"`;

const STATE_DDL = [
  `CREATE SCHEMA ${S}`,
  `COMMENT ON SCHEMA ${S} IS 'Migration Lab: which migrations of the source this scratch database has (the lab owns it)'`,
  `CREATE TABLE ${S}.applied (position integer PRIMARY KEY, id text NOT NULL UNIQUE, version text NOT NULL, checksum text NOT NULL, duration_ms double precision NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
  // dirty: the migration whose non-transactional section may have left part of itself behind.
  `CREATE TABLE ${S}.state (singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton), tool text NOT NULL, source text NOT NULL, dirty text)`,
];

interface AppliedRow {
  position: number;
  id: string;
  checksum: string;
  duration_ms: number;
}

/** One open scratch database: the admin client (holding the per-source lock) and the replay client. */
interface Session {
  source: MigrationSource;
  env: ReplayEnvironment;
  database: string;
  admin: pg.Client;
  client: pg.Client;
  pid: number;
  applied: AppliedRow[];
  resetBecause?: string;
}

async function closeQuietly(client: pg.Client | undefined, logger: Logger): Promise<void> {
  await client
    ?.end()
    .catch((e: unknown) => logger.debug(`replay: closing a connection: ${describeError(e)}`));
}

async function dropScratch(admin: pg.Client, database: string): Promise<void> {
  if (!database.startsWith(SCRATCH_PREFIX))
    throw new LabError(`Refusing to drop ${database}: not a scratch database.`);
  await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(database)} WITH (FORCE)`);
}

async function createScratch(session: Omit<Session, 'client' | 'pid' | 'applied'>): Promise<pg.Client> {
  const { admin, database, source, env } = session;
  await admin.query(`CREATE DATABASE ${quoteIdent(database)} TEMPLATE template0 ENCODING 'UTF8'`);
  await admin.query(
    `COMMENT ON DATABASE ${quoteIdent(database)} IS ${literal(`Migration Lab scratch database: ${TOOL_NAMES[source.tool]} folder ${source.path}`)}`,
  );
  const client = await connect({ ...env.server, database }, APP_NAME, env.logger);
  try {
    const history = HISTORY_TABLES[source.tool].ddl;
    const state = `INSERT INTO ${S}.state (tool, source) VALUES (${literal(source.tool)}, ${literal(source.path)})`;
    await client.query(['BEGIN', ...STATE_DDL, state, ...history, 'COMMIT'].join(';\n'));
  } catch (e) {
    await closeQuietly(client, env.logger);
    throw e;
  }
  return client;
}

/** Reads the state; undefined when the database lacks it (then it is rebuilt). */
async function readState(
  client: pg.Client,
): Promise<{ dirty: string | null; applied: AppliedRow[] } | undefined> {
  const has = await client.query<{ ok: boolean }>(`SELECT to_regclass($1) IS NOT NULL AS ok`, [
    `${REPLAY_STATE_SCHEMA}.state`,
  ]);
  if (!has.rows[0].ok) return undefined;
  const state = await client.query<{ dirty: string | null }>(`SELECT dirty FROM ${S}.state`);
  const applied = await client.query<AppliedRow>(
    `SELECT position, id, checksum, duration_ms FROM ${S}.applied ORDER BY position`,
  );
  return { dirty: state.rows[0]?.dirty ?? null, applied: applied.rows };
}

/** Why the applied state no longer matches the source (so the database must be rebuilt), or undefined. */
function mismatch(source: MigrationSource, applied: readonly AppliedRow[]): string | undefined {
  for (const [k, row] of applied.entries()) {
    const m = source.migrations[k];
    if (row.position !== k) return 'its applied state has a gap';
    if (!m || m.id !== row.id)
      return `${row.id} was applied but is no longer at position ${k + 1} of the folder`;
    if (checksum(m) !== row.checksum) return `${m.id} changed since it was applied`;
  }
  return undefined;
}

/** Why an existing scratch database must be rebuilt before replaying, or undefined. */
function whyReset(source: MigrationSource, state: Awaited<ReturnType<typeof readState>>): string | undefined {
  if (!state) return 'it has no replay state';
  if (state.dirty) return `${state.dirty} was interrupted or failed outside a transaction`;
  return mismatch(source, state.applied);
}

async function createRoles(admin: pg.Client, roles: readonly string[], logger: Logger): Promise<void> {
  for (const role of roles) {
    const name = role.trim();
    if (!name) continue;
    const { rowCount } = await admin.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [name]);
    if (rowCount) continue;
    await admin.query(`CREATE ROLE ${quoteIdent(name)} NOLOGIN`);
    logger.info(
      `replay: created role ${name} (NOLOGIN) on the scratch server, as listed in the roles setting.`,
    );
  }
}

/** Opens (creating, or resetting when asked, dirty or stale) the scratch database of a source. */
async function open(
  source: MigrationSource,
  env: ReplayEnvironment,
  reset: string | undefined,
): Promise<Session> {
  const { logger } = env;
  const database = scratchDatabaseName(source);
  if (database === env.server.database)
    throw new LabError(`Refusing to replay onto the lab's own database ${database}.`);
  throwIfAborted(env.signal);
  const admin = await connect(env.server, APP_NAME, logger);
  let client: pg.Client | undefined;
  try {
    // One replay per source at a time (the lock ends with the admin session).
    const locked = await admin.query<{ ok: boolean }>('SELECT pg_try_advisory_lock(hashtext($1)) AS ok', [
      database,
    ]);
    if (!locked.rows[0].ok)
      throw new LabError(
        `Another replay of ${source.path} is running on this server; wait for it or cancel it.`,
      );
    if (env.roles?.length) await createRoles(admin, env.roles, logger);
    let resetBecause = reset;
    const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (exists.rowCount && !resetBecause) {
      client = await connect({ ...env.server, database }, APP_NAME, logger);
      const state = await readState(client);
      resetBecause = whyReset(source, state);
      if (!resetBecause) {
        const pid = await backendPid(client);
        return { source, env, database, admin, client, pid, applied: state!.applied };
      }
      await closeQuietly(client, logger);
      client = undefined;
    }
    if (exists.rowCount) {
      logger.info(`replay: resetting ${database}: ${resetBecause}.`);
      await dropScratch(admin, database);
    }
    client = await createScratch({ source, env, database, admin });
    const pid = await backendPid(client);
    // A reset asked for on a database that did not exist yet is no reset.
    return {
      source,
      env,
      database,
      admin,
      client,
      pid,
      applied: [],
      resetBecause: exists.rowCount ? resetBecause : undefined,
    };
  } catch (e) {
    await closeQuietly(client, logger);
    await closeQuietly(admin, logger);
    throw e;
  }
}

async function backendPid(client: pg.Client): Promise<number> {
  const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  return rows[0].pid;
}

async function close(session: Session): Promise<void> {
  await closeQuietly(session.client, session.env.logger);
  await closeQuietly(session.admin, session.env.logger);
}

/** Cancels the running statement when the signal fires (PostgreSQL answers 57014). */
function cancelOnAbort(session: Session): () => void {
  const { signal, logger } = session.env;
  if (!signal) return () => undefined;
  const onAbort = () => {
    logger.info(`replay: cancelling the statement running on ${session.database}.`);
    session.admin
      .query('SELECT pg_cancel_backend($1)', [session.pid])
      .catch((e: unknown) => logger.warn(`replay: cancelling: ${describeError(e)}`));
  };
  signal.addEventListener('abort', onAbort);
  return () => signal.removeEventListener('abort', onAbort);
}

/**
 * The lab's own state changes around a non-transactional section, without waiting for their own
 * WAL flush: the section's (synchronous) commit flushes the WAL up to and past the dirty mark, and a
 * lost final record leaves the mark set, which only makes the next replay reset. Saves two disk
 * syncs per such migration.
 */
function bookkeeping(sql: string): string {
  return `BEGIN;\nSET LOCAL synchronous_commit = off;\n${sql};\nCOMMIT`;
}

/** A section that failed: which piece, and the error. */
class SectionError extends Error {
  constructor(
    readonly cause: unknown,
    /** Index in `statements` of the piece sent, or -1 for the section's script. */
    readonly piece: number,
    /** How many pieces had completed before the failing one. */
    readonly completed: number,
  ) {
    super('section failed');
  }
}

/** The pieces a section sends: its script whole, or its statements one by one. */
function pieces(section: MigrationSection): { text: string; index: number }[] {
  return section.script
    ? [{ text: section.script.text, index: -1 }]
    : section.statements.map((s, index) => ({ text: s.text, index }));
}

/** Sends the pieces in order; returns each one's time in ms. */
async function send(client: pg.Client, section: MigrationSection, signal?: AbortSignal): Promise<number[]> {
  const times: number[] = [];
  for (const piece of pieces(section)) {
    // A cancel between two statements stops before the next (pg_cancel_backend only stops a running one).
    throwIfAborted(signal);
    const t0 = performance.now();
    try {
      await client.query(piece.text);
    } catch (e) {
      throw new SectionError(e, piece.index, times.length);
    }
    times.push(round(performance.now() - t0));
  }
  return times;
}

/**
 * A string that failed as a whole without an error position (e.g. a foreign key to a missing table)
 * does not say which of its statements failed. When the string was atomic (a transaction, or one
 * implicit transaction) nothing of it remains, so its statements are re-run one by one inside a
 * transaction that is rolled back, to find the one that fails the same way. Otherwise unchanged.
 */
async function pinpoint(session: Session, section: MigrationSection, failure: unknown): Promise<unknown> {
  if (!(failure instanceof SectionError) || failure.piece !== -1 || session.env.signal?.aborted)
    return failure;
  const e = failure.cause;
  if (!isPgError(e) || e.code === '25001' || Number((e as { position?: string }).position) > 0)
    return failure;
  if (section.statements.length < 2) return failure;
  const { client } = session;
  try {
    await client.query('BEGIN');
    for (const [k, statement] of section.statements.entries()) {
      try {
        await client.query(statement.text);
      } catch (again) {
        return isPgError(again) && again.code === e.code ? new SectionError(again, k, 0) : failure;
      }
    }
    return failure;
  } finally {
    await rollbackQuietly(client);
  }
}

/** After a failure on a connection that may sit in a (failed) transaction block. */
async function rollbackQuietly(client: pg.Client): Promise<void> {
  await client.query('ROLLBACK').catch(() => undefined);
}

/**
 * Runs a section with its tool's semantics. `record` is SQL that records success in the lab's state:
 * inside a transaction it commits with the section (one round trip with the COMMIT); otherwise it
 * runs right after, and a dirty mark set before covers the window in between.
 */
async function runSection(
  session: Session,
  migration: Migration,
  section: MigrationSection,
  record: () => string,
): Promise<number[]> {
  const { client } = session;
  if (section.toolRefusal) throw new SectionError(new ToolRefusal(section.toolRefusal), 0, 0);
  if (section.mode === 'transaction') {
    await client.query('BEGIN');
    let times: number[];
    try {
      times = await send(client, section, session.env.signal);
    } catch (e) {
      await rollbackQuietly(client);
      throw await pinpoint(session, section, e);
    }
    await client.query(`${record()};\nCOMMIT`);
    return times;
  }
  await client.query(bookkeeping(`UPDATE ${S}.state SET dirty = ${literal(migration.id)}`));
  let times: number[];
  try {
    if (section.mode === 'single-string') {
      const t0 = performance.now();
      try {
        await client.query(section.script!.text);
      } catch (e) {
        throw await pinpoint(session, section, new SectionError(e, -1, 0));
      }
      times = [round(performance.now() - t0)];
    } else times = await send(client, section, session.env.signal);
  } catch (e) {
    // psql-run scripts (Sqitch) open their own transactions; leave none open.
    await rollbackQuietly(client);
    throw e;
  }
  await client.query(bookkeeping(`${record()};\nUPDATE ${S}.state SET dirty = NULL`));
  return times;
}

class ToolRefusal extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ToolRefusal';
  }
}

const MISSING_ROLE = /^role "(.+)" does not exist$/;

/** The statement that failed, and where exactly. */
function locate(
  section: MigrationSection,
  failure: SectionError,
): { statement?: MigrationStatement; at: SourcePosition; file: string } {
  const e = failure.cause;
  const position = isPgError(e) ? Number((e as { position?: string }).position) : NaN;
  if (failure.piece >= 0) {
    const statement = section.statements[failure.piece];
    const at =
      position > 0 ? locateErrorPosition(statement.start, statement.text, position) : statement.start;
    return { statement, at, file: statement.file };
  }
  const script = section.script;
  if (script && position > 0) {
    const at = locateErrorPosition(script.start, script.text, position);
    let statement = section.statements[0];
    for (const s of section.statements) if (s.start.offset <= at.offset) statement = s;
    return { statement, at, file: script.file };
  }
  // No position (e.g. 25001): the statement that cannot run in a transaction block, else the first.
  const code = isPgError(e) ? e.code : undefined;
  const statement =
    (code === '25001'
      ? section.statements.find((s) => flywayNonTransactional(s) ?? s.keywords.includes('CONCURRENTLY'))
      : undefined) ?? section.statements[0];
  if (statement) return { statement, at: statement.start, file: statement.file };
  const file = script?.file ?? '';
  return { at: script?.start ?? { line: 1, column: 1, offset: 0, byte: 0 }, file };
}

/** A failed section of this kind left nothing behind: PostgreSQL rolled all of it back (or nothing ran). */
function leavesNothing(section: MigrationSection): boolean {
  if (section.toolRefusal || section.mode === 'transaction') return true;
  // One string is one implicit transaction, unless it commits on its own.
  return (
    section.mode === 'single-string' && !section.statements.some((s) => isTransactionControl(s.keywords))
  );
}

function leftBehind(
  section: MigrationSection,
  failure: SectionError,
  statement?: MigrationStatement,
): string {
  if (section.toolRefusal) return 'nothing: the tool refuses to run it, so nothing was sent.';
  if (section.mode === 'transaction') return 'nothing: the transaction was rolled back.';
  if (leavesNothing(section))
    return 'nothing: PostgreSQL ran the string as one implicit transaction and rolled it back.';
  if (section.mode === 'single-string')
    return 'what the string committed on its own before the failure (it has its own transaction control); the scratch database is reset on the next replay.';
  const kept =
    failure.completed > 0
      ? `the ${failure.completed} statement(s) before it in this section stay committed`
      : 'no earlier statement of this section';
  const invalid =
    statement && /INDEX CONCURRENTLY/.test(statement.keywords.join(' '))
      ? '; a failed CREATE INDEX CONCURRENTLY can leave an INVALID index'
      : '';
  return `${kept}${invalid}; the scratch database is reset on the next replay.`;
}

function describeFailure(
  session: Session,
  migration: Migration,
  section: MigrationSection,
  failure: SectionError,
): ReplayFailure {
  const e = failure.cause;
  const { statement, at, file } = locate(section, failure);
  const sqlstate = isPgError(e) ? e.code : null;
  const message = e instanceof Error ? e.message : String(e);
  const error: ReplayErrorInfo = { sqlstate, message, file, line: at.line, column: at.column };
  const left = leftBehind(section, failure, statement);
  const where = `${file}:${at.line}:${at.column}`;
  let sentence =
    e instanceof ToolRefusal
      ? `${migration.id} (${where}): ${TOOL_NAMES[session.source.tool]} refuses to run it: ${message}`
      : `${migration.id} failed at ${where}: ${message} (SQLSTATE ${sqlstate ?? 'none'}).`;
  const result: ReplayFailure = { migration: migration.id, sentence, error, leftBehind: left };
  if (sqlstate === '25001') {
    const rule = session.source.pendingInOneTransaction ?? section.why;
    const way = section.wayOut
      ? ` To run it outside a transaction, ${section.wayOut}.`
      : ' The tool has no way to run it outside a transaction.';
    sentence += ` ${rule}${way}`;
    if (section.wayOut) result.wayOut = section.wayOut;
  }
  const role = sqlstate === '42704' ? MISSING_ROLE.exec(message)?.[1] : undefined;
  if (role) {
    sentence += ` The role "${role}" does not exist on the scratch server; list it in the setting migrationLab.replay.roles (CLI: --role ${role}) to create it before replaying.`;
    result.missingRole = role;
  }
  result.sentence = sentence;
  return result;
}

function outcomes(session: Pick<Session, 'source' | 'applied'>): MigrationOutcome[] {
  const applied = new Map(session.applied.map((r) => [r.id, r]));
  return session.source.migrations.map((m) => {
    const row = applied.get(m.id);
    return {
      id: m.id,
      version: m.version,
      mode: m.up.mode,
      statements: m.up.statements.length,
      durationMs: row ? Math.round(row.duration_ms * 100) / 100 : 0,
      status: row ? 'applied' : 'pending',
    } satisfies MigrationOutcome;
  });
}

function recordSql(position: number, m: Migration, ms: number): string {
  return `INSERT INTO ${S}.applied (position, id, version, checksum, duration_ms) VALUES (${position}, ${literal(m.id)}, ${literal(m.version)}, ${literal(checksum(m))}, ${ms})`;
}

export interface ReplayOptions {
  /** Apply up to and including this migration (id or version); default: all. */
  to?: string;
  /** Drop and recreate the scratch database first. */
  reset?: boolean;
}

/**
 * Applies the source's pending migrations in order, up to `to`, onto its scratch database. SQL
 * failures are reported (in `failure` and the failing migration's outcome), not thrown; a cancel
 * throws CancelledError and leaves a state the next replay recovers from.
 */
export async function replay(
  source: MigrationSource,
  env: ReplayEnvironment,
  options: ReplayOptions = {},
): Promise<ReplayReport> {
  const last = options.to === undefined ? source.migrations.length - 1 : migrationIndex(source, options.to);
  const session = await open(source, env, options.reset ? 'a reset was asked for' : undefined);
  const stopCancel = cancelOnAbort(session);
  try {
    const result = await applyPending(session, last);
    return {
      tool: source.tool,
      database: session.database,
      migrations: result.outcomes,
      ...(result.failure ? { failure: result.failure } : {}),
      ...(session.resetBecause ? { resetBecause: session.resetBecause } : {}),
    };
  } catch (e) {
    if (env.signal?.aborted) throw new CancelledError('The replay was cancelled.');
    throw e;
  } finally {
    stopCancel();
    await close(session);
  }
}

async function applyPending(
  session: Session,
  last: number,
): Promise<{ outcomes: MigrationOutcome[]; failure?: ReplayFailure }> {
  const { source, env } = session;
  const list = outcomes(session);
  const first = session.applied.length;
  const total = Math.max(0, last + 1 - first);
  if (total === 0) return { outcomes: list };
  env.logger.info(`replay: ${source.path} onto ${session.database}: ${total} migration(s) to apply.`);

  if (source.pendingInOneTransaction) return applyAsGroup(session, first, last, list);

  for (let k = first; k <= last; k++) {
    throwIfAborted(env.signal);
    const m = source.migrations[k];
    env.onProgress?.({ index: k - first + 1, total, migration: m.id, action: 'apply' });
    const t0 = performance.now();
    let times: number[];
    try {
      // The record's duration is measured up to the last statement; the INSERT rides with COMMIT.
      times = await runSectionTimed(session, m, k, t0);
    } catch (e) {
      const ms = round(performance.now() - t0);
      if (!(e instanceof SectionError)) throw e;
      if (env.signal?.aborted) throw new CancelledError('The replay was cancelled.');
      const failure = describeFailure(session, m, m.up, e);
      if (leavesNothing(m.up)) await clearDirty(session);
      env.logger.warn(`replay: ${failure.sentence} Left behind: ${failure.leftBehind}`);
      list[k] = { ...list[k], durationMs: ms, status: 'failed', error: failure.error };
      return { outcomes: list, failure };
    }
    list[k] = {
      ...list[k],
      durationMs: round(performance.now() - t0),
      status: 'applied',
      ...(m.up.script ? {} : { statementMs: times }),
    };
  }
  return { outcomes: list };
}

async function runSectionTimed(
  session: Session,
  m: Migration,
  position: number,
  t0: number,
): Promise<number[]> {
  // The record is built after the statements, so it carries their duration.
  return runSection(session, m, m.up, () => recordSql(position, m, round(performance.now() - t0)));
}

async function clearDirty(session: Session): Promise<void> {
  await session.client.query(`UPDATE ${S}.state SET dirty = NULL`).catch(() => undefined);
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}

/** Drizzle (and Flyway with group=true): every pending migration in one transaction. */
async function applyAsGroup(
  session: Session,
  first: number,
  last: number,
  list: MigrationOutcome[],
): Promise<{ outcomes: MigrationOutcome[]; failure?: ReplayFailure }> {
  const { source, env, client } = session;
  const total = last + 1 - first;
  const records: string[] = [];
  const times: number[] = [];
  const statementMs: (number[] | undefined)[] = [];
  await client.query('BEGIN');
  for (let k = first; k <= last; k++) {
    const m = source.migrations[k];
    env.onProgress?.({ index: k - first + 1, total, migration: m.id, action: 'apply' });
    const t0 = performance.now();
    try {
      throwIfAborted(env.signal);
      if (m.up.toolRefusal) throw new SectionError(new ToolRefusal(m.up.toolRefusal), 0, 0);
      const each = await send(client, m.up, env.signal);
      statementMs.push(m.up.script ? undefined : each);
    } catch (e) {
      await rollbackQuietly(client);
      if (!(e instanceof SectionError)) throw e;
      if (env.signal?.aborted) throw new CancelledError('The replay was cancelled.');
      const failure = describeFailure(session, m, m.up, e);
      failure.leftBehind = `nothing: ${source.pendingInOneTransaction} It was rolled back with the ${k - first} migration(s) before it in this run.`;
      env.logger.warn(`replay: ${failure.sentence}`);
      list[k] = {
        ...list[k],
        durationMs: round(performance.now() - t0),
        status: 'failed',
        error: failure.error,
      };
      return { outcomes: list, failure };
    }
    const ms = round(performance.now() - t0);
    times.push(ms);
    records.push(recordSql(k, m, ms));
  }
  await client.query(`${records.join(';\n')};\nCOMMIT`);
  for (let k = first; k <= last; k++) {
    const each = statementMs[k - first];
    list[k] = {
      ...list[k],
      durationMs: times[k - first],
      status: 'applied',
      ...(each ? { statementMs: each } : {}),
    };
  }
  return { outcomes: list };
}

/**
 * Rolls back, newest first, every applied migration after `to` (id or version; undefined: all) with
 * the tool's downs. Refuses before running anything when one of them has no down.
 */
export async function rollBack(
  source: MigrationSource,
  env: ReplayEnvironment,
  to: string | undefined,
): Promise<ReplayReport> {
  const keep = to === undefined ? 0 : migrationIndex(source, to) + 1;
  const session = await open(source, env, undefined);
  const stopCancel = cancelOnAbort(session);
  try {
    const list = outcomes(session);
    const undo = session.applied.filter((r) => r.position >= keep).reverse();
    const lacking = undo.map((r) => source.migrations[r.position]).find((m) => !m.down);
    if (lacking)
      throw new LabError(
        `${lacking.id} has no down migration (${TOOL_NAMES[source.tool]}), so it cannot be rolled back; reset the scratch database instead.`,
      );
    let failure: ReplayFailure | undefined;
    for (const [n, row] of undo.entries()) {
      throwIfAborted(env.signal);
      const m = source.migrations[row.position];
      env.onProgress?.({ index: n + 1, total: undo.length, migration: m.id, action: 'roll back' });
      try {
        await runSection(
          session,
          m,
          m.down!,
          () => `DELETE FROM ${S}.applied WHERE position = ${row.position}`,
        );
      } catch (e) {
        if (!(e instanceof SectionError)) throw e;
        if (env.signal?.aborted) throw new CancelledError('The roll back was cancelled.');
        if (leavesNothing(m.down!)) await clearDirty(session);
        failure = describeFailure(session, m, m.down!, e);
        env.logger.warn(`replay: rolling back: ${failure.sentence}`);
        list[row.position] = { ...list[row.position], status: 'failed', error: failure.error };
        break;
      }
      list[row.position] = { ...list[row.position], durationMs: 0, status: 'pending' };
    }
    return {
      tool: source.tool,
      database: session.database,
      migrations: list,
      ...(failure ? { failure } : {}),
    };
  } catch (e) {
    if (env.signal?.aborted && !(e instanceof LabError))
      throw new CancelledError('The roll back was cancelled.');
    throw e;
  } finally {
    stopCancel();
    await close(session);
  }
}

/** Drops and recreates the scratch database from nothing (the tool's history table, the lab's state). */
export async function resetScratch(source: MigrationSource, env: ReplayEnvironment): Promise<ReplayReport> {
  const session = await open(source, env, 'a reset was asked for');
  try {
    return { tool: source.tool, database: session.database, migrations: outcomes(session) };
  } finally {
    await close(session);
  }
}

/**
 * What the scratch database has applied, changing nothing: no database is created or reset here.
 * When the next replay would reset, `needsReset` says why and every migration shows as pending.
 */
export async function replayStatus(source: MigrationSource, env: ReplayEnvironment): Promise<ReplayReport> {
  const database = scratchDatabaseName(source);
  const pending = (): MigrationOutcome[] =>
    source.migrations.map((m) => ({
      id: m.id,
      version: m.version,
      mode: m.up.mode,
      statements: m.up.statements.length,
      durationMs: 0,
      status: 'pending',
    }));
  const admin = await connect(env.server, APP_NAME, env.logger);
  let client: pg.Client | undefined;
  try {
    const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (!exists.rowCount) return { tool: source.tool, database, migrations: pending() };
    client = await connect({ ...env.server, database }, APP_NAME, env.logger);
    const state = await readState(client);
    const needsReset = whyReset(source, state);
    if (needsReset) return { tool: source.tool, database, migrations: pending(), needsReset };
    return { tool: source.tool, database, migrations: outcomes({ source, applied: state!.applied }) };
  } finally {
    await closeQuietly(client, env.logger);
    await closeQuietly(admin, env.logger);
  }
}

/** One statement of an observed section, as it is about to be sent (or was sent). */
export interface ObservedStatement {
  statement: MigrationStatement;
  /** Index in the section's statements. */
  index: number;
  /**
   * The statement runs inside a transaction block that is still open when it ends, so the locks it
   * took are still held then (and a catalog change is seen only by its own session until commit).
   */
  inTransaction: boolean;
}

export interface SectionObserver {
  /** Right before the statement is sent, on the same connection's turn (nothing else is sent meanwhile). */
  before?(s: ObservedStatement): Promise<void>;
  /** Right after it completed, before anything else is sent on the connection. Not called when it failed. */
  after?(s: ObservedStatement): Promise<void>;
}

/** A statement of an observed section that failed, located as a replay failure is. */
export interface ObservedFailure {
  index: number;
  sqlstate: string | null;
  message: string;
  cause: unknown;
}

/** Whether a statement refuses to run inside a transaction block (what the 25001 locator looks for). */
export function refusesTransactionBlock(statement: MigrationStatement): boolean {
  return !!flywayNonTransactional(statement) || statement.keywords.includes('CONCURRENTLY');
}

/**
 * Runs one section with its tool's semantics, statement by statement, calling `observer` around
 * each statement (the trace's hook; no replay state is read or written). The statements of a
 * section the tool sends as one string are sent one by one inside BEGIN … COMMIT: PostgreSQL runs a
 * multi-statement string as one implicit transaction, so the locks and their duration are the same.
 * The exceptions keep the tool's exact behaviour: a one-statement string is sent as is (it may be
 * non-transactional, e.g. CREATE INDEX CONCURRENTLY), a string with its own BEGIN/COMMIT is sent
 * statement by statement as psql would, and a string mixing a statement that refuses a transaction
 * block with others is sent whole, so that it fails with 25001 as it does under the tool.
 * `commit: false` ends transaction blocks with ROLLBACK (a trace on an external database).
 * Returns the failure, if a statement failed; connection-level errors and cancels throw.
 */
export async function runSectionObserved(
  client: pg.Client,
  section: MigrationSection,
  options: { observer: SectionObserver; commit: boolean; signal?: AbortSignal },
): Promise<{ failure?: ObservedFailure; statementMs: number[] }> {
  const { observer, signal } = options;
  if (section.toolRefusal)
    return {
      failure: { index: 0, sqlstate: null, message: section.toolRefusal, cause: undefined },
      statementMs: [],
    };
  const statements = section.statements;
  const ownControl = statements.some((s) => isTransactionControl(s.keywords));
  const wrap =
    section.mode === 'transaction' ||
    (section.mode === 'single-string' &&
      statements.length > 1 &&
      !ownControl &&
      !statements.some(refusesTransactionBlock));
  const whole =
    section.mode === 'single-string' &&
    !!section.script &&
    (statements.length === 1 || (!ownControl && statements.some(refusesTransactionBlock)));
  const times: number[] = [];
  const fail = (index: number, e: unknown): ObservedFailure => ({
    index,
    sqlstate: isPgError(e) ? e.code : null,
    message: e instanceof Error ? e.message : String(e),
    cause: e,
  });
  if (whole) {
    // One string as the tool sends it: observed as its first statement (the only one, or the 25001).
    const index = Math.max(0, statements.findIndex(refusesTransactionBlock));
    const s: ObservedStatement = { statement: statements[index]!, index, inTransaction: false };
    throwIfAborted(signal);
    await observer.before?.(s);
    const t0 = performance.now();
    try {
      await client.query(section.script!.text);
    } catch (e) {
      await rollbackQuietly(client);
      return { failure: fail(index, e), statementMs: times };
    }
    times.push(round(performance.now() - t0));
    await observer.after?.(s);
    return { statementMs: times };
  }
  if (wrap) await client.query('BEGIN');
  let open = wrap;
  for (const [index, statement] of statements.entries()) {
    if (signal?.aborted) {
      if (open) await rollbackQuietly(client);
      throwIfAborted(signal);
    }
    const control = isTransactionControl(statement.keywords);
    // A psql-style script's own BEGIN opens the block the following statements run in.
    const opens = control && (statement.keywords[0] === 'BEGIN' || statement.keywords[0] === 'START');
    const s: ObservedStatement = { statement, index, inTransaction: open || opens };
    await observer.before?.(s);
    const t0 = performance.now();
    try {
      await client.query(statement.text);
    } catch (e) {
      await rollbackQuietly(client);
      return { failure: fail(index, e), statementMs: times };
    }
    times.push(round(performance.now() - t0));
    if (control) open = opens;
    await observer.after?.({ ...s, inTransaction: open });
  }
  if (wrap) await client.query(options.commit ? 'COMMIT' : 'ROLLBACK');
  else if (open) await rollbackQuietly(client); // a script that left its own block open
  return { statementMs: times };
}
