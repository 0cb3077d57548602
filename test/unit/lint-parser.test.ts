import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { lintSql } from '../../src/core/lint/lint';
import { blocksInWords, LOCK_MODES } from '../../src/core/lint/lockModes';
import {
  byteToUtf16,
  codePointToUtf16,
  loadParser,
  nodeKind,
  parseEach,
  splitStatements,
  type PgNode,
} from '../../src/core/lint/parser';

void describe('lint parser: loading', () => {
  void it('does not load the parser when the lint modules are imported', () => {
    // Importing lint.ts (above) must not pull in libpg-query: the extension imports it on activation.
    assert.equal(
      Object.keys(require.cache).some((k) => k.includes('libpg-query')),
      false,
    );
  });
});

void describe('lint parser: offsets', () => {
  void it('maps UTF-8 byte offsets to UTF-16 indexes across 2-, 3- and 4-byte characters', () => {
    const text = "SELECT 'é€😀' FROM t";
    // bytes: "SELECT '" 8, é 2, € 3, 😀 4, "' FROM " 7 → t at byte 24; UTF-16: 8 + 1 + 1 + 2 + 7 = 19
    assert.equal(byteToUtf16(text, 24), 19);
    assert.equal(text[byteToUtf16(text, 24)], 't');
    assert.equal(byteToUtf16(text, 8), 8);
    assert.equal(byteToUtf16(text, 10), 9); // just after é
  });

  void it('maps the syntax-error cursor (code points) to UTF-16', () => {
    assert.equal(codePointToUtf16('a😀b', 2), 3);
    assert.equal(codePointToUtf16('aéb', 2), 2);
  });

  void it('locates a relation named after non-ASCII text through its parse-tree byte location', async () => {
    const parser = await loadParser();
    const text = '/* ünïcödé 😀 */ ALTER TABLE "Bestellungen" ADD COLUMN größe int';
    const [p] = parseEach(parser, [{ text, offset: 0 }]);
    const relation = (nodeKind(p.ast)?.[1].relation as PgNode).location as number;
    assert.equal(text.slice(byteToUtf16(text, relation)).startsWith('"Bestellungen"'), true);
  });
});

void describe('lint parser: per-statement recovery', () => {
  void it('parses the statements around a syntax error and reports the error where PostgreSQL points', async () => {
    const parser = await loadParser();
    const text = "CREATE INDEX a ON t (x);\nSELECT 'é😀' ,, 1;\nDROP INDEX a;";
    const parsed = parseEach(parser, splitStatements(text));
    assert.equal(parsed.length, 3);
    assert.ok(parsed[0].ast && parsed[2].ast);
    assert.match(parsed[1].syntaxError?.message ?? '', /syntax error at or near ","/);
    const at = parsed[1].syntaxError!.offset;
    // PostgreSQL points at the second comma (the first token it cannot take)
    assert.equal(text.slice(at - 1, at + 2), ',, ');
  });

  void it('reports a syntax error at its 1-based line and UTF-16 column and still lints the rest', async () => {
    const text = "-- prüfung 😀\nSELECT 'ü😀' ,, 1;\nCREATE INDEX orders_a ON orders (a);";
    const result = await lintSql(text, { pgMajor: 18, earlier: 'CREATE TABLE orders (a int);' });
    const syntax = result.findings.find((f) => f.rule === 'syntax-error');
    assert.ok(syntax);
    // line 2: "SELECT 'ü😀' ,, 1" → the second comma is at UTF-16 index 14, column 15
    assert.equal(syntax.line, 2);
    assert.equal(syntax.column, 15);
    assert.equal(text.split('\n')[1][syntax.column - 1], ',');
    assert.ok(result.findings.some((f) => f.rule === 'index-without-concurrently' && f.line === 3));
    assert.deepEqual(result.statements.at(-1)?.locks, [{ relation: 'public.orders', mode: 'ShareLock' }]);
  });
});

