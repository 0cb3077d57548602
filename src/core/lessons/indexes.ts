import type pg from 'pg';
import { APP_NAMES, connect, quoteIdent, type ConnectionTarget } from '../db';
import { CancelledError, LabError, describeError, isPgError, throwIfAborted } from '../errors';
import { silentLogger, type Logger } from '../log';
import { QUERY_CANCELED, sqlstateOf } from './retry';
import { queryInvalidIndexes, type InvalidIndex } from '../invalidIndexes';
import { DEMO_SCENARIO } from '../scenarios/demo';
import { UNIQUE_EMAIL_INDEX } from '../scenarios/lessons';
import { quotedTable } from '../scenarios/types';

/** The table the duplicates go into: the demo's seeded one. */
const TABLE = DEMO_SCENARIO.seed.large;

/** Invalid indexes, duplicate emails and their cleanup, for the failed-CONCURRENTLY lesson and its commands. */

export interface IoOptions {
  logger?: Logger;
  signal?: AbortSignal;
}

export { UNIQUE_EMAIL_INDEX };
export const MAX_DUPLICATES = 1000;

/**
 * Runs `work` on a fresh admin session; an abort cancels its statement (pg_cancel_backend from a
 * second session) and turns the resulting error into a CancelledError.
 */
export async function withAdminSession<T>(
  target: ConnectionTarget,
  options: IoOptions,
  work: (client: pg.Client) => Promise<T>,
): Promise<T> {
  const logger = options.logger ?? silentLogger;
  const { signal } = options;
  throwIfAborted(signal);
  const client = await connect(target, APP_NAMES.admin, logger);
  const pid = (client as unknown as { processID?: number }).processID;
  const onAbort = () => {
    if (pid === undefined) return;
    void cancelBackend(target, pid, logger);
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    return await work(client);
  } catch (e) {
    if (signal?.aborted && (e instanceof CancelledError || sqlstateOf(e) === QUERY_CANCELED))
      throw new CancelledError();
    throw e;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    await client.end().catch(() => undefined);
  }
}

/** pg_cancel_backend(pid) from a short session of its own; failures are logged, never thrown. */
export async function cancelBackend(target: ConnectionTarget, pid: number, logger: Logger): Promise<boolean> {
  try {
    const admin = await connect(target, APP_NAMES.admin, logger);
    try {
      const { rows } = await admin.query<{ ok: boolean }>('SELECT pg_cancel_backend($1) AS ok', [pid]);
      return rows[0]?.ok === true;
    } finally {
      await admin.end().catch(() => undefined);
    }
  } catch (e) {
    logger.warn(`Could not cancel backend ${pid}: ${describeError(e)}`);
    return false;
  }
}

/** Indexes on tables of the lab schema that are not valid or not ready (left by a failed CONCURRENTLY). */
export async function findInvalidIndexes(
  target: ConnectionTarget,
  schema: string,
  options: IoOptions = {},
): Promise<InvalidIndex[]> {
  return withAdminSession(target, options, (client) => queryInvalidIndexes(client, schema));
}

/** The state of one index of the lab schema, or null when there is none of that name. */
export async function indexState(
  client: pg.ClientBase,
  schema: string,
  index: string,
): Promise<{ indisvalid: boolean; indisready: boolean } | null> {
  const { rows } = await client.query<{ indisvalid: boolean; indisready: boolean }>(
    `SELECT i.indisvalid, i.indisready
       FROM pg_index i
       JOIN pg_class ic ON ic.oid = i.indexrelid
       JOIN pg_namespace ns ON ns.oid = ic.relnamespace
      WHERE ns.nspname = $1 AND ic.relname = $2`,
    [schema, index],
  );
  return rows[0] ?? null;
}

/**
 * DROP INDEX CONCURRENTLY of an index in the lab schema: it waits for transactions using the table
 * instead of blocking them. Resolves false when there was no such index. Cannot run in a transaction.
 */
