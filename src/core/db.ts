import type pg from 'pg';
import type { Logger } from './log';

/**
 * The pg driver, loaded on first use: requiring it costs about 15 ms, which the extension's activation
 * (and every command that never touches a database) should not pay.
 */
export function pgDriver(): typeof pg {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- deliberately lazy
  return require('pg') as typeof pg;
}

/** Where a lab database is; never logged as a whole (it can carry a password). */
export interface ConnectionTarget {
  host: string;
  port: number;
  database: string;
  user: string;
  password?: string;
  /** Full URL for external databases; wins over the fields above when set. */
  connectionString?: string;
}

/** Application names the lab gives its own sessions, so the lock monitor can label them. */
export const APP_NAMES = {
  admin: 'migration-lab:admin',
  migration: 'migration-lab:migration',
  seeder: 'migration-lab:seeder',
  monitor: 'migration-lab:monitor',
  probeRead: 'migration-lab:probe-read',
  probeWrite: 'migration-lab:probe-write',
  /** The probe endpoint's /healthz connection (idle between pings; never takes a table lock). */
  probeHealth: 'migration-lab:probe-health',
  longTransaction: 'migration-lab:long-transaction',
} as const;

export function clientConfig(target: ConnectionTarget, applicationName: string): pg.ClientConfig {
  const base: pg.ClientConfig = target.connectionString
    ? { connectionString: target.connectionString }
    : {
        host: target.host,
        port: target.port,
        database: target.database,
        user: target.user,
        password: target.password,
      };
  return { ...base, application_name: applicationName, connectionTimeoutMillis: 10_000 };
}

/** Opens one client; every client gets an error listener so a dropped connection never crashes the host. */
export async function connect(
  target: ConnectionTarget,
  applicationName: string,
  logger: Logger,
): Promise<pg.Client> {
  const client = new (pgDriver().Client)(clientConfig(target, applicationName));
  client.on('error', (e) => logger.warn(`${applicationName}: connection error: ${e.message}`));
  await client.connect();
  return client;
}

export function createPool(
  target: ConnectionTarget,
  applicationName: string,
  logger: Logger,
  options: { max?: number } = {},
): pg.Pool {
  const pool = new (pgDriver().Pool)({ ...clientConfig(target, applicationName), max: options.max ?? 4 });
  pool.on('error', (e) => logger.warn(`${applicationName}: idle connection error: ${e.message}`));
  return pool;
}

/** Quotes an identifier (schema or table name from a setting). */
export function quoteIdent(name: string): string {
  return pgDriver().escapeIdentifier(name);
}

/** Runs `fn` inside one transaction on one client: BEGIN, COMMIT, or ROLLBACK on error. */
export async function inTransaction<T>(client: pg.ClientBase, fn: () => Promise<T>): Promise<T> {
  await client.query('BEGIN');
  try {
    const result = await fn();
    await client.query('COMMIT');
    return result;
  } catch (e) {
    await client.query('ROLLBACK').catch(() => undefined); // the original error is the one that matters
    throw e;
  }
}
