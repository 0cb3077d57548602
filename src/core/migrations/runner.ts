import type pg from 'pg';
import { APP_NAMES, connect, quoteIdent, type ConnectionTarget } from '../db';
import { CancelledError, LabError, describeError, isPgError } from '../errors';
import { redactSecrets, silentLogger, type Logger } from '../log';
import {
  loadRunnerMigrations,
  sortMigrations,
  type Migration,
  type MigrationSection,
} from './runnerMigrations';
import { planMigrate, planRollback, versionOf, type Alternatives } from './plan';
import { queryInvalidIndexes } from '../invalidIndexes';
import { ensureLabSchema } from '../labSchema';

/** Advisory lock key every migration run of the lab takes (pg_try_advisory_lock), so runs never overlap. */
export const MIGRATION_LOCK_KEY = 7_346_011_820;

export const DEFAULT_MIGRATION_SCHEMA = 'migration_lab';

export interface MigrationRunnerOptions {
  target: ConnectionTarget;
  /** Schema of the lab's tables and of `schema_migrations`; also the run's search_path. */
  schema?: string;
  /**
   * A folder of dbmate files (read again on every call), an already loaded list, or a loader
   * called on every call (a scenario's source read through its tool's adapter).
   */
  migrations: string | readonly Migration[] | (() => Promise<Migration[]>);
  /** Sets of migration ids of which at most one may be applied at a time (a scenario's compared pair). */
  alternatives?: Alternatives;
  logger?: Logger;
}

export interface MigrationStatus {
  id: string;
  version: string;
  applied: boolean;
  appliedAt?: Date;
  durationMs?: number;
  /** Recorded as applied but no file has this id any more. */
  fileMissing?: boolean;
}

export interface StatementEvent {
  migrationId: string;
  /** 0-based index in the migration's section. */
  index: number;
  sql: string;
  /** Set once the statement finished. */
  durationMs?: number;
}

export interface RunOptions {
  /** Aborting cancels the running statement (same as cancel()). */
  signal?: AbortSignal;
  /** Called with the run's backend pid as soon as its connection is open (before the lock is taken). */
  onStart?: (pid: number) => void;
  /** Called before (no durationMs) and after (with durationMs) each statement. */
  onStatement?: (event: StatementEvent) => void;
}

export interface StatementResult {
  sql: string;
  durationMs: number;
}

export interface MigrationResult {
  id: string;
  statements: StatementResult[];
  durationMs: number;
}

export interface RunResult {
  direction: 'up' | 'down';
  migrations: MigrationResult[];
  /** Backend pid of the run's connection. */
  pid: number;
}

interface AppliedRow {
  id: string;
  version: string;
  applied_at: Date;
  duration_ms: number;
}

/** Runs dbmate-style migrations on one dedicated connection, one run at a time per lab. */
export class MigrationRunner {
  private readonly target: ConnectionTarget;
  private readonly schema: string;
  private readonly source: MigrationRunnerOptions['migrations'];
  private readonly alternatives: Alternatives;
  private readonly logger: Logger;
  private pid: number | undefined;
  private busy = false;
  private cancelRequested = false;

  constructor(options: MigrationRunnerOptions) {
    this.target = options.target;
    this.schema = options.schema ?? DEFAULT_MIGRATION_SCHEMA;
    this.source = options.migrations;
    this.alternatives = options.alternatives ?? [];
    this.logger = options.logger ?? silentLogger;
  }

  /** Backend pid of the run in progress, if any. */
  get currentPid(): number | undefined {
    return this.pid;
  }

  get stateTable(): string {
    return `${quoteIdent(this.schema)}.schema_migrations`;
  }

  async loadMigrations(): Promise<Migration[]> {
    if (typeof this.source === 'function') return this.source();
    return typeof this.source === 'string' ? loadRunnerMigrations(this.source, 'dbmate') : [...this.source];
  }

