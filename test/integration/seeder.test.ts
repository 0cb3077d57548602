import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { CancelledError } from '../../src/core/errors';
import { silentLogger } from '../../src/core/log';
import { MigrationRunner } from '../../src/core/migrations/runner';
import { seedTables, type SeedProgress } from '../../src/core/seeder';
import { startTestPostgres, type TestPostgres } from './support';

const MIGRATIONS = join(__dirname, '../../../migrations');
const SCHEMA = 'seed_test';

describe('seeder on a real PostgreSQL', () => {
  let db: TestPostgres;
  let client: pg.Client;
  const count = async (table: string) =>
    Number((await client.query(`SELECT count(*) AS n FROM ${SCHEMA}.${table}`)).rows[0].n);

  before(async () => {
    db = await startTestPostgres();
    await new MigrationRunner({ target: db.target, schema: SCHEMA, migrations: MIGRATIONS }).migrateTo(
      '0001_initial',
    );
    client = new pg.Client(db.target);
    await client.connect();
  });
  after(async () => {
    await client?.end();
    await db?.stop();
  });

  it('gives exactly 10 and N rows, reports progress, analyzes, and leaves the identity usable', async () => {
    const progress: SeedProgress[] = [];
    const result = await seedTables(db.target, {
      schema: SCHEMA,
      largeCount: 250_000,
      chunkSize: 40_000,
      logger: silentLogger,
      onProgress: (p) => progress.push(p),
    });
    assert.equal(result.smallRows, 10);
    assert.equal(result.largeRows, 250_000);
    assert.equal(await count('small_email'), 10);
    assert.equal(await count('large_email'), 250_000);
    assert.deepEqual(progress.at(-1), { done: 250_000, total: 250_000, phase: 'done' });
    assert.ok(
      progress.some((p) => p.phase === 'large' && p.done > 0 && p.done < 250_000),
      'intermediate progress',
    );
    const distinct = await client.query(
      `SELECT count(DISTINCT email) AS n, max(length(email)) AS longest FROM ${SCHEMA}.large_email`,
    );
    assert.equal(Number(distinct.rows[0].n), 250_000, 'emails are unique');
    assert.ok(Number(distinct.rows[0].longest) <= 254);
    const analyzed = await client.query(
      `SELECT last_analyze IS NOT NULL AND last_vacuum IS NOT NULL AS done FROM pg_stat_user_tables WHERE schemaname = $1 AND relname = 'large_email'`,
      [SCHEMA],
    );
    assert.equal(analyzed.rows[0].done, true, 'VACUUM ANALYZE ran');
    const inserted = await client.query(
      `INSERT INTO ${SCHEMA}.large_email (email) VALUES ('new@example.com') RETURNING id`,
    );
    assert.equal(Number(inserted.rows[0].id), 250_001, 'the identity continues after the seeded ids');
    await client.query(`DELETE FROM ${SCHEMA}.large_email WHERE id = 250001`);
  });

  it('a seed cancelled midway leaves whole chunks, and the next seed completes to exactly N', async () => {
    await client.query(`TRUNCATE ${SCHEMA}.large_email`);
    const N = 600_000;
    const chunkSize = 50_000;
    const controller = new AbortController();
    await assert.rejects(
      seedTables(db.target, {
        schema: SCHEMA,
        largeCount: N,
        chunkSize,
        logger: silentLogger,
        signal: controller.signal,
        onProgress: (p) => {
          if (p.phase === 'large' && p.done >= 2 * chunkSize) controller.abort();
        },
      }),
      CancelledError,
    );
    const partial = await count('large_email');
    assert.ok(partial > 0 && partial < N, `a partial seed (${partial} rows)`);
    assert.equal(partial % chunkSize, 0, 'only whole chunks are there');
    const resumed = await seedTables(db.target, {
      schema: SCHEMA,
      largeCount: N,
      chunkSize,
      logger: silentLogger,
    });
    assert.equal(resumed.largeRows, N);
    assert.equal(resumed.inserted, N - partial, 'the second seed inserted only what was missing');
    assert.equal(await count('large_email'), N);
    const ids = await client.query(`SELECT min(id) AS lo, max(id) AS hi FROM ${SCHEMA}.large_email`);
    assert.deepEqual([Number(ids.rows[0].lo), Number(ids.rows[0].hi)], [1, N]);
  });

  it('a reseed after the app inserted rows keeps the seeded rows and drops only the extra ones', async () => {
    await client.query(
      `INSERT INTO ${SCHEMA}.large_email (email) VALUES ('probe-1@example.com'), ('probe-2@example.com')`,
    );
    const N = 600_000;
    const again = await seedTables(db.target, {
      schema: SCHEMA,
      largeCount: N,
      chunkSize: 50_000,
      logger: silentLogger,
    });
    assert.equal(again.inserted, 0, 'nothing was regenerated');
    assert.equal(await count('large_email'), N);
  });

  it("seeds while the app inserts rows (the probe): neither collides, the app's rows take ids above the seed", async () => {
    await client.query(`TRUNCATE ${SCHEMA}.large_email RESTART IDENTITY`);
    const N = 300_000;
    const app = new pg.Client(db.target);
    await app.connect();
    let seeding = true;
    const appErrors: string[] = [];
    const appIds: number[] = [];
    // The app inserts with the table's own ids, as the probe does, for as long as the seed runs.
    const inserter = (async () => {
      while (seeding) {
        try {
          const r = await app.query<{ id: string }>(
            `INSERT INTO ${SCHEMA}.large_email (email) VALUES ('probe-x@example.com') RETURNING id`,
          );
          appIds.push(Number(r.rows[0]!.id));
        } catch (e) {
          appErrors.push((e as Error).message);
        }
      }
    })();
    try {
      await seedTables(db.target, { schema: SCHEMA, largeCount: N, chunkSize: 20_000, logger: silentLogger });
    } finally {
      seeding = false;
      await inserter;
      await app.end();
    }
    assert.deepEqual(appErrors, [], 'no insert of the app failed');
    // Rows the app inserted before the seed moved the identity past N are in the seed's range and make way
    // for it (a chunk replaces what is in its range); every later one takes an id above N and is kept.
    const firstAbove = appIds.findIndex((id) => id > N);
    assert.ok(firstAbove >= 0, 'the app inserted while the seed ran');
    assert.ok(
      appIds.slice(firstAbove).every((id) => id > N),
      'once the seed began, no app row took an id of the seed',
    );
    const seeded = await client.query(
      `SELECT count(*) FILTER (WHERE id <= $1) AS seeded, count(*) FILTER (WHERE id > $1) AS app FROM ${SCHEMA}.large_email`,
      [N],
    );
    assert.equal(Number(seeded.rows[0].seeded), N);
    assert.equal(Number(seeded.rows[0].app), appIds.length - firstAbove, 'every app row above N is kept');
  });

  it('refuses a bad row count with a clear sentence', async () => {
    await assert.rejects(
      seedTables(db.target, { schema: SCHEMA, largeCount: 0, logger: silentLogger }),
      /row count must be a whole number/,
    );
  });
});
