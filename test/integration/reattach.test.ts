// A window reload ends the extension host; the PostgreSQL it started may outlive it. The next
// activation must find that server and re-attach to it (or stop it), never orphan it or kill-and-restart
// it behind the user's back. Real servers, left running by a launcher that is SIGKILLed.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { Lab, type LabSettings } from '../../src/core/lab';
import { memoryLogger } from '../../src/core/log';
import { EmbeddedPostgres } from '../../src/core/postgres/embedded';
import { freePort, pollUntil } from './support';

const root = join(__dirname, '../../..');

/** Alive and not a zombie: an orphan that exited is reaped by PID 1 only some time later. */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** Starts PostgreSQL in another process and SIGKILLs that process: the server is left running. */
async function leaveServerRunning(baseDir: string, port: number): Promise<number> {
  const launcher = spawn(
    process.execPath,
    [join(root, 'test/fixtures/launch-embedded.js'), baseDir, String(port)],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  launcher.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const pid = await pollUntil('the launcher to start PostgreSQL', () => {
    if (/failed/.test(out)) throw new Error(out);
    const m = /ready (\d+)/.exec(out);
    return m ? Number(m[1]) : undefined;
  });
  launcher.kill('SIGKILL');
  await pollUntil('the launcher to die', () =>
    launcher.exitCode !== null || launcher.signalCode ? true : undefined,
  );
  assert.ok(isAlive(pid), 'PostgreSQL outlived its launcher');
  return pid;
}

async function selectOne(target: pg.ClientConfig): Promise<number> {
  const client = new pg.Client(target);
  await client.connect();
  try {
    return (await client.query<{ one: number }>('SELECT 1 AS one')).rows[0]!.one;
  } finally {
    await client.end();
  }
}

describe('re-attaching to the lab PostgreSQL an earlier extension host left running', () => {
  const baseDir = mkdtempSync(join(tmpdir(), 'migration-lab-reattach-'));
  chmodSync(baseDir, 0o755);
  const leftovers: number[] = [];
  after(() => {
    for (const pid of leftovers) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    rmSync(baseDir, { recursive: true, force: true });
  });

  it('finds nothing (and changes nothing) when no server is running', async () => {
    const server = new EmbeddedPostgres({ baseDir, port: await freePort(), logger: memoryLogger() });
    assert.equal(await server.attach(), undefined);
    assert.equal(server.running, false);
    assert.equal(existsSync(join(baseDir, 'postgres')), false, 'no cluster was made by looking');
  });

  it('re-attaches to its own server (same data directory, its postmaster.pid, our password), says so, and stops it', async () => {
    const port = await freePort();
    const orphan = await leaveServerRunning(baseDir, port);
    leftovers.push(orphan);
    const logger = memoryLogger();
    const server = new EmbeddedPostgres({ baseDir, port, logger });
    const target = await server.attach();
    assert.ok(target, 'attached');
    assert.equal(server.pid, orphan, 'the same server, not a new one');
    assert.equal(server.running, true);
    assert.equal(target.database, 'migration_lab');
    assert.equal(await selectOne(target), 1);
    assert.ok(
      logger.lines.some((l) => /^info Re-attached to the embedded PostgreSQL 1\d\.\d+ \(pid \d+\)/.test(l)),
      logger.lines.join('\n'),
    );
    // start() on an attached server is that server.
    assert.deepEqual(await server.start(), target);
    assert.equal(server.pid, orphan);

    await server.stop();
    assert.equal(isAlive(orphan), false, 'the re-attached server was stopped');
    assert.equal(server.running, false);
    assert.equal(existsSync(join(baseDir, 'postgres', 'data', 'postmaster.pid')), false);
  });

  it('does not attach when the password does not work, or the port is not ours; start() then replaces it', async () => {
    const port = await freePort();
    const orphan = await leaveServerRunning(baseDir, port);
    leftovers.push(orphan);
    const passwordFile = join(baseDir, 'postgres', 'password');
    const password = readFileSync(passwordFile, 'utf8');
    writeFileSync(passwordFile, 'not-the-password\n');
    const logger = memoryLogger();
    assert.equal(await new EmbeddedPostgres({ baseDir, port, logger }).attach(), undefined);
    assert.ok(logger.lines.some((l) => /does not accept the lab's password/.test(l)));
    writeFileSync(passwordFile, password);

    const otherPort = await freePort();
    const elsewhere = new EmbeddedPostgres({ baseDir, port: otherPort, logger });
    assert.equal(await elsewhere.attach(), undefined);
    assert.ok(
      logger.lines.some((l) =>
        new RegExp(`still running on port ${port}, not the configured ${otherPort}`).test(l),
      ),
    );
    assert.ok(isAlive(orphan), 'looking stopped nothing');

    const target = await elsewhere.start();
    assert.equal(isAlive(orphan), false, 'start() stopped the server of the old port');
    assert.equal(await selectOne(target), 1);
    await elsewhere.stop();
  });

  it('the Lab re-attaches under "embedded" (state running, with its version), and stops it under "external"', async () => {
    const port = await freePort();
    const settings: LabSettings = { provider: 'embedded', port, schema: 'reattach_lab' };
    const newLab = () => {
      const logger = memoryLogger();
      const lab = new Lab({
        storageDir: baseDir,
        composeFile: join(root, 'docker-compose.yml'),
        migrationsDir: join(root, 'migrations'),
        logger,
        getExternalUrl: async () => undefined,
      });
      return { lab, logger };
    };

    const first = await leaveServerRunning(baseDir, port);
    leftovers.push(first);
    const { lab } = newLab();
    assert.equal(await lab.reattach(settings), true);
    assert.equal(lab.state.database, 'running');
    assert.equal(lab.state.provider, 'embedded');
    assert.equal(lab.state.port, port);
    assert.match(lab.state.serverVersion ?? '', /^1\d\.\d+/);
    assert.ok(lab.state.migrations.length > 0, 'the lab read its migrations from the re-attached server');
    await lab.stop();
    assert.equal(isAlive(first), false);
    assert.equal(lab.state.database, 'stopped');

    const second = await leaveServerRunning(baseDir, port);
    leftovers.push(second);
    const other = newLab();
    assert.equal(await other.lab.reattach({ ...settings, provider: 'external' }), false);
    assert.equal(isAlive(second), false, 'a leftover the settings no longer use is stopped, not orphaned');
    assert.equal(other.lab.state.database, 'stopped');
    assert.ok(other.logger.lines.some((l) => /provider is now "external"/.test(l)));
  });
});
