import type pg from 'pg';
import { APP_NAMES, connect, quoteIdent, type ConnectionTarget } from './db';
import { CancelledError, LabError, isPgError } from './errors';
import type { Logger } from './log';
import { DEMO_SCENARIO } from './scenarios/demo';

/** The demo's two tables (created by its initial migration): one seeded large, one kept small. */
const LARGE = DEMO_SCENARIO.seed.large;
const SMALL = DEMO_SCENARIO.seed.small;

export interface SeedProgress {
  /** Rows of the large table present so far (of `total`). */
  done: number;
  total: number;
  phase: 'small' | 'large' | 'vacuum' | 'done';
}

export interface SeedOptions {
  schema: string;
  largeCount: number;
  smallCount?: number;
  /** Rows a chunk inserts in one statement (one transaction). */
  chunkSize?: number;
  /** Sessions inserting chunks side by side; generation is CPU-bound, so one per core is right. */
  parallelism?: number;
  signal?: AbortSignal;
  onProgress?: (p: SeedProgress) => void;
  logger: Logger;
}

export interface SeedResult {
  smallRows: number;
  largeRows: number;
  /** Rows this call inserted (less than largeRows when it resumed earlier work). */
  inserted: number;
  /** Time spent inserting the large table's rows (the rate a benchmark compares). */
  insertMs: number;
  /** Whole call, VACUUM ANALYZE included. */
  durationMs: number;
}

export const DEFAULT_CHUNK_SIZE = 100_000;
export const MAX_LARGE_COUNT = 100_000_000;
/** Up to this many rows beyond the requested count are deleted; more make the seed truncate. */
const EXCESS_DELETE_LIMIT = 100_000;

/** Checks a row count typed by a user or passed on a command line. */
export function validateRowCount(value: unknown): number {
  const n =
    typeof value === 'string' && /^\s*\d[\d_,]*\s*$/.test(value)
      ? Number(value.replace(/[_,\s]/g, ''))
      : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > MAX_LARGE_COUNT) {
    throw new LabError(
      `The row count must be a whole number from 1 to ${MAX_LARGE_COUNT.toLocaleString('en-US')}.`,
    );
  }
  return n;
}

/**
 * SQL that generates the large table's rows $1..$2 on the server: realistic, unique addresses
 * (the id is part of each one) with varied lengths and domains, spread over a year.
 */
export function largeEmailInsertSql(schema: string, table = LARGE): string {
  return `INSERT INTO ${quoteIdent(schema)}.${quoteIdent(table)} (id, email, created_at)
SELECT g,
       (ARRAY['alice','bob','carol','dave','erin','frank','grace','heidi','ivan','judy','mallory','niaj','olivia','peggy','rupert','sybil','trent','victor','walter','yasmin'])[1 + g % 20]
       || '.' ||
       (ARRAY['smith','jones','garcia','miller','davis','martinez','lopez','wilson','anderson','thomas','moore','jackson','martin','lee','thompson','white','harris','clark','lewis','young'])[1 + (g / 20) % 20]
       || g || '@' ||
       (ARRAY['example.com','example.org','mail.example.net','corp.example.com','example.io','students.example.edu','example.co.uk'])[1 + (g / 400) % 7],
       timestamptz '2025-01-01 00:00:00+00' + (g % 31536000) * interval '1 second'
FROM generate_series($1::bigint, $2::bigint) AS g`;
}

/** Chunks (by index) that are fully present, from a per-chunk count of ids 1..total. */
export function missingChunks(
  total: number,
  chunkSize: number,
  presentCounts: Map<number, number>,
): number[] {
  const chunks = Math.ceil(total / chunkSize);
  const missing: number[] = [];
  for (let c = 0; c < chunks; c++) {
    const size = Math.min(chunkSize, total - c * chunkSize);
    if ((presentCounts.get(c) ?? 0) !== size) missing.push(c);
  }
  return missing;
}

