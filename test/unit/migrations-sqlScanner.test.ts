import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidEncodingError } from '../../src/core/migrations/model';
import {
  decodeSqlFile,
  findInvalidUtf8,
  locateErrorPosition,
  scanSql,
  SqlScanError,
  sqlText,
  toStatements,
} from '../../src/core/migrations/sqlScanner';

const split = (sql: string, options = {}) =>
  scanSql(sql, options).statements.map((s) => sql.slice(s.from, s.to));

void describe('scanSql: splitting', () => {
  void it('splits on semicolons, drops empty statements and comments around them', () => {
    assert.deepEqual(split('-- hello\nSELECT 1; SELECT 2;;\n/* bye */\n'), ['SELECT 1', 'SELECT 2']);
  });

  void it('keeps a last statement without a semicolon and says it was not delimited', () => {
    const { statements } = scanSql('SELECT 1;\nSELECT 2');
    assert.deepEqual(
      statements.map((s) => s.delimited),
      [true, false],
    );
  });

  void it("ignores semicolons in strings, doubled quotes, E'' escapes and quoted identifiers", () => {
    assert.deepEqual(split(`INSERT INTO "a;""b" VALUES ('x;''y', E'\\';z'); SELECT 2`), [
      `INSERT INTO "a;""b" VALUES ('x;''y', E'\\';z')`,
      'SELECT 2',
    ]);
  });

  void it('does not treat a backslash as an escape in a standard string', () => {
    assert.deepEqual(split(`SELECT 'a\\'; SELECT 2`), [`SELECT 'a\\'`, 'SELECT 2']);
  });

  void it('skips $$ and $tag$ bodies, including another tag inside, but not $1 parameters', () => {
    const fn =
      'CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $body$\nBEGIN PERFORM $$;$$; RETURN 1; END;\n$body$';
    assert.deepEqual(split(`${fn};\nPREPARE p AS SELECT $1;SELECT 3`), [
      fn,
      'PREPARE p AS SELECT $1',
      'SELECT 3',
    ]);
  });

  void it('keeps a $ inside an identifier as part of it (a$b$ is not a dollar quote)', () => {
    assert.deepEqual(split('SELECT a$b$ FROM t; SELECT 2'), ['SELECT a$b$ FROM t', 'SELECT 2']);
  });

  void it('skips nested block comments', () => {
    assert.deepEqual(split('/* a /* b; */ c; */ SELECT 1; SELECT 2'), ['SELECT 1', 'SELECT 2']);
  });

  void it('keeps BEGIN ATOMIC … END bodies (with CASE … END inside) as one statement', () => {
    const fn =
      'CREATE FUNCTION g(x int) RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT CASE WHEN x > 0 THEN 1 ELSE 0 END; SELECT 2; END';
    assert.deepEqual(split(`${fn}; SELECT 3;`), [fn, 'SELECT 3']);
  });

  void it('does not mistake a transaction BEGIN for an atomic body', () => {
    assert.deepEqual(split('BEGIN; SELECT 1; COMMIT;'), ['BEGIN', 'SELECT 1', 'COMMIT']);
  });

  void it('uses a custom delimiter instead of ; (Atlas, Liquibase endDelimiter)', () => {
    assert.deepEqual(split('SELECT 1; SELECT 2\n-- end\nSELECT 3;\n-- end\n', { delimiter: '-- end' }), [
      'SELECT 1; SELECT 2',
      'SELECT 3;',
    ]);
    assert.deepEqual(split('SELECT 1;\nSELECT 2\n\nSELECT 3', { delimiter: '\n\n' }), [
      'SELECT 1;\nSELECT 2',
      'SELECT 3',
    ]);
  });

  void it('collects the first keywords upper-cased, not words in strings or comments', () => {
    const [s] = scanSql("/* DROP */ create unique index concurrently 'x' -- TABLE\n on t (a)").statements;
    assert.deepEqual(s.keywords, ['CREATE', 'UNIQUE', 'INDEX', 'CONCURRENTLY', 'ON', 'T', 'A']);
  });

  void it('records psql meta-commands with their arguments, outside strings', () => {
    const sql = "\\set ON_ERROR_STOP on\nSELECT '\\x';\n\\ir other.sql\n";
    const result = scanSql(sql, { psql: true });
    assert.deepEqual(
      result.metaCommands.map((m) => [m.command, m.args, m.insideStatement]),
      [
        ['set', 'ON_ERROR_STOP on', false],
        ['ir', 'other.sql', false],
      ],
    );
    assert.deepEqual(
      result.statements.map((s) => sql.slice(s.from, s.to)),
      ["SELECT '\\x'"],
    );
  });

  void it('records psql variables (:name, :\'name\', :"name") but not casts, := or text in strings', () => {
    const sql = "SELECT :v, :'w', :\"x\", a::int, b[1:n], ':y' FROM t; DO $$ BEGIN z := 1; END $$;";
    const names = scanSql(sql, { psql: true }).variables.map((v) => v.name);
    assert.deepEqual(names, ['v', 'w', 'x', 'n']);
    assert.deepEqual(scanSql(sql).variables, []);
  });

  void it('scans only the given range', () => {
    const sql = 'SELECT 0; SELECT 1; SELECT 2;';
    assert.deepEqual(split(sql, { from: 10, to: 19 }), ['SELECT 1']);
  });

  for (const [what, sql, offset] of [
    ['string', "SELECT 1;\nSELECT 'oops", 17],
    ['identifier', 'SELECT "oops', 7],
    ['dollar quote', 'SELECT $x$ never closed', 7],
    ['block comment', 'SELECT 1; /* /* */', 10],
  ] as const) {
    void it(`refuses an unterminated ${what} with the offset where it starts`, () => {
      assert.throws(
        () => scanSql(sql),
        (e: unknown) => e instanceof SqlScanError && e.offset === offset,
      );
    });
  }
});

