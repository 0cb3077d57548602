/**
 * A trace sized from production statistics (issue 12 §1 step 2) on a real embedded PostgreSQL: a
 * second database on the same server plays production, with the fixture's tables, rows and ANALYZE
 * (so reltuples is set). The trace reads it through a role that may connect and nothing else (no
 * table privilege, no temp tables, no CREATE): anything beyond a catalog read there would fail, and
 * so would the sizing asserted below. An unreachable statistics database only adds a note.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { memoryLogger } from '../../src/core/log';
import { loadSource } from '../../src/core/migrations/detect';
import type { MigrationSource } from '../../src/core/migrations/model';
import { traceMarkdown } from '../../src/core/trace/report';
import { traceMigrations } from '../../src/core/trace/trace';
import { freePort, queryDatabase, startTestPostgres, type TestPostgres } from './support';

const FIXTURE = join(__dirname, '../../../test/fixtures/trace/db/migrations');
const ORDERS = 'public.orders';
const CUSTOMERS = 'public.customers';
const STATS_DB = 'prod_stats';
const READER_PASSWORD = 'reader-Secret-42';

let postgres: TestPostgres;
let source: MigrationSource;

function query<T extends pg.QueryResultRow>(database: string, sql: string): Promise<T[]> {
  return queryDatabase<T>(postgres.target, database, sql);
}

/** What the statistics database holds: its relations, their row counts and estimates. */
async function statsState(): Promise<unknown> {
  return {
    relations: await query(
      STATS_DB,
      `SELECT c.relname, c.relkind::text, c.reltuples::float8 AS reltuples FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' ORDER BY 1`,
    ),
    rows: await query(
      STATS_DB,
      'SELECT (SELECT count(*) FROM orders)::int AS orders, (SELECT count(*) FROM customers)::int AS customers',
    ),
  };
}

function id(prefix: string): string {
  const m = source.migrations.find((x) => x.id.startsWith(prefix));
  assert.ok(m, prefix);
  return m.id;
}

before(async () => {
  postgres = await startTestPostgres();
  source = await loadSource(FIXTURE);
  await query('postgres', `CREATE DATABASE ${STATS_DB}`);
  await query(
    STATS_DB,
    `CREATE TABLE customers (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, email text NOT NULL UNIQUE);
     CREATE TABLE orders (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
       customer_id bigint NOT NULL REFERENCES customers (id), total numeric(12, 2) NOT NULL);
     INSERT INTO customers (email) SELECT 'c' || g || '@example.com' FROM generate_series(1, 1000) g;
     INSERT INTO orders (customer_id, total) SELECT 1 + g % 1000, g FROM generate_series(1, 4000) g;
     ANALYZE customers, orders;
     CREATE ROLE stats_reader LOGIN PASSWORD '${READER_PASSWORD}';
     REVOKE ALL ON DATABASE ${STATS_DB} FROM PUBLIC;
     GRANT CONNECT ON DATABASE ${STATS_DB} TO stats_reader;
     REVOKE CREATE ON SCHEMA public FROM PUBLIC;`,
  );
});

after(async () => {
  await postgres?.stop();
});

void describe('trace sized from production statistics', () => {
  void it('sizes the touched tables in proportion to the statistics database’s reltuples and says so', async () => {
    const before = await statsState();
    const url = `postgres://stats_reader:${READER_PASSWORD}@127.0.0.1:${postgres.target.port}/${STATS_DB}`;
    const logger = memoryLogger();
    // The NOT VALID foreign key touches orders and customers.
    const report = await traceMigrations({
      target: postgres.target,
      source,
      migration: id('20240106'),
      rows: 200,
      ratePerSecond: 20,
      statistics: {
        host: '127.0.0.1',
        port: postgres.target.port,
        database: STATS_DB,
        user: 'stats_reader',
        connectionString: url,
      },
      logger,
    });
    assert.deepEqual(report.statistics, {
      host: `127.0.0.1:${postgres.target.port}`,
      database: STATS_DB,
      estimates: { [CUSTOMERS]: 1000, [ORDERS]: 4000 },
    });
    const rows = report.migrations[0]!.rows;
    assert.equal(rows[ORDERS], 200, 'the largest table in production gets --rows');
    assert.equal(rows[CUSTOMERS], 50, 'the other gets its production share (1,000 / 4,000)');
    assert.deepEqual(
      (
        await query<{ n: number }>(
          'postgres',
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = 'stats_reader'",
        )
      )[0],
      { n: 0 },
      'the statistics connection is closed',
    );
    assert.deepEqual(await statsState(), before, 'the statistics database is unchanged');

    const md = traceMarkdown(report);
    assert.match(
      md,
      new RegExp(
        `Row counts sized from production statistics: .*\`${STATS_DB}\` on \`127\\.0\\.0\\.1:${postgres.target.port}\``,
      ),
    );
    assert.match(md, /\| Table \| Rows \| Production estimate \| Read probe \| Write probe \|/);
    assert.match(md, /\| public\.orders \| 200 \| 4,000 \| primary key: [^|]+\| insert: /);
    assert.match(md, /\| public\.customers \| 50 \| 1,000 \| primary key: /);
    for (const text of [md, JSON.stringify(report), ...logger.lines])
      assert.ok(
        !text.includes(READER_PASSWORD) && !text.includes(url),
        'neither the password nor the URL shows',
      );
  });

  void it('an unreachable statistics database is one sentence, and the trace sizes tables as without it', async () => {
    const port = await freePort();
    const logger = memoryLogger();
    const progress: string[] = [];
    const report = await traceMigrations({
      target: postgres.target,
      source,
      migration: id('20240106'),
      rows: 120,
      ratePerSecond: 20,
      statistics: {
        host: '127.0.0.1',
        port,
        database: STATS_DB,
        user: 'stats_reader',
        connectionString: `postgres://stats_reader:${READER_PASSWORD}@127.0.0.1:${port}/${STATS_DB}`,
      },
      logger,
      onProgress: (p) => progress.push(p.message),
    });
    const note = report.statistics?.note ?? '';
    assert.match(
      note,
      new RegExp(
        `^Row estimates could not be read from the statistics database ${STATS_DB} on 127\\.0\\.0\\.1:${port} \\(.*ECONNREFUSED.*\\); the tables were sized as without statistics\\.$`,
      ),
    );
    assert.deepEqual(report.statistics?.estimates, {});
    assert.ok(progress.includes(note), 'the note is in the progress');
    const rows = report.migrations[0]!.rows;
    assert.deepEqual([rows[ORDERS], rows[CUSTOMERS]], [120, 120], 'both touched tables get --rows');
    assert.ok(
      report.migrations[0]!.statements.length > 0 && report.migrations[0]!.verdict.length > 0,
      'traced',
    );
    const md = traceMarkdown(report);
    assert.ok(md.includes(`Production statistics: ${note}`));
    assert.match(md, /\| Table \| Rows \| Read probe \| Write probe \|/);
    for (const text of [md, ...logger.lines]) assert.ok(!text.includes(READER_PASSWORD));
  });
});
