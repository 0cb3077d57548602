import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { main } from '../../src/cli/main';
import { TRACE_HELP, parseTraceArgs } from '../../src/cli/trace';

async function run(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main(
    argv,
    { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) },
    new AbortController().signal,
  );
  return { code, stdout, stderr };
}

void describe('trace command line', () => {
  void it('parses every flag of the issue', () => {
    assert.deepEqual(
      parseTraceArgs([
        'db/migrations',
        '--migration',
        '20240102',
        '--rows',
        '5000',
        '--rows-per-table',
        'public.orders=100, customers=20',
        '--with-long-transaction',
        '2.5',
        '--rate',
        '20',
        '--json',
        '--markdown',
        'trace.md',
        '--port',
        '6001',
        '--pg',
        '16',
        '--fail-on-stall',
        '500',
      ]),
      {
        dir: 'db/migrations',
        migration: '20240102',
        rows: 5000,
        rowsPerTable: { 'public.orders': 100, customers: 20 },
        longTransactionSeconds: 2.5,
        rate: 20,
        json: true,
        markdown: 'trace.md',
        port: 6001,
        pg: '16',
        roles: [],
        failOnStallMs: 500,
        help: false,
      },
    );
    assert.equal(parseTraceArgs(['db']).pg, 'bundled');
  });

  void it('refuses bad arguments with one sentence each', () => {
    assert.throws(() => parseTraceArgs([]), /Name the migration folder/);
    assert.throws(() => parseTraceArgs(['db', '--rows', '0']), /--rows needs a whole number/);
    assert.throws(() => parseTraceArgs(['db', '--rows-per-table', 'orders']), /table=N pairs/);
    assert.throws(() => parseTraceArgs(['db', '--pg', '13']), /--pg must be "bundled" or one of/);
    assert.throws(
      () => parseTraceArgs(['db', '--fail-on-stall', 'soon']),
      /--fail-on-stall needs a whole number/,
    );
    assert.throws(() => parseTraceArgs(['db', '--through', '3']), /--through needs --migration/);
    assert.throws(() => parseTraceArgs(['db', '--migration']), /--migration needs a value/);
    assert.throws(() => parseTraceArgs(['db', '--fast']), /Unknown option --fast/);
  });

  void it('exits 2 on bad arguments and on an unknown migration, 1 on an unreadable folder, 0 for help', async () => {
    for (const argv of [['trace'], ['trace', 'x', '--rate', 'fast']]) {
      const r = await run(argv);
      assert.equal(r.code, 2, argv.join(' '));
      assert.match(r.stderr, /Usage: migration-lab trace DIR/);
    }
    const unknown = await run(['trace', 'test/fixtures/trace/db/migrations', '--migration', '1999']);
    assert.equal(unknown.code, 2, unknown.stderr);
    assert.match(unknown.stderr, /No migration "1999"/);
    const missing = await run(['trace', 'test/fixtures/does-not-exist']);
    assert.equal(missing.code, 1, missing.stderr);
    const help = await run(['trace', '--help']);
    assert.equal(help.code, 0);
    assert.equal(help.stdout, `${TRACE_HELP}\n`);
    assert.match(help.stdout, /--pg MAJOR/);
    assert.match(help.stdout, /3 with --fail-on-stall/);
  });
});
