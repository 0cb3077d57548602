import type { ConnectionTarget } from './db';

/**
 * A `postgres://` URL for psql or another client, password included (the lab's server is local and
 * its password random). It goes to the clipboard only: never log it.
 */
export function connectionUrl(target: ConnectionTarget): string {
  if (target.connectionString) return target.connectionString;
  const enc = encodeURIComponent;
  const auth =
    target.password !== undefined ? `${enc(target.user)}:${enc(target.password)}` : enc(target.user);
  const host = target.host.includes(':') ? `[${target.host}]` : target.host;
  return `postgres://${auth}@${host}:${target.port}/${enc(target.database)}`;
}

/** Where a target points, for messages and the log: host, port and database, never credentials. */
export function describeTarget(target: ConnectionTarget): string {
  if (target.connectionString) {
    try {
      const u = new URL(target.connectionString);
      return `${u.hostname}:${u.port || '5432'}${u.pathname}`;
    } catch {
      return 'the external database';
    }
  }
  return `${target.host}:${target.port}/${target.database}`;
}
