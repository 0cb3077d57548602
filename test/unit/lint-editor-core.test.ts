// What the editor's lint relies on in core: a folder's source by findSources' own rule, and loading a
// source with the open file's unsaved text in place of the file on disk.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { CancelledError } from '../../src/core/errors';
import { lintSource } from '../../src/core/lint/lint';
import { loadSource } from '../../src/core/migrations/detect';
import { loadFound, sourceOfFolder } from '../../src/core/migrations/detect';
import { withUnsavedTexts } from '../../src/core/migrations/tools/common';

const DBMATE = join(__dirname, '../../../test/fixtures/lint/dbmate/db/migrations');
const INDEX_FILE = join(DBMATE, '20240102000000_index_orders_customer.sql');
const temps: string[] = [];
after(() => temps.forEach((t) => rmSync(t, { recursive: true, force: true })));

describe('the editor lint core', () => {
  it('a dbmate folder is a source; a folder of loose .sql files not named like migrations is not', async () => {
    const found = await sourceOfFolder(DBMATE);
    assert.equal(found?.tool, 'dbmate');
    assert.equal(found?.path, DBMATE);

    const loose = mkdtempSync(join(tmpdir(), 'lint-editor-'));
    temps.push(loose);
    mkdirSync(join(loose, 'reports'));
    writeFileSync(join(loose, 'reports', 'monthly.sql'), 'SELECT 1;\n');
    assert.equal(await sourceOfFolder(join(loose, 'reports')), undefined);
    mkdirSync(join(loose, 'migrations'));
    writeFileSync(join(loose, 'migrations', 'add_index.sql'), 'CREATE INDEX i ON t (c);\n');
    assert.equal((await sourceOfFolder(join(loose, 'migrations')))?.tool, 'plain');
  });

  it('an unsaved text replaces its file while the source loads, and only inside withUnsavedTexts', async () => {
    const found = (await sourceOfFolder(DBMATE))!;
    const typed =
      '-- migrate:up\nCREATE INDEX CONCURRENTLY orders_customer_id_idx ON orders (customer_id);\n\n-- migrate:down\nDROP INDEX orders_customer_id_idx;\n';
    const unsaved = await withUnsavedTexts(new Map([[INDEX_FILE, typed]]), () => loadFound(found));
    const rules = async (source: typeof unsaved) =>
      (await lintSource(source, { pgMajor: 18 })).findings
        .filter((f) => f.file === INDEX_FILE)
        .map((f) => f.rule);
    // As typed: CONCURRENTLY inside dbmate's transaction; as saved: a plain CREATE INDEX.
    assert.deepEqual(await rules(unsaved), ['concurrently-in-transaction']);
    assert.deepEqual(await rules(await loadFound(found)), ['index-without-concurrently']);
  });

  it('every statement report carries the PostgreSQL documentation page of its command', async () => {
    const source = await loadFound((await sourceOfFolder(DBMATE))!);
    const index = (await lintSource(source, { pgMajor: 18 })).statements.find((s) => s.file === INDEX_FILE);
    assert.equal(index?.docs, 'https://www.postgresql.org/docs/18/sql-createindex.html');
    assert.equal(index?.locks[0]?.mode, 'ShareLock');
  });

  it("the documentation link is the target major's, not /current/", async () => {
    const source = await loadFound((await sourceOfFolder(DBMATE))!);
    const index = (await lintSource(source, { pgMajor: 14 })).statements.find((s) => s.file === INDEX_FILE);
    assert.equal(index?.docs, 'https://www.postgresql.org/docs/14/sql-createindex.html');
  });

  it('a superseded lint stops: with an aborted signal, lintSource rejects with CancelledError', async () => {
    const large = await loadSource(join(__dirname, '../../../test/fixtures/large/dbmate'), 'dbmate');
    const whole = await lintSource(large, { pgMajor: 18 });
    assert.ok(whole.statements.length > 100, 'the folder is large enough to yield at least once');
    const abort = new AbortController();
    const running = lintSource(large, { pgMajor: 18, signal: abort.signal });
    abort.abort();
    await assert.rejects(running, CancelledError);
    // Not aborted: the same result as without a signal.
    assert.deepEqual(await lintSource(large, { pgMajor: 18, signal: new AbortController().signal }), whole);
  });
});
