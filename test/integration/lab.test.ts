import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { LabError } from '../../src/core/errors';
import { Lab, type LabState } from '../../src/core/lab';
import { DEMO_SCENARIO } from '../../src/core/scenarios/demo';

const INITIAL_MIGRATION = DEMO_SCENARIO.initial;
const LOCKING_INDEX_MIGRATION = DEMO_SCENARIO.compared.locking;
const CONCURRENT_INDEX_MIGRATION = DEMO_SCENARIO.compared.concurrent;
import { LAB_SCHEMA_MARKER } from '../../src/core/labSchema';
import { memoryLogger } from '../../src/core/log';
import { MIGRATION_LOCK_KEY } from '../../src/core/migrations/runner';
import { freePort } from './support';

const root = join(__dirname, '../../..');

function newLab(storageDir: string, externalUrl?: string) {
  const logger = memoryLogger();
  const lab = new Lab({
    storageDir,
    composeFile: join(root, 'docker-compose.yml'),
    migrationsDir: join(root, 'migrations'),
    logger,
    getExternalUrl: async () => externalUrl,
    dockerPath: join(root, 'test/fixtures/no-such-docker'), // "auto" must fall back to embedded here
  });
  return { lab, logger };
}

describe('the Lab (what the extension and the headless demo drive)', () => {
  let storageDir: string;
  let lab: Lab;
  let port: number;
  const states: LabState[] = [];

  before(async () => {
    storageDir = mkdtempSync(join(tmpdir(), 'migration-lab-lab-'));
    chmodSync(storageDir, 0o755);
    port = await freePort();
    lab = newLab(storageDir).lab;
    lab.on('state', (s) => states.push(s));
  });
  after(async () => {
    await lab.stop();
    rmSync(storageDir, { recursive: true, force: true });
  });

  it('refuses work before PostgreSQL runs, with a sentence that says how to start it', async () => {
    await assert.rejects(
      lab.seed(10),
      (e: unknown) => e instanceof LabError && /not running; start it first/.test(e.message),
    );
  });

  it('auto without Docker starts the embedded server and reports observed state', async () => {
    // Two starts at once (a double click, or Seed offering to start meanwhile) share one server.
    const [a, b] = await Promise.all([
      lab.start({ provider: 'auto', port, schema: 'lab_test' }),
      lab.start({ provider: 'auto', port, schema: 'lab_test' }),
    ]);
    assert.deepEqual(a, b);
    assert.equal(lab.state.database, 'running');
    assert.equal(lab.state.provider, 'embedded');
    assert.match(lab.state.serverVersion ?? '', /^\d+\.\d+/);
    assert.equal(lab.state.seeded, false);
    assert.deepEqual(
      lab.state.migrations.map((m) => [m.id, m.applied]),
      [
        [INITIAL_MIGRATION, false],
        [LOCKING_INDEX_MIGRATION, false],
        [CONCURRENT_INDEX_MIGRATION, false],
      ],
    );
    assert.ok(states.some((s) => s.database === 'starting'));
  });

  it('seeding applies 0001 first and then reports the tables as seeded', async () => {
    const result = await lab.seed(20_000);
    assert.equal(result.largeRows, 20_000);
    assert.equal(lab.state.seeded, true);
    assert.equal(lab.state.largeRows, 20_000);
    assert.equal(lab.state.migrations.find((m) => m.id === INITIAL_MIGRATION)?.applied, true);
  });

  it('runs and rolls back the index migrations, exposing the running pid', async () => {
    let seenPid: number | undefined;
    const result = await lab.migrateTo(LOCKING_INDEX_MIGRATION, {
      onStart: () => (seenPid = lab.state.runningMigration?.pid),
    });
    assert.equal(seenPid, result.pid);
    assert.equal(lab.state.runningMigration, undefined);
    assert.equal(lab.state.migrations.find((m) => m.id === LOCKING_INDEX_MIGRATION)?.applied, true);
    await assert.rejects(lab.migrateTo(CONCURRENT_INDEX_MIGRATION), /roll back to 0001_initial/);
    await lab.rollbackTo(INITIAL_MIGRATION);
    await lab.migrateTo(CONCURRENT_INDEX_MIGRATION);
    assert.equal(lab.state.migrations.find((m) => m.id === CONCURRENT_INDEX_MIGRATION)?.applied, true);
  });

  it('finds an index a failed CONCURRENTLY build left INVALID, and drops it concurrently', async () => {
    const client = new pg.Client(lab.connection!);
    await client.connect();
    try {
      await client.query(
        `INSERT INTO lab_test.large_email (email) SELECT email FROM lab_test.large_email WHERE id = 1`,
      );
      await assert.rejects(
        client.query('CREATE UNIQUE INDEX CONCURRENTLY dup_email_key ON lab_test.large_email (email)'),
        (e: unknown) => (e as { code?: string }).code === '23505',
      );
    } finally {
      await client.end();
    }
    await lab.refresh();
    assert.deepEqual(
      lab.state.invalidIndexes.map((i) => [i.index, i.table, i.indisvalid]),
      [['dup_email_key', 'large_email', false]],
    );
    await lab.dropInvalidIndex('dup_email_key');
    assert.deepEqual(lab.state.invalidIndexes, []);
    await assert.rejects(lab.dropInvalidIndex('dup_email_key'), /no invalid index "dup_email_key"/);
  });

  it('drops, with one sentence, an index a CONCURRENTLY build finished after its run died unrecorded', async () => {
    assert.equal(lab.state.migrations.find((m) => m.id === CONCURRENT_INDEX_MIGRATION)?.applied, true);
    // The build completed, but the process died before it recorded the migration as applied.
    const client = new pg.Client(lab.connection!);
    await client.connect();
    try {
      await client.query('DELETE FROM lab_test.schema_migrations WHERE id = $1', [
        CONCURRENT_INDEX_MIGRATION,
      ]);
    } finally {
      await client.end();
    }
    await lab.stop();
    const notices: string[] = [];
    lab.on('notice', (n) => notices.push(n));
    await lab.start({ provider: 'embedded', port, schema: 'lab_test' });
    assert.deepEqual(notices, [
      'Found the valid index lab_test.large_email_email_idx although neither 0002_add_email_index nor 0002_add_email_index_concurrently is recorded as applied ' +
        '(a CONCURRENTLY build finished after its run ended); dropped it, so either can run again.',
    ]);
    // Either 0002 now runs (before the repair both failed with 42P07: the index name was taken).
    await lab.migrateTo(LOCKING_INDEX_MIGRATION);
    assert.equal(lab.state.migrations.find((m) => m.id === LOCKING_INDEX_MIGRATION)?.applied, true);
    assert.equal(await lab.repairLeftoverIndex(), undefined, 'an applied 0002 owns its index');
    await lab.rollbackTo(INITIAL_MIGRATION);
  });

  it('leaves the email index alone while a migration run holds the lock (another window building it)', async () => {
    const other = new pg.Client(lab.connection!);
    await other.connect();
    try {
      await other.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
      await other.query('CREATE INDEX large_email_email_idx ON lab_test.large_email (email)');
      assert.equal(await lab.repairLeftoverIndex(), undefined, 'a run in progress owns the index');
      const kept = await other.query(
        "SELECT to_regclass('lab_test.large_email_email_idx') IS NOT NULL AS kept",
      );
      assert.equal(kept.rows[0].kept, true);
      await other.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
      assert.match(
        (await lab.repairLeftoverIndex()) ?? '',
        /^Found the valid index lab_test\.large_email_email_idx/,
      );
    } finally {
      await other.end();
    }
  });

  it('reset drops only the lab schema', async () => {
    await lab.reset();
    assert.equal(lab.state.seeded, false);
    assert.ok(lab.state.migrations.every((m) => !m.applied));
  });

  it('stop ends the embedded server and the state says so', async () => {
    await lab.stop();
    assert.equal(lab.state.database, 'stopped');
    await assert.rejects(lab.refresh(), /not running/);
  });

  it('external without a URL, or with a wrong one, is one clear sentence and leaves the lab stopped', async () => {
    const none = newLab(storageDir).lab;
    await assert.rejects(
      none.start({ provider: 'external', port, schema: 'lab_test' }),
      /No external PostgreSQL URL is set/,
    );
    const closed = await freePort();
    const { lab: wrong, logger } = newLab(
      storageDir,
      `postgres://someone:s3cret-pw@127.0.0.1:${closed}/nope`,
    );
    await assert.rejects(wrong.start({ provider: 'external', port, schema: 'lab_test' }), (e: unknown) => {
      assert.ok(e instanceof LabError);
      assert.doesNotMatch(e.message, /s3cret-pw/);
      return true;
    });
    assert.equal(wrong.state.database, 'stopped');
    assert.ok(!logger.lines.some((l) => l.includes('s3cret-pw')), 'the password never reaches the log');
  });
});

