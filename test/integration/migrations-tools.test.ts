/**
 * Each tool's fixture, replayed on a real PostgreSQL with its sections' semantics (a minimal
 * executor here; the replay runner proper is issue 10 §2): the concurrent index succeeds with the
 * tool's marker and fails with 25001 without it, the bad reference fails, downs undo the rest.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { clientConfig, quoteIdent } from '../../src/core/db';
import { loadSource } from '../../src/core/migrations/detect';
import { locateErrorPosition, scanSql, sqlText, toStatements } from '../../src/core/migrations/sqlScanner';
import type { Migration, MigrationSection, MigrationSource } from '../../src/core/migrations/model';
import { startTestPostgres, type TestPostgres } from './support';

const FIXTURES = join(__dirname, '../../../test/fixtures/tools');

let postgres: TestPostgres;
let admin: pg.Client;
let databases = 0;

before(async () => {
  postgres = await startTestPostgres();
  admin = new pg.Client(clientConfig(postgres.target, 'tools-test-admin'));
  await admin.connect();
});

after(async () => {
  await admin?.end();
  await postgres?.stop();
});

/** A fresh database and a client on it. */
async function scratch(): Promise<pg.Client> {
  const name = `tools_${++databases}`;
  await admin.query(`CREATE DATABASE ${quoteIdent(name)}`);
  const client = new pg.Client(clientConfig({ ...postgres.target, database: name }, 'tools-test'));
  await client.connect();
  return client;
}

/** Runs a section the way its tool does. */
async function run(client: pg.Client, section: MigrationSection): Promise<void> {
  if (section.toolRefusal) throw new Error(`refused: ${section.toolRefusal}`);
  const pieces = section.script ? [section.script.text] : section.statements.map((s) => s.text);
  if (section.mode === 'single-string') {
    await client.query(section.script!.text); // one simple-protocol query: an implicit transaction
  } else if (section.mode === 'autocommit') {
    for (const text of pieces) await client.query(text);
  } else {
    await client.query('BEGIN');
    try {
      for (const text of pieces) await client.query(text);
      await client.query('COMMIT');
    } catch (e) {
      await client.query('ROLLBACK');
      throw e;
    }
  }
}

type Outcome = { applied: number; failure?: string };

/** Applies migrations in order until one fails; Drizzle's pending migrations share one transaction. */
async function replay(
  client: pg.Client,
  source: MigrationSource,
  count = source.migrations.length,
): Promise<Outcome> {
  const migrations = source.migrations.slice(0, count);
  if (source.pendingInOneTransaction) {
    await client.query('BEGIN');
    try {
      for (const m of migrations) for (const s of m.up.statements) await client.query(s.text);
      await client.query('COMMIT');
      return { applied: migrations.length };
    } catch (e) {
      await client.query('ROLLBACK');
      return { applied: 0, failure: failureOf(e) };
    }
  }
  for (const [k, m] of migrations.entries()) {
    try {
      await run(client, m.up);
    } catch (e) {
      return { applied: k, failure: failureOf(e) };
    }
  }
  return { applied: migrations.length };
}

function failureOf(e: unknown): string {
  if (e instanceof Error && typeof (e as { code?: unknown }).code === 'string')
    return (e as unknown as { code: string }).code;
  if (e instanceof Error && e.message.startsWith('refused:')) return 'refused';
  throw e;
}

async function rollBack(client: pg.Client, applied: readonly Migration[]): Promise<void> {
  for (const m of [...applied].reverse()) if (m.down) await run(client, m.down);
}

async function exists(client: pg.Client, relation: string): Promise<boolean> {
  const { rows } = await client.query<{ found: boolean }>('SELECT to_regclass($1) IS NOT NULL AS found', [
    relation,
  ]);
  return rows[0].found;
}

async function validIndex(client: pg.Client, name: string): Promise<boolean> {
  const { rows } = await client.query<{ valid: boolean }>(
    'SELECT indisvalid AS valid FROM pg_index WHERE indexrelid = to_regclass($1)',
    [name],
  );
  return rows[0]?.valid === true;
}

