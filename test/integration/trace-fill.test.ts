// The trace's synthetic fill on a real server: a schema of our own with every kind of constraint the
// fill must honour. The server is the judge of types, NOT NULL, CHECKs and unique keys (a row breaking
// one is refused); foreign keys, whose trigger checks the fill turns off, are checked by anti-joins.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { CancelledError } from '../../src/core/errors';
import { memoryLogger, silentLogger } from '../../src/core/log';
import { fillTables, readRowEstimates, type FillProgress } from '../../src/core/trace/fill';
import { pollUntil, startTestDatabase, type TestPostgres } from './support';

const SCHEMA_SQL = `
CREATE SCHEMA shop;
CREATE TYPE shop.order_status AS ENUM ('new', 'paid', 'shipped', 'cancelled');
CREATE DOMAIN shop.positive_qty AS integer NOT NULL CHECK (VALUE > 0 AND VALUE <= 50);
CREATE TABLE shop.customers (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  email varchar(80) NOT NULL UNIQUE,
  region char(2) NOT NULL CHECK (region IN ('eu', 'us', 'ap')),
  profile jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE shop.products (
  sku text PRIMARY KEY,
  public_id uuid NOT NULL UNIQUE,
  name varchar(20) NOT NULL CHECK (length(name) >= 3),
  price numeric(8,2) NOT NULL CHECK (price > 0 AND price < 10000),
  tags text[] NOT NULL,
  weight_grams smallint CHECK (weight_grams BETWEEN 1 AND 30000)
);
CREATE TABLE shop.orders (
  id bigserial PRIMARY KEY,
  customer_id bigint NOT NULL REFERENCES shop.customers (id),
  number integer NOT NULL,
  status shop.order_status NOT NULL,
  placed_at timestamptz NOT NULL,
  shipped_at timestamptz,
  CONSTRAINT orders_customer_number UNIQUE (customer_id, number),
  CONSTRAINT shipped_after_placed CHECK (shipped_at > placed_at)
);
CREATE TABLE shop.order_lines (
  order_id bigint NOT NULL REFERENCES shop.orders (id),
  sku text NOT NULL REFERENCES shop.products (sku),
  qty shop.positive_qty,
  PRIMARY KEY (order_id, sku)
);
CREATE DOMAIN shop.short_code AS text CHECK (length(VALUE) <= 6);
CREATE TABLE shop.every_type (
  a smallint NOT NULL, b integer NOT NULL, c bigint NOT NULL, d numeric(6,2) NOT NULL, e real NOT NULL,
  f double precision NOT NULL, g money NOT NULL, h text NOT NULL, i varchar(5) NOT NULL UNIQUE, j char(3) NOT NULL,
  k boolean NOT NULL, l uuid NOT NULL, m json NOT NULL, n jsonb NOT NULL, o date NOT NULL UNIQUE,
  p timestamp NOT NULL UNIQUE, q timestamptz NOT NULL, r time NOT NULL, s timetz NOT NULL, t interval NOT NULL,
  u bytea NOT NULL UNIQUE, v inet NOT NULL UNIQUE, w cidr NOT NULL, x macaddr NOT NULL, y tsvector NOT NULL,
  z1 int4range NOT NULL, z2 int8range NOT NULL, z3 numrange NOT NULL, z4 daterange NOT NULL, z5 tsrange NOT NULL,
  z6 tstzrange NOT NULL, z7 integer[] NOT NULL, z8 text[] NOT NULL, z9 shop.order_status[] NOT NULL,
  z10 uuid[] NOT NULL, z11 shop.short_code NOT NULL UNIQUE, z12 name NOT NULL, z13 oid NOT NULL,
  unknown_but_nullable point, also_nullable xml
);
CREATE TABLE shop.shapes (id int PRIMARY KEY, corner point NOT NULL);
CREATE TABLE shop.players (id int PRIMARY KEY, team_id int);
CREATE TABLE shop.teams (id int PRIMARY KEY, captain_id int NOT NULL REFERENCES shop.players (id));
ALTER TABLE shop.players ADD FOREIGN KEY (team_id) REFERENCES shop.teams (id);
CREATE TABLE shop.staff (id int PRIMARY KEY, manager_id int NOT NULL REFERENCES shop.staff (id));
CREATE TABLE shop.flags (flag boolean PRIMARY KEY);
CREATE TABLE shop.readings (id bigint NOT NULL, at timestamptz NOT NULL, value integer NOT NULL, PRIMARY KEY (id, at))
  PARTITION BY RANGE (at);
CREATE TABLE shop.readings_2025 PARTITION OF shop.readings FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE shop.readings_later PARTITION OF shop.readings FOR VALUES FROM ('2026-01-01') TO (MAXVALUE);
CREATE TABLE shop.coupons (
  code text PRIMARY KEY,
  percent integer NOT NULL CHECK (percent > 0 AND percent * percent < 10000)
);
`;

