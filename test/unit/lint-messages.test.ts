import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { lintSource, lintSql } from '../../src/core/lint/lint';
import { loadSource } from '../../src/core/migrations/detect';
import type { ToolId } from '../../src/core/migrations/model';

const FIXTURES = join(__dirname, '../../../test/fixtures/tools');

function occurrences(text: string, part: string): number {
  return text.split(part).length - 1;
}

async function concurrentlyMessages(folder: string, tool: ToolId): Promise<string[]> {
  const result = await lintSource(await loadSource(folder, tool), { pgMajor: 18 });
  return result.findings.filter((f) => f.rule === 'concurrently-in-transaction').map((f) => f.message);
}

void describe('lint messages: each fact said once', () => {
  // Tools that send a section as one string: the message explains the implicit transaction once.
  const oneString: [string, ToolId][] = [
    ['golang-migrate/unmarked', 'golang-migrate'],
    ['prisma/unmarked', 'prisma'],
    ['dbmate/two-statements', 'dbmate'],
  ];
  for (const [folder, tool] of oneString) {
    void it(`${tool} (${folder}): the implicit transaction is explained exactly once`, async () => {
      const messages = await concurrentlyMessages(join(FIXTURES, folder), tool);
      assert.ok(messages.length > 0, 'the fixture runs CONCURRENTLY inside its one string');
      for (const m of messages) assert.equal(occurrences(m, 'implicit transaction'), 1, m);
    });
  }

  void it('Liquibase with splitStatements:false: the implicit transaction is explained exactly once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mlab-lint-liquibase-'));
    try {
      writeFileSync(
        join(dir, '001-tables.sql'),
        '--liquibase formatted sql\n\n--changeset ana:tables\nCREATE TABLE books (id int PRIMARY KEY, title text);\n',
      );
      writeFileSync(
        join(dir, '002-index.sql'),
        '--liquibase formatted sql\n\n--changeset ana:index runInTransaction:false splitStatements:false\n' +
          'CREATE INDEX CONCURRENTLY books_title_idx ON books (title);\nANALYZE books;\n',
      );
      const messages = await concurrentlyMessages(dir, 'liquibase');
      assert.equal(messages.length, 1, 'one string of two statements runs as one implicit transaction');
      assert.equal(occurrences(messages[0], 'implicit transaction'), 1, messages[0]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  void it('before PostgreSQL 12, ALTER TYPE … ADD VALUE in a transaction is one finding, not two', async () => {
    const earlier = "CREATE TYPE mood AS ENUM ('sad');";
    for (const mode of ['transaction', 'single-string'] as const) {
      const result = await lintSql("ALTER TYPE mood ADD VALUE 'happy';\nSELECT 1;", {
        pgMajor: 11,
        mode,
        why: 'The tool runs each migration in a transaction.',
        earlier,
      });
      assert.deepEqual(
        result.findings.map((f) => f.rule),
        ['enum-add-value-in-transaction'],
        `${mode}: ${JSON.stringify(result.findings)}`,
      );
      // The statement still says it cannot run in a transaction block on that major.
      assert.equal(result.statements[0].transactional, false);
    }
    // From 12 it may run in a transaction: neither rule.
    const modern = await lintSql("ALTER TYPE mood ADD VALUE 'happy';", {
      pgMajor: 12,
      mode: 'transaction',
      earlier,
    });
    assert.deepEqual(modern.findings, []);
  });
});
