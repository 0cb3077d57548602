/**
 * The built command line end to end: `node dist/cli.js replay <fixture> --json` starts the embedded
 * server in its own cache folder, replays, prints the JSON contract and exits 1 on the failing
 * migration; `--to` before it exits 0 and leaves the rest pending.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { clientConfig } from '../../src/core/db';
import { silentLogger } from '../../src/core/log';
import { bundledMajor } from '../../src/core/postgres/binaries';
import { EmbeddedPostgres } from '../../src/core/postgres/embedded';
import { startCliSandbox, type CliSandbox } from './support';
import { portIsFree } from '../../src/cli/housekeeping';

const root = join(__dirname, '../../..');
const FIXTURE = join(root, 'test/fixtures/tools/dbmate/migrations');

interface Json {
  tool: string;
  database: string;
  postgres: string;
  migrations: {
    id: string;
    status: string;
    mode: string;
    statements: number;
    durationMs: number;
    error?: Record<string, unknown>;
  }[];
}

void describe('migration-lab replay (dist/cli.js as a child process)', () => {
  let sandbox: CliSandbox;
  let cache: string;
  let port: number;

  before(async () => {
    sandbox = await startCliSandbox('migration-lab-cli-');
    ({ cache, port } = sandbox);
  });
  after(() => sandbox?.dispose());

  function cli(...args: string[]) {
    return sandbox.run(args, { timeoutMs: 120_000 });
  }

  void it('prints the JSON contract and exits 1 at the failing migration, with its file, line and SQLSTATE', () => {
    const r = cli('replay', FIXTURE, '--json', '--port', String(port), '--reset');
    assert.equal(r.status, 1, r.stderr);
    const json = JSON.parse(r.stdout) as Json;
    assert.deepEqual(Object.keys(json), ['tool', 'database', 'postgres', 'migrations']);
    assert.equal(json.tool, 'dbmate');
    // The exact version of the server it ran on: the bundled major unless --pg.
    assert.match(json.postgres, new RegExp(`^${bundledMajor()}\\.\\d+$`));
    assert.match(json.database, /^mlab_dbmate_migrations_[0-9a-f]{8}$/);
    assert.deepEqual(
      json.migrations.map((m) => [m.status, m.mode]),
      [
        ['applied', 'transaction'],
        ['applied', 'single-string'],
        ['failed', 'transaction'],
      ],
    );
    const error = json.migrations[2].error!;
    assert.deepEqual(Object.keys(error), ['sqlstate', 'message', 'file', 'line', 'column']);
    assert.equal(error.sqlstate, '42P01');
    assert.match(String(error.file), /20240103000000_add_reviews\.sql$/);
    assert.equal(error.line, 2);
    assert.match(r.stderr, /\[1\/3\]/, 'progress goes to stderr');
  });

  void it('--to before the failing migration exits 0, keeps what was applied and leaves the rest pending', () => {
    const r = cli('replay', FIXTURE, '--json', '--port', String(port), '--to', '20240102000000');
    assert.equal(r.status, 0, r.stderr);
    const json = JSON.parse(r.stdout) as Json;
    assert.deepEqual(
      json.migrations.map((m) => m.status),
      ['applied', 'applied', 'pending'],
    );
    assert.ok(json.migrations[0].durationMs > 0, 'the earlier run’s time is kept');
  });

  void it('reuses the lab server already running on the port and leaves it running', async () => {
    // The same cluster the command line uses, started here as a demo would have started it.
    const server = new EmbeddedPostgres({
      baseDir: join(cache, 'migration-lab', 'demo'),
      port,
      logger: silentLogger,
    });
    const target = await server.start();
    try {
      const pidBefore = server.pid;
      const r = cli('replay', FIXTURE, '--json', '--port', String(port), '--to', '20240101000000', '--reset');
      assert.equal(r.status, 0, r.stderr);
      const json = JSON.parse(r.stdout) as Json;
      assert.deepEqual(
        json.migrations.map((m) => m.status),
        ['applied', 'pending', 'pending'],
      );
      assert.equal(server.running, true, 'the server it reused is still running');
      assert.equal(server.pid, pidBefore);
      const client = new pg.Client(clientConfig({ ...target, database: json.database }, 'cli-test'));
      await client.connect();
      try {
        const { rows } = await client.query<{ id: string }>('SELECT id FROM migration_lab_replay.applied');
        assert.deepEqual(
          rows.map((row) => row.id),
          ['20240101000000_create_tables'],
        );
      } finally {
        await client.end();
      }
    } finally {
      await server.stop();
    }
  });

  void it('Ctrl-C mid-migration exits 130 and stops the server; the next replay resets and recovers', async () => {
    const dir = join(cache, 'slow');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, '001_a.sql'), 'CREATE TABLE a (id int);\n');
    writeFileSync(join(dir, '002_slow.sql'), 'CREATE TABLE b (id int);\nSELECT pg_sleep(60);\n');
    const { code, stderr } = await sandbox.interrupt(
      ['replay', dir, '--tool', 'plain', '--port', String(port)],
      'the slow migration to start',
      /\[2\/2\] 002_slow/,
    );
    assert.equal(code, 130, stderr);
    assert.match(stderr, /Interrupted/);
    assert.equal(await portIsFree(port), true, 'the server it started is stopped');
    const again = cli('replay', dir, '--tool', 'plain', '--port', String(port), '--to', '001');
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stdout, /reset first: 002_slow was interrupted/);
    // The header names the exact server version.
    assert.match(
      again.stdout,
      new RegExp(`on 127\\.0\\.0\\.1:${port} \\(PostgreSQL ${bundledMajor()}\\.\\d+\\)\\n`),
    );
    assert.match(again.stdout, /applied .* 001_a/);
  });

  void it('a bad argument exits 2 before starting anything', () => {
    const r = cli('replay', FIXTURE, '--port', 'x');
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--port must be a port number/);
    assert.equal(r.stdout, '');
  });
});
