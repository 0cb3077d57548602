import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { trimProbeRows } from '../../src/cli/housekeeping';
import { memoryLogger } from '../../src/core/log';
import { ProbeServer } from '../../src/core/probe/server';
import { startSeededLab, type TestPostgres } from './support';

const SCHEMA = 'housekeeping_test';
const ROWS = 1_000;

describe("the demo's housekeeping on a real PostgreSQL", () => {
  let db: TestPostgres;
  let client: pg.Client;

  before(async () => {
    ({ db } = await startSeededLab(SCHEMA, ROWS));
    client = new pg.Client(db.target);
    await client.connect();
  });
  after(async () => {
    await client?.end();
    await db?.stop();
  });

  it("deletes the write probe's rows, told apart from an interrupted larger seed's by their ids", async () => {
    // Three inserts through the real endpoint: ids from the identity sequence, just above the seed.
    const server = new ProbeServer({ target: db.target, schema: SCHEMA, port: 0, logger: memoryLogger() });
    const port = await server.start();
    try {
      for (let i = 0; i < 3; i++) {
        const res = await fetch(`http://127.0.0.1:${port}/insert_large/`, { method: 'POST' });
        assert.equal(res.status, 201);
      }
    } finally {
      await server.stop();
    }
    // What an interrupted seed of more rows leaves: whole chunks with explicit ids, the sequence not moved.
    await client.query(
      `INSERT INTO ${SCHEMA}.large_email (id, email) SELECT g, 'ada.lovelace' || g || '@example.org' FROM generate_series(1201, 1300) g`,
    );

    const logger = memoryLogger();
    const deleted = await trimProbeRows(db.target, SCHEMA, ROWS, logger);
    assert.equal(deleted, 3, 'only the probe rows');
    const left = await client.query<{ lo: string; hi: string; n: string }>(
      `SELECT min(id) AS lo, max(id) AS hi, count(*) AS n FROM ${SCHEMA}.large_email WHERE id > $1`,
      [ROWS],
    );
    assert.deepEqual(left.rows[0], { lo: '1201', hi: '1300', n: '100' }, 'the seed rows stay for the seeder');
    assert.ok(
      logger.lines.some((l) =>
        /^info Deleted 3 rows the write probe inserted in earlier runs \(ids 1001 to 1003/.test(l),
      ),
      logger.lines.join('\n'),
    );
    assert.ok(
      !logger.lines.some((l) => /Deleted 10[0-9] rows/.test(l)),
      'seed rows are never called probe rows',
    );
  });
});
