import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadMigrations, parseMigration } from '../src/core/migrations/parse';
import { elapsedMs, median, type Section } from './common';

/** As in the report: 5 MB of single-row INSERTs (about 92,800 of them). */
const TARGET_BYTES = 5 * 1024 * 1024;
const RUNS = 5;

function bigMigration(): { text: string; statements: number } {
  const lines = ['-- migrate:up'];
  let bytes = 0;
  let n = 0;
  while (bytes < TARGET_BYTES) {
    const line = `INSERT INTO t (id, email) VALUES (${n}, 'u${n}@ex.org');`;
    lines.push(line);
    bytes += line.length + 1;
    n++;
  }
  lines.push('-- migrate:down', 'DELETE FROM t;', '');
  return { text: lines.join('\n'), statements: n };
}

/**
 * Migration parsing on the extension host's thread: a 5 MB file parsed (median of 5), the floor of
 * only splitting it into lines, and what a Migrations view refresh costs once the file is cached.
 */
export const parseSection: Section = {
  name: 'parse',
  description: 'parsing a 5 MB migration file, and the cached re-listing',
  async run(ctx) {
    const { text, statements } = bigMigration();
    const mb = Buffer.byteLength(text) / 2 ** 20;
    ctx.progress(`parse: ${mb.toFixed(1)} MB, ${statements.toLocaleString('en-US')} INSERTs, ${RUNS} runs`);
    const parseMs: number[] = [];
    const splitMs: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      let t0 = performance.now();
      const m = parseMigration('0009_big.sql', text);
      parseMs.push(elapsedMs(t0));
      if (m.up.statements.length !== statements)
        throw new Error(`parsed ${m.up.statements.length} statements, expected ${statements}`);
      t0 = performance.now();
      text.split(/\r?\n/);
      splitMs.push(elapsedMs(t0));
    }

    const dir = ctx.tempDir('migration-lab-bench-parse-');
    writeFileSync(join(dir, '0009_big.sql'), text);
    let t0 = performance.now();
    await loadMigrations(dir);
    const firstLoadMs = elapsedMs(t0);
    const reloadMs: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      t0 = performance.now();
      await loadMigrations(dir);
      reloadMs.push(elapsedMs(t0));
    }

    const ms = median(parseMs);
    return [
      { key: 'file_mb', value: Math.round(mb * 10) / 10, unit: 'MB' },
      { key: 'statements', value: statements },
      {
        key: 'five_mb_ms',
        label: `parse ${mb.toFixed(1)} MB (${statements.toLocaleString('en-US')} INSERTs), median`,
        value: ms,
        unit: 'ms',
        target: { op: '<=', value: 1000 },
      },
      {
        key: 'ms_per_mb',
        label: 'parse, ms per MB',
        value: ms / mb,
        unit: 'ms',
        target: { op: '<=', value: 200 },
      },
      {
        key: 'baseline_split_lines_ms_per_mb',
        label: 'baseline: only splitting it into lines, ms per MB',
        value: median(splitMs) / mb,
        unit: 'ms',
      },
      {
        key: 'first_load_ms',
        label: 'loadMigrations, first (reads + parses)',
        value: firstLoadMs,
        unit: 'ms',
      },
      {
        key: 'cached_reload_ms',
        label: 'loadMigrations again, file unchanged (stat only)',
        value: median(reloadMs),
        unit: 'ms',
      },
    ];
  },
};
