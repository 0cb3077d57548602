import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TRACE_HELP, TraceUsageError, parseTraceArgs, statisticsTargetFromEnv } from '../../src/cli/trace';
import { runCli } from './cliRun';

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

  void it('takes the statistics database from the environment variable --stats-url-env names, never from the command line', () => {
    assert.equal(parseTraceArgs(['db', '--stats-url-env', 'PROD_STATS_URL']).statsUrlEnv, 'PROD_STATS_URL');
    assert.equal(parseTraceArgs(['db']).statsUrlEnv, undefined);
    assert.throws(() => parseTraceArgs(['db', '--stats-url-env']), /--stats-url-env needs a value/);
    const secret = 'postgres://reader:hunter2@db.example.com/shop';
    assert.throws(
      () => parseTraceArgs(['db', '--stats-url-env', secret]),
      (e: unknown) =>
        e instanceof TraceUsageError &&
        /needs the name of an environment variable/.test(e.message) &&
        !e.message.includes('hunter2'),
      'a URL given instead of a name is refused without repeating it',
    );

    const target = statisticsTargetFromEnv('PROD_STATS_URL', {
      PROD_STATS_URL: ' postgresql://reader:hunter2@db.example.com:6543/shop ',
    });
    assert.deepEqual(
      { host: target.host, port: target.port, database: target.database, user: target.user },
      { host: 'db.example.com', port: 6543, database: 'shop', user: 'reader' },
    );
    assert.equal(target.connectionString, 'postgresql://reader:hunter2@db.example.com:6543/shop');
    assert.throws(
      () => statisticsTargetFromEnv('PROD_STATS_URL', {}),
      /The environment variable PROD_STATS_URL \(--stats-url-env\) is not set/,
    );
    assert.throws(() => statisticsTargetFromEnv('PROD_STATS_URL', { PROD_STATS_URL: '  ' }), /is not set/);
    for (const bad of ['mysql://reader:hunter2@db/shop', 'postgres://reader:hunter2@db.example.com']) {
      assert.throws(
        () => statisticsTargetFromEnv('PROD_STATS_URL', { PROD_STATS_URL: bad }),
        (e: unknown) =>
          e instanceof TraceUsageError &&
          /does not hold a usable postgres:\/\//.test(e.message) &&
          !e.message.includes('hunter2'),
        bad,
      );
    }
  });

  void it('exits 2 with one sentence when the --stats-url-env variable is missing', async () => {
    const name = 'MIGRATION_LAB_TEST_UNSET_STATS_URL';
    delete process.env[name];
    const r = await runCli(['trace', 'test/fixtures/trace/db/migrations', '--stats-url-env', name]);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(
      r.stderr,
      `error: The environment variable ${name} (--stats-url-env) is not set; it should hold the statistics database's postgres:// URL.\n`,
    );
  });

  void it('exits 2 on bad arguments and on an unknown migration, 1 on an unreadable folder, 0 for help', async () => {
    for (const argv of [['trace'], ['trace', 'x', '--rate', 'fast']]) {
      const r = await runCli(argv);
      assert.equal(r.code, 2, argv.join(' '));
      assert.match(r.stderr, /Usage: migration-lab trace DIR/);
    }
    const unknown = await runCli(['trace', 'test/fixtures/trace/db/migrations', '--migration', '1999']);
    assert.equal(unknown.code, 2, unknown.stderr);
    assert.match(unknown.stderr, /No migration "1999"/);
    const missing = await runCli(['trace', 'test/fixtures/does-not-exist']);
    assert.equal(missing.code, 1, missing.stderr);
    const help = await runCli(['trace', '--help']);
    assert.equal(help.code, 0);
    assert.equal(help.stdout, `${TRACE_HELP}\n`);
    assert.match(help.stdout, /--pg MAJOR/);
    assert.match(help.stdout, /3 with --fail-on-stall/);
  });
});