export async function dropIndexConcurrently(
  target: ConnectionTarget,
  schema: string,
  index: string,
  options: IoOptions = {},
): Promise<boolean> {
  const logger = options.logger ?? silentLogger;
  return withAdminSession(target, options, async (client) => {
    const before = await indexState(client, schema, index);
    if (!before) return false;
    logger.info(`DROP INDEX CONCURRENTLY ${schema}.${index}.`);
    await client.query(`DROP INDEX CONCURRENTLY IF EXISTS ${quoteIdent(schema)}.${quoteIdent(index)}`);
    return true;
  });
}

export interface DuplicateEmails {
  /** Ids of the new rows. */
  ids: number[];
  /** The emails they copied. */
  emails: string[];
}

function checkCount(n: number): void {
  if (!Number.isInteger(n) || n < 1 || n > MAX_DUPLICATES) {
    throw new LabError(`The number of duplicates must be a whole number from 1 to ${MAX_DUPLICATES}.`);
  }
}

/**
 * Copies the emails of the first `n` rows of the seeded table into new rows, so that a unique index on
 * email cannot be built. Returns the new rows' ids (removeDuplicateEmails takes them back out).
 */
export async function insertDuplicateEmails(
  target: ConnectionTarget,
  schema: string,
  n = 3,
  options: IoOptions = {},
): Promise<DuplicateEmails> {
  checkCount(n);
  const logger = options.logger ?? silentLogger;
  const table = quotedTable(schema, TABLE);
  return withAdminSession(target, options, async (client) => {
    const { rows } = await client.query<{ id: string; email: string }>(
      `INSERT INTO ${table} (email)
       SELECT email FROM (SELECT id, email FROM ${table} ORDER BY id LIMIT $1) AS src ORDER BY id
       RETURNING id, email`,
      [n],
    );
    if (rows.length === 0) throw new LabError(`${TABLE} is empty: seed it before inserting duplicates.`);
    logger.info(`Inserted ${rows.length} rows with duplicate emails into ${TABLE}.`);
    return { ids: rows.map((r) => Number(r.id)), emails: rows.map((r) => r.email) };
  });
}

/**
 * Deletes duplicate emails from the seeded table: the rows `ids` when given (what insertDuplicateEmails
 * returned), else every row whose email an older row (lower id) already has. Returns the rows deleted.
 * Without ids it scans the whole table (seconds on millions of rows).
 */
export async function removeDuplicateEmails(
  target: ConnectionTarget,
  schema: string,
  options: IoOptions & { ids?: readonly number[] } = {},
): Promise<number> {
  const logger = options.logger ?? silentLogger;
  const table = quotedTable(schema, TABLE);
  return withAdminSession(target, options, async (client) => {
    let deleted: number;
    if (options.ids) {
      if (options.ids.length === 0) return 0;
      const r = await client.query(`DELETE FROM ${table} WHERE id = ANY($1::bigint[])`, [[...options.ids]]);
      deleted = r.rowCount ?? 0;
    } else {
      const r = await client.query(
        `DELETE FROM ${table} d
          USING (SELECT email, min(id) AS keep FROM ${table} GROUP BY email HAVING count(*) > 1) g
          WHERE d.email = g.email AND d.id > g.keep`,
      );
      deleted = r.rowCount ?? 0;
    }
    logger.info(`Deleted ${deleted} rows with duplicate emails from ${TABLE}.`);
    return deleted;
  });
}

/** Runs one statement, giving back its SQLSTATE on failure and any NOTICE it raised. */
export async function tryStatement(
  client: pg.Client,
  sql: string,
): Promise<{ ok: boolean; sqlstate: string | null; notice: string | null; error: string | null }> {
  let notice: string | null = null;
  const onNotice = (m: { message?: string }) => {
    notice ??= m.message ?? null;
  };
  client.on('notice', onNotice);
  try {
    await client.query(sql);
    return { ok: true, sqlstate: null, notice, error: null };
  } catch (e) {
    if (!isPgError(e)) throw e;
    return { ok: false, sqlstate: e.code, notice, error: e.message };
  } finally {
    client.off('notice', onNotice);
  }
}

export { queryInvalidIndexes };
