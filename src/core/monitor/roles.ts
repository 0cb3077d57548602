import { APP_NAMES } from '../db';

/** What a session is to the lab, read from its `application_name`. */
export type SessionRole =
  'migration' | 'probe-read' | 'probe-write' | 'monitor' | 'long-transaction' | 'seeder' | 'admin' | 'other';

export const SESSION_ROLES: readonly SessionRole[] = [
  'migration',
  'probe-read',
  'probe-write',
  'monitor',
  'long-transaction',
  'seeder',
  'admin',
  'other',
];

const ROLE_BY_APP_NAME: ReadonlyMap<string, SessionRole> = new Map<string, SessionRole>([
  [APP_NAMES.migration, 'migration'],
  [APP_NAMES.probeRead, 'probe-read'],
  [APP_NAMES.probeWrite, 'probe-write'],
  [APP_NAMES.monitor, 'monitor'],
  [APP_NAMES.longTransaction, 'long-transaction'],
  [APP_NAMES.seeder, 'seeder'],
  [APP_NAMES.admin, 'admin'],
]);

/** The role an `application_name` stands for; anything that is not one of the lab's names is 'other'. */
export function roleFromApplicationName(applicationName: string | null | undefined): SessionRole {
  if (!applicationName) return 'other';
  return ROLE_BY_APP_NAME.get(applicationName.trim()) ?? 'other';
}

/** The fields of a pg_stat_activity row that decide a session's role. */
export interface SessionIdentity {
  pid: number;
  applicationName: string | null;
  backendType?: string | null;
  /** pg_stat_activity.leader_pid (PG13+): the parallel group leader of a parallel worker. */
  leaderPid?: number | null;
  /** The leader's application_name when the query joined it (a worker's own may be empty). */
  leaderApplicationName?: string | null;
}

/** True for a parallel query worker (e.g. of a CREATE INDEX) that works for another backend. */
export function isParallelWorker(session: SessionIdentity): boolean {
  return (
    session.backendType === 'parallel worker' &&
    typeof session.leaderPid === 'number' &&
    session.leaderPid !== session.pid
  );
}

/**
 * A session's role: its own application_name, except that a parallel worker takes its leader's role
 * (its locks are the leader's work). `known` maps pids already labelled (e.g. the leader's row).
 */
export function roleOf(session: SessionIdentity, known?: ReadonlyMap<number, SessionRole>): SessionRole {
  if (isParallelWorker(session)) {
    const leader = session.leaderPid as number;
    const fromKnown = known?.get(leader);
    if (fromKnown) return fromKnown;
    if (session.leaderApplicationName !== undefined && session.leaderApplicationName !== null)
      return roleFromApplicationName(session.leaderApplicationName);
  }
  return roleFromApplicationName(session.applicationName);
}

/** Labels every session of a list; workers get their leader's role when the leader is in the list. */
export function labelRoles(sessions: readonly SessionIdentity[]): Map<number, SessionRole> {
  const roles = new Map<number, SessionRole>();
  for (const s of sessions) if (!isParallelWorker(s)) roles.set(s.pid, roleOf(s));
  for (const s of sessions) if (isParallelWorker(s)) roles.set(s.pid, roleOf(s, roles));
  return roles;
}

/**
 * `pg_blocking_pids` lists a leader once per parallel worker that holds the lock: keep each pid once,
 * sorted, dropping anything that is not a pid.
 */
export function dedupePids(
  pids: readonly (number | string | null | undefined)[] | null | undefined,
): number[] {
  if (!pids) return [];
  const seen = new Set<number>();
  for (const p of pids) {
    const n = typeof p === 'string' ? Number(p) : p;
    if (typeof n === 'number' && Number.isInteger(n) && n > 0) seen.add(n);
  }
  return [...seen].sort((a, b) => a - b);
}
