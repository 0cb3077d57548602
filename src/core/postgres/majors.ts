import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { LabError } from '../errors';
import { execCommand } from '../exec';

/**
 * The PostgreSQL majors the lab can run (migrationLab.postgres.version) and finding an installation of
 * one already on this machine. Fetching one from npm is binaries.ts.
 */

export const SUPPORTED_MAJORS = [14, 15, 16, 17, 18] as const;
export type PostgresMajor = (typeof SUPPORTED_MAJORS)[number];
/** The setting's values: a major, or `bundled` (the major shipped in the .vsix). */
export type PostgresVersionSetting = 'bundled' | `${PostgresMajor}`;

export const VERSION_SETTING = 'migrationLab.postgres.version';
export const BIN_DIR_SETTING = 'migrationLab.postgres.binDir';

/** The setting's value (or the CLI's --pg) checked; an unknown major is one sentence. */
export function parseVersionSetting(value: unknown, source = VERSION_SETTING): PostgresVersionSetting {
  const text = String(value ?? 'bundled').trim();
  if (text === '' || text === 'bundled') return 'bundled';
  if ((SUPPORTED_MAJORS as readonly number[]).map(String).includes(text))
    return text as PostgresVersionSetting;
  throw new LabError(
    `${source} must be "bundled" or one of ${SUPPORTED_MAJORS.join(', ')}, not "${text}"; Migration Lab runs PostgreSQL ${SUPPORTED_MAJORS[0]} to ${SUPPORTED_MAJORS[SUPPORTED_MAJORS.length - 1]}.`,
  );
}

/** The major of a version string: "18.4.0-beta.17" → 18, "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)" → 15. */
export function majorOf(version: string): number | undefined {
  const m = /(?:PostgreSQL\)\s*|^)(\d+)(?:\.\d+)?/.exec(version.trim());
  return m ? Number(m[1]) : undefined;
}

/** `postgres --version`'s "postgres (PostgreSQL) 15.18 (Debian …)" → "15.18". */
export function parseServerVersion(output: string): string | undefined {
  return /\(PostgreSQL\)\s+(\d+(?:\.\d+)?)/.exec(output)?.[1];
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

const exe = (name: string) => (process.platform === 'win32' ? `${name}.exe` : name);

/** A folder holding the three programs the launcher runs. */
export function looksLikeBinDir(dir: string): boolean {
  return ['postgres', 'initdb', 'pg_ctl'].every((p) => isExecutable(join(dir, exe(p))));
}

/** What `postgres --version` in `dir` says ("15.18"), or undefined when it cannot run. */
export async function binDirVersion(dir: string, signal?: AbortSignal): Promise<string | undefined> {
  try {
    const result = await execCommand(join(dir, exe('postgres')), ['--version'], {
      signal,
      timeoutMs: 10_000,
    });
    return result.code === 0 ? parseServerVersion(result.stdout) : undefined;
  } catch {
    return undefined;
  }
}

/** The usual install folders of a major: Debian/Ubuntu, RHEL's PGDG, Homebrew (both prefixes), Postgres.app. */
export function wellKnownBinDirs(major: number): string[] {
  return [
    `/usr/lib/postgresql/${major}/bin`,
    `/usr/pgsql-${major}/bin`,
    `/opt/homebrew/opt/postgresql@${major}/bin`,
    `/usr/local/opt/postgresql@${major}/bin`,
    `/Applications/Postgres.app/Contents/Versions/${major}/bin`,
  ];
}

export interface FindInstalledOptions {
  /** migrationLab.postgres.binDir, checked first; when set and wrong, that is the error. */
  binDir?: string;
  /** PATH to search (default: this process's). */
  pathEnv?: string;
  /** The install folders to look in (default: wellKnownBinDirs(major)); tests pass their own. */
  knownDirs?: string[];
  signal?: AbortSignal;
}

export interface InstalledPostgres {
  binDir: string;
  version: string;
  /** How it was found, for the log sentence. */
  foundBy: 'binDir setting' | 'pg_config' | 'PATH' | 'install folder';
}

/**
 * An installation of `major` already on this machine: the binDir setting, then `pg_config --bindir`
 * and PATH, then the usual install folders; each candidate's major is checked by running
 * `postgres --version` (a folder's name proves nothing: Debian's /usr/bin/pg_config may be another major's).
 */
export async function findInstalledPostgres(
  major: number,
  options: FindInstalledOptions = {},
): Promise<InstalledPostgres | undefined> {
  const { signal } = options;
  if (options.binDir) {
    const dir = options.binDir;
    if (!existsSync(dir) || !looksLikeBinDir(dir)) {
      throw new LabError(
        `${BIN_DIR_SETTING} is "${dir}", which does not hold PostgreSQL's postgres, initdb and pg_ctl; point it at an installation's bin folder or clear it.`,
      );
    }
    const version = await binDirVersion(dir, signal);
    if (!version) {
      throw new LabError(
        `${BIN_DIR_SETTING} is "${dir}", but its postgres --version does not run; see the log.`,
      );
    }
    if (majorOf(version) !== major) {
      throw new LabError(
        `${BIN_DIR_SETTING} is "${dir}", which holds PostgreSQL ${version}, not ${major}; set ${VERSION_SETTING} to ${majorOf(version)} or point binDir at a PostgreSQL ${major}.`,
      );
    }
    return { binDir: dir, version, foundBy: 'binDir setting' };
  }
  const pathEnv = options.pathEnv ?? process.env.PATH ?? '';
  const candidates: { dir: string; foundBy: InstalledPostgres['foundBy'] }[] = [];
  const pgConfigDir = await pgConfigBinDir(pathEnv, signal);
  if (pgConfigDir) candidates.push({ dir: pgConfigDir, foundBy: 'pg_config' });
  for (const dir of pathEnv.split(delimiter).filter(Boolean)) candidates.push({ dir, foundBy: 'PATH' });
  for (const dir of options.knownDirs ?? wellKnownBinDirs(major))
    candidates.push({ dir, foundBy: 'install folder' });
  const seen = new Set<string>();
  for (const { dir, foundBy } of candidates) {
    if (seen.has(dir)) continue;
    seen.add(dir);
    if (!looksLikeBinDir(dir)) continue;
    const version = await binDirVersion(dir, signal);
    if (version && majorOf(version) === major) return { binDir: dir, version, foundBy };
  }
  return undefined;
}

/** `pg_config --bindir` of the first pg_config on PATH. */
async function pgConfigBinDir(pathEnv: string, signal?: AbortSignal): Promise<string | undefined> {
  for (const dir of pathEnv.split(delimiter).filter(Boolean)) {
    const pgConfig = join(dir, exe('pg_config'));
    if (!isExecutable(pgConfig)) continue;
    try {
      const result = await execCommand(pgConfig, ['--bindir'], { signal, timeoutMs: 10_000 });
      return result.code === 0 ? result.stdout.trim() || undefined : undefined;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/**
 * The folder that holds the cluster of a major under the lab's storage: the bundled major keeps the
 * storage folder itself (the cluster every earlier version made), others get `pg<major>` beside it, so
 * switching majors never touches another major's data.
 */
export function majorBaseDir(storageDir: string, major: number, bundledMajor: number): string {
  return major === bundledMajor ? storageDir : join(storageDir, `pg${major}`);
}