void describe('positions', () => {
  void it('gives 1-based lines, UTF-16 columns and UTF-8 byte offsets on non-ASCII text', () => {
    // "é" is 2 bytes, "日本" 3 bytes each, "😀" a surrogate pair (2 UTF-16 units, 4 bytes).
    const text = "-- café\nSELECT '日本😀'; SELECT 2;\n  SELECT 'é';";
    const file = sqlText('/x.sql', text);
    const statements = toStatements(file, scanSql(text).statements);
    assert.equal(statements.length, 3);
    assert.deepEqual(statements[0].start, { line: 2, column: 1, offset: 8, byte: 9 });
    // SELECT '日本😀' is 13 UTF-16 units (the emoji counts 2): it ends at column 14; its bytes are 6+1+1+6+4+1.
    assert.deepEqual(statements[0].end, { line: 2, column: 14, offset: 21, byte: 9 + 19 });
    assert.deepEqual(statements[1].start, { line: 2, column: 16, offset: 23, byte: 30 });
    assert.deepEqual(statements[2].start, { line: 3, column: 3, offset: 35, byte: 42 });
    // The byte offsets are those of the UTF-8 encoding.
    const bytes = Buffer.from(text, 'utf8');
    for (const s of statements) {
      assert.equal(bytes.subarray(s.start.byte, s.end.byte).toString('utf8'), s.text);
    }
  });

  void it('counts the BOM in byte offsets but not in columns', () => {
    const bytes = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('SELECT 1;', 'utf8')]);
    const file = decodeSqlFile('/bom.sql', bytes);
    const [s] = toStatements(file, scanSql(file.text).statements);
    assert.deepEqual(s.start, { line: 1, column: 1, offset: 0, byte: 3 });
  });

  void it('maps positions out of order too (backwards after forwards)', () => {
    const file = sqlText('/x.sql', 'é\né\né');
    assert.equal(file.positions.at(4).byte, 6);
    assert.equal(file.positions.at(1).byte, 2);
    assert.equal(file.positions.at(2).line, 2);
  });
});