  /** Every migration file and every recorded id, ordered by version. Does not create anything. */
  async status(): Promise<MigrationStatus[]> {
    const migrations = await this.loadMigrations();
    const client = await this.open(APP_NAMES.admin);
    try {
      const rows = await this.readApplied(client);
      const byId = new Map(rows.map((r) => [r.id, r]));
      const list: MigrationStatus[] = migrations.map((m) => {
        const row = byId.get(m.id);
        return row
          ? {
              id: m.id,
              version: m.version,
              applied: true,
              appliedAt: row.applied_at,
              durationMs: row.duration_ms,
            }
          : { id: m.id, version: m.version, applied: false };
      });
      const known = new Set(migrations.map((m) => m.id));
      for (const row of rows.filter((r) => !known.has(r.id))) {
        list.push({
          id: row.id,
          version: row.version,
          applied: true,
          appliedAt: row.applied_at,
          durationMs: row.duration_ms,
          fileMissing: true,
        });
      }
      return sortMigrations(list);
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  /** Applies what is needed to reach `targetId` (see planMigrate). */
  migrateTo(targetId: string, options: RunOptions = {}): Promise<RunResult> {
    return this.run('up', (all, applied) => planMigrate(all, applied, targetId, this.alternatives), options);
  }

  /** Rolls back everything newer than `targetId`, newest first (null: everything). */
  rollbackTo(targetId: string | null, options: RunOptions = {}): Promise<RunResult> {
    return this.run('down', (all, applied) => planRollback(all, applied, targetId), options);
  }

  /**
   * Cancels the statement in progress with pg_cancel_backend from a separate short connection, and
   * stops the run before its next statement. Resolves true when a backend was signalled.
   */
  async cancel(): Promise<boolean> {
    this.cancelRequested = true;
    const pid = this.pid;
    if (pid === undefined) return false;
    this.logger.info(`Cancelling migration run (pid ${pid}).`);
    const admin = await this.open(APP_NAMES.admin);
    try {
      // The run may have ended (and its pid been reused) while this connection opened.
      if (this.pid !== pid) return false;
      const { rows } = await admin.query<{ cancelled: boolean }>(
        'SELECT pg_cancel_backend($1) AS cancelled',
        [pid],
      );
      return rows[0]?.cancelled === true;
    } finally {
      await admin.end().catch(() => undefined);
    }
  }

  private async run(
    direction: 'up' | 'down',
    plan: (all: Migration[], applied: string[]) => Migration[],
    options: RunOptions,
  ): Promise<RunResult> {
    if (this.busy) throw new LabError('Another migration is running in this lab.');
    this.busy = true;
    this.cancelRequested = false;
    const onAbort = () => {
      this.cancel().catch((e: unknown) => this.logger.warn(`Cancel failed: ${describeError(e)}`));
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      if (options.signal?.aborted) throw new CancelledError('Migration cancelled.');
      // Parse errors surface before a connection is opened.
      const all = await this.loadMigrations();
      return await this.runOnConnection(direction, all, plan, options);
    } catch (e) {
      // A cancel that lands before the first statement (taking the lock, reading state) is still a cancel.
      if (this.cancelRequested && isPgError(e) && e.code === '57014')
        throw new CancelledError('Migration cancelled.');
      throw e;
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
      this.busy = false;
    }
  }

  private async runOnConnection(
    direction: 'up' | 'down',
    all: Migration[],
    plan: (all: Migration[], applied: string[]) => Migration[],
    options: RunOptions,
  ): Promise<RunResult> {
    const client = await this.open(APP_NAMES.migration);
    let locked = false;
    try {
      const pidRow = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      const pid = pidRow.rows[0].pid;
      this.pid = pid;
      options.onStart?.(pid);
      this.throwIfCancelled();

      const { rows: lockRows } = await client.query<{ locked: boolean }>(
        'SELECT pg_try_advisory_lock($1) AS locked',
        [MIGRATION_LOCK_KEY],
      );
      locked = lockRows[0].locked;
      if (!locked) throw new LabError('Another migration is running in this lab.');

      await client.query(`SET search_path TO ${quoteIdent(this.schema)}`);
      await this.ensureStateTable(client);
      const applied = (await this.readApplied(client)).map((r) => r.id);
      const migrations = plan(all, applied);
      this.logger.info(
        migrations.length === 0
          ? `Nothing to ${direction === 'up' ? 'apply' : 'roll back'}.`
          : `${direction === 'up' ? 'Applying' : 'Rolling back'}: ${migrations.map((m) => m.id).join(', ')} (pid ${pid}).`,
      );

      const results: MigrationResult[] = [];
      for (const migration of migrations) {
        if (this.cancelRequested) {
          const done = results.map((r) => r.id).join(', ');
          throw new CancelledError(done ? `Migration cancelled after ${done}.` : 'Migration cancelled.');
        }
        const section = direction === 'up' ? migration.up : migration.down;
        if (!section) throw new LabError(`${migration.fileName} has no \`-- migrate:down\` section.`);
        results.push(await this.runOne(client, migration, section, direction, options));
      }
      return { direction, migrations: results, pid };
    } finally {
      if (locked) {
        await client
          .query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY])
          .catch((e: unknown) =>
            this.logger.warn(`Could not release the migration lock: ${describeError(e)}`),
          );
      }
      this.pid = undefined; // before end(): a pid of a closed session must never be cancelled
      await client.end().catch(() => undefined);
    }
  }

