// The linter's list of PostgreSQL's own functions by volatility (src/core/lint/pgFunctions.ts) is
// what the bundled server's pg_proc says: a DEFAULT calling a volatile one rewrites the table, one
// calling a stable or immutable one does not (lint-lockfacts.test.ts checks both by relfilenode).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  NOT_VOLATILE_FUNCTIONS,
  PG_FUNCTIONS_MAJOR,
  VOLATILE_FUNCTIONS,
} from '../../src/core/lint/pgFunctions';
import { readPgFunctions, type PgFunctions } from '../pgFunctions';
import { startTestPostgres, type TestPostgres } from './support';

let server: TestPostgres;
let live: PgFunctions;

before(async () => {
  server = await startTestPostgres();
  live = await readPgFunctions(server.target);
});

after(async () => {
  await server?.stop();
});

const names = (lines: readonly string[]) => lines.flatMap((l) => l.split(' '));

void describe('PostgreSQL function volatility known to the linter', () => {
  void it('was read from the bundled major', () => {
    assert.equal(PG_FUNCTIONS_MAJOR, live.major, 'regenerate: node scripts/generate-pg-functions.mjs');
  });

  void it("matches pg_proc's volatile and other function names exactly", () => {
    const hint = 'regenerate with node scripts/generate-pg-functions.mjs';
    assert.deepEqual(names(VOLATILE_FUNCTIONS), live.volatile, hint);
    assert.deepEqual(names(NOT_VOLATILE_FUNCTIONS), live.notVolatile, hint);
    for (const n of ['random', 'clock_timestamp', 'gen_random_uuid', 'nextval', 'timeofday'])
      assert.ok(live.volatile.includes(n), n);
    for (const n of ['now', 'timezone', 'md5', 'lower', 'jsonb_build_array'])
      assert.ok(live.notVolatile.includes(n), n);
  });
});
