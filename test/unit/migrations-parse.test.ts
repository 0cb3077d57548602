import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { LabError } from '../../src/core/errors';
import {
  loadMigrations,
  nonTransactionalOperation,
  parseFileName,
  parseMigration,
  scanStatements,
  splitStatements,
} from '../../src/core/migrations/parse';

function parseError(fileName: string, text: string): LabError {
  try {
    parseMigration(fileName, text);
  } catch (e) {
    assert.ok(e instanceof LabError, `expected a LabError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected the parse to fail');
}

void describe('splitStatements', () => {
  void it('splits on semicolons and drops empty statements and trailing comments', () => {
    assert.deepEqual(splitStatements('SELECT 1; SELECT 2;;\n-- bye\n'), ['SELECT 1', 'SELECT 2']);
  });

  void it('keeps the last statement without a semicolon', () => {
    assert.deepEqual(splitStatements('SELECT 1;\nSELECT 2'), ['SELECT 1', 'SELECT 2']);
  });

  void it('ignores semicolons in single-quoted strings, including doubled quotes', () => {
    assert.deepEqual(splitStatements("INSERT INTO t VALUES ('a;b', 'it''s; fine'); SELECT 1"), [
      "INSERT INTO t VALUES ('a;b', 'it''s; fine')",
      'SELECT 1',
    ]);
  });

  void it("handles E'…' strings where a backslash escapes the quote", () => {
    assert.deepEqual(splitStatements("SELECT E'a\\';b'; SELECT 2"), ["SELECT E'a\\';b'", 'SELECT 2']);
  });

  void it('ignores semicolons in double-quoted identifiers', () => {
    assert.deepEqual(splitStatements('CREATE TABLE "a;""b" (x int); SELECT 1'), [
      'CREATE TABLE "a;""b" (x int)',
      'SELECT 1',
    ]);
  });

  void it('ignores semicolons in $$ and $tag$ dollar quotes, including a nested other tag', () => {
    const fn = `CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $body$
BEGIN
  PERFORM $$;$$;
  RETURN 1;
END;
$body$`;
    assert.deepEqual(splitStatements(`${fn};\nSELECT $$a;b$$;`), [fn, 'SELECT $$a;b$$']);
  });

  void it('does not take $1 parameters or identifiers with $ for dollar quotes', () => {
    assert.deepEqual(splitStatements('PREPARE p AS SELECT $1; SELECT a$b$ FROM t; SELECT 3'), [
      'PREPARE p AS SELECT $1',
      'SELECT a$b$ FROM t',
      'SELECT 3',
    ]);
  });

  void it('ignores semicolons in -- comments and nested /* */ comments', () => {
    const sql = 'SELECT 1 -- one; two\n; /* a; /* nested; */ still comment; */ SELECT 2;';
    assert.deepEqual(splitStatements(sql), ['SELECT 1', 'SELECT 2']);
  });

  void it('keeps a BEGIN ATOMIC function body together', () => {
    const fn = `CREATE FUNCTION g(x int) RETURNS int LANGUAGE sql
BEGIN ATOMIC
  SELECT CASE WHEN x > 0 THEN 1 ELSE 0 END;
  SELECT 2;
END`;
    assert.deepEqual(splitStatements(`${fn};\nSELECT 3;`), [fn, 'SELECT 3']);
  });

  void it('collects words outside strings and comments, with start lines', () => {
    const [first, second] = scanStatements(
      '-- CONCURRENTLY in a comment\nSELECT \'CONCURRENTLY\', "CONCURRENTLY";\n\nCREATE INDEX CONCURRENTLY i ON t (x);',
    );
    assert.deepEqual(first.words, ['SELECT']);
    assert.equal(first.line, 2);
    assert.deepEqual(second.words, ['CREATE', 'INDEX', 'CONCURRENTLY', 'I', 'ON', 'T', 'X']);
    assert.equal(second.line, 4);
  });

  void it('reports unterminated strings, dollar quotes and comments', () => {
    assert.throws(() => splitStatements("SELECT 'abc"), /unterminated quoted string/);
    assert.throws(() => splitStatements('SELECT "abc'), /unterminated quoted identifier/);
    assert.throws(() => splitStatements('SELECT $x$abc$$'), /unterminated dollar-quoted string/);
    assert.throws(() => splitStatements('SELECT 1 /* /* */'), /unterminated \/\* comment/);
  });
});

void describe('parseFileName', () => {
  void it('takes the leading digits as version and the file name without .sql as id', () => {
    assert.deepEqual(parseFileName('0002_add_email_index.sql'), {
      id: '0002_add_email_index',
      version: '0002',
      name: 'add_email_index',
    });
    assert.equal(parseFileName('add_email_index.sql'), null);
    assert.equal(parseFileName('0002.sql'), null);
    assert.equal(parseFileName('0002_x.txt'), null);
  });
});

void describe('parseMigration', () => {
  void it('parses up and down sections and the transaction option', () => {
    const m = parseMigration(
      '0002_add_email_index_concurrently.sql',
      `-- a header comment
-- migrate:up transaction:false
CREATE INDEX CONCURRENTLY large_email_email_idx ON large_email (email);

-- migrate:down   transaction:false
DROP INDEX CONCURRENTLY large_email_email_idx;
`,
    );
    assert.equal(m.id, '0002_add_email_index_concurrently');
    assert.equal(m.version, '0002');
    assert.equal(m.up.transaction, false);
    assert.deepEqual(m.up.statements, [
      'CREATE INDEX CONCURRENTLY large_email_email_idx ON large_email (email)',
    ]);
    assert.equal(m.up.transactionConflict, undefined);
    assert.equal(m.down?.transaction, false);
    assert.deepEqual(m.down?.statements, ['DROP INDEX CONCURRENTLY large_email_email_idx']);
  });

  void it('defaults to transactional sections and allows a missing or empty down section', () => {
    const noDown = parseMigration('0001_a.sql', '-- migrate:up\nCREATE TABLE a (x int);\n');
    assert.equal(noDown.up.transaction, true);
    assert.equal(noDown.down, null);
    const emptyDown = parseMigration('0001_a.sql', '-- migrate:up\nSELECT 1;\n-- migrate:down\n');
    assert.deepEqual(emptyDown.down?.statements, []);
  });

  void it('accepts the down section before the up section', () => {
    const m = parseMigration(
      '0001_a.sql',
      '-- migrate:down\nDROP TABLE a;\n-- migrate:up\nCREATE TABLE a (x int);',
    );
    assert.deepEqual(m.up.statements, ['CREATE TABLE a (x int)']);
    assert.deepEqual(m.down?.statements, ['DROP TABLE a']);
  });

  void it('refuses a bad file name', () => {
    const e = parseError('add_index.sql', '-- migrate:up\nSELECT 1;');
    assert.match(e.message, /^add_index\.sql: a migration file name must look like NNNN_name\.sql/);
  });

  void it('refuses a file without -- migrate:up', () => {
    const e = parseError('0003_x.sql', 'CREATE TABLE x (a int);\n-- migrate:down\nDROP TABLE x;');
    assert.equal(e.message, '0003_x.sql: it has no `-- migrate:up` line.');
  });

  void it('refuses an empty up section', () => {
    const e = parseError('0003_x.sql', '-- migrate:up\n-- nothing yet\n-- migrate:down\nSELECT 1;');
    assert.equal(e.message, '0003_x.sql: its `-- migrate:up` section has no SQL statements.');
  });

  void it('refuses an unknown option', () => {
    const e = parseError('0003_x.sql', '-- migrate:up transaction:maybe\nSELECT 1;');
    assert.equal(
      e.message,
      '0003_x.sql: unknown option `transaction:maybe` on its `-- migrate:up` line; only `transaction:false` is supported.',
    );
  });

  void it('refuses an unknown section, a repeated section and SQL before the first section', () => {
    assert.match(parseError('0003_x.sql', '-- migrate:sideways\nSELECT 1;').message, /unknown section/);
    assert.match(
      parseError('0003_x.sql', '-- migrate:up\nSELECT 1;\n-- migrate:up\nSELECT 2;').message,
      /two `-- migrate:up` lines \(line 3\)/,
    );
    assert.equal(
      parseError('0003_x.sql', '-- intro\nSELECT 0;\n-- migrate:up\nSELECT 1;').message,
      '0003_x.sql: line 2 has SQL before the first `-- migrate:up` or `-- migrate:down` line.',
    );
  });

  void it('refuses unterminated strings with the file and line', () => {
    const e = parseError('0003_x.sql', "-- migrate:up\nSELECT 1;\nSELECT 'oops;\n");
    assert.equal(e.message, '0003_x.sql: line 3 starts an unterminated quoted string.');
  });

  void it('marks CONCURRENTLY in a transactional section with the message to refuse it with', () => {
    const m = parseMigration(
      '0003_x.sql',
      '-- migrate:up\nCREATE INDEX CONCURRENTLY i ON t (x);\n-- migrate:down\nDROP INDEX CONCURRENTLY i;',
    );
    assert.equal(
      m.up.transactionConflict,
      '0003_x.sql: CREATE INDEX CONCURRENTLY cannot run inside a transaction; add `transaction:false` to its `-- migrate:up` line.',
    );
    assert.equal(
      m.down?.transactionConflict,
      '0003_x.sql: DROP INDEX CONCURRENTLY cannot run inside a transaction; add `transaction:false` to its `-- migrate:down` line.',
    );
  });

  void it('does not take CONCURRENTLY in comments, strings or identifiers for the keyword', () => {
    const m = parseMigration(
      '0003_x.sql',
      `-- migrate:up
-- CREATE INDEX CONCURRENTLY would be better
/* CONCURRENTLY */ COMMENT ON TABLE t IS 'built CONCURRENTLY';
CREATE TABLE "concurrently" (concurrently_x int);
REFRESH MATERIALIZED VIEW CONCURRENTLY mv;`,
    );
    assert.equal(m.up.transactionConflict, undefined);
    assert.equal(m.up.statements.length, 3);
  });
});

void describe('nonTransactionalOperation', () => {
  void it('names the operation that cannot run in a transaction', () => {
    const words = (sql: string) => scanStatements(sql)[0].words;
    assert.equal(
      nonTransactionalOperation(words('create unique index concurrently i on t (x)')),
      'CREATE UNIQUE INDEX CONCURRENTLY',
    );
    assert.equal(
      nonTransactionalOperation(words('REINDEX TABLE CONCURRENTLY t')),
      'REINDEX TABLE CONCURRENTLY',
    );
    assert.equal(
      nonTransactionalOperation(words('REINDEX (VERBOSE) INDEX CONCURRENTLY i')),
      'REINDEX INDEX CONCURRENTLY',
    );
    assert.equal(
      nonTransactionalOperation(words('ALTER TABLE p DETACH PARTITION c CONCURRENTLY')),
      'ALTER TABLE … CONCURRENTLY',
    );
    assert.equal(nonTransactionalOperation(words('CREATE INDEX i ON t (x)')), undefined);
  });
});

void describe('loadMigrations', () => {
  void it('reads the .sql files of a folder, ordered by version then id', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'migrations-unit-'));
    try {
      writeFileSync(join(dir, '0002_b_concurrently.sql'), '-- migrate:up transaction:false\nSELECT 2;');
      writeFileSync(join(dir, '0002_b.sql'), '-- migrate:up\nSELECT 2;');
      writeFileSync(join(dir, '10_c.sql'), '-- migrate:up\nSELECT 10;');
      writeFileSync(join(dir, '0001_a.sql'), '-- migrate:up\nSELECT 1;');
      writeFileSync(join(dir, 'README.md'), 'not a migration');
      const ids = (await loadMigrations(dir)).map((m) => m.id);
      assert.deepEqual(ids, ['0001_a', '0002_b', '0002_b_concurrently', '10_c']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  void it('loads the demo migrations of the extension', async () => {
    const migrations = await loadMigrations(join(__dirname, '../../../migrations'));
    assert.deepEqual(
      migrations.map((m) => [m.id, m.up.transaction, m.down?.transaction]),
      [
        ['0001_initial', true, true],
        ['0002_add_email_index', true, true],
        ['0002_add_email_index_concurrently', false, false],
      ],
    );
    assert.ok(migrations.every((m) => !m.up.transactionConflict && !m.down?.transactionConflict));
  });

  void it('refuses a missing folder with a LabError', async () => {
    await assert.rejects(loadMigrations('/nonexistent/migrations'), LabError);
  });
});
