// The trace's synthetic fill (issue 12 §1 step 2): rows generated on the server, table by table,
// parents before children, inside what the schema demands (types, NOT NULL, keys, FKs, CHECKs).
// Each chunk is one INSERT … SELECT; what the generator could not foresee the server refuses, and
// the fill keeps what it could insert and names the constraint that stopped it.
import type pg from 'pg';
import { APP_NAMES, connect, type ConnectionTarget } from '../db';
import { CancelledError, LabError, describeError, isPgError } from '../errors';
import type { Logger } from '../log';
import { readTableShape, resolveTable, type ForeignKey, type TableShape } from './fillCatalog';
import { fillOrder, plannedRowCounts, type SizingTable } from './fillValues';
import { insertParams, insertSql, parentKeysSql, planRows, type ParentKeys, type RowPlan } from './rowPlan';

export interface FillRequest {
  /** Schema-qualified tables the migration touches. */
  tables: string[];
  /** Rows for the largest touched table (default 1_000_000). */
  rows: number;
  /** Explicit counts, keys schema-qualified or bare. */
  rowsPerTable?: Record<string, number>;
  /** reltuples read from a stats database (catalog only). */
  productionRowEstimates?: Record<string, number>;
}

export interface FillTableResult {
  /** Schema-qualified. */
  table: string;
  requested: number;
  /** Rows the table holds after the fill. */
  inserted: number;
  /** One sentence naming the constraint that stopped the fill short. */
  limitedBy?: string;
}

export interface FillResult {
  tables: FillTableResult[];
  durationMs: number;
  /** Time spent inserting (VACUUM ANALYZE and catalog reads excluded): what a benchmark compares. */
  insertMs?: number;
}

export interface FillProgress {
  table: string;
  inserted: number;
  total: number;
}

export interface FillOptions {
  logger: Logger;
  signal?: AbortSignal;
  onProgress?: (p: FillProgress) => void;
  /** Rows one INSERT … SELECT generates (one statement, one transaction). Default 100,000. */
  chunkSize?: number;
  /** Sessions inserting chunks side by side (generation is CPU-bound: one per core). Default 2. */
  parallelism?: number;
}

export const DEFAULT_FILL_ROWS = 1_000_000;
const DEFAULT_CHUNK_SIZE = 100_000;
/** A child references at most this many distinct parent keys (they are held in memory while it fills). */
const MAX_PARENT_KEYS = 200_000;
/** A failed chunk is retried in this many pieces, so the rows before the offending one still go in. */
const RETRY_PIECES = 20;

/** Errors about the data (class 22 data exception, 23 integrity, P0 raised by a trigger): a limit, not a failure. */
function isDataRefusal(e: unknown): e is Error & { code: string; constraint?: string } {
  return isPgError(e) && (e.code.startsWith('22') || e.code.startsWith('23') || e.code.startsWith('P0'));
}

const CONSTRAINT_KIND: Record<string, string> = {
  '23505': 'unique constraint',
  '23514': 'check constraint',
  '23503': 'foreign key',
  '23P01': 'exclusion constraint',
  '23502': 'NOT NULL constraint',
};

/** One sentence: which constraint stopped the fill of a table, and where it stands. */
export function limitSentence(
  table: string,
  error: { code?: string; constraint?: string; message: string },
  held: number,
  requested: number,
): string {
  const where = `${held.toLocaleString('en-US')} of ${requested.toLocaleString('en-US')} rows`;
  const message = error.message.replace(/\.$/, '');
  const kind = error.code ? CONSTRAINT_KIND[error.code] : undefined;
  if (error.constraint)
    return `The ${kind ?? 'constraint'} "${error.constraint}" stopped the fill of ${table} at ${where} (${message}).`;
  return `The fill of ${table} stopped at ${where}: ${message}.`;
}

interface Session {
  client: pg.Client;
  pid: number;
}

async function openSession(target: ConnectionTarget, logger: Logger): Promise<Session> {
  const client = await connect(target, APP_NAMES.seeder, logger);
  // Safe for a scratch database: a crash loses at most the last chunks.
  await client.query('SET synchronous_commit = off');
  // Triggers off, as pg_restore --disable-triggers does: the foreign-key checks are triggers that
  // halve the insert rate, and every key the fill writes is read from the parent's existing rows, so
  // it holds by construction. CHECK, NOT NULL and unique keys are not triggers and stay enforced.
  // Only a superuser may (the lab's own server); elsewhere the triggers simply stay on.
  await client.query('SET session_replication_role = replica').catch((e: unknown) => {
    logger.info(`The fill keeps triggers on (${describeError(e)}).`);
  });
  return { client, pid: (client as unknown as { processID: number }).processID };
}

