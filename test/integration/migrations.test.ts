import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { APP_NAMES, clientConfig, quoteIdent } from '../../src/core/db';
import { CancelledError, LabError } from '../../src/core/errors';
import { loadRunnerMigrations } from '../../src/core/migrations/runnerMigrations';
import { MigrationRunner, type StatementEvent } from '../../src/core/migrations/runner';
import { comparedAlternatives } from '../../src/core/scenarios/demo';
import { pollUntil, startTestPostgres, type TestPostgres } from './support';

const root = join(__dirname, '../../..');
const demoDir = join(root, 'migrations');
const fixture = (name: string) => join(root, 'test/fixtures', name);

let postgres: TestPostgres;
let db: pg.Client;

before(async () => {
  postgres = await startTestPostgres();
  db = new pg.Client(clientConfig(postgres.target, 'migrations-test'));
  await db.connect();
});

after(async () => {
  await db?.end();
  await postgres?.stop();
});

/**
 * Alternatives are named, never inferred from a shared version: the demo's by its scenario, the
 * fixtures' (each has a transactional and a non-transactional 0002) here.
 */
const ALTERNATIVES = [
  ...comparedAlternatives(),
  ['0002_unique_email', '0002_unique_email_concurrently'],
  ['0002_sleep', '0002_sleep_without_transaction'],
];

function runner(schema: string, dir: string): MigrationRunner {
  return new MigrationRunner({
    target: postgres.target,
    schema,
    migrations: dir,
    alternatives: ALTERNATIVES,
  });
}

async function stateIds(schema: string): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(
    `SELECT id FROM ${quoteIdent(schema)}.schema_migrations ORDER BY id`,
  );
  return rows.map((r) => r.id);
}

async function relationExists(schema: string, name: string): Promise<boolean> {
  const { rows } = await db.query<{ found: boolean }>('SELECT to_regclass($1) IS NOT NULL AS found', [
    `${quoteIdent(schema)}.${quoteIdent(name)}`,
  ]);
  return rows[0].found;
}

async function schemaExists(schema: string): Promise<boolean> {
  const { rows } = await db.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
  return rows.length > 0;
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (e) {
    assert.ok(e instanceof Error);
    return e;
  }
  assert.fail('expected the run to fail');
}

/** Resolves once the run's `onStatement` reports a statement matching `pattern` as started. */
function statementStarted(pattern: RegExp): {
  onStatement: (e: StatementEvent) => void;
  started: Promise<void>;
} {
  let resolve: () => void = () => undefined;
  const started = new Promise<void>((r) => (resolve = r));
  return {
    started,
    onStatement: (e) => {
      if (e.durationMs === undefined && pattern.test(e.sql)) resolve();
    },
  };
}

