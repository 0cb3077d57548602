import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { UsageError, parseDemoArgs } from '../../src/cli/args';
import { validateRunReport, type RunReport } from '../../src/core/monitor/report';
import { freePort, pollUntil } from './support';

const root = join(__dirname, '../../..');
const DEMO = join(root, 'dist', 'demo.js');
const ROWS = '1500000';

/** What `--lessons --json` prints. */
interface LessonsJson {
  lessons: { name: string; observed: unknown; verdict: string }[];
}

/** Newest modification time of the files the bundle is made of. */
function newestSource(dir: string): number {
  let newest = 0;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = statSync(p);
    newest = Math.max(newest, st.isDirectory() ? newestSource(p) : st.mtimeMs);
  }
  return newest;
}

interface DemoResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI; `onStderr` sees the stderr text so far (and may signal the child). */
function runDemo(
  args: string[],
  env: NodeJS.ProcessEnv,
  onStderr?: (text: string, child: ReturnType<typeof spawn>) => void,
): Promise<DemoResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [DEMO, ...args], { cwd: root, env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      onStderr?.(stderr, child);
    });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The data folder the demo printed ("data in …"). */
function dataDirOf(stderr: string): string {
  const m = /data in (.+)$/m.exec(stderr);
  assert.ok(m, `the demo names its data folder on stderr:\n${stderr}`);
  return m[1]!.trim();
}

