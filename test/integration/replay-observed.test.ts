/**
 * runSectionObserved, the trace's hook into replay: each section mode keeps the tool's semantics
 * while the observer runs around every statement, on a real server.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { clientConfig } from '../../src/core/db';
import type { MigrationSection, SectionMode } from '../../src/core/migrations/model';
import { runSectionObserved, type ObservedStatement } from '../../src/core/migrations/replay';
import { scanSql, sqlText, toStatements } from '../../src/core/migrations/sqlScanner';
import { startTestPostgres, type TestPostgres } from './support';

let postgres: TestPostgres;
let client: pg.Client;

before(async () => {
  postgres = await startTestPostgres();
  client = new pg.Client(clientConfig(postgres.target, 'observed-test'));
  await client.connect();
});

after(async () => {
  await client?.end();
  await postgres?.stop();
});

function section(mode: SectionMode, sql: string, script = mode === 'single-string'): MigrationSection {
  const file = sqlText('/m/0001.sql', sql);
  const statements = toStatements(file, scanSql(sql).statements);
  return {
    mode,
    why: 'test',
    statements,
    ...(script ? { script: { text: sql, file: '/m/0001.sql', start: statements[0]!.start } } : {}),
  };
}

/** Runs the section; returns, per observed statement, its first keyword and whether it ran in a block. */
async function run(s: MigrationSection, commit = true) {
  const seen: string[] = [];
  const note = (when: string) => async (o: ObservedStatement) => {
    // The observer may query the same connection between statements (as the trace does).
    await client.query('SELECT 1');
    seen.push(`${when} ${o.index} ${o.statement.keywords[0]} ${o.inTransaction ? 'block' : 'alone'}`);
  };
  const result = await runSectionObserved(client, s, {
    commit,
    observer: { before: note('before'), after: note('after') },
  });
  return { seen, result };
}

async function tables(): Promise<string[]> {
  const { rows } = await client.query<{ t: string }>(
    "SELECT relname AS t FROM pg_class WHERE relname LIKE 'obs\\_%' AND relkind IN ('r', 'i') ORDER BY 1",
  );
  return rows.map((r) => r.t);
}

async function clean(): Promise<void> {
  await client.query('DROP TABLE IF EXISTS obs_a, obs_b CASCADE');
}

void describe('runSectionObserved', () => {
  void it('a transaction section: every statement inside the block, committed, or rolled back when asked', async () => {
    await clean();
    const sql = 'CREATE TABLE obs_a (id int);\nCREATE TABLE obs_b (id int);';
    const { seen, result } = await run(section('transaction', sql));
    assert.equal(result.failure, undefined);
    assert.deepEqual(seen, [
      'before 0 CREATE block',
      'after 0 CREATE block',
      'before 1 CREATE block',
      'after 1 CREATE block',
    ]);
    assert.deepEqual(await tables(), ['obs_a', 'obs_b']);
    await clean();
    await run(section('transaction', sql), false);
    assert.deepEqual(await tables(), [], 'commit: false rolls the section back');
  });

  void it('one string: statement by statement in one block, or whole when it mixes CONCURRENTLY in (25001)', async () => {
    await clean();
    const { seen } = await run(
      section('single-string', 'CREATE TABLE obs_a (id int);\nCREATE INDEX obs_a_id ON obs_a (id);'),
    );
    assert.deepEqual(seen, [
      'before 0 CREATE block',
      'after 0 CREATE block',
      'before 1 CREATE block',
      'after 1 CREATE block',
    ]);
    assert.deepEqual(await tables(), ['obs_a', 'obs_a_id']);
    const mixed = await run(
      section(
        'single-string',
        'CREATE TABLE obs_b (id int);\nCREATE INDEX CONCURRENTLY obs_b_id ON obs_b (id);',
      ),
    );
    assert.equal(mixed.result.failure?.sqlstate, '25001');
    assert.equal(mixed.result.failure?.index, 1, 'the statement that refuses the block');
    assert.deepEqual(await tables(), ['obs_a', 'obs_a_id'], 'the implicit transaction rolled back');
    const alone = await run(section('single-string', 'CREATE INDEX CONCURRENTLY obs_a_id2 ON obs_a (id);'));
    assert.equal(alone.result.failure, undefined);
    assert.deepEqual(alone.seen, ['before 0 CREATE alone', 'after 0 CREATE alone']);
  });

  void it('autocommit with its own BEGIN … COMMIT: inside the block only between them; a failure rolls back', async () => {
    await clean();
    const { seen } = await run(
      section('autocommit', 'CREATE TABLE obs_a (id int);\nBEGIN;\nCREATE TABLE obs_b (id int);\nCOMMIT;'),
    );
    assert.deepEqual(seen, [
      'before 0 CREATE alone',
      'after 0 CREATE alone',
      'before 1 BEGIN block',
      'after 1 BEGIN block',
      'before 2 CREATE block',
      'after 2 CREATE block',
      'before 3 COMMIT block',
      'after 3 COMMIT alone',
    ]);
    await clean();
    const failing = await run(
      section('transaction', 'CREATE TABLE obs_a (id int);\nALTER TABLE obs_missing ADD COLUMN x int;'),
    );
    assert.equal(failing.result.failure?.index, 1);
    assert.equal(failing.result.failure?.sqlstate, '42P01');
    assert.deepEqual(failing.seen, ['before 0 CREATE block', 'after 0 CREATE block', 'before 1 ALTER block']);
    assert.deepEqual(await tables(), [], 'the failed transaction left nothing');
    const { rows } = await client.query<{ ok: number }>('SELECT 1 AS ok');
    assert.equal(rows[0]!.ok, 1, 'the connection is usable after the failure');
  });
});