async function count(client: pg.Client, table: string): Promise<number> {
  return Number((await client.query(`SELECT count(*) AS n FROM ${table}`)).rows[0].n);
}

describe('the trace fill', () => {
  let db: TestPostgres;
  let client: pg.Client;
  let stop: () => Promise<void>;
  before(async () => ({ db, client, stop } = await startTestDatabase(SCHEMA_SQL)));
  after(() => stop?.());

  it('fills every table to its count, parents first, and every constraint holds', async () => {
    const progress: FillProgress[] = [];
    const result = await fillTables(
      db.target,
      { tables: ['shop.orders', 'shop.order_lines'], rows: 20_000, rowsPerTable: { products: 300 } },
      { logger: silentLogger, chunkSize: 3_000, onProgress: (p) => progress.push(p) },
    );
    const byTable = new Map(result.tables.map((t) => [t.table, t]));
    // Touched tables get `rows`; customers (referenced, untouched) a tenth of its child; products as given.
    assert.deepEqual(
      result.tables.map((t) => [t.table, t.requested, t.inserted, t.limitedBy]),
      [
        ['shop.orders', 20_000, 20_000, undefined],
        ['shop.order_lines', 20_000, 20_000, undefined],
        ['shop.customers', 2_000, 2_000, undefined],
        ['shop.products', 300, 300, undefined],
      ],
    );
    for (const [table, r] of byTable) assert.equal(await count(client, table), r.inserted, table);
    // Parents were filled before their children (progress of customers precedes orders').
    const firstOf = (t: string) => progress.findIndex((p) => p.table === t);
    assert.ok(firstOf('shop.customers') < firstOf('shop.orders'));
    assert.ok(firstOf('shop.orders') < firstOf('shop.order_lines'));
    assert.ok(firstOf('shop.products') < firstOf('shop.order_lines'));
    assert.equal(progress.filter((p) => p.table === 'shop.orders').at(-1)?.inserted, 20_000);

    // Every child references an existing parent (the fill ran with the FK triggers off: this is the proof).
    const orphans = await client.query(
      `SELECT (SELECT count(*) FROM shop.orders o WHERE NOT EXISTS (SELECT 1 FROM shop.customers c WHERE c.id = o.customer_id)) AS orders,
              (SELECT count(*) FROM shop.order_lines l WHERE NOT EXISTS (SELECT 1 FROM shop.orders o WHERE o.id = l.order_id)
                                                         OR NOT EXISTS (SELECT 1 FROM shop.products p WHERE p.sku = l.sku)) AS lines`,
    );
    assert.deepEqual(orphans.rows[0], { orders: '0', lines: '0' });
    // The children spread over many parents, not one.
    const spread = await client.query(
      `SELECT (SELECT count(DISTINCT customer_id) FROM shop.orders) AS customers,
              (SELECT count(DISTINCT status) FROM shop.orders) AS statuses,
              (SELECT count(DISTINCT region) FROM shop.customers) AS regions,
              (SELECT count(DISTINCT public_id) FROM shop.products) AS uuids,
              (SELECT min(qty) >= 1 AND max(qty) <= 50 FROM shop.order_lines) AS qty_in_domain,
              (SELECT bool_and(shipped_at > placed_at) FROM shop.orders) AS shipped_after,
              (SELECT bool_and(array_length(tags, 1) >= 1 AND length(name) BETWEEN 3 AND 20 AND price > 0) FROM shop.products) AS products_ok,
              (SELECT count(*) FROM shop.customers WHERE profile ? 'n') AS with_json`,
    );
    assert.deepEqual(spread.rows[0], {
      customers: '2000',
      statuses: '4',
      regions: '3',
      uuids: '300',
      qty_in_domain: true,
      shipped_after: true,
      products_ok: true,
      with_json: '2000',
    });
    // The fill ended with VACUUM ANALYZE: the planner's estimate is right.
    const est = await client.query(`SELECT reltuples FROM pg_class WHERE oid = 'shop.orders'::regclass`);
    assert.equal(Number(est.rows[0].reltuples), 20_000);
  });

  it('generates a value of every supported type, unique where a key asks', async () => {
    const result = await fillTables(
      db.target,
      { tables: ['shop.every_type'], rows: 3_000 },
      { logger: silentLogger },
    );
    assert.deepEqual(
      result.tables.map((t) => [t.table, t.inserted, t.limitedBy]),
      [['shop.every_type', 3_000, undefined]],
    );
    const r = await client.query(
      `SELECT count(DISTINCT i) AS i, count(DISTINCT u) AS u, count(DISTINCT z11) AS z11, count(DISTINCT o) AS o,
              count(unknown_but_nullable) AS unknown, count(DISTINCT l) AS uuids, max(length(z11)) <= 6 AS short
         FROM shop.every_type`,
    );
    assert.deepEqual(r.rows[0], {
      i: '3000',
      u: '3000',
      z11: '3000',
      o: '3000',
      unknown: '0',
      uuids: '3000',
      short: true,
    });
  });

  it('names the NOT NULL column of a type it cannot generate, and inserts nothing', async () => {
    const result = await fillTables(
      db.target,
      { tables: ['shop.shapes'], rows: 10 },
      { logger: silentLogger },
    );
    assert.deepEqual(result.tables, [
      {
        table: 'shop.shapes',
        requested: 10,
        inserted: 0,
        limitedBy:
          'Column "corner" of shop.shapes is NOT NULL with no default, and the fill cannot generate values of type point.',
      },
    ]);
  });

  it('breaks a cycle of foreign keys at the optional one; a required self reference points at its own row', async () => {
    const result = await fillTables(
      db.target,
      { tables: ['shop.teams', 'shop.staff'], rows: 200 },
      { logger: silentLogger },
    );
    assert.deepEqual(
      result.tables.map((t) => [t.table, t.inserted, t.limitedBy]),
      [
        ['shop.teams', 200, undefined],
        ['shop.staff', 200, undefined],
        ['shop.players', 20, undefined],
      ],
    );
    const r = await client.query(
      `SELECT (SELECT count(*) FROM shop.teams t JOIN shop.players p ON p.id = t.captain_id) AS captains,
              (SELECT count(*) FROM shop.staff s JOIN shop.staff m ON m.id = s.manager_id) AS managed`,
    );
    assert.deepEqual(r.rows[0], { captains: '200', managed: '200' });
  });

  it('keeps the rows a unique key allows and names it when the generator runs out of distinct values', async () => {
    const result = await fillTables(
      db.target,
      { tables: ['shop.flags'], rows: 10 },
      { logger: silentLogger },
    );
    const flags = result.tables[0]!;
    assert.equal(flags.inserted, 2, 'true and false, once each');
    assert.match(
      flags.limitedBy ?? '',
      /^The unique constraint "flags_pkey" stopped the fill of shop\.flags at 2 of 10 rows/,
    );
  });

  it('fills a partitioned table through its parent; its estimate is the sum of its partitions', async () => {
    const result = await fillTables(
      db.target,
      { tables: ['shop.readings'], rows: 3_000 },
      { logger: silentLogger },
    );
    assert.deepEqual(
      result.tables.map((t) => [t.table, t.inserted, t.limitedBy]),
      [['shop.readings', 3_000, undefined]],
    );
    await client.query('ANALYZE shop.readings_2025, shop.readings_later');
    const estimates = await readRowEstimates(db.target, ['shop.readings'], silentLogger);
    assert.deepEqual(estimates, { 'shop.readings': 3_000 });
  });

  it('tops up a table that already holds rows, and keys stay unique', async () => {
    const result = await fillTables(
      db.target,
      { tables: ['shop.customers'], rows: 2_500 },
      { logger: silentLogger, chunkSize: 1_000 },
    );
    assert.deepEqual(
      result.tables.map((t) => [t.table, t.inserted, t.limitedBy]),
      [['shop.customers', 2_500, undefined]],
    );
    assert.equal(await count(client, 'shop.customers'), 2_500);
  });

  it('names the CHECK it cannot satisfy and keeps the rows it could insert', async () => {
    const logger = memoryLogger();
    const result = await fillTables(
      db.target,
      { tables: ['shop.coupons'], rows: 500 },
      { logger, chunkSize: 100 },
    );
    const coupons = result.tables[0]!;
    assert.equal(coupons.table, 'shop.coupons');
    assert.equal(coupons.requested, 500);
    // percent runs 1, 2, 3…: rows up to 99 pass, the first at 100 is refused.
    assert.ok(
      coupons.inserted > 0 && coupons.inserted < 100,
      `the rows before the refusal (${coupons.inserted})`,
    );
    assert.equal(await count(client, 'shop.coupons'), coupons.inserted);
    assert.match(coupons.limitedBy ?? '', /check constraint "coupons_percent_check"/);
    assert.match(coupons.limitedBy ?? '', /shop\.coupons/);
    assert.ok(
      logger.lines.some((l) => l.includes('coupons_percent_check')),
      'the limit is logged',
    );
  });

  it('stops promptly when cancelled and leaves no statement running', async () => {
    await client.query(
      `CREATE TABLE shop.events (id bigint PRIMARY KEY, kind text NOT NULL, at timestamptz NOT NULL)`,
    );
    const abort = new AbortController();
    let cancelledAt = 0;
    await assert.rejects(
      fillTables(
        db.target,
        { tables: ['shop.events'], rows: 5_000_000 },
        {
          logger: silentLogger,
          chunkSize: 50_000,
          signal: abort.signal,
          onProgress: (p) => {
            if (p.inserted >= 100_000 && !abort.signal.aborted) {
              cancelledAt = Date.now();
              abort.abort();
            }
          },
        },
      ),
      (e: unknown) => e instanceof CancelledError,
    );
    const stoppedAfterMs = Date.now() - cancelledAt;
    // Promptly: far less than the rest of the fill (millions of rows) would have taken.
    assert.ok(stoppedAfterMs < 5_000, `stopped ${stoppedAfterMs} ms after the cancel`);
    const held = await count(client, 'shop.events');
    assert.ok(held >= 100_000 && held < 5_000_000, `whole chunks only, part-way (${held})`);
    assert.equal(held % 50_000, 0, 'each chunk is one statement: all of it or none');
    await pollUntil('the fill sessions to end', async () => {
      const r = await client.query(
        `SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = 'migration-lab:seeder'`,
      );
      return r.rows[0].n === '0' ? true : undefined;
    });
  });

  it('reads row estimates from the catalog only, in a read-only transaction', async () => {
    await client.query('ANALYZE shop.customers');
    const logger = memoryLogger();
    const estimates = await readRowEstimates(
      db.target,
      ['shop.customers', 'shop.no_such_table', 'not a "valid name'],
      logger,
    );
    assert.deepEqual(estimates, { 'shop.customers': 2_500 });
  });

  it('sizes tables in proportion to production estimates', async () => {
    await client.query(`CREATE TABLE shop.big (id int PRIMARY KEY)`);
    await client.query(`CREATE TABLE shop.small (id int PRIMARY KEY)`);
    const result = await fillTables(
      db.target,
      {
        tables: ['shop.big', 'shop.small'],
        rows: 1_000,
        productionRowEstimates: { 'shop.big': 5e6, small: 5e5 },
      },
      { logger: silentLogger },
    );
    assert.deepEqual(
      result.tables.map((t) => [t.table, t.requested, t.inserted]),
      [
        ['shop.big', 1_000, 1_000],
        ['shop.small', 100, 100],
      ],
    );
  });
});
