import { readFileSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Logger } from '../log';
import { LabError } from '../errors';

const execFileAsync = promisify(execFile);

export interface OsUser {
  name: string;
  uid: number;
  gid: number;
}

/** Reads one user from /etc/passwd (no native module needed). */
export function lookupOsUser(name: string, passwdFile = '/etc/passwd'): OsUser | undefined {
  let text: string;
  try {
    text = readFileSync(passwdFile, 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n')) {
    const [user, , uid, gid] = line.split(':');
    if (user === name && uid !== undefined && gid !== undefined) return { name, uid: +uid, gid: +gid };
  }
  return undefined;
}

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** The account PostgreSQL runs as when we are root: `postgres` if the machine has one, else our own. */
export const PREFERRED_SERVICE_USERS = ['postgres', 'migration-lab'] as const;

/**
 * PostgreSQL refuses to run as root, so as root we run it as an unprivileged account,
 * creating `migration-lab` (no home, no login shell) when neither candidate exists.
 */
export async function ensureServiceUser(logger: Logger): Promise<OsUser> {
  for (const name of PREFERRED_SERVICE_USERS) {
    const found = lookupOsUser(name);
    if (found) return found;
  }
  const name = PREFERRED_SERVICE_USERS[1];
  logger.info(`Creating the unprivileged OS user "${name}" to run PostgreSQL (it refuses to run as root).`);
  try {
    await execFileAsync('useradd', [
      '--system',
      '--no-create-home',
      '--home-dir',
      '/nonexistent',
      '--shell',
      '/usr/sbin/nologin',
      name,
    ]);
  } catch (e) {
    throw new LabError(
      `PostgreSQL cannot run as root and the OS user "${name}" could not be created; create an unprivileged user or run VS Code as a normal user.`,
      { cause: e },
    );
  }
  const created = lookupOsUser(name);
  if (!created) throw new LabError(`The OS user "${name}" was created but cannot be found in /etc/passwd.`);
  return created;
}

/**
 * True when `user` can reach `path`: every ancestor directory grants it search (x) permission.
 * A root-only folder on the way (e.g. /root, or a mode-700 temp dir) makes the answer false.
 */
export function canTraverse(path: string, user: OsUser): boolean {
  let dir = path;
  for (;;) {
    let st;
    try {
      st = statSync(dir);
    } catch {
      return false;
    }
    const mode = st.mode;
    const ok =
      st.uid === user.uid
        ? (mode & 0o100) !== 0
        : st.gid === user.gid
          ? (mode & 0o010) !== 0
          : (mode & 0o001) !== 0;
    if (!ok) return false;
    const parent = dirname(dir);
    if (parent === dir) return true;
    dir = parent;
  }
}
