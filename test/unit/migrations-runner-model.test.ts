import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { MigrationFolderError } from '../../src/core/migrations/model';
import {
  loadRunnerMigrations,
  nonTransactionalOperation,
  transactionControl,
} from '../../src/core/migrations/runnerMigrations';
import { scanSql } from '../../src/core/migrations/sqlScanner';

/** The first statement's keywords, as the tools' scanner gives them to every adapter. */
const words = (sql: string) => scanSql(sql).statements[0]!.keywords;

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A dbmate folder with these files, loaded as the lab's runner loads the demo and the lessons. */
async function load(files: Record<string, string>) {
  const dir = mkdtempSync(join(tmpdir(), 'migration-lab-runner-model-'));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return loadRunnerMigrations(dir, 'dbmate');
}

void describe('transactionControl', () => {
  void it('names every statement that begins, ends or splits a transaction, by its leading keywords', () => {
    const cases: Record<string, string> = {
      BEGIN: 'BEGIN',
      'begin transaction isolation level serializable': 'BEGIN',
      'START TRANSACTION': 'START TRANSACTION',
      commit: 'COMMIT',
      'COMMIT AND CHAIN': 'COMMIT',
      END: 'END',
      ROLLBACK: 'ROLLBACK',
      ABORT: 'ABORT',
      'SAVEPOINT s1': 'SAVEPOINT',
      'RELEASE SAVEPOINT s1': 'RELEASE SAVEPOINT',
      'RELEASE s1': 'RELEASE SAVEPOINT',
      'ROLLBACK TO SAVEPOINT s1': 'ROLLBACK TO SAVEPOINT',
      "PREPARE TRANSACTION 'x'": 'PREPARE TRANSACTION',
      "COMMIT PREPARED 'x'": 'COMMIT PREPARED',
      "ROLLBACK PREPARED 'x'": 'ROLLBACK PREPARED',
    };
    for (const [sql, expected] of Object.entries(cases)) {
      assert.equal(transactionControl(words(sql)), expected, sql);
    }
  });

  void it('leaves other statements alone, including the same words inside them', () => {
    for (const sql of [
      'PREPARE q AS SELECT 1',
      'SELECT 1 AS commit',
      'CREATE TABLE "begin" (x int)',
      "COMMENT ON TABLE t IS 'COMMIT'",
      'CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END',
      'START_TIME',
      'UPDATE t SET x = CASE WHEN y THEN 1 END',
    ]) {
      assert.equal(transactionControl(words(sql)), undefined, sql);
    }
  });
});

void describe('nonTransactionalOperation', () => {
  void it('names the operation that cannot run in a transaction', () => {
    const cases: Record<string, string | undefined> = {
      'create unique index concurrently i on t (x)': 'CREATE UNIQUE INDEX CONCURRENTLY',
      'REINDEX TABLE CONCURRENTLY t': 'REINDEX TABLE CONCURRENTLY',
      'REINDEX (VERBOSE) INDEX CONCURRENTLY i': 'REINDEX INDEX CONCURRENTLY',
      'ALTER TABLE p DETACH PARTITION c CONCURRENTLY': 'ALTER TABLE … CONCURRENTLY',
      'REFRESH MATERIALIZED VIEW CONCURRENTLY mv': undefined,
      'CREATE INDEX i ON t (x)': undefined,
    };
    for (const [sql, expected] of Object.entries(cases)) {
      assert.equal(nonTransactionalOperation(words(sql)), expected, sql);
    }
  });
});

