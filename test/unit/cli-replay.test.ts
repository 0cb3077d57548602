import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parseReplayArgs, replayJson } from '../../src/cli/replay';
import type { ReplayReport } from '../../src/core/migrations/replay';
import { runCli } from './cliRun';

const FIXTURES = join(__dirname, '../../../test/fixtures/tools');
const empty = mkdtempSync(join(tmpdir(), 'migration-lab-cli-'));
after(() => rmSync(empty, { recursive: true, force: true }));

void describe('command line entry', () => {
  void it('parses replay arguments', () => {
    assert.deepEqual(
      parseReplayArgs([
        'db',
        '--tool',
        'goose',
        '--to',
        '3',
        '--port',
        '6000',
        '--role',
        'app',
        '--role',
        'ro',
        '--json',
        '--reset',
        '--pg',
        '15',
      ]),
      {
        dir: 'db',
        tool: 'goose',
        to: '3',
        port: 6000,
        pg: '15',
        roles: ['app', 'ro'],
        reset: true,
        json: true,
        help: false,
      },
    );
    assert.equal(parseReplayArgs(['db']).port, 5433);
    assert.equal(parseReplayArgs(['db']).pg, 'bundled');
    assert.throws(
      () => parseReplayArgs(['db', '--pg', '12']),
      /--pg must be "bundled" or one of 14, 15, 16, 17, 18/,
    );
    assert.throws(() => parseReplayArgs([]), /Name the migration folder/);
    assert.throws(() => parseReplayArgs(['db', '--tool', 'rails']), /--tool needs one of/);
    assert.throws(() => parseReplayArgs(['db', '--port', '70000']), /--port must be a port number/);
    assert.throws(() => parseReplayArgs(['db', '--to']), /--to needs a value/);
    assert.throws(() => parseReplayArgs(['a', 'b']), /Only one folder/);
    assert.throws(() => parseReplayArgs(['db', '--fast']), /Unknown option --fast/);
  });

  void it('exit code 2 for bad arguments, with the usage on stderr; 0 for help', async () => {
    for (const argv of [
      [],
      ['frobnicate'],
      ['replay'],
      ['replay', 'x', '--port', 'abc'],
      ['detect', '--tool'],
    ]) {
      const r = await runCli(argv);
      assert.equal(r.code, 2, argv.join(' '));
      assert.match(r.stderr, /Usage: migration-lab/);
      assert.equal(r.stdout, '');
    }
    const help = await runCli(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /replay DIR/);
    const replayHelp = await runCli(['help', 'replay']);
    assert.equal(replayHelp.code, 0);
    assert.match(replayHelp.stdout, /--role NAME/);
  });

  void it('replay: an unknown --to is a bad argument (2); a folder without migrations is a failure (1)', async () => {
    const unknown = await runCli(['replay', join(FIXTURES, 'dbmate/migrations'), '--to', '99999']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /No migration "99999"/);
    const none = await runCli(['replay', empty]);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /no migrations found/);
  });

  void it('detect is wired: JSON on stdout, exit 0', async () => {
    const r = await runCli(['detect', join(FIXTURES, 'dbmate/migrations'), '--json']);
    assert.equal(r.code, 0);
    assert.equal((JSON.parse(r.stdout) as { sources: { tool: string }[] }).sources[0].tool, 'dbmate');
  });

  void it('the replay JSON keeps exactly the contract keys', () => {
    const report: ReplayReport = {
      tool: 'dbmate',
      database: 'mlab_dbmate_x_00000000',
      serverVersion: '14.23',
      resetBecause: 'a reset was asked for',
      migrations: [
        { id: '1_a', version: '1', mode: 'transaction', statements: 2, durationMs: 3, status: 'applied' },
        {
          id: '2_b',
          version: '2',
          mode: 'autocommit',
          statements: 1,
          durationMs: 1,
          status: 'failed',
          error: { sqlstate: '42P01', message: 'm', file: '/f.sql', line: 2, column: 5 },
        },
      ],
      failure: {
        migration: '2_b',
        sentence: 's',
        leftBehind: 'l',
        error: { sqlstate: '42P01', message: 'm', file: '/f.sql', line: 2, column: 5 },
      },
    };
    const json = replayJson(report);
    assert.deepEqual(Object.keys(json), ['tool', 'database', 'postgres', 'migrations']);
    assert.equal(json.postgres, '14.23');
    assert.deepEqual(Object.keys(json.migrations[0]), [
      'id',
      'version',
      'mode',
      'statements',
      'durationMs',
      'status',
    ]);
    assert.deepEqual(Object.keys(json.migrations[1].error!), [
      'sqlstate',
      'message',
      'file',
      'line',
      'column',
    ]);
  });
});