void describe('demo migrations', () => {
  const schema = 'mig_it_demo';

  void it('status lists the demo migrations as not applied without creating anything', async () => {
    const status = await runner(schema, demoDir).status();
    assert.deepEqual(
      status.map((s) => [s.id, s.applied]),
      [
        ['0001_initial', false],
        ['0002_add_email_index', false],
        ['0002_add_email_index_concurrently', false],
      ],
    );
    assert.equal(await schemaExists(schema), false);
  });

  void it('migrates to 0002_add_email_index and back to 0001_initial', async () => {
    const lab = runner(schema, demoDir);
    let startedPid: number | undefined;
    const up = await lab.migrateTo('0002_add_email_index', { onStart: (pid) => (startedPid = pid) });
    assert.equal(up.direction, 'up');
    assert.equal(up.pid, startedPid);
    assert.deepEqual(
      up.migrations.map((m) => m.id),
      ['0001_initial', '0002_add_email_index'],
    );
    assert.deepEqual(
      up.migrations[1].statements.map((s) => s.sql),
      ['CREATE INDEX large_email_email_idx ON large_email (email)'],
    );
    assert.ok(up.migrations.every((m) => m.durationMs >= 0 && m.statements.every((s) => s.durationMs >= 0)));
    assert.deepEqual(await stateIds(schema), ['0001_initial', '0002_add_email_index']);
    assert.equal(await relationExists(schema, 'small_email'), true);
    assert.equal(await relationExists(schema, 'large_email_email_idx'), true);
    assert.equal(lab.currentPid, undefined);

    const status = await lab.status();
    assert.deepEqual(
      status.filter((s) => s.applied).map((s) => s.id),
      ['0001_initial', '0002_add_email_index'],
    );
    assert.ok(status[0].appliedAt instanceof Date);

    const down = await lab.rollbackTo('0001_initial');
    assert.equal(down.direction, 'down');
    assert.deepEqual(
      down.migrations.map((m) => m.id),
      ['0002_add_email_index'],
    );
    assert.deepEqual(await stateIds(schema), ['0001_initial']);
    assert.equal(await relationExists(schema, 'large_email_email_idx'), false);
    assert.equal(await relationExists(schema, 'large_email'), true);
  });

  void it('runs the concurrent track without a transaction', async () => {
    const lab = runner(schema, demoDir);
    const up = await lab.migrateTo('0002_add_email_index_concurrently');
    assert.deepEqual(
      up.migrations.map((m) => m.id),
      ['0002_add_email_index_concurrently'],
    );
    assert.deepEqual(await stateIds(schema), ['0001_initial', '0002_add_email_index_concurrently']);
    const { rows } = await db.query<{ indisvalid: boolean }>(
      'SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass($1)',
      [`${schema}.large_email_email_idx`],
    );
    assert.deepEqual(rows, [{ indisvalid: true }]);
  });

  void it('refuses the other 0002 while one is applied, and runs nothing', async () => {
    const lab = runner(schema, demoDir);
    const indexBefore = await db.query('SELECT to_regclass($1)::oid AS oid', [
      `${schema}.large_email_email_idx`,
    ]);
    const statements: StatementEvent[] = [];
    const error = await rejection(
      lab.migrateTo('0002_add_email_index', { onStatement: (e) => statements.push(e) }),
    );
    assert.ok(error instanceof LabError);
    assert.equal(
      error.message,
      '0002_add_email_index_concurrently is applied; roll back to 0001_initial before applying 0002_add_email_index.',
    );
    assert.deepEqual(statements, []);
    assert.deepEqual(await stateIds(schema), ['0001_initial', '0002_add_email_index_concurrently']);
    const indexAfter = await db.query('SELECT to_regclass($1)::oid AS oid', [
      `${schema}.large_email_email_idx`,
    ]);
    assert.deepEqual(indexAfter.rows, indexBefore.rows);
  });

  void it('rolls the concurrent track back, then everything', async () => {
    const lab = runner(schema, demoDir);
    const back = await lab.rollbackTo('0001_initial');
    assert.deepEqual(
      back.migrations.map((m) => m.id),
      ['0002_add_email_index_concurrently'],
    );
    assert.equal(await relationExists(schema, 'large_email_email_idx'), false);
    assert.deepEqual(await stateIds(schema), ['0001_initial']);

    const all = await lab.rollbackTo(null);
    assert.deepEqual(
      all.migrations.map((m) => m.id),
      ['0001_initial'],
    );
    assert.deepEqual(await stateIds(schema), []);
    assert.equal(await relationExists(schema, 'large_email'), false);
    assert.equal(await relationExists(schema, 'small_email'), false);
  });
});

