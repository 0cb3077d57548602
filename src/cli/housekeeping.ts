import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname } from 'node:path';
import { APP_NAMES, connect, quoteIdent, type ConnectionTarget } from '../core/db';
import { LabError } from '../core/errors';
import type { Logger } from '../core/log';

/** Above this many probe-inserted rows, the seeder's own "truncate and reseed" is the better repair. */
const MAX_TRIM_ROWS = 100_000;

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Makes sure only one demo uses the cluster at a time: a second one would take the first one's
 * PostgreSQL for an orphan and stop it. A lock file left by a process that is gone is taken over.
 * Returns the function that releases it.
 */
export function acquireRunLock(path: string): () => void {
  mkdirSync(dirname(path), { recursive: true });
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return () => rmSync(path, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw e;
      let pid = NaN;
      try {
        pid = Number(readFileSync(path, 'utf8').trim());
      } catch {
        // vanished meanwhile: try again
      }
      if (pid > 0 && pid !== process.pid && isAlive(pid)) {
        throw new LabError(
          `Another demo (pid ${pid}) is using this cluster; wait for it to end or stop it with Ctrl-C.`,
        );
      }
      rmSync(path, { force: true });
    }
  }
}

/** Whether something already listens on 127.0.0.1:`port`. */
export function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

async function withAdmin<T>(
  target: ConnectionTarget,
  logger: Logger,
  fn: (client: Awaited<ReturnType<typeof connect>>) => Promise<T>,
): Promise<T> {
  const client = await connect(target, APP_NAMES.admin, logger);
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** The server's data directory (the embedded cluster's superuser may read it). */
export async function dataDirectory(target: ConnectionTarget, logger: Logger): Promise<string | undefined> {
  return withAdmin(target, logger, async (c) => {
    const r = await c.query<{ data_directory: string }>('SHOW data_directory');
    return r.rows[0]?.data_directory;
  });
}

/**
 * Deletes the rows the write probe inserted in earlier runs (ids above the seeded range), so that a
 * rerun with the same --rows resumes instead of the seeder truncating and regenerating the table.
 * Leaves larger excesses (an earlier, bigger --rows) to the seeder. Returns the rows deleted.
 */
export async function trimProbeRows(
  target: ConnectionTarget,
  schema: string,
  rows: number,
  logger: Logger,
): Promise<number> {
  const table = `${quoteIdent(schema)}.large_email`;
  return withAdmin(target, logger, async (c) => {
    const exists = await c.query<{ oid: string | null }>('SELECT to_regclass($1)::oid AS oid', [table]);
    if (!exists.rows[0]?.oid) return 0;
    const extra = await c.query<{ n: string }>(
      `SELECT count(*) AS n FROM (SELECT 1 FROM ${table} WHERE id > $1 LIMIT ${MAX_TRIM_ROWS + 1}) AS x`,
      [rows],
    );
    const n = Number(extra.rows[0]?.n ?? 0);
    if (n === 0 || n > MAX_TRIM_ROWS) return 0;
    const deleted = await c.query(`DELETE FROM ${table} WHERE id > $1`, [rows]);
    logger.info(`Deleted ${deleted.rowCount ?? 0} rows the write probe inserted in earlier runs.`);
    return deleted.rowCount ?? 0;
  });
}
