import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseMigration, scanStatements, transactionControl } from '../../src/core/migrations/parse';

const words = (sql: string) => scanStatements(sql)[0]!.words;

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

void describe('transaction control in a migration', () => {
  void it('is refused in a transactional section with the file, the line and the fix', () => {
    const m = parseMigration(
      '0005_x.sql',
      '-- migrate:up\nCREATE TABLE h1 (id int);\n\n  COMMIT;\nSELECT 1;\n-- migrate:down\nDROP TABLE h1;',
    );
    assert.equal(
      m.up.transactionConflict,
      '0005_x.sql: line 4 has COMMIT, which would end or split the transaction the migration runs in; ' +
        'remove it (the section already runs in one transaction), or add `transaction:false` to its ' +
        '`-- migrate:up` line to manage transactions yourself.',
    );
    assert.equal(m.down?.transactionConflict, undefined);
  });

  void it('is allowed where the migration manages its own transactions (transaction:false)', () => {
    const m = parseMigration(
      '0005_x.sql',
      '-- migrate:up transaction:false\nBEGIN;\nCREATE TABLE h1 (id int);\nCOMMIT;\n',
    );
    assert.equal(m.up.transactionConflict, undefined);
  });
});