describe('the lab schema: never public, and Reset drops only what the lab created', () => {
  let storageDir: string;
  let lab: Lab;
  let port: number;

  before(async () => {
    storageDir = mkdtempSync(join(tmpdir(), 'migration-lab-schema-'));
    chmodSync(storageDir, 0o755);
    port = await freePort();
    lab = newLab(storageDir).lab;
  });
  after(async () => {
    await lab.stop();
    rmSync(storageDir, { recursive: true, force: true });
  });

  it('refuses public, information_schema and pg_* as the lab schema before starting anything', async () => {
    for (const schema of ['public', 'information_schema', 'pg_catalog']) {
      await assert.rejects(lab.start({ provider: 'embedded', port, schema }), (e: unknown) => {
        assert.ok(e instanceof LabError);
        assert.match(e.message, /belongs to the database, not to the lab; set migrationLab\.schema/);
        return true;
      });
      assert.equal(lab.state.database, 'stopped');
    }
  });

  it('refuses to reset a schema it did not create, and leaves its tables alone', async () => {
    await lab.start({ provider: 'embedded', port, schema: 'someone_elses' });
    const client = new pg.Client(lab.connection!);
    await client.connect();
    try {
      await client.query('CREATE SCHEMA someone_elses');
      await client.query('CREATE TABLE someone_elses.keep_me (id int)');
      await assert.rejects(lab.reset(), (e: unknown) => {
        assert.ok(e instanceof LabError);
        assert.match(
          e.message,
          /^Reset Lab did not drop the schema "someone_elses": the lab did not create it/,
        );
        return true;
      });
      const kept = await client.query("SELECT to_regclass('someone_elses.keep_me') IS NOT NULL AS kept");
      assert.equal(kept.rows[0].kept, true);
    } finally {
      await client.end();
    }
    await lab.stop();
  });

  it('marks the schema it creates, and Reset drops that one', async () => {
    await lab.start({ provider: 'embedded', port, schema: 'lab_made' });
    await lab.seed(1_000);
    const client = new pg.Client(lab.connection!);
    await client.connect();
    try {
      const comment = await client.query(
        "SELECT obj_description(oid, 'pg_namespace') AS c FROM pg_namespace WHERE nspname = 'lab_made'",
      );
      assert.equal(comment.rows[0].c, LAB_SCHEMA_MARKER);
      await lab.reset();
      const left = await client.query("SELECT 1 FROM pg_namespace WHERE nspname = 'lab_made'");
      assert.equal(left.rowCount, 0);
    } finally {
      await client.end();
    }
  });
});