/** Fills the touched tables (and the tables their foreign keys reference, parents first). */
export async function fillTables(
  target: ConnectionTarget,
  request: FillRequest,
  options: FillOptions,
): Promise<FillResult> {
  const { logger, signal } = options;
  const t0 = Date.now();
  const rows = request.rows ?? DEFAULT_FILL_ROWS;
  if (!Number.isInteger(rows) || rows < 1)
    throw new LabError(`The row count for the fill must be a whole number of at least 1 (got ${rows}).`);
  const chunkSize = Math.max(1, options.chunkSize ?? DEFAULT_CHUNK_SIZE);
  const cancelled = () => new CancelledError('Fill cancelled.');
  if (signal?.aborted) throw cancelled();

  const admin = await connect(target, APP_NAMES.seeder, logger);
  const sessions: Session[] = [];
  const onAbort = () => {
    const pids = sessions.map((s) => s.pid).filter((p) => Number.isInteger(p));
    void admin
      .query('SELECT pg_cancel_backend(p) FROM unnest($1::int[]) AS p', [pids])
      .catch((e: unknown) => logger.warn(`Cancelling the fill's statements failed: ${describeError(e)}`));
  };
  signal?.addEventListener('abort', onAbort);
  try {
    const shapes = await readClosure(admin, request.tables);
    const touched = new Set<string>();
    for (const name of request.tables) {
      const found = await resolveTable(admin, name);
      if (found) touched.add(found.name);
    }
    const sizing: SizingTable[] = [...shapes.values()].map((s) => ({
      name: s.name,
      bare: s.relname,
      touched: touched.has(s.name),
      children: [...shapes.values()]
        .filter((c) => c.foreignKeys.some((fk) => fk.parent === s.name))
        .map((c) => c.name),
    }));
    const counts = plannedRowCounts(sizing, { ...request, rows });
    const edges = [...shapes.values()].flatMap((s) =>
      s.foreignKeys.map((fk) => ({
        child: s.name,
        parent: fk.parent,
        optional: fk.columns.every((c) => !s.columns.find((col) => col.name === c)?.notNull),
      })),
    );
    const order = fillOrder([...shapes.keys()], edges);
    logger.info(
      `Fill plan: ${order.map((t) => `${t} ${counts.get(t)!.toLocaleString('en-US')}`).join(', ')} rows.`,
    );

    const parallelism = Math.max(1, options.parallelism ?? 2);
    for (let i = 0; i < parallelism; i++) sessions.push(await openSession(target, logger));
    if (signal?.aborted) throw cancelled();

    const results: FillTableResult[] = [];
    let insertMs = 0;
    for (const name of order) {
      const shape = shapes.get(name)!;
      const started = Date.now();
      try {
        results.push(await fillOne(admin, sessions, shape, counts.get(name)!, chunkSize, options));
      } catch (e) {
        if (signal?.aborted || (isPgError(e) && e.code === '57014')) throw cancelled();
        if (e instanceof LabError) throw e;
        throw new LabError(`Filling ${name} with synthetic rows failed: ${(e as Error).message}.`, {
          cause: e,
        });
      }
      insertMs += Date.now() - started;
      if (signal?.aborted) throw cancelled();
    }
    // Without it the migration's first scan sets hint bits and writes the table again (see the seeder).
    const filled = order.filter((n) => results.some((r) => r.table === n && r.inserted > 0));
    if (filled.length > 0) {
      try {
        await sessions[0]!.client.query(
          `VACUUM ANALYZE ${filled.map((n) => shapes.get(n)!.sqlName).join(', ')}`,
        );
      } catch (e) {
        if (signal?.aborted || (isPgError(e) && e.code === '57014')) throw cancelled();
        throw new LabError(`VACUUM ANALYZE after the fill failed: ${(e as Error).message}.`, { cause: e });
      }
    }
    if (signal?.aborted) throw cancelled();
    const durationMs = Date.now() - t0;
    for (const r of results) if (r.limitedBy) logger.warn(r.limitedBy);
    logger.info(
      `Filled ${results.length} tables in ${durationMs} ms: ${results.map((r) => `${r.table} ${r.inserted}`).join(', ')}.`,
    );
    // Touched tables first, in the order asked; referenced parents after them.
    const rank = (t: string) => {
      const i = request.tables.findIndex((n) => n === t || shapes.get(t)?.relname === n);
      return i < 0 ? request.tables.length + order.indexOf(t) : i;
    };
    results.sort((a, b) => rank(a.table) - rank(b.table));
    return { tables: results, durationMs, insertMs };
  } finally {
    signal?.removeEventListener('abort', onAbort);
    await Promise.all([admin, ...sessions.map((s) => s.client)].map((c) => c.end().catch(() => undefined)));
  }
}

