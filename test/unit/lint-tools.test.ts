import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { lintSource } from '../../src/core/lint/lint';
import { loadSource } from '../../src/core/migrations/detect';
import type { ToolId } from '../../src/core/migrations/model';

const FIXTURES = join(__dirname, '../../../test/fixtures/tools');

async function lintFixture(folder: string, tool: ToolId) {
  const source = await loadSource(join(FIXTURES, folder), tool);
  return lintSource(source, { pgMajor: 18 });
}

void describe("lint: tool-aware, on the tools' own fixture folders", () => {
  void it('dbmate transaction:false still sends two CONCURRENTLY statements as one string', async () => {
    const result = await lintFixture('dbmate/two-statements', 'dbmate');
    const found = result.findings.filter((f) => f.rule === 'concurrently-in-transaction');
    assert.equal(found.length, 2);
    assert.match(found[0].message, /one implicit transaction/);
    // the tables were created by the earlier migration, so the index build is on an existing table
    const index = result.statements.find((s) => s.kind === 'CREATE INDEX CONCURRENTLY');
    assert.deepEqual(index?.locks, [{ relation: 'public.books', mode: 'ShareUpdateExclusiveLock' }]);
    assert.equal(index?.transactional, false);
  });

  void it('Prisma: CONCURRENTLY next to another statement in migration.sql is refused, with the way out', async () => {
    const result = await lintFixture('prisma/unmarked', 'prisma');
    const f = result.findings.find((x) => x.rule === 'concurrently-in-transaction');
    assert.ok(f, JSON.stringify(result.findings));
    assert.match(f.file, /20240102000000_index_books_title\/migration\.sql$/);
    assert.equal(f.line, 5);
    assert.equal(
      result.findings.some((x) => x.rule === 'index-without-concurrently'),
      false,
    );
    // quoted mixed-case names resolve against the earlier migration's CREATE TABLE "Book"
    assert.ok(
      result.statements.some((s) =>
        s.locks.some((l) => l.relation === 'public.Book' && l.mode === 'ShareUpdateExclusiveLock'),
      ),
    );
  });

  void it('node-pg-migrate runs every migration in a transaction', async () => {
    const result = await lintFixture('node-pg-migrate/unmarked', 'node-pg-migrate');
    assert.ok(result.findings.some((x) => x.rule === 'concurrently-in-transaction'));
  });

  void it('a CONCURRENTLY statement the tool runs on its own passes', async () => {
    const result = await lintFixture('prisma/migrations', 'prisma');
    assert.equal(
      result.findings.some((x) => x.rule === 'concurrently-in-transaction'),
      false,
      JSON.stringify(result.findings),
    );
  });
});
