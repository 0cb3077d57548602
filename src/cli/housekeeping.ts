import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { APP_NAMES, connect, type ConnectionTarget } from '../core/db';
import { LabError } from '../core/errors';
import type { Logger } from '../core/log';
import { portIsFree, processIsAlive } from '../core/postgres/liveness';
import { PROBE_EMAIL_LIKE } from '../core/probe/server';
import { DEMO_SCENARIO, quotedTable } from '../core/scenarios';

/** Above this many probe-inserted rows, the seeder's own "truncate and reseed" is the better repair. */
const MAX_TRIM_ROWS = 100_000;

// The commands and their tests ask this module whether a port is free; the check itself is core's.
export { portIsFree };

/**
 * When the process started, in clock ticks since boot (field 22 of /proc/<pid>/stat), or undefined
 * where there is no /proc. A pid can be reused; a pid with the same start time cannot.
 */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may itself hold spaces or parentheses.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19]; // field 22, counted from field 3
  } catch {
    return undefined;
  }
}

/** Whether `pid` is still the process that wrote the lock (not another one that got its pid later). */
function isLockHolder(pid: number, startTime: string | undefined): boolean {
  if (!processIsAlive(pid)) return false;
  const now = processStartTime(pid);
  if (now === undefined) {
    // No /proc entry to compare (another OS): a live pid is all we can check.
    return !existsSync('/proc/self/stat');
  }
  if (startTime) return now === startTime;
  // A lock written before start times were recorded: its holder must at least be a demo.
  try {
    return /\bdemo(\.js)?\b/.test(readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' '));
  } catch {
    return false;
  }
}

/**
 * Makes sure only one demo uses the cluster at a time: a second one would take the first one's
 * PostgreSQL for an orphan and stop it. The lock file holds the pid and that process's start time;
 * a lock whose process is gone, or whose pid now belongs to another process, is taken over.
 * Returns the function that releases it.
 */
export function acquireRunLock(path: string): () => void {
  mkdirSync(dirname(path), { recursive: true });
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      writeSync(fd, `${process.pid}\n${processStartTime(process.pid) ?? ''}\n`);
      closeSync(fd);
      return () => rmSync(path, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw e;
      let pid = NaN;
      let startTime: string | undefined;
      try {
        const [pidLine, startLine] = readFileSync(path, 'utf8').split('\n');
        pid = Number(pidLine?.trim());
        startTime = startLine?.trim() || undefined;
      } catch {
        // vanished meanwhile: try again
      }
      if (pid > 0 && pid !== process.pid && isLockHolder(pid, startTime)) {
        throw new LabError(
          `Another demo (pid ${pid}) is using this cluster; wait for it to end or stop it with Ctrl-C.`,
        );
      }
      rmSync(path, { force: true });
    }
  }
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
 * Deletes the rows the write probe inserted in earlier runs, so that a rerun with the same --rows
 * resumes instead of the seeder truncating and regenerating the table. They are told apart from seed
 * rows by their ids, not by how many there are: the probe's ids come from the identity sequence (at
 * most its last value), while the seeder writes explicit ids and moves the sequence past them as it
 * starts; within that range, the probe's own addresses (PROBE_EMAIL_LIKE) set its rows apart from those
 * of an earlier, larger seed (finished or interrupted). Seed rows stay for the seeder,
 * which deletes or regenerates them and says so. Leaves larger excesses to the seeder too. Returns
 * the probe rows deleted.
 */
export async function trimProbeRows(
  target: ConnectionTarget,
  schema: string,
  rows: number,
  logger: Logger,
): Promise<number> {
  const table = quotedTable(schema, DEMO_SCENARIO.probe.table);
  return withAdmin(target, logger, async (c) => {
    const exists = await c.query<{ oid: string | null }>('SELECT to_regclass($1)::oid AS oid', [table]);
    if (!exists.rows[0]?.oid) return 0;
    const sequence = await c.query<{ name: string | null }>(
      `SELECT pg_get_serial_sequence($1, 'id') AS name`,
      [table],
    );
    const name = sequence.rows[0]?.name;
    if (!name) return 0;
    // The highest id the sequence has handed out (is_called false: none beyond last_value - 1).
    const seq = await c.query<{ last_value: string; is_called: boolean }>(
      `SELECT last_value, is_called FROM ${name}`,
    );
    const handedOut = Number(seq.rows[0]!.last_value) - (seq.rows[0]!.is_called ? 0 : 1);
    if (handedOut <= rows) return 0;
    const probe = await c.query<{ n: string }>(
      `SELECT count(*) AS n FROM (SELECT 1 FROM ${table} WHERE id > $1 AND id <= $2 AND email LIKE $3 LIMIT ${MAX_TRIM_ROWS + 1}) AS x`,
      [rows, handedOut, PROBE_EMAIL_LIKE],
    );
    const n = Number(probe.rows[0]?.n ?? 0);
    if (n === 0 || n > MAX_TRIM_ROWS) return 0;
    const deleted = await c.query(`DELETE FROM ${table} WHERE id > $1 AND id <= $2 AND email LIKE $3`, [
      rows,
      handedOut,
      PROBE_EMAIL_LIKE,
    ]);
    const count = deleted.rowCount ?? 0;
    logger.info(
      `Deleted ${count} rows the write probe inserted in earlier runs (ids ${rows + 1} to ${handedOut}, handed out by the identity sequence).`,
    );
    return count;
  });
}