/** The touched tables and every table their foreign keys reach, by schema.table. */
async function readClosure(client: pg.Client, tables: readonly string[]): Promise<Map<string, TableShape>> {
  const shapes = new Map<string, TableShape>();
  const queue: string[] = [];
  for (const name of tables) {
    const found = await resolveTable(client, name);
    if (!found)
      throw new LabError(`The table ${name} does not exist in the scratch database, so it cannot be filled.`);
    queue.push(found.name);
  }
  while (queue.length > 0) {
    const name = queue.shift()!;
    if (shapes.has(name)) continue;
    const found = await resolveTable(client, name);
    if (!found)
      throw new LabError(`The table ${name} does not exist in the scratch database, so it cannot be filled.`);
    const shape = await readTableShape(client, found.oid);
    shapes.set(shape.name, shape);
    for (const fk of shape.foreignKeys) if (!shapes.has(fk.parent)) queue.push(fk.parent);
  }
  return shapes;
}

/** Existing keys of each foreign key's parent (up to MAX_PARENT_KEYS), by constraint name. */
export async function readParentKeys(
  client: pg.ClientBase,
  table: TableShape,
  limit = MAX_PARENT_KEYS,
): Promise<Map<string, string[][]>> {
  const keys = new Map<string, string[][]>();
  for (const fk of table.foreignKeys) {
    if (fk.parent === table.name) continue;
    const r = await client.query<Record<string, string>>(parentKeysSql(fk, limit));
    keys.set(
      fk.name,
      fk.parentColumns.map((_, j) => r.rows.map((row) => row[`k${j}`]!)),
    );
  }
  return keys;
}

/** The plan of a table's rows with the parents' keys as they are now. */
export function planWithKeys(
  table: TableShape,
  parentKeys: Map<string, string[][]>,
  maxRow: number,
): { plan: RowPlan; keys: ParentKeys } {
  const hasKeys = (fk: ForeignKey) => (parentKeys.get(fk.name)?.[0]?.length ?? 0) > 0;
  const plan = planRows(table, { maxRow, parentHasKeys: hasKeys });
  const keys: ParentKeys = plan.slots.map((s) => parentKeys.get(s.fk.name)!);
  return { plan, keys };
}

async function countRows(client: pg.ClientBase, table: TableShape): Promise<number> {
  return Number((await client.query(`SELECT count(*) AS n FROM ${table.sqlName}`)).rows[0].n);
}

