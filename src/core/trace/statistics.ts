/**
 * Production-like row counts for the trace's fill (issue 12 §1 step 2): the reltuples of the touched
 * tables on a statistics database the user configured, read from its catalog in a read-only
 * transaction (readRowEstimates). A statistics database that cannot be read never stops a trace: the
 * report says so in one sentence and the fill sizes the tables as it would without one.
 */
import type { ConnectionTarget } from '../db';
import { describeError } from '../errors';
import { redactSecrets, type Logger } from '../log';
import { parseExternalUrl } from '../postgres/external';
import { readRowEstimates } from './fill';
import type { TraceStatistics } from './types';

/**
 * The statistics database of a postgres:// URL (the CLI's --stats-url-env variable, the extension's
 * Secret Storage): throws parseExternalUrl's LabError, which never repeats the URL.
 */
export function statisticsTarget(url: string): ConnectionTarget {
  const parts = parseExternalUrl(url);
  return {
    host: parts.host,
    port: parts.port,
    database: parts.database,
    user: parts.user,
    connectionString: url.trim(),
  };
}

/** Where the statistics come from, for the report and the log: host:port and database, never credentials. */
export function statisticsLocation(target: ConnectionTarget): { host: string; database: string } {
  if (target.connectionString) {
    try {
      const u = parseExternalUrl(target.connectionString);
      return { host: `${u.host}:${u.port}`, database: u.database };
    } catch {
      return { host: 'an unparsable URL', database: '' };
    }
  }
  return { host: `${target.host}:${target.port}`, database: target.database };
}

/** `schema.table` (plain, as the trace names tables) quoted for to_regclass, so mixed case survives. */
function regclassName(plain: string): string {
  const dot = plain.indexOf('.');
  const q = (id: string) => `"${id.replace(/"/g, '""')}"`;
  return `${q(plain.slice(0, dot))}.${q(plain.slice(dot + 1))}`;
}

/** The underlying error of a LabError wrapper, in one line without any URL credentials. */
function reason(e: unknown): string {
  const cause = e instanceof Error && e.cause !== undefined ? e.cause : e;
  return redactSecrets(describeError(cause)).replace(/\.$/, '');
}

/**
 * Reads the row estimates of `tables` (schema-qualified) on the statistics database. Never throws:
 * a failure, or no estimate for any table, is the `note`, and `estimates` is then empty.
 */
export async function readProductionStatistics(
  target: ConnectionTarget,
  tables: readonly string[],
  logger: Logger,
): Promise<TraceStatistics> {
  const { host, database } = statisticsLocation(target);
  const where = `the statistics database ${database} on ${host}`;
  const estimates: Record<string, number> = {};
  try {
    const byQuoted = await readRowEstimates(target, tables.map(regclassName), logger);
    for (const t of tables) {
      const n = byQuoted[regclassName(t)];
      if (n !== undefined) estimates[t] = n;
    }
  } catch (e) {
    const note = `Row estimates could not be read from ${where} (${reason(e)}); the tables were sized as without statistics.`;
    logger.warn(`trace: ${note}`);
    return { host, database, estimates, note };
  }
  if (Object.keys(estimates).length === 0) {
    const note = `${where[0]!.toUpperCase()}${where.slice(1)} has no row estimate for ${tables.join(', ')} (never analysed there, or named differently); the tables were sized as without statistics.`;
    logger.warn(`trace: ${note}`);
    return { host, database, estimates, note };
  }
  return { host, database, estimates };
}
