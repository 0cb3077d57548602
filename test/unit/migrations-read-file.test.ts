import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { LabError } from '../../src/core/errors';
import { loadMigrations } from '../../src/core/migrations/parse';
import { decodeUtf8Strict, firstInvalidUtf8Offset } from '../../src/core/migrations/readFile';

void describe('strict UTF-8 decoding of migration files', () => {
  void it('finds the offset of the first bad sequence, and only of bad ones', () => {
    const cases: [number[], number | undefined][] = [
      [[0x63, 0x61, 0x66, 0xc3, 0xa9], undefined], // café in UTF-8
      [[0xf0, 0x9f, 0x90, 0x98, 0x41], undefined], // an emoji
      [[0x63, 0x61, 0x66, 0xe9], 3], // café in Latin-1
      [[0x41, 0xc0, 0x80], 1], // overlong NUL
      [[0x41, 0x42, 0xed, 0xa0, 0x80], 2], // a UTF-16 surrogate
      [[0xe2, 0x82], 0], // truncated at the end
      [[0x41, 0xf4, 0x90, 0x80, 0x80], 1], // above U+10FFFF
      [[0x41, 0x80], 1], // a lone continuation byte
    ];
    for (const [bytes, offset] of cases) {
      assert.equal(firstInvalidUtf8Offset(Uint8Array.from(bytes)), offset, JSON.stringify(bytes));
    }
  });

  void it('refuses a Latin-1 file with its name, the byte offset and the line', () => {
    const bytes = Buffer.concat([
      Buffer.from("-- migrate:up\nINSERT INTO t VALUES ('caf"),
      Buffer.from([0xe9]),
      Buffer.from("');\n"),
    ]);
    assert.throws(
      () => decodeUtf8Strict('0003_latin1.sql', bytes),
      (e: unknown) =>
        e instanceof LabError &&
        e.message ===
          '0003_latin1.sql is not valid UTF-8: the first bad byte sequence is at byte offset 40 (line 2); save the file as UTF-8.',
    );
    assert.equal(decodeUtf8Strict('x.sql', Buffer.from('\ufeffcafé')), 'café', 'a BOM is dropped');
  });
});

void describe('loadMigrations and odd folder entries', () => {
  const dirs: string[] = [];
  after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  void it('says a folder named like a migration is a folder, not a bare EISDIR', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'migration-lab-read-'));
    dirs.push(dir);
    writeFileSync(join(dir, '0001_ok.sql'), '-- migrate:up\nSELECT 1;\n');
    mkdirSync(join(dir, '0007_dir.sql'));
    await assert.rejects(loadMigrations(dir), (e: unknown) => {
      assert.ok(e instanceof LabError);
      assert.match(
        e.message,
        /^0007_dir\.sql in the migrations folder migration-lab-read-\w+ is a folder, not a file; rename it so that its name does not end in \.sql, or move it out\.$/,
      );
      assert.doesNotMatch(e.message, /EISDIR/);
      return true;
    });
  });
});
