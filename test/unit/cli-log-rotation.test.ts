import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { KEPT_LOGS, fileLogger } from '../../src/cli/console';

void describe("the demo's log file", () => {
  const dirs: string[] = [];
  after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  void it("is rotated, not truncated: the previous runs' logs are kept (the last 3), all 0600", () => {
    const dir = mkdtempSync(join(tmpdir(), 'migration-lab-log-'));
    dirs.push(dir);
    const path = join(dir, 'demo.log');
    // A log from before logs were private.
    writeFileSync(path, 'run 0 failed here\n');
    chmodSync(path, 0o644);
    for (let run = 1; run <= 4; run++) {
      const logger = fileLogger(path);
      logger.info(`run ${run}`);
      logger.close();
    }
    const text = (p: string) => readFileSync(p, 'utf8');
    assert.match(text(path), /\[info\] run 4\n$/);
    assert.match(text(`${path}.1`), /run 3/);
    assert.match(text(`${path}.2`), /run 2/);
    assert.match(text(`${path}.3`), /run 1/);
    assert.equal(KEPT_LOGS, 3);
    assert.equal(existsSync(`${path}.4`), false, 'older ones are dropped');
    for (const p of [path, `${path}.1`, `${path}.2`, `${path}.3`]) {
      assert.equal(statSync(p).mode & 0o777, 0o600, `${p} is private`);
    }
  });

  void it('keeps the failure of the run before', () => {
    const dir = mkdtempSync(join(tmpdir(), 'migration-lab-log-'));
    dirs.push(dir);
    const path = join(dir, 'demo.log');
    const failing = fileLogger(path);
    failing.error('PostgreSQL did not start');
    failing.close();
    fileLogger(path).close();
    assert.match(readFileSync(`${path}.1`, 'utf8'), /\[error\] PostgreSQL did not start/);
  });
});