/**
 * Seeds the demo's small and large tables (created by its initial migration) in chunks.
 * Each chunk is one statement, so a cancelled seed leaves whole chunks only; the next call
 * finds which chunks are missing and inserts just those. Ends with VACUUM ANALYZE.
 */
export async function seedTables(target: ConnectionTarget, options: SeedOptions): Promise<SeedResult> {
  const { schema, largeCount, logger, signal } = options;
  const smallCount = options.smallCount ?? 10;
  const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
  const parallelism = Math.max(1, options.parallelism ?? 2);
  validateRowCount(largeCount);
  const t0 = Date.now();
  const s = quoteIdent(schema);
  const report = (p: SeedProgress) => options.onProgress?.(p);

  const admin = await connect(target, APP_NAMES.seeder, logger);
  const workers: pg.Client[] = [];
  try {
    await assertTablesExist(admin, schema);
    report({ done: 0, total: largeCount, phase: 'small' });
    await admin.query(`INSERT INTO ${s}.${SMALL} (id, email, created_at)
      SELECT g, 'small' || g || '@example.com', now() FROM generate_series(1, ${Number(smallCount)}) AS g
      ON CONFLICT (id) DO NOTHING`);

    // Rows above the requested count: a few are the probe's own inserts (delete them); many mean the
    // table was seeded bigger before (TRUNCATE is faster than deleting millions of rows).
    const beyond = Number(
      (
        await admin.query(
          `SELECT count(*) AS n FROM (SELECT 1 FROM ${s}.${LARGE} WHERE id > $1 LIMIT ${EXCESS_DELETE_LIMIT + 1}) AS x`,
          [largeCount],
        )
      ).rows[0].n,
    );
    if (beyond > EXCESS_DELETE_LIMIT) {
      logger.info(`${LARGE} has more rows than ${largeCount}; truncating before seeding.`);
      await admin.query(`TRUNCATE ${s}.${LARGE}`);
    } else if (beyond > 0) {
      await admin.query(`DELETE FROM ${s}.${LARGE} WHERE id > $1`, [largeCount]);
      logger.info(`Deleted ${beyond} rows beyond id ${largeCount} (e.g. the probe's inserts).`);
    }
    const counts = new Map<number, number>();
    const present = await admin.query<{ chunk: string; n: string }>(
      `SELECT (id - 1) / $2 AS chunk, count(*) AS n FROM ${s}.${LARGE} WHERE id BETWEEN 1 AND $1 GROUP BY 1`,
      [largeCount, chunkSize],
    );
    for (const row of present.rows) counts.set(Number(row.chunk), Number(row.n));
    const todo = missingChunks(largeCount, chunkSize, counts);
    let done = largeCount - todo.reduce((sum, c) => sum + Math.min(chunkSize, largeCount - c * chunkSize), 0);
    if (done > 0) logger.info(`Resuming the seed: ${done} of ${largeCount} rows are already there.`);
    report({ done, total: largeCount, phase: 'large' });

    // Our ids are explicit (1..N): move the identity sequence past them first, so rows the app (the
    // probe) inserts while we seed take ids above the seed instead of colliding with a chunk to come.
    await admin.query(
      `SELECT setval(pg_get_serial_sequence($1, 'id'), GREATEST($2::bigint, (SELECT coalesce(max(id), 0) FROM ${s}.${LARGE})) + 1, false)`,
      [`${s}.${LARGE}`, largeCount],
    );
    const insertSql = largeEmailInsertSql(schema);
    let inserted = 0;
    for (let i = 0; i < Math.min(parallelism, todo.length); i++) {
      const w = await connect(target, APP_NAMES.seeder, logger);
      // Safe for a lab: a crash loses at most the last chunks, which the next seed re-inserts.
      await w.query('SET synchronous_commit = off');
      workers.push(w);
    }
    if (signal?.aborted) throw new CancelledError('Seeding cancelled.');
    const queue = [...todo];
    const insertStart = Date.now();
    const onAbort = () => void cancelBackends(admin, workers);
    signal?.addEventListener('abort', onAbort);
    try {
      await Promise.all(
        workers.map(async (w) => {
          for (let c = queue.shift(); c !== undefined && !signal?.aborted; c = queue.shift()) {
            const from = c * chunkSize + 1;
            const to = Math.min(largeCount, (c + 1) * chunkSize);
            // Each chunk is one statement, so it is all there or absent; rows in its range that are
            // not all there came from elsewhere (e.g. the probe's inserts) and make way for it.
            await w.query(`DELETE FROM ${s}.${LARGE} WHERE id BETWEEN $1 AND $2`, [from, to]);
            await w.query(insertSql, [from, to]);
            inserted += to - from + 1;
            done += to - from + 1;
            report({ done, total: largeCount, phase: 'large' });
          }
        }),
      );
    } catch (e) {
      if (signal?.aborted || (isPgError(e) && e.code === '57014'))
        throw new CancelledError('Seeding cancelled.');
      throw e;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
    if (signal?.aborted) throw new CancelledError('Seeding cancelled.');
    const insertMs = Date.now() - insertStart;

    // Our ids were explicit; move the identity sequences past them so the app's own inserts work.
    for (const table of [SMALL, LARGE]) {
      await admin.query(
        // Never backwards: an id the app was handed but has not committed yet is above max(id).
        `SELECT setval(seq, GREATEST((SELECT coalesce(max(id), 0) FROM ${s}.${quoteIdent(table)}), coalesce(pg_sequence_last_value(seq), 0)) + 1, false)
           FROM (SELECT pg_get_serial_sequence($1, 'id')::regclass AS seq) AS q`,
        [`${s}.${quoteIdent(table)}`],
      );
    }
    report({ done, total: largeCount, phase: 'vacuum' });
    // Without it the first index build rewrites hint bits and writes ~2.5x the WAL.
    await admin.query(`VACUUM ANALYZE ${s}.${SMALL}, ${s}.${LARGE}`);
    // A cancel during VACUUM takes effect when it ends: the rows are all there, but the seed says so.
    if (signal?.aborted) throw new CancelledError('Seeding cancelled.');
    const largeRows = Number((await admin.query(`SELECT count(*) AS n FROM ${s}.${LARGE}`)).rows[0].n);
    const smallRows = Number((await admin.query(`SELECT count(*) AS n FROM ${s}.${SMALL}`)).rows[0].n);
    report({ done: largeRows, total: largeCount, phase: 'done' });
    const durationMs = Date.now() - t0;
    logger.info(
      `Seeded ${inserted} rows in ${durationMs} ms (${LARGE}: ${largeRows}, ${SMALL}: ${smallRows}).`,
    );
    return { smallRows, largeRows, inserted, insertMs, durationMs };
  } finally {
    await Promise.all([admin, ...workers].map((c) => c.end().catch(() => undefined)));
  }
}

async function assertTablesExist(client: pg.Client, schema: string): Promise<void> {
  const r = await client.query<{ small: string | null; large: string | null }>(
    `SELECT to_regclass($1) AS small, to_regclass($2) AS large`,
    [`${quoteIdent(schema)}.${SMALL}`, `${quoteIdent(schema)}.${LARGE}`],
  );
  if (!r.rows[0]?.small || !r.rows[0]?.large) {
    throw new LabError(
      `The lab tables do not exist in schema "${schema}" yet; apply migration 0001_initial first.`,
    );
  }
}

async function cancelBackends(admin: pg.Client, workers: pg.Client[]): Promise<void> {
  const pids = workers
    .map((w) => (w as unknown as { processID?: number }).processID)
    .filter((p) => p !== undefined);
  if (pids.length > 0)
    await admin
      .query('SELECT pg_cancel_backend(p) FROM unnest($1::int[]) AS p', [pids])
      .catch(() => undefined);
}
