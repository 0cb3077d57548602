// The names the linter's schema and quick fixes give unnamed indexes and constraints, checked against
// the names a real PostgreSQL gives them: each case runs setup and statement in a fresh schema, reads
// the name PostgreSQL chose from the catalog, and compares it with what the static schema recorded.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { loadParser, parseEach, splitStatements } from '../../src/core/lint/parser';
import { StaticSchema } from '../../src/core/lint/schema';
import { startTestPostgres, type TestPostgres } from './support';

interface NameCase {
  label: string;
  /** Statements run (and applied to the static schema) before the one whose name is compared. */
  setup: string;
  statement: string;
  /** What PostgreSQL created: an index (pg_class) or a constraint (pg_constraint) of table `t`. */
  object: 'index' | 'constraint';
}

const TABLE = 'CREATE TABLE t (a int, b int, email text, id int);';
const LONG = 'a_table_name_long_enough_to_need_shortening_for_sure_yes';

const CASES: NameCase[] = [
  { label: 'a one-column index', setup: TABLE, statement: 'CREATE INDEX ON t (a);', object: 'index' },
  {
    label: 'a second index on the same column (the name is taken)',
    setup: `${TABLE}\nCREATE INDEX ON t (a);`,
    statement: 'CREATE INDEX ON t (a) WHERE a > 0;',
    object: 'index',
  },
  {
    label: 'a third one (1 is taken too)',
    setup: `${TABLE}\nCREATE INDEX ON t (a);\nCREATE INDEX ON t (a) WHERE a > 1;`,
    statement: 'CREATE INDEX ON t (a) WHERE a > 2;',
    object: 'index',
  },
  {
    label: 'an index on a function',
    setup: TABLE,
    statement: 'CREATE INDEX ON t (lower(email));',
    object: 'index',
  },
  {
    label: 'an index on an operator expression',
    setup: TABLE,
    statement: 'CREATE INDEX ON t ((a + b));',
    object: 'index',
  },
  { label: 'a two-column index', setup: TABLE, statement: 'CREATE INDEX ON t (a, b);', object: 'index' },
  { label: 'the same column twice', setup: TABLE, statement: 'CREATE INDEX ON t (a, a);', object: 'index' },
  {
    label: 'a long table name, shortened to fit',
    setup: `CREATE TABLE ${LONG} (a int, b int);`,
    statement: `CREATE INDEX ON ${LONG} (a, b);`,
    object: 'index',
  },
  {
    label: 'a one-column CHECK',
    setup: TABLE,
    statement: 'ALTER TABLE t ADD CHECK (a > 0);',
    object: 'constraint',
  },
  {
    label: 'a two-column CHECK',
    setup: TABLE,
    statement: 'ALTER TABLE t ADD CHECK (a > b);',
    object: 'constraint',
  },
  {
    label: 'a CHECK on no column',
    setup: TABLE,
    statement: 'ALTER TABLE t ADD CHECK (true);',
    object: 'constraint',
  },
  {
    label: 'a CHECK whose name is taken',
    setup: `${TABLE}\nALTER TABLE t ADD CHECK (a > 0);`,
    statement: 'ALTER TABLE t ADD CHECK (a < 100);',
    object: 'constraint',
  },
  {
    label: 'a foreign key',
    setup: `CREATE TABLE p (id int PRIMARY KEY, k int, UNIQUE (id, k));\n${TABLE}`,
    statement: 'ALTER TABLE t ADD FOREIGN KEY (a, b) REFERENCES p (id, k);',
    object: 'constraint',
  },
  {
    label: 'a UNIQUE constraint',
    setup: TABLE,
    statement: 'ALTER TABLE t ADD UNIQUE (email);',
    object: 'constraint',
  },
  {
    label: 'a UNIQUE constraint whose name an index has',
    setup: `${TABLE}\nCREATE INDEX t_email_key ON t (email);`,
    statement: 'ALTER TABLE t ADD UNIQUE (email);',
    object: 'constraint',
  },
  {
    label: 'a primary key',
    setup: TABLE,
    statement: 'ALTER TABLE t ADD PRIMARY KEY (id);',
    object: 'constraint',
  },
];

void describe('lint: the names PostgreSQL gives unnamed indexes and constraints', () => {
  let db: TestPostgres;
  let client: pg.Client;
  before(async () => {
    db = await startTestPostgres();
    client = new pg.Client(db.target);
    await client.connect();
  });
  after(async () => {
    await client?.end();
    await db?.stop();
  });

  for (const c of CASES) {
    void it(c.label, async () => {
      const parser = await loadParser();
      await client.query('DROP SCHEMA IF EXISTS names CASCADE; CREATE SCHEMA names; SET search_path = names');
      const schema = new StaticSchema('names');
      for (const s of parseEach(parser, splitStatements(c.setup))) schema.apply(s.ast, false);
      await client.query(c.setup);
      const known = new Set(
        c.object === 'index'
          ? [...schema.indexes.keys()]
          : [...schema.relations.values()].flatMap((r) => [...r.constraints.keys()]),
      );
      const [statement] = parseEach(parser, splitStatements(c.statement));
      schema.apply(statement.ast, true);
      const recorded = (
        c.object === 'index'
          ? [...schema.indexes.keys()].map((q) => q.slice('names.'.length))
          : [...schema.relations.values()].flatMap((r) => [...r.constraints.keys()])
      ).filter((n) => !known.has(c.object === 'index' ? `names.${n}` : n));

      const before = await client.query<{ name: string }>(
        c.object === 'index'
          ? "SELECT relname AS name FROM pg_class WHERE relkind = 'i' AND relnamespace = 'names'::regnamespace"
          : "SELECT conname AS name FROM pg_constraint WHERE connamespace = 'names'::regnamespace AND contype <> 'n'",
      );
      await client.query(c.statement);
      const afterwards = await client.query<{ name: string }>(
        c.object === 'index'
          ? "SELECT relname AS name FROM pg_class WHERE relkind = 'i' AND relnamespace = 'names'::regnamespace"
          : "SELECT conname AS name FROM pg_constraint WHERE connamespace = 'names'::regnamespace AND contype <> 'n'",
      );
      const existing = new Set(before.rows.map((r) => r.name));
      const created = afterwards.rows.map((r) => r.name).filter((n) => !existing.has(n));
      assert.equal(created.length, 1, `PostgreSQL created ${JSON.stringify(created)}`);
      assert.deepEqual(recorded, created, `${c.statement} after ${c.setup}`);
    });
  }
});
