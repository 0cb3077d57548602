import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, utimesSync, writeFileSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { LabError } from '../../src/core/errors';
import { loadMigrations, parseMigration, scanStatements } from '../../src/core/migrations/parse';

/** One INSERT per line, about 56 bytes each: 5 MB is about 92,800 statements, as in the issue. */
function insertLines(count: number): string[] {
  const lines: string[] = [];
  for (let i = 0; i < count; i++) lines.push(`INSERT INTO t (id, email) VALUES (${i}, 'u${i}@ex.org');`);
  return lines;
}

/**
 * Parses `text` in a worker thread and resolves with the statement count and the time the parse
 * took, or rejects once `deadlineMs` passed (the worker is stopped, so a slow parser fails the test
 * quickly instead of running for minutes).
 */
function parseInWorker(text: string, deadlineMs: number): Promise<{ statements: number; ms: number }> {
  const parseModule = join(__dirname, '../../src/core/migrations/parse.js');
  const worker = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads');
     const { parseMigration } = require(workerData.parseModule);
     const t0 = performance.now();
     const m = parseMigration('0009_big.sql', workerData.text);
     parentPort.postMessage({ statements: m.up.statements.length, ms: performance.now() - t0 });`,
    { eval: true, workerData: { parseModule, text } },
  );
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void worker.terminate();
      reject(new Error(`parsing ${text.length} characters took longer than ${deadlineMs} ms`));
    }, deadlineMs);
    worker.once('message', (result: { statements: number; ms: number }) => {
      clearTimeout(timer);
      void worker.terminate();
      resolve(result);
    });
    worker.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

void describe('scanStatements at scale', () => {
  void it('parses a 5 MB migration of ~92,800 INSERTs well within a generous deadline', async () => {
    const lines = insertLines(92_800);
    const text = `-- migrate:up\n${lines.join('\n')}\n-- migrate:down\nDELETE FROM t;\n`;
    assert.ok(text.length > 5_000_000, `the fixture is ${text.length} characters`);
    // The target is under 1 s; 10 s leaves room for a loaded machine, and the old scan (each
    // statement's line counted from offset 0) needed minutes for this file.
    const { statements, ms } = await parseInWorker(text, 10_000);
    assert.equal(statements, 92_800);
    assert.ok(ms < 10_000, `parse took ${ms} ms`);
  });

  void it('gives exact lines and columns for statements late in a large text', () => {
    const count = 20_000;
    const body = insertLines(count);
    // The last line holds two statements, the second after some indentation and a comment.
    body.push("SELECT 1;   /* x;y */ SELECT 'a;b' AS last;");
    const scanned = scanStatements(`\n${body.join('\n')}\n`);
    assert.equal(scanned.length, count + 2);
    const first = scanned[0]!;
    assert.deepEqual([first.line, first.column], [2, 1]);
    const late = scanned[count - 1]!;
    assert.equal(late.sql, `INSERT INTO t (id, email) VALUES (${count - 1}, 'u${count - 1}@ex.org')`);
    assert.deepEqual([late.line, late.column], [count + 1, 1]);
    const [selectOne, last] = scanned.slice(-2);
    assert.deepEqual([selectOne!.sql, selectOne!.line, selectOne!.column], ['SELECT 1', count + 2, 1]);
    assert.deepEqual([last!.sql, last!.line, last!.column], ["SELECT 'a;b' AS last", count + 2, 23]);
  });

  void it('gives exact columns when everything is on one long line', () => {
    const statements = insertLines(5_000);
    const line = statements.join(' ');
    const scanned = scanStatements(line);
    assert.equal(scanned.length, 5_000);
    const expectedColumn = statements.slice(0, 4_999).reduce((n, s) => n + s.length + 1, 0) + 1;
    assert.deepEqual([scanned[4_999]!.line, scanned[4_999]!.column], [1, expectedColumn]);
  });

  void it('reports the exact line of an error near the end of a large file', () => {
    const lines = insertLines(30_000);
    const text = `-- migrate:up\n${lines.join('\n')}\nSELECT 'never closed;\n`;
    assert.throws(
      () => parseMigration('0009_big.sql', text),
      (e: unknown) =>
        e instanceof LabError &&
        e.message === '0009_big.sql: line 30002 starts an unterminated quoted string.',
    );
  });
});

void describe('loadMigrations cache', () => {
  const dir = mkdtempSync(join(tmpdir(), 'migration-lab-cache-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, '0001_a.sql');

  void it('parses a file once until it changes', async () => {
    writeFileSync(file, '-- migrate:up\nCREATE TABLE a (x int);\n');
    writeFileSync(join(dir, '0002_b.sql'), '-- migrate:up\nCREATE TABLE b (x int);\n');
    const [a1, b1] = await loadMigrations(dir);
    const [a2, b2] = await loadMigrations(dir);
    // The same objects: the second listing reused the first parse instead of parsing again.
    assert.equal(a2, a1);
    assert.equal(b2, b1);
    assert.ok(Object.isFrozen(a1) && Object.isFrozen(a1!.up.statements), 'shared parses are frozen');

    // A change of size is a change.
    writeFileSync(file, '-- migrate:up\nCREATE TABLE a (x int, y int);\n');
    const [a3, b3] = await loadMigrations(dir);
    assert.notEqual(a3, a1);
    assert.deepEqual(a3!.up.statements, ['CREATE TABLE a (x int, y int)']);
    assert.equal(b3, b1, 'an unchanged file is not parsed again');

    // Same size, new content, a later mtime: parsed again.
    writeFileSync(file, '-- migrate:up\nCREATE TABLE a (x int, z int);\n');
    const later = new Date(Date.now() + 60_000);
    utimesSync(file, later, later);
    const [a4] = await loadMigrations(dir);
    assert.deepEqual(a4!.up.statements, ['CREATE TABLE a (x int, z int)']);

    // A deleted file is gone from the next listing.
    unlinkSync(join(dir, '0002_b.sql'));
    assert.deepEqual(
      (await loadMigrations(dir)).map((m) => m.id),
      ['0001_a'],
    );
  });

  void it('still refuses a file that became invalid', async () => {
    writeFileSync(file, '-- migrate:up\nCREATE TABLE a (x int);\n');
    await loadMigrations(dir);
    writeFileSync(file, "-- migrate:up\nSELECT 'open;\n");
    await assert.rejects(loadMigrations(dir), /0001_a\.sql: line 2 starts an unterminated quoted string/);
  });
});