  /** Opens a connection; a failure becomes one sentence naming host and port (never a URL). */
  private async open(applicationName: string): Promise<pg.Client> {
    try {
      return await connect(this.target, applicationName, this.logger);
    } catch (e) {
      const where = this.target.connectionString
        ? 'the lab database'
        : `${this.target.host}:${this.target.port}`;
      throw new LabError(`Cannot connect to PostgreSQL at ${where}: ${sentence(describeErrorMessage(e))}`, {
        cause: e,
      });
    }
  }

  private throwIfCancelled(): void {
    if (this.cancelRequested) throw new CancelledError('Migration cancelled.');
  }

  private async ensureStateTable(client: pg.Client): Promise<void> {
    await ensureLabSchema(client, this.schema);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${this.stateTable} (
         id text PRIMARY KEY,
         version text NOT NULL,
         applied_at timestamptz NOT NULL DEFAULT now(),
         duration_ms integer NOT NULL
       )`,
    );
  }

  private async readApplied(client: pg.ClientBase): Promise<AppliedRow[]> {
    const { rows: exists } = await client.query<{ found: boolean }>(
      'SELECT to_regclass($1) IS NOT NULL AS found',
      [this.stateTable],
    );
    if (!exists[0].found) return [];
    const { rows } = await client.query<AppliedRow>(
      `SELECT id, version, applied_at, duration_ms FROM ${this.stateTable} ORDER BY version, id`,
    );
    return rows;
  }

  private async runOne(
    client: pg.Client,
    migration: Migration,
    section: MigrationSection,
    direction: 'up' | 'down',
    options: RunOptions,
  ): Promise<MigrationResult> {
    const started = performance.now();
    const statements: StatementResult[] = [];
    const recordState = async () => {
      const durationMs = Math.round(performance.now() - started);
      if (direction === 'up') {
        await client.query(
          `INSERT INTO ${this.stateTable} (id, version, applied_at, duration_ms) VALUES ($1, $2, clock_timestamp(), $3)`,
          [migration.id, migration.version || versionOf(migration.id), durationMs],
        );
      } else {
        await client.query(`DELETE FROM ${this.stateTable} WHERE id = $1`, [migration.id]);
      }
    };
    this.logger.info(
      `${direction === 'up' ? 'Applying' : 'Rolling back'} ${migration.id}` +
        `${section.transaction ? '' : ' (without a transaction)'}.`,
    );

    if (section.transaction) {
      await client.query('BEGIN');
      try {
        await this.runStatements(client, migration, section, statements, options);
        await recordState();
        await client.query('COMMIT');
      } catch (e) {
        await client.query('ROLLBACK').catch(() => undefined); // the original error is the one to report
        throw this.explain(e, migration, section, statements, []);
      }
    } else {
      const invalidBefore = await this.invalidIndexes(client);
      try {
        await this.runStatements(client, migration, section, statements, options);
        await recordState();
      } catch (e) {
        const invalidNow = await this.invalidIndexes(client);
        const leftBehind = invalidNow.filter((name) => !invalidBefore.includes(name));
        throw this.explain(e, migration, section, statements, leftBehind);
      }
    }

    const durationMs = Math.round(performance.now() - started);
    this.logger.info(`${migration.id} done in ${durationMs} ms.`);
    return { id: migration.id, statements, durationMs };
  }

  private async runStatements(
    client: pg.Client,
    migration: Migration,
    section: MigrationSection,
    done: StatementResult[],
    options: RunOptions,
  ): Promise<void> {
    for (const [index, sql] of section.statements.entries()) {
      this.throwIfCancelled();
      options.onStatement?.({ migrationId: migration.id, index, sql });
      this.logger.debug(`${migration.id}: ${shortStatement(sql, 200)}`);
      const started = performance.now();
      try {
        await client.query(sql);
      } catch (e) {
        throw new StatementFailure(e, sql);
      }
      const durationMs = Math.round(performance.now() - started);
      done.push({ sql, durationMs });
      options.onStatement?.({ migrationId: migration.id, index, sql, durationMs });
    }
  }

  /** Invalid or not-ready indexes on tables of the lab's schema, as schema.name. */
  private async invalidIndexes(client: pg.Client): Promise<string[]> {
    try {
      return (await queryInvalidIndexes(client, this.schema)).map((i) => `${i.schema}.${i.index}`);
    } catch (e) {
      this.logger.warn(`Could not look for invalid indexes: ${describeError(e)}`);
      return [];
    }
  }

  /** Turns a failure inside a migration into one user sentence (LabError) or a CancelledError. */
  private explain(
    e: unknown,
    migration: Migration,
    section: MigrationSection,
    done: StatementResult[],
    invalidIndexes: string[],
  ): Error {
    if (e instanceof CancelledError) {
      return new CancelledError(this.cancelledMessage(migration, section, done, invalidIndexes));
    }
    if (!(e instanceof StatementFailure)) {
      // Failed outside a statement (BEGIN, state row, COMMIT): not the migration's SQL.
      if (e instanceof LabError) return e;
      return new LabError(`${migration.fileName} failed: ${sentence(describeError(e))}`, { cause: e });
    }
    const cause = e.cause;
    const cancelled =
      isPgError(cause) && cause.code === '57014' && (this.cancelRequested || !/timeout/i.test(cause.message));
    if (cancelled) return new CancelledError(this.cancelledMessage(migration, section, done, invalidIndexes));

    const pgMessage = cause instanceof Error ? cause.message : String(cause);
    const code = isPgError(cause) ? ` (${cause.code})` : '';
    let message = `${migration.fileName} failed at "${shortStatement(e.sql)}": ${pgMessage.replace(/\.$/, '')}${code}.`;
    if (section.transaction) {
      message += ` Its transaction was rolled back.`;
    } else {
      message += ` ${this.nonTransactionalAftermath(section, done, invalidIndexes)}`;
    }
    const detailLines = [`Statement: ${e.sql}`];
    if (isPgError(cause)) {
      if (cause.detail) detailLines.push(`Detail: ${cause.detail}`);
      if (cause.hint) detailLines.push(`Hint: ${cause.hint}`);
    }
    this.logger.error(`${message}\n${detailLines.join('\n')}`);
    return new LabError(message, { cause, detail: detailLines.join('\n') });
  }

  private cancelledMessage(
    migration: Migration,
    section: MigrationSection,
    done: StatementResult[],
    invalidIndexes: string[],
  ): string {
    if (section.transaction) return `Migration cancelled; ${migration.fileName} was rolled back.`;
    return `Migration cancelled during ${migration.fileName}. ${this.nonTransactionalAftermath(section, done, invalidIndexes)}`;
  }

  /** What a failed transaction:false section left: nothing was rolled back. */
  private nonTransactionalAftermath(
    section: MigrationSection,
    done: StatementResult[],
    invalid: string[],
  ): string {
    let text =
      `It ran without a transaction, so nothing was rolled back: ` +
      `${done.length} of ${section.statements.length} statements completed`;
    if (invalid.length > 0) {
      const list = invalid.join(', ');
      text +=
        invalid.length === 1
          ? `, and it left the INVALID index ${list} behind; drop it with DROP INDEX CONCURRENTLY`
          : `, and it left the INVALID indexes ${list} behind; drop them with DROP INDEX CONCURRENTLY`;
    }
    return `${text}.`;
  }
}

/** A statement's error, tagged with the statement (internal to the runner). */
class StatementFailure extends Error {
  constructor(
    override readonly cause: unknown,
    readonly sql: string,
  ) {
    super(cause instanceof Error ? cause.message : String(cause));
    this.name = 'StatementFailure';
  }
}

/** One line, at most `max` characters, cut at a word boundary with " …". */
export function shortStatement(sql: string, max = 80): string {
  const flat = sql.replace(/\s+/g, ' ').trim();
  if (flat.length <= max) return flat;
  const cut = flat.slice(0, max);
  const space = cut.lastIndexOf(' ');
  return `${(space > max / 2 ? cut.slice(0, space) : cut).trimEnd()} …`;
}

function describeErrorMessage(e: unknown): string {
  return redactSecrets(e instanceof Error ? e.message : String(e));
}

function sentence(text: string): string {
  return /[.!?]$/.test(text) ? text : `${text}.`;
}