/** Processes whose command line runs PostgreSQL on `dataDir` (Linux /proc). */
function postgresProcessesOf(dataDir: string): number[] {
  if (!existsSync('/proc')) return [];
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
      const d = cmd.indexOf('-D');
      if (/postgres$/.test(cmd[0] ?? '') && d >= 0 && cmd[d + 1] === dataDir) pids.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

function assertNothingLeftRunning(dataDir: string): void {
  assert.ok(existsSync(join(dataDir, 'PG_VERSION')), `${dataDir} is the cluster`);
  assert.ok(!existsSync(join(dataDir, 'postmaster.pid')), 'postmaster.pid is gone: PostgreSQL stopped');
  assert.deepEqual(postgresProcessesOf(dataDir), [], 'no postgres process of the data folder is left');
}

describe('npm run demo: the whole journey headless (built CLI as a child process)', () => {
  let cache: string;
  let env: NodeJS.ProcessEnv;

  before(() => {
    const sources = Math.max(
      newestSource(join(root, 'src', 'cli')),
      newestSource(join(root, 'src', 'core')),
      statSync(join(root, 'scripts', 'build.mjs')).mtimeMs,
    );
    if (!existsSync(DEMO) || statSync(DEMO).mtimeMs < sources) {
      const build = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: root, encoding: 'utf8' });
      assert.equal(build.status, 0, `build failed:\n${build.stderr}`);
    }
    cache = mkdtempSync(join(tmpdir(), 'migration-lab-demo-'));
    chmodSync(cache, 0o755); // as root, the unprivileged server account must reach the cluster here
    env = { XDG_CACHE_HOME: cache };
  });
  after(() => {
    rmSync(cache, { recursive: true, force: true });
  });

  it('parses its arguments: row shorthands, ports, and one clear sentence for a bad one', () => {
    const ok = parseDemoArgs(['--rows=2m', '--port', '6543', '--probe-port=9001', '--json']);
    assert.deepEqual(ok, {
      command: 'run',
      options: { rows: 2_000_000, port: 6543, probePort: 9001, json: true, verbose: false, pg: 'bundled' },
    });
    assert.equal(parseDemoArgs([]).command, 'run');
    // --lessons: smaller default table unless --rows is given; combines with the other options.
    assert.deepEqual(parseDemoArgs(['--lessons']), {
      command: 'lessons',
      options: { rows: 500_000, port: 5433, probePort: 8001, json: false, verbose: false, pg: 'bundled' },
    });
    assert.deepEqual(
      parseDemoArgs([
        '--json',
        '--rows',
        '300k',
        '--lessons',
        '--port=6000',
        '--probe-port',
        '6001',
        '--verbose',
      ]),
      {
        command: 'lessons',
        options: { rows: 300_000, port: 6000, probePort: 6001, json: true, verbose: true, pg: 'bundled' },
      },
    );
    assert.deepEqual(parseDemoArgs(['--rows', '1,500,000', '--help']), { command: 'help' });
    for (const bad of [
      ['--rows', '0'],
      ['--rows'],
      ['--port', '70000'],
      ['--nope'],
      ['extra'],
      ['--lessons=1'],
    ]) {
      assert.throws(() => parseDemoArgs(bad), UsageError, bad.join(' '));
    }
  });

  it('exits 2 with the usage line on a bad argument, and prints help with --help', () => {
    for (const args of [['--bogus'], ['--rows', 'lots']]) {
      const r = spawnSync(process.execPath, [DEMO, ...args], { cwd: root, env: { ...process.env, ...env } });
      assert.equal(r.status, 2, args.join(' '));
      assert.equal(r.stdout.toString(), '');
      assert.match(r.stderr.toString(), /^error: .+\.\nUsage: npm run demo -- \[--lessons\] \[--rows N\]/);
    }
    const help = spawnSync(process.execPath, [DEMO, '--help'], { cwd: root });
    assert.equal(help.status, 0);
    assert.match(help.stdout.toString(), /^Usage: /);
    assert.match(help.stdout.toString(), /^ {2}--lessons {2,}\S/m);
  });

  it('runs both index migrations under probes and prints only the JSON report with --json', async () => {
    const [port, probePort] = [await freePort(), await freePort()];
    const r = await runDemo(
      ['--rows', ROWS, '--json', '--port', String(port), '--probe-port', String(probePort)],
      env,
    );
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout) as RunReport; // stdout is the JSON and nothing else
    const check = validateRunReport(report);
    assert.deepEqual(check.errors, []);
    assert.equal(check.ok, true);
    assert.equal(report.runs.length, 2);
    const [locking, concurrent] = report.runs as [RunReport['runs'][0], RunReport['runs'][0]];
    assert.equal(locking.migration, '0002_add_email_index');
    assert.equal(concurrent.migration, '0002_add_email_index_concurrently');
    assert.ok(
      locking.locksHeld.some((l) => /^ShareLock on .*large_email$/.test(l)),
      `locking run held ShareLock on large_email: ${locking.locksHeld.join(', ')}`,
    );
    assert.ok(
      concurrent.locksHeld.some((l) => /^ShareUpdateExclusiveLock on .*large_email$/.test(l)),
      `concurrent run held ShareUpdateExclusiveLock on large_email: ${concurrent.locksHeld.join(', ')}`,
    );
    assert.ok(locking.maxWaiters >= 1, 'writes queued behind the plain build');
    assert.equal(concurrent.maxWaiters, 0);
    assert.match(r.stderr, /\[8\/8\] Rolling back to 0001_initial/);
    assertNothingLeftRunning(dataDirOf(r.stderr));
  });

  it(
    '--lessons --json: runs the four lessons and prints only { "lessons": [...] }',
    { timeout: 60_000 },
    async () => {
      const [port, probePort] = [await freePort(), await freePort()];
      const started = Date.now();
      const r = await runDemo(
        [
          '--lessons',
          '--json',
          '--rows',
          '300000',
          '--port',
          String(port),
          '--probe-port',
          String(probePort),
        ],
        env,
      );
      assert.equal(r.code, 0, r.stderr);
      const report = JSON.parse(r.stdout) as LessonsJson; // stdout is the JSON and nothing else
      assert.deepEqual(Object.keys(report), ['lessons']);
      assert.deepEqual(
        report.lessons.map((l) => l.name),
        ['lock-queue', 'lock-timeout', 'concurrent-waits', 'failed-concurrently'],
      );
      for (const l of report.lessons) {
        assert.equal(typeof l.verdict, 'string', `${l.name} has a verdict`);
        assert.ok(l.verdict.length > 0, `${l.name} has a verdict`);
        assert.equal(typeof l.observed, 'object', `${l.name} has observations`);
      }
      const [queue, timeout, waits, failed] = report.lessons.map((l) => l.observed) as [
        Record<string, unknown>,
        Record<string, unknown>,
        Record<string, unknown>,
        Record<string, unknown>,
      ];
      const number = (o: Record<string, unknown>, key: string) =>
        assert.equal(typeof o[key], 'number', `${key} is a number: ${String(o[key])}`);
      // lock-queue: reads queued behind the ALTER, and stalled.
      assert.equal(queue.readsWaitedBehindDdl, true);
      number(queue, 'maxReadStallMs');
      // lock-timeout: attempts gave up with 55P03, a later one succeeded.
      number(timeout, 'attempts');
      number(timeout, 'timeouts');
      number(timeout, 'maxReadStallMs');
      assert.equal(timeout.succeeded, true);
      assert.ok((timeout.timeouts as number) > 0, 'at least one attempt timed out');
      assert.ok((timeout.attempts as number) > (timeout.timeouts as number), 'an attempt after the timeouts');
      // concurrent-waits: the build waited in a named phase on the long transaction's pid.
      assert.equal(typeof waits.waitingPhaseSeen, 'string');
      assert.match(waits.waitingPhaseSeen as string, /^waiting for /);
      assert.equal(waits.lockerPidMatched, true);
      // failed-concurrently: an INVALID index was found, then removed.
      assert.equal(failed.invalidIndexDetected, true);
      assert.equal(failed.cleanedUp, true);

      assert.match(r.stderr, /\[5\/5\] Running the 4 lessons/);
      assertNothingLeftRunning(dataDirOf(r.stderr));
      assert.ok(Date.now() - started < 60_000, 'the lessons run takes under a minute');
    },
  );

  it('on Ctrl-C (SIGINT) mid-migration: cancels, stops PostgreSQL and exits 130', async () => {
    const [port, probePort] = [await freePort(), await freePort()];
    let sent = false;
    const r = await runDemo(
      ['--rows', ROWS, '--json', '--port', String(port), '--probe-port', String(probePort)],
      env,
      (text, child) => {
        if (!sent && /^\[5\/8\] Running 0002_add_email_index /m.test(text)) {
          sent = true;
          setTimeout(() => child.kill('SIGINT'), 300);
        }
      },
    );
    assert.ok(sent, `the demo reached the locking run:\n${r.stderr}`);
    assert.equal(r.code, 130, r.stderr);
    assert.equal(r.stdout, '', 'nothing on stdout when interrupted');
    assert.match(r.stderr, /Interrupted/);
    assertNothingLeftRunning(dataDirOf(r.stderr));
  });

  it('two Ctrl-Cs: names the PostgreSQL left running; the next run stops it, and a Ctrl-C in its CONCURRENTLY build says what is left', async () => {
    const [port, probePort] = [await freePort(), await freePort()];
    const args = ['--rows', ROWS, '--json', '--port', String(port), '--probe-port', String(probePort)];
    let sent = false;
    const first = await runDemo(args, env, (text, child) => {
      if (!sent && /^\[5\/8\] Running 0002_add_email_index /m.test(text)) {
        sent = true;
        setTimeout(() => {
          child.kill('SIGINT');
          setTimeout(() => child.kill('SIGINT'), 20); // impatient: before the cleanup is done
        }, 300);
      }
    });
    const firstDataDir = dataDirOf(first.stderr);
    try {
      await interruptedTwiceThenAgain(first, firstDataDir);
    } finally {
      // Whatever failed above, no server of this test outlives it.
      for (const orphan of postgresProcessesOf(firstDataDir)) process.kill(orphan, 'SIGINT');
      await pollUntil('the servers of the test to stop', () =>
        postgresProcessesOf(firstDataDir).length === 0 ? true : undefined,
      );
    }

    async function interruptedTwiceThenAgain(first: DemoResult, firstDataDir: string): Promise<void> {
      assert.equal(first.code, 130, first.stderr);
      const still =
        /SIGINT again: exiting without waiting for the cleanup\. PostgreSQL is still running \(pid (\d+), port (\d+), data folder (.+)\); the next run stops it before starting its own/.exec(
          first.stderr,
        );
      assert.ok(still, `the second Ctrl-C names the server left running:\n${first.stderr}`);
      const [pid, shownPort, dataDir] = [Number(still[1]), Number(still[2]), still[3]!];
      assert.equal(shownPort, port);
      assert.equal(dataDir, firstDataDir);
      assert.deepEqual(postgresProcessesOf(dataDir), [pid], 'that server is indeed still running');

      // The next run: stops that server, then is interrupted while its CONCURRENTLY build runs.
      const password = readFileSync(
        join(cache, 'migration-lab', 'demo', 'postgres', 'password'),
        'utf8',
      ).trim();
      let interrupted = false;
      let watching = false;
      const second = await runDemo(args, env, (text, child) => {
        if (watching || !/^\[7\/8\] Running 0002_add_email_index_concurrently /m.test(text)) return;
        watching = true;
        // Ctrl-C once the build is really building (an INVALID index exists from then on).
        void (async () => {
          const client = new pg.Client({
            host: '127.0.0.1',
            port,
            user: 'postgres',
            password,
            database: 'migration_lab',
          });
          await client.connect();
          try {
            await pollUntil(
              'the CONCURRENTLY build to be building',
              async () => {
                const r = await client.query<{ phase: string }>(
                  `SELECT phase FROM pg_stat_progress_create_index WHERE command = 'CREATE INDEX CONCURRENTLY'`,
                );
                return r.rows.some((row) => row.phase.startsWith('building index')) ? true : undefined;
              },
              30_000,
              20,
            );
          } finally {
            await client.end();
          }
          interrupted = true;
          child.kill('SIGINT');
        })();
      });
      assert.match(
        second.stderr,
        new RegExp(`Found PostgreSQL \\(pid ${pid}\\) left running by an earlier session; stopping it`),
      );
      assert.ok(interrupted, `the build was interrupted:\n${second.stderr}`);
      assert.equal(second.code, 130, second.stderr);
      const leftBehind =
        'The interrupted CONCURRENTLY build left the INVALID index migration_lab.large_email_email_idx behind; ' +
        'the next run drops it (DROP INDEX CONCURRENTLY) before it runs the migrations again.';
      assert.ok(second.stderr.includes(leftBehind), second.stderr);
      const log = readFileSync(join(cache, 'migration-lab', 'demo', 'demo.log'), 'utf8');
      assert.ok(log.includes(leftBehind), 'the log says so too');
      assertNothingLeftRunning(dataDirOf(second.stderr));
    }
  });
});
