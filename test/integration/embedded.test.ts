import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { LabError } from '../../src/core/errors';
import { memoryLogger } from '../../src/core/log';
import { EmbeddedPostgres } from '../../src/core/postgres/embedded';
import { freePort, pollUntil } from './support';

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function labDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'migration-lab-embedded-'));
  chmodSync(dir, 0o755);
  return dir;
}

async function queryOne(target: pg.ClientConfig, sql: string): Promise<Record<string, unknown>> {
  const client = new pg.Client(target);
  await client.connect();
  try {
    return (await client.query(sql)).rows[0] as Record<string, unknown>;
  } finally {
    await client.end();
  }
}

describe('embedded PostgreSQL launcher', () => {
  const dirs: string[] = [];
  after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it('creates a UTF8 / C cluster, serves the lab database, and stops without leaving a process', async () => {
    const baseDir = labDir();
    dirs.push(baseDir);
    const logger = memoryLogger();
    const server = new EmbeddedPostgres({ baseDir, port: await freePort(), logger });
    const target = await server.start();
    const pid = server.pid!;
    const row = await queryOne(
      target,
      "SELECT current_database() AS db, current_setting('server_encoding') AS enc, (SELECT datcollate FROM pg_database WHERE datname = current_database()) AS coll, current_setting('listen_addresses') AS listen",
    );
    assert.deepEqual(row, { db: 'migration_lab', enc: 'UTF8', coll: 'C', listen: '127.0.0.1' });
    assert.ok(
      existsSync(join(baseDir, 'postgres', 'data', 'PG_VERSION')),
      'the cluster lives under the given folder',
    );
    assert.ok(!logger.lines.some((l) => l.includes(target.password!)), 'the password is never logged');
    assert.equal(
      statSync(join(baseDir, 'postgres', 'postgres.log')).mode & 0o777,
      0o600,
      "the server's log is readable by its owner only",
    );
    await server.stop();
    assert.equal(isAlive(pid), false);

    // A warm start reuses the cluster and its password.
    const again = await server.start();
    assert.equal(again.password, target.password);
    assert.equal((await queryOne(again, 'SELECT 1 AS one')).one, 1);
    await server.stop();
  });

  describe('a port already taken', () => {
    let blocker: Server;
    let port: number;
    before(async () => {
      port = await freePort();
      blocker = createServer();
      await new Promise<void>((r) => blocker.listen(port, '127.0.0.1', r));
    });
    after(() => blocker.close());

    it('is one clear sentence naming the port and the setting, and the next start works', async () => {
      const baseDir = labDir();
      dirs.push(baseDir);
      const server = new EmbeddedPostgres({ baseDir, port, logger: memoryLogger() });
      await assert.rejects(server.start(), (e: unknown) => {
        assert.ok(e instanceof LabError);
        assert.match(e.message, new RegExp(`^Port ${port} is already in use`));
        assert.match(e.message, /migrationLab\.postgres\.port/);
        return true;
      });
      assert.equal(server.running, false, 'no server process is left behind');
      await new Promise<void>((r) => blocker.close(() => r()));
      const target = await server.start();
      assert.equal((await queryOne(target, 'SELECT 1 AS one')).one, 1);
      await server.stop();
    });
  });

  it('recovers from the stale postmaster.pid an orphan leaves after its launcher was SIGKILLed', async () => {
    const baseDir = labDir();
    dirs.push(baseDir);
    const port = await freePort();
    const launcher = spawn(
      process.execPath,
      [join(__dirname, '../../../test/fixtures/launch-embedded.js'), baseDir, String(port)],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let out = '';
    launcher.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const orphanPid = await pollUntil('the launcher to start PostgreSQL', () => {
      const m = /ready (\d+)/.exec(out);
      if (/failed/.test(out)) throw new Error(out);
      return m ? Number(m[1]) : undefined;
    });
    launcher.kill('SIGKILL');
    await pollUntil('the launcher to die', () =>
      launcher.exitCode !== null || launcher.signalCode ? true : undefined,
    );
    assert.ok(isAlive(orphanPid), 'PostgreSQL outlived its killed launcher (the orphan this test is about)');
    assert.ok(existsSync(join(baseDir, 'postgres', 'data', 'postmaster.pid')));

    const logger = memoryLogger();
    const server = new EmbeddedPostgres({ baseDir, port, logger });
    const target = await server.start();
    assert.equal(isAlive(orphanPid), false, 'the orphan was stopped');
    assert.notEqual(server.pid, orphanPid);
    assert.ok(logger.lines.some((l) => /left running by an earlier session/.test(l)));
    assert.equal((await queryOne(target, 'SELECT 1 AS one')).one, 1);
    const pid = server.pid!;
    await server.stop();
    assert.equal(isAlive(pid), false);
  });

  it('survives an initdb killed part-way: the next start makes a whole cluster instead of failing', async () => {
    const baseDir = labDir();
    dirs.push(baseDir);
    const port = await freePort();
    // Its own process group, killed as a whole: the editor killed with its children, initdb included.
    const launcher = spawn(
      process.execPath,
      [join(__dirname, '../../../test/fixtures/launch-embedded.js'), baseDir, String(port)],
      { stdio: 'ignore', detached: true },
    );
    const root = join(baseDir, 'postgres');
    const versionFiles = () =>
      (existsSync(root) ? readdirSync(root) : [])
        .filter((name) => name.startsWith('data'))
        .filter((name) => existsSync(join(root, name, 'PG_VERSION')));
    // PG_VERSION is initdb's first file; global/pg_control comes only after its bootstrap run.
    await pollUntil(
      'initdb to start writing the cluster',
      () => (versionFiles().length > 0 ? true : undefined),
      30_000,
      5,
    );
    process.kill(-launcher.pid!, 'SIGKILL');
    await pollUntil('the launcher to die', () =>
      launcher.exitCode !== null || launcher.signalCode ? true : undefined,
    );
    assert.ok(
      !existsSync(join(root, 'data', 'global', 'pg_control')),
      'initdb was killed before it finished (the situation this test is about)',
    );

    const server = new EmbeddedPostgres({ baseDir, port, logger: memoryLogger() });
    const target = await server.start();
    assert.equal((await queryOne(target, 'SELECT 1 AS one')).one, 1);
    assert.deepEqual(
      readdirSync(root).filter((name) => name.includes('.initdb-')),
      [],
      'the unfinished initdb folder was removed',
    );
    await server.stop();
  });

  it('sets aside a cluster folder initdb never finished (PG_VERSION, no global/pg_control), saying so', async () => {
    const baseDir = labDir();
    dirs.push(baseDir);
    const dataDir = join(baseDir, 'postgres', 'data');
    mkdirSync(join(dataDir, 'global'), { recursive: true });
    writeFileSync(join(dataDir, 'PG_VERSION'), '18\n');
    const notices: string[] = [];
    const logger = memoryLogger();
    const server = new EmbeddedPostgres({
      baseDir,
      port: await freePort(),
      logger,
      onNotice: (s) => notices.push(s),
    });
    const target = await server.start();
    assert.equal((await queryOne(target, 'SELECT 1 AS one')).one, 1);
    await server.stop();
    assert.equal(notices.length, 1, 'one sentence');
    assert.match(
      notices[0]!,
      /^The PostgreSQL cluster in .*data was never finished \(its initdb was interrupted\); it was moved to .*data\.unfinished-.* and a new cluster is being created\.$/,
    );
    assert.ok(logger.lines.some((l) => l.startsWith('warn ') && l.includes('was never finished')));
    const aside = readdirSync(join(baseDir, 'postgres')).filter((n) => n.startsWith('data.unfinished-'));
    assert.equal(aside.length, 1);
    assert.ok(existsSync(join(baseDir, 'postgres', aside[0]!, 'PG_VERSION')), 'nothing was deleted');
    assert.ok(existsSync(join(dataDir, 'global', 'pg_control')), 'a whole cluster took its place');
  });

  it('drops a postmaster.pid whose process is gone', async () => {
    const baseDir = labDir();
    dirs.push(baseDir);
    const server = new EmbeddedPostgres({ baseDir, port: await freePort(), logger: memoryLogger() });
    await server.start();
    const dataDir = server.dataDir!;
    await server.stop();
    // Write a pid file for a process that no longer exists (a dead short-lived child).
    const child = spawn(process.execPath, ['-e', '0']);
    await new Promise((r) => child.once('exit', r));
    const { writeFileSync } = await import('node:fs');
    writeFileSync(join(dataDir, 'postmaster.pid'), `${child.pid}\n${dataDir}\n`);
    const target = await server.start();
    assert.equal((await queryOne(target, 'SELECT 1 AS one')).one, 1);
    await server.stop();
  });
});
