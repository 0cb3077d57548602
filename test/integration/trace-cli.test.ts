/**
 * `node dist/cli.js trace` end to end on the trace fixture, in its own cache folder: the JSON keeps
 * every key of issue 12's shape with its type, --markdown writes the report, --fail-on-stall exits 3
 * when a statement stalled writes longer than asked, and 0 otherwise.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { portIsFree } from '../../src/cli/housekeeping';
import { freePort, startCliSandbox, type CliSandbox } from './support';

const root = join(__dirname, '../../..');
const FIXTURE = join(root, 'test/fixtures/trace/db/migrations');

function assertLatency(value: unknown, where: string): void {
  const l = value as Record<string, unknown>;
  assert.deepEqual(Object.keys(l).sort(), ['maxMs', 'p50Ms', 'p95Ms', 'stalled'], where);
  for (const k of ['p50Ms', 'p95Ms', 'maxMs'])
    assert.ok(l[k] === null || typeof l[k] === 'number', `${where}.${k}`);
  assert.equal(typeof l.stalled, 'number', `${where}.stalled`);
}

/** Every key of the issue's `--json` shape, with its type. */
function assertIssueShape(json: Record<string, unknown>): void {
  for (const k of ['source', 'tool', 'postgres']) assert.equal(typeof json[k], 'string', k);
  assert.ok(Array.isArray(json.migrations));
  for (const m of json.migrations as Record<string, unknown>[]) {
    assert.equal(typeof m.id, 'string');
    assert.equal(typeof m.verdict, 'string');
    for (const n of Object.values(m.rows as Record<string, unknown>)) assert.equal(typeof n, 'number');
    assert.ok(Array.isArray(m.statements) && m.statements.length > 0);
    for (const s of m.statements as Record<string, unknown>[]) {
      for (const k of ['file', 'sql', 'verdict']) assert.equal(typeof s[k], 'string', k);
      for (const k of ['line', 'durationMs', 'maxBlockedSessions']) assert.equal(typeof s[k], 'number', k);
      for (const l of s.locks as Record<string, unknown>[]) {
        assert.match(String(l.relation), /^[^.]+\.[^.]+$/, 'schema-qualified');
        assert.match(String(l.mode), /^[A-Za-z]+Lock$/, 'as pg_locks spells it');
        assert.equal(typeof l.waitedMs, 'number');
      }
      assert.ok((s.rewrites as unknown[]).every((r) => typeof r === 'string'));
      for (const kind of ['reads', 'writes'])
        for (const [table, l] of Object.entries(s[kind] as Record<string, unknown>))
          assertLatency(l, `${kind}.${table}`);
    }
  }
}

void describe('migration-lab trace (dist/cli.js as a child process)', () => {
  let sandbox: CliSandbox;
  let cache: string;
  let port: number;

  before(async () => {
    sandbox = await startCliSandbox('migration-lab-trace-cli-');
    ({ cache, port } = sandbox);
  });
  after(() => sandbox?.dispose());

  function cli(...args: string[]) {
    return cliWithEnv({}, ...args);
  }

  function cliWithEnv(env: Record<string, string>, ...args: string[]) {
    return sandbox.run(['trace', FIXTURE, '--port', String(port), ...args], { timeoutMs: 180_000, env });
  }

  void it('prints the JSON shape, writes the Markdown report, and exits 3 past --fail-on-stall', () => {
    const markdown = join(cache, 'trace.md');
    const r = cli(
      '--migration',
      '20240102000000',
      '--rows',
      '300',
      '--rate',
      '20',
      '--json',
      '--markdown',
      markdown,
      '--fail-on-stall',
      '500',
    );
    assert.equal(r.status, 3, r.stderr);
    const json = JSON.parse(r.stdout) as Record<string, unknown>;
    assertIssueShape(json);
    assert.equal(json.tool, 'dbmate');
    const statement = (
      json.migrations as { statements: { locks: { relation: string; mode: string }[] }[] }[]
    )[0]!.statements[0]!;
    assert.ok(statement.locks.some((l) => l.relation === 'public.orders' && l.mode === 'ShareLock'));
    assert.match(r.stderr, /\[fill\]/, 'progress goes to stderr');
    assert.match(r.stderr, /stalled reads or writes longer than 500 ms/);
    assert.match(readFileSync(markdown, 'utf8'), /^# Migration trace: 20240102000000_index_orders_customer/);
  });

  void it('Ctrl-C during the migration cancels, cleans up and stops the server it started (130)', async () => {
    const { code, stderr } = await sandbox.interrupt(
      ['trace', FIXTURE, '--port', String(port), '--migration', '20240102000000', '--rows', '300'],
      'the migration to start',
      /\[trace\] running/,
      120_000,
    );
    assert.equal(code, 130, stderr);
    assert.match(
      stderr,
      /Interrupted; the probes and the long transaction ended and the scratch database was reset/,
    );
    assert.match(stderr, /\[cleanup\] resetting mlab_dbmate_migrations_/);
    assert.ok(await portIsFree(port), 'the server the command started is stopped');
  });

  void it('exits 0 when traced, whatever the verdict, also when the --stats-url-env database is unreachable', async () => {
    const nobody = await freePort();
    const r = cliWithEnv(
      { MLAB_TEST_STATS_URL: `postgres://reader:Stats-Secret-7@127.0.0.1:${nobody}/shop` },
      ...['--migration', '20240105000000', '--rows', '50', '--stats-url-env', 'MLAB_TEST_STATS_URL'],
    );
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /AccessExclusiveLock on public\.orders/);
    const note = `Row estimates could not be read from the statistics database shop on 127.0.0.1:${nobody}`;
    assert.ok(r.stderr.includes(`[fill] ${note}`), r.stderr);
    assert.ok(r.stdout.includes(`statistics: ${note}`), r.stdout);
    assert.ok(!`${r.stdout}${r.stderr}`.includes('Stats-Secret-7'), 'the password never shows');
  });
});