void describe('lint parser: one call per section', () => {
  void it('parses a section in one call, and each node location maps into its own statement', async () => {
    const parser = await loadParser();
    const text =
      'CREATE TABLE "Größe" (a int);\n-- ü 😀\nALTER TABLE "Bestellungen" ADD COLUMN b int;\nCOMMENT ON TABLE t IS \'😀\'';
    const slices = splitStatements(text);
    const parsed = parseEach(parser, slices);
    assert.equal(parsed.length, 3);
    // The second statement was not parsed alone: its locations count from the section's start.
    assert.ok((parsed[1].locationBase ?? 0) > 0);
    const relation = (nodeKind(parsed[1].ast)?.[1].relation as PgNode).location as number;
    const stmt = parsed[1].text;
    assert.equal(
      stmt.slice(byteToUtf16(stmt, relation - parsed[1].locationBase!)).startsWith('"Bestellungen"'),
      true,
    );
    // The same trees as parsing each statement alone, locations aside.
    const alone = slices.map((s) => parseEach(parser, [s])[0]);
    const withoutLocations = (node: unknown) =>
      JSON.stringify(node, (key, value: unknown) => (key === 'location' ? undefined : value));
    for (let i = 0; i < 3; i++)
      assert.equal(withoutLocations(parsed[i].ast), withoutLocations(alone[i].ast), `statement ${i + 1}`);
  });

  void it('after a syntax error parses the bad statement alone and the others together again', async () => {
    const parser = await loadParser();
    const good = (n: number) => `CREATE INDEX i${n} ON "Tëst" (x)`;
    const slices = [good(1), good(2), "SELECT 'é' ,, 1", good(3), good(4), 'SELECT FROM WHERE', good(5)].map(
      (text, k) => ({ text, offset: k * 100 }),
    );
    const parsed = parseEach(parser, slices);
    assert.deepEqual(
      parsed.map((p) => (p.syntaxError ? 'error' : nodeKind(p.ast)?.[0])),
      ['IndexStmt', 'IndexStmt', 'error', 'IndexStmt', 'IndexStmt', 'error', 'IndexStmt'],
    );
    // The neighbours of each error were parsed together (a later one counts from its group's start).
    assert.ok(parsed[1].locationBase! > 0 && parsed[4].locationBase! > 0);
    // Each error is the one the statement gives alone, where PostgreSQL points in it.
    const alone = parseEach(parser, [slices[2]])[0];
    assert.deepEqual(parsed[2].syntaxError, alone.syntaxError);
    const at = parsed[2].syntaxError!.offset - slices[2].offset;
    assert.equal(slices[2].text.slice(at - 1, at + 1), ',,'); // the second comma
  });

  void it('parses statement by statement when the parser and the slices disagree on a boundary', async () => {
    const parser = await loadParser();
    const parsed = parseEach(parser, [
      { text: 'SELECT 1; CREATE INDEX a ON t (x)', offset: 0 },
      { text: 'DROP INDEX a', offset: 40 },
    ]);
    assert.equal(parsed.length, 2);
    assert.equal(nodeKind(parsed[0].ast)?.[0], 'SelectStmt');
    assert.equal(nodeKind(parsed[1].ast)?.[0], 'DropStmt');
    assert.equal(parsed[1].locationBase, 0);
  });
});

void describe('lock modes in words', () => {
  void it('derives what each mode blocks from the conflict table', () => {
    assert.equal(blocksInWords('AccessExclusiveLock'), 'blocks everything, reads included');
    assert.equal(blocksInWords('ShareLock'), 'blocks writes (INSERT/UPDATE/DELETE), not reads');
    assert.equal(
      blocksInWords('ExclusiveLock'),
      'blocks writes (INSERT/UPDATE/DELETE) and SELECT … FOR UPDATE/SHARE, not reads',
    );
    assert.match(blocksInWords('ShareUpdateExclusiveLock'), /not reads or writes/);
    assert.match(blocksInWords('AccessShareLock'), /ACCESS EXCLUSIVE/);
    assert.equal(new Set(LOCK_MODES.map(blocksInWords)).size >= 5, true);
  });
});