async function fillOne(
  admin: pg.Client,
  sessions: Session[],
  table: TableShape,
  requested: number,
  chunkSize: number,
  options: FillOptions,
): Promise<FillTableResult> {
  const { signal, logger } = options;
  const existing = await countRows(admin, table);
  const report = (held: number) =>
    options.onProgress?.({ table: table.name, inserted: held, total: requested });
  if (existing >= requested) {
    report(existing);
    return { table: table.name, requested, inserted: existing };
  }
  const needed = requested - existing;
  const parentKeys = await readParentKeys(admin, table);
  const { plan, keys } = planWithKeys(table, parentKeys, existing + 2 * needed);
  if (plan.blockers.length > 0) {
    report(existing);
    return { table: table.name, requested, inserted: existing, limitedBy: plan.blockers[0] };
  }
  if (plan.nulledForeignKeys.length > 0)
    logger.info(
      `${table.name}: ${plan.nulledForeignKeys.join(', ')} left NULL (the referenced table has no rows).`,
    );
  let sql = insertSql(plan);
  let onConflict = false;
  let inserted = 0;
  let reserved = 0;
  let nextRow = existing + 1;
  let stopped = false;
  let refusal: (Error & { code: string; constraint?: string }) | undefined;
  let uniqueRefusal: (Error & { code: string; constraint?: string }) | undefined;

  const take = (): [number, number] | undefined => {
    const size = Math.min(chunkSize, needed - inserted - reserved);
    if (stopped || size <= 0 || signal?.aborted) return undefined;
    const range: [number, number] = [nextRow, nextRow + size - 1];
    nextRow += size;
    reserved += size;
    return range;
  };
  const run = async (s: Session, first: number, last: number): Promise<number> =>
    (await s.client.query(sql, insertParams(plan, keys, first, last))).rowCount ?? 0;

  const outcomes = await Promise.allSettled(
    sessions.map(async (s) => {
      for (let range = take(); range; range = take()) {
        const [first, last] = range;
        let n: number;
        try {
          n = await attempt(s, first, last);
        } catch (e) {
          stopped = true;
          throw e;
        }
        reserved -= last - first + 1;
        inserted += n;
        if (onConflict && n === 0) stopped = true; // nothing new fits any more
        report(existing + inserted);
      }
    }),
  );
  // Every worker's statement has ended by now (allSettled), so a failure leaves nothing running.
  for (const o of outcomes) if (o.status === 'rejected') throw o.reason;

  /** One chunk; a refused chunk goes in as far as it can. */
  async function attempt(s: Session, first: number, last: number): Promise<number> {
    try {
      return await run(s, first, last);
    } catch (e) {
      if (signal?.aborted || !isDataRefusal(e)) throw e;
      if (e.code !== '23505') {
        refusal ??= e;
        stopped = true;
        return insertWhatFits(s, first, last);
      }
      // Keys the generator made collide with rows already there: skip those rows from now on.
      uniqueRefusal ??= e;
      if (!onConflict) {
        onConflict = true;
        sql = insertSql(plan, { onConflictDoNothing: true });
      }
      return insertWhatFits(s, first, last);
    }
  }

  /** The range again in pieces, in order, up to the first piece the server refuses. */
  async function insertWhatFits(s: Session, first: number, last: number): Promise<number> {
    const piece = Math.max(1, Math.ceil((last - first + 1) / RETRY_PIECES));
    let n = 0;
    for (let from = first; from <= last; from += piece) {
      if (signal?.aborted) return n;
      try {
        n += await run(s, from, Math.min(last, from + piece - 1));
      } catch (e) {
        if (signal?.aborted || !isDataRefusal(e)) throw e;
        refusal ??= e;
        stopped = true;
        return n;
      }
    }
    return n;
  }

  const held = await countRows(admin, table);
  report(held);
  const cause = refusal ?? uniqueRefusal;
  return {
    table: table.name,
    requested,
    inserted: held,
    ...(held < requested && cause ? { limitedBy: limitSentence(table.name, cause, held, requested) } : {}),
  };
}

/**
 * reltuples of `tables` on a statistics database the user configured, read-only and from the
 * catalog only (no table is read): a partitioned table sums its leaf partitions. Tables it does not
 * know, or never analysed, are left out. Keys are the names as given.
 */
export async function readRowEstimates(
  target: ConnectionTarget,
  tables: readonly string[],
  logger: Logger,
): Promise<Record<string, number>> {
  const client = await connect(target, APP_NAMES.admin, logger);
  const estimates: Record<string, number> = {};
  try {
    await client.query('BEGIN READ ONLY');
    await client.query(`SET LOCAL statement_timeout = '10s'`);
    for (const name of tables) {
      await client.query('SAVEPOINT estimate');
      try {
        const r = await client.query<{ n: string | null }>(
          `SELECT CASE WHEN c.relkind = 'p' THEN
                    (SELECT sum(greatest(pc.reltuples, 0)) FROM pg_partition_tree(c.oid) AS t
                       JOIN pg_class pc ON pc.oid = t.relid WHERE t.isleaf)
                  ELSE c.reltuples END AS n
             FROM pg_class c WHERE c.oid = to_regclass($1)`,
          [name],
        );
        const n = r.rows[0]?.n === null || r.rows[0]?.n === undefined ? undefined : Number(r.rows[0].n);
        if (n !== undefined && n > 0) estimates[name] = Math.round(n);
        else logger.info(`The statistics database has no row estimate for ${name}.`);
        await client.query('RELEASE SAVEPOINT estimate');
      } catch (e) {
        await client.query('ROLLBACK TO SAVEPOINT estimate');
        logger.warn(`Reading the row estimate of ${name} failed: ${describeError(e)}`);
      }
    }
    await client.query('COMMIT');
    return estimates;
  } catch (e) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw new LabError('Reading row estimates from the statistics database failed.', { cause: e });
  } finally {
    await client.end().catch(() => undefined);
  }
}