void describe('loadRunnerMigrations', () => {
  void it("reads a dbmate folder through dbmate's adapter, in dbmate's order, with each section's transaction", async () => {
    const migrations = await load({
      '0002_b_concurrently.sql':
        '-- migrate:up transaction:false\nSELECT 2;\n-- migrate:down transaction:false\nSELECT -2;',
      '0002_b.sql': '-- migrate:up\nSELECT 2;',
      '10_c.sql': '-- migrate:up\nSELECT 10;\nSELECT 11;',
      '0001_a.sql': '-- migrate:up\nSELECT 1;\n-- migrate:down\nSELECT -1;',
      'README.md': 'not a migration',
    });
    assert.deepEqual(
      migrations.map((m) => [
        m.id,
        m.version,
        m.fileName,
        m.up.transaction,
        m.up.statements,
        m.down?.transaction,
      ]),
      [
        ['0001_a', '0001', '0001_a.sql', true, ['SELECT 1'], true],
        ['0002_b', '0002', '0002_b.sql', true, ['SELECT 2'], undefined],
        ['0002_b_concurrently', '0002', '0002_b_concurrently.sql', false, ['SELECT 2'], false],
        ['10_c', '10', '10_c.sql', true, ['SELECT 10', 'SELECT 11'], undefined],
      ],
    );
  });

  void it('loads the demo and lesson migrations of the extension', async () => {
    const root = join(__dirname, '../../..');
    const demo = await loadRunnerMigrations(join(root, 'migrations'), 'dbmate');
    assert.deepEqual(
      demo.map((m) => [m.id, m.up.transaction, m.down?.transaction]),
      [
        ['0001_initial', true, true],
        ['0002_add_email_index', true, true],
        ['0002_add_email_index_concurrently', false, false],
      ],
    );
    const lessons = await loadRunnerMigrations(join(root, 'migrations-lessons'), 'dbmate');
    for (const m of [...demo, ...lessons]) {
      assert.equal(m.up.transactionConflict, undefined, m.id);
      assert.equal(m.down?.transactionConflict, undefined, m.id);
    }
  });

  void it('marks CONCURRENTLY and transaction control in a transactional section with the refusal, line and way out', async () => {
    const [concurrently, commit] = await load({
      '0003_x.sql':
        '-- migrate:up\nCREATE INDEX CONCURRENTLY i ON t (x);\n-- migrate:down\nSELECT 1;\nDROP INDEX CONCURRENTLY i;',
      '0005_y.sql':
        '-- migrate:up\nCREATE TABLE h1 (id int);\n\n  COMMIT;\nSELECT 1;\n-- migrate:down\nDROP TABLE h1;',
    });
    assert.equal(
      concurrently!.up.transactionConflict,
      '0003_x.sql: line 2 has CREATE INDEX CONCURRENTLY, which cannot run inside the transaction 0003_x runs in; ' +
        'add `transaction:false` to its `-- migrate:up` line and keep the statement alone in that section.',
    );
    assert.equal(
      concurrently!.down?.transactionConflict,
      '0003_x.sql: line 5 has DROP INDEX CONCURRENTLY, which cannot run inside the transaction 0003_x runs in; ' +
        'add `transaction:false` to its `-- migrate:down` line and keep the statement alone in that section.',
    );
    assert.equal(
      commit!.up.transactionConflict,
      '0005_y.sql: line 4 has COMMIT, which would end or split the transaction 0005_y runs in; ' +
        'remove it (the section already runs in one transaction).',
    );
    assert.equal(commit!.down?.transactionConflict, undefined);
  });

  void it('lets a transaction:false section manage its own transactions, and ignores CONCURRENTLY in comments, strings and identifiers', async () => {
    const [own, quoted] = await load({
      '0005_x.sql': '-- migrate:up transaction:false\nBEGIN;\nCREATE TABLE h1 (id int);\nCOMMIT;\n',
      '0006_y.sql': `-- migrate:up
-- CREATE INDEX CONCURRENTLY would be better
/* CONCURRENTLY */ COMMENT ON TABLE t IS 'built CONCURRENTLY';
CREATE TABLE "concurrently" (concurrently_x int);
REFRESH MATERIALIZED VIEW CONCURRENTLY mv;`,
    });
    assert.equal(own!.up.transactionConflict, undefined);
    assert.equal(quoted!.up.transactionConflict, undefined);
    assert.equal(quoted!.up.statements.length, 3);
  });

  void it("refuses a file dbmate would refuse, naming the file and line (dbmate's own rules, modelled once)", async () => {
    await assert.rejects(
      load({ '0001_a.sql': '-- migrate:up\nSELECT 1;\n-- migrate:sideways\nSELECT 2;\n' }),
      (e: unknown) =>
        e instanceof MigrationFolderError &&
        /0001_a\.sql:3: `-- migrate:sideways` is not a dbmate section/.test(e.message),
    );
  });

  void it('refuses a missing folder with one sentence', async () => {
    await assert.rejects(loadRunnerMigrations('/nonexistent/migrations', 'dbmate'), MigrationFolderError);
  });
});
