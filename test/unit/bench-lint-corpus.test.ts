/**
 * The lint benchmark's generated corpus (bench/lintCorpus.ts): files of exactly 1,000 statements that
 * PostgreSQL's parser takes in one call per file, so the benchmark measures the lint, not the
 * statement-by-statement recovery after a syntax error.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { writeLintCorpus } from '../../bench/lintCorpus';
import { lintSource } from '../../src/core/lint/lint';
import { loadParser, parseEach } from '../../src/core/lint/parser';
import { loadSource } from '../../src/core/migrations/detect';

void describe('lint benchmark corpus', () => {
  void it('writes files of 1,000 statements that parse in one call and lint without syntax errors', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mlab-lint-corpus-'));
    try {
      writeLintCorpus(dir, 2, 1_000);
      const source = await loadSource(dir);
      assert.deepEqual(
        source.migrations.map((m) => m.up.statements.length),
        [1_000, 1_000],
      );
      const parser = await loadParser();
      for (const m of source.migrations) {
        const parsed = parseEach(
          parser,
          m.up.statements.map((s) => ({ text: s.text, offset: s.start.offset })),
        );
        assert.ok(
          parsed.every((p) => p.ast && !p.syntaxError),
          'every statement parses',
        );
        assert.ok((parsed.at(-1)?.locationBase ?? 0) > 0, 'parsed together, not one by one');
      }
      const result = await lintSource(source, { pgMajor: 18 });
      assert.equal(result.statements.length, 2_000);
      assert.equal(
        result.findings.some((f) => f.rule === 'syntax-error'),
        false,
      );
      // The second file alters the first file's tables, so the rules see tables that existed before it.
      const second = source.migrations[1].files[0];
      const rules = new Set<string>(result.findings.filter((f) => f.file === second).map((f) => f.rule));
      for (const rule of ['index-without-concurrently', 'constraint-without-not-valid', 'rename-or-drop'])
        assert.ok(rules.has(rule), `${rule} fires in the second file`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
