import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadSource } from '../src/core/migrations/detect';
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
 * Migration parsing on the extension host's thread, as every part of the lab reads a folder (the
 * dbmate adapter: strict UTF-8 decode, the statement scanner, sections): a folder holding one 5 MB
 * file loaded (median of 5), against the floor of only splitting its text into lines.
 */
export const parseSection: Section = {
  name: 'parse',
  description: 'loading a 5 MB migration file through its tool adapter',
  async run(ctx) {
    const { text, statements } = bigMigration();
    const mb = Buffer.byteLength(text) / 2 ** 20;
    ctx.progress(`parse: ${mb.toFixed(1)} MB, ${statements.toLocaleString('en-US')} INSERTs, ${RUNS} runs`);
    const dir = ctx.tempDir('migration-lab-bench-parse-');
    writeFileSync(join(dir, '0009_big.sql'), text);
    const loadMs: number[] = [];
    const splitMs: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      let t0 = performance.now();
      const source = await loadSource(dir, 'dbmate');
      loadMs.push(elapsedMs(t0));
      const parsed = source.migrations[0]?.up.statements.length;
      if (parsed !== statements) throw new Error(`parsed ${parsed ?? 0} statements, expected ${statements}`);
      t0 = performance.now();
      text.split(/\r?\n/);
      splitMs.push(elapsedMs(t0));
    }

    const ms = median(loadMs);
    return [
      { key: 'file_mb', value: Math.round(mb * 10) / 10, unit: 'MB' },
      { key: 'statements', value: statements },
      {
        key: 'five_mb_ms',
        label: `load ${mb.toFixed(1)} MB (${statements.toLocaleString('en-US')} INSERTs) through the dbmate adapter, median`,
        value: ms,
        unit: 'ms',
        target: { op: '<=', value: 1000 },
      },
      {
        key: 'ms_per_mb',
        label: 'load, ms per MB',
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
        label: 'the first load (cold code)',
        value: loadMs[0]!,
        unit: 'ms',
      },
    ];
  },
};