void describe('refusals before anything runs', () => {
  void it('refuses CONCURRENTLY in a transactional section before running any statement', async () => {
    const schema = 'mig_it_unsafe';
    const statements: StatementEvent[] = [];
    const error = await rejection(
      runner(schema, fixture('migrations-unsafe')).migrateTo('0002_index_in_transaction', {
        onStatement: (e) => statements.push(e),
      }),
    );
    assert.ok(error instanceof LabError);
    assert.equal(
      error.message,
      '0002_index_in_transaction.sql: line 4 has CREATE INDEX CONCURRENTLY, which cannot run inside the ' +
        'transaction 0002_index_in_transaction runs in; add `transaction:false` to its `-- migrate:up` line ' +
        'and keep the statement alone in that section.',
    );
    assert.deepEqual(statements, []);
    assert.equal(await relationExists(schema, 'things'), false);
    assert.equal(await relationExists(schema, 'side_effect'), false);
    assert.equal(await relationExists(schema, 'things_x_idx'), false);
    assert.deepEqual(await stateIds(schema), []);
  });

  void it('refuses COMMIT and ROLLBACK in a transactional section before anything runs', async () => {
    const schema = 'mig_it_txn_control';
    // Before: COMMIT made h1 permanent and the syntax error then claimed a rollback; ROLLBACK undid
    // i1 and the migration was still recorded as applied.
    const dir = mkdtempSync(join(tmpdir(), 'migration-lab-txn-control-'));
    writeFileSync(
      join(dir, '0001_h.sql'),
      '-- migrate:up\nCREATE TABLE h1 (id int);\nCOMMIT;\nSELEC oops;\n',
    );
    writeFileSync(join(dir, '0001_i.sql'), '-- migrate:up\nCREATE TABLE i1 (id int);\nROLLBACK;\n');
    const [h, i] = await loadRunnerMigrations(dir, 'dbmate').finally(() =>
      rmSync(dir, { recursive: true, force: true }),
    );
    const runOne = (m: typeof h) => new MigrationRunner({ target: postgres.target, schema, migrations: [m] });
    const statements: StatementEvent[] = [];
    const first = await rejection(runOne(h).migrateTo('0001_h', { onStatement: (e) => statements.push(e) }));
    assert.ok(first instanceof LabError);
    assert.equal(
      first.message,
      '0001_h.sql: line 3 has COMMIT, which would end or split the transaction 0001_h runs in; ' +
        'remove it (the section already runs in one transaction).',
    );
    const second = await rejection(runOne(i).migrateTo('0001_i', { onStatement: (e) => statements.push(e) }));
    assert.match(
      second.message,
      /^0001_i\.sql: line 3 has ROLLBACK, which would end or split the transaction/,
    );
    assert.deepEqual(statements, [], 'not one statement ran');
    assert.equal(await relationExists(schema, 'h1'), false);
    assert.equal(await relationExists(schema, 'i1'), false);
    assert.deepEqual(await stateIds(schema), []);
  });

  void it('refuses a file that is not UTF-8 instead of storing U+FFFD for its bytes', async () => {
    const schema = 'mig_it_latin1';
    const dir = mkdtempSync(join(tmpdir(), 'migration-lab-latin1-'));
    try {
      // 'café' in Latin-1: a lenient decode stored caf\uFFFD and reported success.
      writeFileSync(
        join(dir, '0001_latin1.sql'),
        Buffer.concat([
          Buffer.from("-- migrate:up\nCREATE TABLE words AS SELECT 'caf"),
          Buffer.from([0xe9]),
          Buffer.from("'::text AS word;\n"),
        ]),
      );
      const error = await rejection(runner(schema, dir).migrateTo('0001_latin1'));
      assert.ok(error instanceof LabError);
      assert.equal(
        error.message,
        `${join(dir, '0001_latin1.sql')}:2: the file is not UTF-8 (invalid byte sequence at byte offset 47); save it as UTF-8.`,
      );
      assert.equal(await relationExists(schema, 'words'), false);
      assert.equal(await schemaExists(schema), false, 'refused before connecting');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  void it('gives a clear error for a malformed file, before connecting', async () => {
    const schema = 'mig_it_malformed';
    const error = await rejection(runner(schema, fixture('migrations-malformed')).migrateTo('0001_setup'));
    assert.ok(error instanceof LabError);
    assert.match(
      error.message,
      /0002_no_up_section\.sql:1: it has no `-- migrate:up` line, which dbmate requires\.$/,
    );
    assert.equal(await schemaExists(schema), false);
  });

  void it('refuses an unknown target', async () => {
    const error = await rejection(runner('mig_it_demo', demoDir).migrateTo('0009_missing'));
    assert.ok(error instanceof LabError);
    assert.equal(error.message, 'There is no migration named 0009_missing.');
  });
});

void describe('failing migrations', () => {
  const schema = 'mig_it_failing';

  void it('names file, statement, message and SQLSTATE, and leaves nothing of a transactional migration', async () => {
    const lab = runner(schema, fixture('migrations-failing'));
    const error = await rejection(lab.migrateTo('0002_unique_email'));
    assert.ok(error instanceof LabError);
    assert.equal(
      error.message,
      '0002_unique_email.sql failed at "CREATE UNIQUE INDEX dupes_email_key ON dupes (email)": ' +
        'could not create unique index "dupes_email_key" (23505). Its transaction was rolled back.',
    );
    assert.match(error.detail ?? '', /Key \(email\)=\(same@example\.com\) is duplicated/);
    // 0001 ran in its own transaction and stays; 0002 left no state row and no objects.
    assert.deepEqual(await stateIds(schema), ['0001_duplicates']);
    assert.equal(await relationExists(schema, 'partial_object'), false);
    assert.equal(await relationExists(schema, 'dupes_email_key'), false);
  });

  void it('says what a failed transaction:false migration left behind, without claiming a rollback', async () => {
    const lab = runner(schema, fixture('migrations-failing'));
    const error = await rejection(lab.migrateTo('0002_unique_email_concurrently'));
    assert.ok(error instanceof LabError);
    assert.equal(
      error.message,
      '0002_unique_email_concurrently.sql failed at "CREATE UNIQUE INDEX CONCURRENTLY dupes_email_key ON dupes (email)": ' +
        'could not create unique index "dupes_email_key" (23505). ' +
        'It ran without a transaction, so nothing was rolled back: 1 of 2 statements completed, ' +
        `and it left the INVALID index ${schema}.dupes_email_key behind; drop it with DROP INDEX CONCURRENTLY.`,
    );
    assert.doesNotMatch(error.message, /was rolled back\./);
    assert.deepEqual(await stateIds(schema), ['0001_duplicates']);
    assert.equal(await relationExists(schema, 'left_behind'), true);
    const { rows } = await db.query<{ indisvalid: boolean }>(
      'SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass($1)',
      [`${schema}.dupes_email_key`],
    );
    assert.deepEqual(rows, [{ indisvalid: false }]);
  });
});

void describe('cancel and the migration lock', () => {
  const schema = 'mig_it_sleep';

  void it('refuses a second concurrent run, and cancel() stops a pg_sleep quickly', async () => {
    const first = runner(schema, fixture('migrations-sleep'));
    const sleeping = statementStarted(/pg_sleep/);
    let startedPid: number | undefined;
    const run = first.migrateTo('0002_sleep', {
      onStart: (pid) => (startedPid = pid),
      onStatement: sleeping.onStatement,
    });
    const outcome = run.then(
      () => undefined,
      (e: unknown) => e,
    );
    await sleeping.started;

    assert.equal(first.currentPid, startedPid);
    // The run's session is labelled for the lock monitor and is inside the sleep.
    await pollUntil('the sleep to show in pg_stat_activity', async () => {
      const { rows } = await db.query<{ application_name: string; query: string }>(
        'SELECT application_name, query FROM pg_stat_activity WHERE pid = $1',
        [startedPid],
      );
      return rows[0]?.query.includes('pg_sleep') ? rows[0] : undefined;
    }).then((row) => assert.equal(row.application_name, APP_NAMES.migration));

    const second = await rejection(runner(schema, fixture('migrations-sleep')).migrateTo('0001_quick'));
    assert.ok(second instanceof LabError);
    assert.equal(second.message, 'Another migration is running in this lab.');

    const cancelledAt = Date.now();
    assert.equal(await first.cancel(), true);
    const error = await outcome;
    assert.ok(error instanceof CancelledError, `expected CancelledError, got ${String(error)}`);
    assert.equal(error.message, 'Migration cancelled; 0002_sleep.sql was rolled back.');
    assert.ok(Date.now() - cancelledAt < 5_000, 'the cancel should end the run within seconds');
    assert.equal(first.currentPid, undefined);
    assert.deepEqual(await stateIds(schema), ['0001_quick']);
    assert.equal(await relationExists(schema, 'sleep_marker'), false);

    // The lock was released: the next run works.
    const next = await runner(schema, fixture('migrations-sleep')).rollbackTo(null);
    assert.deepEqual(
      next.migrations.map((m) => m.id),
      ['0001_quick'],
    );
    assert.deepEqual(await stateIds(schema), []);
  });

  void it('an AbortSignal cancels a transaction:false run, keeping the statements that completed', async () => {
    const lab = runner(schema, fixture('migrations-sleep'));
    const sleeping = statementStarted(/pg_sleep/);
    const abort = new AbortController();
    const run = lab.migrateTo('0002_sleep_without_transaction', {
      signal: abort.signal,
      onStatement: sleeping.onStatement,
    });
    const outcome = run.then(
      () => undefined,
      (e: unknown) => e,
    );
    await sleeping.started;
    // Wait until the statement is really running, so the cancel hits it rather than the gap before it.
    await pollUntil('the sleep to run', async () => {
      const { rows } = await db.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND query LIKE $2', [
        lab.currentPid,
        '%pg_sleep%',
      ]);
      return rows.length > 0 ? true : undefined;
    });
    abort.abort();
    const error = await outcome;
    assert.ok(error instanceof CancelledError, `expected CancelledError, got ${String(error)}`);
    assert.equal(
      error.message,
      'Migration cancelled during 0002_sleep_without_transaction.sql. ' +
        'It ran without a transaction, so nothing was rolled back: 1 of 2 statements completed.',
    );
    assert.equal(await relationExists(schema, 'sleep_marker'), true);
    assert.deepEqual(await stateIds(schema), ['0001_quick']);

    const aborted = new AbortController();
    aborted.abort();
    await assert.rejects(lab.migrateTo('0001_quick', { signal: aborted.signal }), CancelledError);
  });
});
