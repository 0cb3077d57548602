// After a cancelled seed the Database view showed "≈ 0 rows" while millions existed: the view reads the
// planner's estimate, which only the seed's final VACUUM ANALYZE sets. The lab must report what is there.
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { CancelledError } from '../../src/core/errors';
import { Lab } from '../../src/core/lab';
import { memoryLogger } from '../../src/core/log';
import { freePort } from './support';

const root = join(__dirname, '../../..');
const SCHEMA = 'cancel_count_lab';

describe('the row count after a cancelled seed', () => {
  const storageDir = mkdtempSync(join(tmpdir(), 'migration-lab-cancel-count-'));
  chmodSync(storageDir, 0o755);
  const lab = new Lab({
    storageDir,
    composeFile: join(root, 'docker-compose.yml'),
    migrationsDir: join(root, 'migrations'),
    logger: memoryLogger(),
    getExternalUrl: async () => undefined,
  });
  after(async () => {
    await lab.stop();
    rmSync(storageDir, { recursive: true, force: true });
  });

  it('is the rows that exist, not the stale estimate of 0', async () => {
    const port = await freePort();
    const target = await lab.start({ provider: 'embedded', port, schema: SCHEMA });
    const abort = new AbortController();
    // Cancel once a few chunks are in (a person pressing Cancel on the progress notification).
    await assert.rejects(
      lab.seed(3_000_000, {
        signal: abort.signal,
        parallelism: 1,
        onProgress: (p) => {
          if (p.phase === 'large' && p.done >= 300_000) abort.abort();
        },
      }),
      (e: unknown) => e instanceof CancelledError,
    );
    const client = new pg.Client(target);
    await client.connect();
    let exact: number;
    try {
      exact = Number((await client.query(`SELECT count(*) AS n FROM ${SCHEMA}.large_email`)).rows[0].n);
    } finally {
      await client.end();
    }
    assert.ok(exact >= 300_000 && exact < 3_000_000, `the seed stopped part-way (${exact} rows)`);
    assert.equal(lab.state.seeded, true);
    const shown = lab.state.largeRows ?? 0;
    // The view says "≈": the planner's estimate after ANALYZE, within 2 % of count(*).
    assert.ok(
      Math.abs(shown - exact) <= exact * 0.02,
      `the lab reports ${shown} rows, count(*) says ${exact}`,
    );
  });
});