async function tableCount(client: pg.Client): Promise<number> {
  const { rows } = await client.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'",
  );
  return rows[0].n;
}

interface Case {
  folder: string;
  /** How many migrations apply before the failing one. */
  applied: number;
  failure?: string;
  /** The concurrent (or, where the tool allows none, plain) index the fixture builds. */
  index?: string;
  /** Whether every applied migration has a down that undoes it. */
  downs?: boolean;
}

const MAIN: Case[] = [
  { folder: 'dbmate/migrations', applied: 2, failure: '42P01', index: 'books_title_idx', downs: true },
  {
    folder: 'golang-migrate/migrations',
    applied: 2,
    failure: '42P01',
    index: 'books_title_idx',
    downs: true,
  },
  { folder: 'goose/migrations', applied: 2, failure: '42P01', index: 'books_title_idx', downs: true },
  { folder: 'flyway/migrations', applied: 3, failure: '42P01', index: 'books_author_idx', downs: true },
  { folder: 'liquibase/changelog', applied: 4, failure: '42P01', index: 'books_title_idx', downs: true },
  { folder: 'sqitch/project', applied: 2, failure: '42P01', index: 'books_title_idx', downs: true },
  { folder: 'prisma/migrations', applied: 2, failure: '42P01', index: '"Book_title_idx"' },
  { folder: 'drizzle/migrations', applied: 0, failure: '42P01' },
  { folder: 'diesel/migrations', applied: 3, failure: '42P01', index: 'books_title_idx', downs: true },
  { folder: 'sqlx/migrations', applied: 2, failure: '42P01', index: 'books_title_idx', downs: true },
  {
    folder: 'node-pg-migrate/migrations',
    applied: 2,
    failure: '42P01',
    index: 'books_title_idx',
    downs: true,
  },
  { folder: 'atlas/migrations', applied: 3, failure: '42P01', index: 'books_author_idx' },
  { folder: 'plain/migrations', applied: 2, failure: '42P01', index: 'library_book_title_idx' },
];

const UNMARKED: Case[] = [
  { folder: 'dbmate/unmarked', applied: 1, failure: '25001' },
  { folder: 'dbmate/two-statements', applied: 1, failure: '25001' },
  { folder: 'golang-migrate/unmarked', applied: 1, failure: '25001' },
  { folder: 'goose/unmarked', applied: 1, failure: '25001' },
  { folder: 'flyway/mixed', applied: 1, failure: 'refused' },
  { folder: 'flyway/auto-detected', applied: 2, index: 'books_title_idx' },
  { folder: 'liquibase/unmarked', applied: 1, failure: '25001' },
  { folder: 'sqitch/unmarked', applied: 1, failure: '25001' },
  { folder: 'prisma/unmarked', applied: 1, failure: '25001' },
  { folder: 'drizzle/unmarked', applied: 0, failure: '25001' },
  { folder: 'diesel/unmarked', applied: 2, failure: '25001' },
  { folder: 'sqlx/unmarked', applied: 1, failure: '25001' },
  { folder: 'node-pg-migrate/unmarked', applied: 1, failure: '25001' },
  { folder: 'atlas/unmarked', applied: 1, failure: '25001' },
  { folder: 'plain/unmarked', applied: 1, failure: '25001' },
];

