import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../log';
import { processIsAlive } from './liveness';

/**
 * Where embedded clusters live on disk, how big they are, and deleting them (Delete Lab Data). The
 * launcher (embedded.ts) places clusters with the same two functions, so both agree on the folders.
 */

/** As root, binaries and clusters go here when the server's account cannot reach the editor's storage. */
export const DEFAULT_SHARED_ROOT = '/var/lib/migration-lab';

/** The cluster folder of the lab whose storage is `baseDir`, when its account can reach it. */
export function ownClusterRoot(baseDir: string): string {
  return join(baseDir, 'postgres');
}

/** The cluster folder under the shared root that stands for `baseDir` (`cluster-<hash>`). */
export function sharedClusterRoot(sharedRoot: string, baseDir: string): string {
  const id = createHash('sha256').update(baseDir).digest('hex').slice(0, 12);
  return join(sharedRoot, `cluster-${id}`);
}

/** Bytes in a folder and below (symlinks counted as links, not followed); 0 when it does not exist. */
export function directorySize(path: string): number {
  let stat;
  try {
    stat = lstatSync(path);
  } catch {
    return 0;
  }
  if (!stat.isDirectory()) return stat.size;
  let total = stat.size;
  let entries: string[];
  try {
    entries = readdirSync(path);
  } catch {
    return total; // unreadable: count what we can see
  }
  for (const entry of entries) total += directorySize(join(path, entry));
  return total;
}

/** A cluster folder on disk. */
export interface ClusterDir {
  path: string;
  bytes: number;
  /** Its postmaster.pid names a live process: a server (of another editor, say) runs on it. */
  inUse: boolean;
}

/** Whether a server is running on the cluster in `root` (its data/postmaster.pid names a live pid). */
export function clusterInUse(root: string): boolean {
  try {
    const pid = Number(readFileSync(join(root, 'data', 'postmaster.pid'), 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 && processIsAlive(pid);
  } catch {
    return false;
  }
}

function clusterDir(path: string): ClusterDir {
  return { path, bytes: directorySize(path), inUse: clusterInUse(path) };
}

/** This lab's cluster folders that exist (its own storage, and its stand-in under the shared root). */
export function labClusters(baseDir: string, sharedRoot = DEFAULT_SHARED_ROOT): ClusterDir[] {
  // Other majors than the bundled one keep their cluster below `<baseDir>/pg<major>` (majors.ts).
  let majors: string[] = [];
  try {
    majors = readdirSync(baseDir).filter((n) => /^pg\d+$/.test(n));
  } catch {
    // no storage folder yet
  }
  return [baseDir, ...majors.map((m) => join(baseDir, m))]
    .flatMap((dir) => [ownClusterRoot(dir), sharedClusterRoot(sharedRoot, dir)])
    .filter((p) => existsSync(p))
    .map(clusterDir);
}

/** Clusters under the shared root that are not this lab's (left by earlier runs or other editors). */
export function leftoverClusters(baseDir: string, sharedRoot = DEFAULT_SHARED_ROOT): ClusterDir[] {
  const own = sharedClusterRoot(sharedRoot, baseDir);
  let names: string[];
  try {
    names = readdirSync(sharedRoot);
  } catch {
    return [];
  }
  return names
    .filter((n) => /^cluster-[0-9a-f]+$/.test(n))
    .map((n) => join(sharedRoot, n))
    .filter((p) => p !== own && lstatSync(p).isDirectory())
    .map(clusterDir);
}

/**
 * Deletes cluster folders that no server runs on; returns what was deleted. A folder in use is kept
 * and logged (deleting a running server's files would crash it).
 */
export function deleteClusters(dirs: readonly ClusterDir[], logger: Logger): ClusterDir[] {
  const deleted: ClusterDir[] = [];
  for (const dir of dirs) {
    if (clusterInUse(dir.path)) {
      logger.warn(`Kept ${dir.path}: a PostgreSQL server is running on it.`);
      continue;
    }
    rmSync(dir.path, { recursive: true, force: true });
    logger.info(`Deleted ${dir.path} (${dir.bytes} bytes).`);
    deleted.push(dir);
  }
  return deleted;
}
