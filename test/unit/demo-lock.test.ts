import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { LabError } from '../../src/core/errors';
import { acquireRunLock, processStartTime } from '../../src/cli/housekeeping';

const dirs: string[] = [];
function lockPath(): string {
  const dir = mkdtempSync(join(tmpdir(), 'migration-lab-lock-'));
  dirs.push(dir);
  return join(dir, 'demo.lock');
}

void describe('the demo lock', () => {
  after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  void it('records its pid and start time, readable by its owner only', () => {
    const path = lockPath();
    const release = acquireRunLock(path);
    assert.equal(readFileSync(path, 'utf8'), `${process.pid}\n${processStartTime(process.pid)}\n`);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    release();
    assert.equal(existsSync(path), false);
  });

  void it('is taken over when its pid now belongs to another process (a reused pid)', () => {
    // pid 1 is alive, but it is not the process that wrote this lock (its start time differs).
    const path = lockPath();
    writeFileSync(path, '1\n999999999\n');
    const release = acquireRunLock(path);
    assert.match(readFileSync(path, 'utf8'), new RegExp(`^${process.pid}\n`));
    release();
    // A lock from before start times were recorded: pid 1 is no demo.
    writeFileSync(path, '1\n');
    acquireRunLock(path)();
  });

  void it('still stops a second demo while the first is alive, and frees the cluster once it is gone', async () => {
    const path = lockPath();
    const holder = spawn(
      process.execPath,
      [
        '-e',
        `require(${JSON.stringify(join(__dirname, '../../src/cli/housekeeping.js'))}).acquireRunLock(${JSON.stringify(path)}); process.stdout.write('locked'); setInterval(() => {}, 1000);`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      await new Promise<void>((resolve) => holder.stdout.once('data', () => resolve()));
      assert.throws(
        () => acquireRunLock(path),
        (e: unknown) =>
          e instanceof LabError &&
          e.message ===
            `Another demo (pid ${holder.pid}) is using this cluster; wait for it to end or stop it with Ctrl-C.`,
      );
    } finally {
      holder.kill('SIGKILL');
      await new Promise((r) => holder.once('exit', r));
    }
    acquireRunLock(path)(); // the holder died without releasing it
  });
});