void describe('tool fixtures on a real PostgreSQL', () => {
  for (const c of MAIN) {
    void it(`${c.folder}: applies up to the bad reference, builds the index, and rolls back`, async () => {
      const source = await loadSource(join(FIXTURES, c.folder));
      const client = await scratch();
      try {
        const outcome = await replay(client, source);
        assert.deepEqual(outcome, { applied: c.applied, failure: c.failure });
        if (c.index) assert.equal(await validIndex(client, c.index), true, `${c.index} is a valid index`);
        if (source.pendingInOneTransaction) {
          // Drizzle: the failure rolled back every pending migration; the first two alone apply.
          assert.equal(await exists(client, 'authors'), false);
          assert.deepEqual(await replay(client, source, 2), { applied: 2 });
          assert.equal(await validIndex(client, 'books_title_idx'), true);
        }
        if (c.downs) {
          await rollBack(client, source.migrations.slice(0, c.applied));
          assert.equal(await tableCount(client), 0, 'the downs removed every table');
        }
      } finally {
        await client.end();
      }
    });
  }

  for (const c of UNMARKED) {
    void it(`${c.folder}: ${c.failure === '25001' ? 'CONCURRENTLY without the marker fails with 25001' : (c.failure ?? 'applies')}`, async () => {
      const source = await loadSource(join(FIXTURES, c.folder));
      const client = await scratch();
      try {
        const outcome = await replay(client, source);
        assert.deepEqual(outcome, { applied: c.applied, ...(c.failure ? { failure: c.failure } : {}) });
        if (c.index) assert.equal(await validIndex(client, c.index), true);
        if (c.failure === '25001') {
          assert.equal(await exists(client, 'books_title_idx'), false);
          assert.equal(await exists(client, '"Book_title_idx"'), false);
          assert.equal(await exists(client, 'library_book_title_idx'), false);
        }
      } finally {
        await client.end();
      }
    });
  }

  void it('a one-string section rolls back its earlier statements with the failing one (implicit transaction)', async () => {
    for (const folder of ['golang-migrate/unmarked', 'prisma/unmarked']) {
      const source = await loadSource(join(FIXTURES, folder));
      const client = await scratch();
      try {
        await replay(client, source);
        const { rows } = await client.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM information_schema.columns WHERE column_name = 'isbn'",
        );
        assert.equal(rows[0].n, 0, `${folder}: the ALTER TABLE before the index was rolled back`);
      } finally {
        await client.end();
      }
    }
  });

  void it('a sqitch verify script fails before deploy and passes after it', async () => {
    const source = await loadSource(join(FIXTURES, 'sqitch/project'));
    const client = await scratch();
    try {
      const verify = source.migrations[0].verify!;
      await assert.rejects(run(client, verify), (e: unknown) => failureOf(e) === '42P01');
      await client.query('ROLLBACK'); // psql would have exited; leave the aborted transaction
      await run(client, source.migrations[0].up);
      await run(client, verify);
    } finally {
      await client.end();
    }
  });

  void it("maps PostgreSQL's error position in a one-string script back to the file's line and column", async () => {
    const text = "-- header\nCREATE TABLE café (note text DEFAULT '😀 naïve');\nSELEC 1;\n";
    const file = sqlText('/virtual.sql', text);
    const client = await scratch();
    try {
      const error = await client.query(text).then(
        () => assert.fail('the script should fail'),
        (e: unknown) => e as Error & { position?: string; code?: string },
      );
      assert.equal(error.code, '42601');
      const at = locateErrorPosition(file.positions.at(0), text, Number(error.position));
      assert.deepEqual([at.line, at.column], [3, 1]);
      assert.equal(text.slice(at.offset, at.offset + 5), 'SELEC');
      // And statement by statement: the position is relative to the statement sent.
      const [, bad] = toStatements(file, scanSql(text).statements);
      const own = await client.query(bad.text).then(
        () => assert.fail('the statement should fail'),
        (e: unknown) => e as Error & { position?: string },
      );
      assert.deepEqual(locateErrorPosition(bad.start, bad.text, Number(own.position)), at);
    } finally {
      await client.end();
    }
  });

  void it('the large realistic folder (135 dbmate migrations) replays end to end and rolls back to nothing', async () => {
    const source = await loadSource(join(__dirname, '../../../test/fixtures/large/dbmate'));
    assert.equal(source.migrations.length, 135);
    const client = await scratch();
    try {
      assert.deepEqual(await replay(client, source), { applied: 135 });
      assert.equal(await tableCount(client), 13);
      assert.equal(await validIndex(client, 'orders_name_trgm_idx'), true);
      const { rows } = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM audit_log');
      assert.equal(rows[0].n, 36, 'the audit trigger saw every seeded row');
      await rollBack(client, source.migrations);
      assert.equal(await tableCount(client), 0);
      const types = await client.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM pg_type WHERE typtype = 'e' AND typnamespace = 'public'::regnamespace",
      );
      assert.equal(types.rows[0].n, 0);
    } finally {
      await client.end();
    }
  });
});