void describe('strict UTF-8', () => {
  void it('refuses a Latin-1 file with the byte offset and line of the first bad byte', () => {
    const bytes = Buffer.concat([
      Buffer.from("SELECT 1;\nSELECT 'caf", 'utf8'),
      Buffer.from([0xe9]),
      Buffer.from("';"),
    ]);
    assert.throws(
      () => decodeSqlFile('/latin1.sql', bytes),
      (e: unknown) =>
        e instanceof InvalidEncodingError &&
        e.byte === 21 &&
        e.line === 2 &&
        e.file === '/latin1.sql' &&
        /latin1\.sql:2: .*byte offset 21/.test(e.message),
    );
  });

  for (const [what, bytes, at] of [
    ['an overlong encoding', [0x41, 0xc0, 0xaf], 1],
    ['a UTF-16 surrogate', [0xed, 0xa0, 0x80], 0],
    ['a code point above U+10FFFF', [0xf4, 0x90, 0x80, 0x80], 0],
    ['a sequence cut at the end', [0x41, 0x42, 0xe6, 0x97], 2],
    ['a stray continuation byte', [0x41, 0x80], 1],
  ] as const) {
    void it(`finds ${what}`, () => {
      assert.equal(findInvalidUtf8(Uint8Array.from(bytes)), at);
    });
  }

  void it('accepts valid multi-byte text', () => {
    assert.equal(findInvalidUtf8(Buffer.from('é日😀', 'utf8')), -1);
  });
});

/** CPU time of `work` in ms: the machine running the tests may be shared, so wall time would measure the neighbours. */
function cpuMs(work: () => void): number {
  const before = process.cpuUsage();
  work();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000;
}

void describe('linear time', () => {
  void it('decodes and splits a 5 MB file in well under a second, with positions for every statement', () => {
    const unit =
      'INSERT INTO t (a, b) VALUES (\'naïve; text\', $$body; here$$); -- comment; here\n/* block; */ SELECT "q;" FROM u;\n';
    const copies = Math.ceil((5 * 1024 * 1024) / unit.length);
    const bytes = Buffer.from(unit.repeat(copies), 'utf8');
    let count = 0;
    let lastLine = 0;
    const elapsed = cpuMs(() => {
      const file = decodeSqlFile('/big.sql', bytes);
      const statements = toStatements(file, scanSql(file.text).statements);
      count = statements.length;
      lastLine = statements[statements.length - 1].start.line;
    });
    assert.equal(count, 2 * copies);
    assert.equal(lastLine, 2 * copies);
    assert.ok(elapsed < 1000, `took ${elapsed.toFixed(0)} ms of CPU`);
  });

  void it('stays linear on one very long line', () => {
    const bytes = Buffer.from('SELECT 1;'.repeat(300_000), 'utf8');
    let lastColumn = 0;
    const elapsed = cpuMs(() => {
      const file = decodeSqlFile('/line.sql', bytes);
      const statements = toStatements(file, scanSql(file.text).statements);
      lastColumn = statements[statements.length - 1].start.column;
    });
    assert.equal(lastColumn, bytes.length - 'SELECT 1;'.length + 1);
    assert.ok(elapsed < 1000, `took ${elapsed.toFixed(0)} ms of CPU`);
  });
});

void describe('locateErrorPosition', () => {
  void it("maps PostgreSQL's 1-based character position back to the file, counting an emoji as one character", () => {
    // The script starts on line 3 of its file; PostgreSQL would point at "nope" (character 27).
    const file = sqlText('/s.sql', "-- x\n-- y\nSELECT '😀';\nSELECT é, nope;\n");
    const start = file.positions.at(10);
    const sent = file.text.slice(10);
    const at = locateErrorPosition(start, sent, [...sent].indexOf('n') + 1);
    assert.deepEqual(at, file.positions.at(file.text.indexOf('nope')));
    assert.deepEqual(at, {
      line: 4,
      column: 11,
      offset: file.text.indexOf('nope'),
      byte: Buffer.byteLength(file.text.slice(0, file.text.indexOf('nope'))),
    });
  });

  void it('clamps a position past the end to the end of what was sent', () => {
    const file = sqlText('/s.sql', 'SELECT 1');
    assert.equal(locateErrorPosition(file.positions.at(0), 'SELECT 1', 99).offset, 8);
  });
});
