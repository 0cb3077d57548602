/**
 * The core replay (issue 10 §2) on a real embedded PostgreSQL: every tool's fixture replays onto its
 * own scratch database with its tool's semantics; failures map back to file:line:column with their
 * SQLSTATE; downs roll back; a missing role is named and can be created; a cancel is recovered from.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { clientConfig } from '../../src/core/db';
import { CancelledError } from '../../src/core/errors';
import { silentLogger } from '../../src/core/log';
import { loadSource } from '../../src/core/migrations/detect';
import { HISTORY_TABLES } from '../../src/core/migrations/historyTables';
import type { MigrationSource } from '../../src/core/migrations/model';
import {
  REPLAY_STATE_SCHEMA,
  replay,
  replayStatus,
  resetScratch,
  rollBack,
  runSectionObserved,
  scratchDatabaseName,
  type ReplayEnvironment,
  type ReplayReport,
} from '../../src/core/migrations/replay';
import { pollUntil, startTestPostgres, type TestPostgres } from './support';

const FIXTURES = join(__dirname, '../../../test/fixtures/tools');

let postgres: TestPostgres;
let work: string;

before(async () => {
  postgres = await startTestPostgres();
  work = mkdtempSync(join(tmpdir(), 'migration-lab-replay-'));
});

after(async () => {
  await postgres?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

function env(extra: Partial<ReplayEnvironment> = {}): ReplayEnvironment {
  return { server: postgres.target, logger: silentLogger, ...extra };
}

/** Runs `fn` on a client connected to the source's scratch database. */
async function onScratch<T>(source: MigrationSource, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client(
    clientConfig({ ...postgres.target, database: scratchDatabaseName(source) }, 'replay-test'),
  );
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

async function regclass(c: pg.Client, name: string): Promise<boolean> {
  const { rows } = await c.query<{ ok: boolean }>('SELECT to_regclass($1) IS NOT NULL AS ok', [name]);
  return rows[0].ok;
}

async function validIndex(c: pg.Client, name: string): Promise<boolean> {
  const { rows } = await c.query<{ valid: boolean }>(
    'SELECT indisvalid AS valid FROM pg_index WHERE indexrelid = to_regclass($1)',
    [name],
  );
  return rows[0]?.valid === true;
}

async function publicTables(c: pg.Client): Promise<string[]> {
  const { rows } = await c.query<{ t: string }>(
    "SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
  );
  return rows.map((r) => r.t);
}

function statuses(report: ReplayReport): string[] {
  return report.migrations.map((m) => m.status);
}

/** The text of `file` from 1-based line and column on. */
function textAt(file: string, line: number, column: number): string {
  const lines = readFileSync(file, 'utf8')
    .replace(/^\uFEFF/, '')
    .split('\n');
  return [lines[line - 1].slice(column - 1), ...lines.slice(line)].join('\n');
}

interface Case {
  folder: string;
  applied: number;
  /** SQLSTATE of the failing migration; null: the tool refuses it. */
  failure?: string | null;
  index?: string;
  downs?: boolean;
  /** Where the failing migration is, when not right after the applied ones (Drizzle rolls them back). */
  failedAt?: number;
  /** Roll back to this version (the ones before it have no down). */
  rollBackTo?: string;
}

const MAIN: Case[] = [
  { folder: 'dbmate/migrations', applied: 2, failure: '42P01', index: 'books_title_idx', downs: true },
  {
    folder: 'golang-migrate/migrations',
    applied: 2,
    failure: '42P01',
    index: 'books_title_idx',
    downs: true,
  },
  { folder: 'goose/migrations', applied: 2, failure: '42P01', index: 'books_title_idx', downs: true },
  { folder: 'flyway/migrations', applied: 3, failure: '42P01', index: 'books_author_idx', rollBackTo: '1.1' },
  { folder: 'liquibase/changelog', applied: 4, failure: '42P01', index: 'books_title_idx', downs: true },
  { folder: 'sqitch/project', applied: 2, failure: '42P01', index: 'books_title_idx', downs: true },
  { folder: 'prisma/migrations', applied: 2, failure: '42P01', index: '"Book_title_idx"' },
  { folder: 'drizzle/migrations', applied: 0, failedAt: 2, failure: '42P01' },
  { folder: 'diesel/migrations', applied: 3, failure: '42P01', index: 'books_title_idx', downs: true },
  { folder: 'sqlx/migrations', applied: 2, failure: '42P01', index: 'books_title_idx', downs: true },
  {
    folder: 'node-pg-migrate/migrations',
    applied: 2,
    failure: '42P01',
    index: 'books_title_idx',
    downs: true,
  },
  { folder: 'atlas/migrations', applied: 3, failure: '42P01', index: 'books_author_idx' },
  { folder: 'plain/migrations', applied: 2, failure: '42P01', index: 'library_book_title_idx' },
];

const UNMARKED: Case[] = [
  { folder: 'dbmate/unmarked', applied: 1, failure: '25001' },
  { folder: 'dbmate/two-statements', applied: 1, failure: '25001' },
  { folder: 'golang-migrate/unmarked', applied: 1, failure: '25001' },
  { folder: 'goose/unmarked', applied: 1, failure: '25001' },
  { folder: 'flyway/mixed', applied: 1, failure: null },
  { folder: 'liquibase/unmarked', applied: 1, failure: '25001' },
  { folder: 'sqitch/unmarked', applied: 1, failure: '25001' },
  { folder: 'prisma/unmarked', applied: 1, failure: '25001' },
  { folder: 'drizzle/unmarked', applied: 0, failure: '25001' },
  { folder: 'diesel/unmarked', applied: 2, failure: '25001' },
  { folder: 'sqlx/unmarked', applied: 1, failure: '25001' },
  { folder: 'node-pg-migrate/unmarked', applied: 1, failure: '25001' },
  { folder: 'atlas/unmarked', applied: 1, failure: '25001' },
  { folder: 'plain/unmarked', applied: 1, failure: '25001' },
];

void describe('replay onto a scratch database (real PostgreSQL)', () => {
  for (const c of MAIN) {
    void it(`${c.folder}: replays up to the bad reference, mapped to its file, line and column`, async () => {
      const source = await loadSource(join(FIXTURES, c.folder));
      const report = await replay(source, env(), { reset: true });
      assert.equal(report.database, scratchDatabaseName(source));
      assert.match(report.database, /^mlab_/);
      const failedAt = c.failedAt ?? c.applied;
      const expected = source.migrations.map((_, k) =>
        k < c.applied ? 'applied' : k === failedAt ? 'failed' : 'pending',
      );
      assert.deepEqual(statuses(report), expected);
      const failed = report.migrations[failedAt];
      assert.equal(failed.error?.sqlstate, c.failure);
      // The mapped place is the missing relation's name (PostgreSQL gave a position) or the start of
      // the statement that names it (a REFERENCES check has no position).
      const relation = /relation "([^"]+)" does not exist/.exec(failed.error!.message)?.[1];
      assert.ok(relation, failed.error!.message);
      const at = textAt(failed.error!.file, failed.error!.line, failed.error!.column);
      assert.ok(
        at.startsWith(relation) ||
          (/^[A-Z]/i.test(at) && at.slice(0, at.indexOf(';')).includes(relation.split('.').pop()!)),
        `${failed.error!.file}:${failed.error!.line}:${failed.error!.column} points at ${relation}`,
      );
      assert.equal(report.failure?.migration, failed.id);
      for (const [k, m] of source.migrations.slice(0, c.applied).entries()) {
        // Sent one by one: each statement timed; sent as one string: the migration is.
        const each = report.migrations[k].statementMs;
        assert.equal(each?.length, m.up.script ? undefined : m.up.statements.length, m.id);
      }
      assert.match(report.failure!.sentence, new RegExp(`${failed.id} failed at .*:${failed.error!.line}:`));

      await onScratch(source, async (client) => {
        const history = HISTORY_TABLES[source.tool].name;
        if (history) assert.ok(await regclass(client, history), `${history} exists`);
        const { rows } = await client.query<{ id: string }>(
          `SELECT id FROM ${REPLAY_STATE_SCHEMA}.applied ORDER BY position`,
        );
        assert.deepEqual(
          rows.map((r) => r.id),
          source.migrations.slice(0, c.applied).map((m) => m.id),
        );
        if (c.index) assert.ok(await validIndex(client, c.index), `${c.index} is a valid index`);
      });

      if (source.pendingInOneTransaction) {
        // Drizzle: the failure rolled back every pending migration; replaying up to the second applies two.
        await onScratch(source, async (client) => assert.equal(await regclass(client, 'authors'), false));
        const two = await replay(source, env(), { to: source.migrations[1].version });
        assert.deepEqual(statuses(two).slice(0, 3), ['applied', 'applied', 'pending']);
        await onScratch(source, async (client) => assert.ok(await validIndex(client, 'books_title_idx')));
      }

      if (c.downs) {
        const back = await rollBack(source, env(), undefined);
        assert.ok(statuses(back).every((s) => s === 'pending'));
        const fresh = (await loadSource(join(FIXTURES, c.folder))).tool;
        assert.equal(fresh, source.tool);
        await onScratch(source, async (client) => {
          const history = HISTORY_TABLES[source.tool].ddl.join(' ');
          const left = (await publicTables(client)).filter((t) => !history.includes(`public.${t} `));
          assert.deepEqual(left, [], 'the downs removed every table of the migrations');
        });
      } else if (c.rollBackTo) {
        await assert.rejects(rollBack(source, env(), undefined), /has no down migration/);
        const back = await rollBack(source, env(), c.rollBackTo);
        const kept = source.migrations.findIndex((m) => m.version === c.rollBackTo) + 1;
        assert.equal(statuses(back).filter((s) => s === 'applied').length, kept);
        await onScratch(source, async (client) => assert.equal(await regclass(client, c.index!), false));
      } else if (source.migrations.every((m) => !m.down)) {
        await assert.rejects(rollBack(source, env(), undefined), /has no down migration/);
      }
    });
  }

  for (const c of UNMARKED) {
    const what = c.failure === '25001' ? 'CONCURRENTLY without the marker fails with 25001' : 'refused';
    void it(`${c.folder}: ${what}, at the statement's line`, async () => {
      const source = await loadSource(join(FIXTURES, c.folder));
      const report = await replay(source, env(), { reset: true });
      assert.equal(statuses(report).filter((s) => s === 'applied').length, c.applied);
      const failed = report.migrations.find((m) => m.status === 'failed');
      assert.ok(failed, 'one migration failed');
      assert.equal(failed.error?.sqlstate, c.failure);
      if (c.failure === '25001') {
        const at = textAt(failed.error!.file, failed.error!.line, failed.error!.column);
        assert.match(at.slice(0, at.indexOf(';')), /CONCURRENTLY/, 'the place is the CONCURRENTLY statement');
        const section = source.migrations.find((m) => m.id === failed.id)!.up;
        const rule = source.pendingInOneTransaction ?? section.why;
        assert.ok(report.failure!.sentence.includes(rule), 'the sentence names the tool rule');
        if (section.wayOut) assert.ok(report.failure!.sentence.includes(section.wayOut), 'and its way out');
        await onScratch(source, async (client) => {
          for (const index of ['books_title_idx', '"Book_title_idx"', 'library_book_title_idx'])
            assert.equal(await regclass(client, index), false);
        });
      }
    });
  }

  void it('flyway/auto-detected: the marked migration runs outside a transaction and builds its index', async () => {
    const source = await loadSource(join(FIXTURES, 'flyway/auto-detected'));
    const report = await replay(source, env(), { reset: true });
    assert.ok(statuses(report).every((s) => s === 'applied'));
    await onScratch(source, async (client) => assert.ok(await validIndex(client, 'books_title_idx')));
  });

  void it('a one-string section rolls back its earlier statements with the failing one (implicit transaction)', async () => {
    for (const folder of ['golang-migrate/unmarked', 'prisma/unmarked']) {
      const source = await loadSource(join(FIXTURES, folder));
      const report = await replay(source, env(), { reset: true });
      assert.equal(report.failure?.error.sqlstate, '25001', folder);
      await onScratch(source, async (client) => {
        const { rows } = await client.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM information_schema.columns WHERE column_name = 'isbn'",
        );
        assert.equal(rows[0].n, 0, `${folder}: the ALTER TABLE before the index was rolled back`);
      });
    }
  });

  void it('a sqitch verify script, run as the replay runs a section, fails before deploy and passes after it', async () => {
    const source = await loadSource(join(FIXTURES, 'sqitch/project'));
    const verify = source.migrations[0].verify;
    assert.ok(verify, 'the first change has a verify script');
    await resetScratch(source, env());
    const run = (client: pg.Client) => runSectionObserved(client, verify, { observer: {}, commit: true });
    await onScratch(source, async (client) => assert.equal((await run(client)).failure?.sqlstate, '42P01'));
    const report = await replay(source, env(), { to: source.migrations[0].id });
    assert.deepEqual(statuses(report).slice(0, 2), ['applied', 'pending']);
    await onScratch(source, async (client) => assert.equal((await run(client)).failure, undefined));
  });

  void it("maps PostgreSQL's error position back to the file's line and column past non-ASCII text", async () => {
    // Sent as one string (golang-migrate) and statement by statement (plain): PostgreSQL's position
    // counts characters from the start of what was sent, the file's column counts from its line.
    const text = "-- header\nCREATE TABLE café (note text DEFAULT '😀 naïve');\nSELEC 1;";
    for (const [tool, file] of [
      ['golang-migrate', '001_utf8.up.sql'],
      ['plain', '001_utf8.sql'],
    ] as const) {
      const dir = join(work, `position-${tool}`);
      writeSql(dir, file, text);
      const source = await loadSource(dir, tool);
      const report = await replay(source, env(), { reset: true });
      const error = report.failure?.error;
      assert.equal(error?.sqlstate, '42601', tool);
      assert.deepEqual([error.line, error.column], [3, 1], tool);
      assert.ok(textAt(error.file, error.line, error.column).startsWith('SELEC 1'), tool);
    }
  });

  void it('a second replay continues from the lab state; a changed file resets the scratch database', async () => {
    const dir = join(work, 'continue');
    writeSql(dir, '001_a.sql', 'CREATE TABLE a (id int);');
    const source1 = await loadSource(dir, 'plain');
    const first = await replay(source1, env(), { reset: true });
    assert.deepEqual(statuses(first), ['applied']);
    assert.equal(first.resetBecause, undefined, 'a new database is created, not reset');
    writeSql(dir, '002_b.sql', 'CREATE TABLE b (id int);');
    const source2 = await loadSource(dir, 'plain');
    const second = await replay(source2, env());
    assert.deepEqual(statuses(second), ['applied', 'applied']);
    assert.equal(second.resetBecause, undefined, 'nothing was reset');
    writeSql(dir, '001_a.sql', 'CREATE TABLE a (id int, note text);');
    const third = await replay(await loadSource(dir, 'plain'), env());
    assert.match(third.resetBecause ?? '', /001_a changed since it was applied/);
    assert.deepEqual(statuses(third), ['applied', 'applied']);
  });

  void it('Flyway with group=true: a failure rolls back every migration pending in that run', async () => {
    const dir = join(work, 'flyway-group');
    writeSql(dir, 'flyway.toml', '[flyway]\ngroup = true');
    writeSql(dir, 'V1__a.sql', 'CREATE TABLE a (id int PRIMARY KEY);');
    writeSql(
      dir,
      'V2__b.sql',
      'CREATE TABLE b (id int);\nCREATE TABLE c (a_id int REFERENCES missing (id));',
    );
    const source = await loadSource(dir);
    assert.equal(source.tool, 'flyway');
    const report = await replay(source, env(), { reset: true });
    assert.deepEqual(statuses(report), ['pending', 'failed']);
    assert.equal(report.failure?.error.sqlstate, '42P01');
    assert.equal(report.failure?.error.line, 2);
    assert.match(report.failure!.leftBehind, /rolled back with the 1 migration\(s\) before it/);
    await onScratch(source, async (client) =>
      assert.deepEqual(await publicTables(client), ['flyway_schema_history']),
    );
    const first = await replay(source, env(), { to: '1' });
    assert.deepEqual(statuses(first), ['applied', 'pending']);
  });

  void it('extensions shipped with the server work (pgcrypto, pg_trgm, ltree, uuid-ossp)', async () => {
    const dir = join(work, 'extensions');
    writeSql(
      dir,
      '001_extensions.sql',
      [
        'CREATE EXTENSION IF NOT EXISTS pgcrypto;',
        'CREATE EXTENSION IF NOT EXISTS pg_trgm;',
        'CREATE EXTENSION IF NOT EXISTS ltree;',
        'CREATE EXTENSION IF NOT EXISTS "uuid-ossp";',
        "CREATE TABLE places (id uuid DEFAULT uuid_generate_v4() PRIMARY KEY, path ltree, name text, secret bytea DEFAULT digest('x', 'sha256'));",
        'CREATE INDEX places_name_trgm ON places USING gin (name gin_trgm_ops);',
        "INSERT INTO places (path, name) VALUES ('top.middle', 'Main Street');",
      ].join('\n'),
    );
    const source = await loadSource(dir, 'plain');
    const report = await replay(source, env(), { reset: true });
    assert.deepEqual(statuses(report), ['applied'], report.failure?.sentence);
    await onScratch(source, async (client) => {
      const { rows } = await client.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM places WHERE path <@ 'top' AND name % 'Main Stret'",
      );
      assert.equal(rows[0].n, 1);
    });
  });

  void it('a role named in GRANT that does not exist: the error names it; listing it in roles creates it', async () => {
    const dir = join(work, 'roles');
    writeSql(
      dir,
      '001_table.sql',
      'CREATE TABLE reports (id int);\nGRANT SELECT ON reports TO report_reader;',
    );
    const source = await loadSource(dir, 'plain');
    const failed = await replay(source, env(), { reset: true });
    assert.equal(failed.failure?.missingRole, 'report_reader');
    assert.equal(failed.failure?.error.sqlstate, '42704');
    assert.match(failed.failure!.sentence, /migrationLab\.replay\.roles/);
    assert.equal(failed.failure!.error.line, 2);
    assert.match(failed.failure!.leftBehind, /1 statement\(s\) before it .* stay committed/);
    // The autocommit section left its first statement: the next replay resets, then the role exists.
    const retried = await replay(source, env({ roles: ['report_reader'] }));
    assert.match(retried.resetBecause ?? '', /001_table was interrupted or failed outside a transaction/);
    assert.deepEqual(statuses(retried), ['applied']);
    await onScratch(source, async (client) => {
      const { rows } = await client.query<{ ok: boolean }>(
        "SELECT has_table_privilege('report_reader', 'reports', 'SELECT') AS ok",
      );
      assert.equal(rows[0].ok, true);
    });
  });

  void it('cancel during a statement: CancelledError, and the next replay resets and recovers', async () => {
    const dir = join(work, 'cancel');
    writeSql(dir, '001_a.sql', 'CREATE TABLE a (id int);');
    writeSql(dir, '002_slow.sql', 'CREATE TABLE b (id int);\nSELECT pg_sleep(60);\nCREATE TABLE c (id int);');
    const source = await loadSource(dir, 'plain');
    await resetScratch(source, env());
    const controller = new AbortController();
    const progress: string[] = [];
    const running = replay(
      source,
      env({
        signal: controller.signal,
        onProgress: (p) => progress.push(`${p.index}/${p.total} ${p.migration}`),
      }),
    );
    const watcher = new pg.Client(clientConfig(postgres.target, 'replay-test-watch'));
    await watcher.connect();
    try {
      await pollUntil('the pg_sleep to run', async () => {
        const { rowCount } = await watcher.query(
          "SELECT 1 FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep%' AND state = 'active'",
        );
        return rowCount ? true : undefined;
      });
    } finally {
      await watcher.end();
    }
    controller.abort();
    await assert.rejects(running, CancelledError);
    assert.deepEqual(progress, ['1/2 001_a', '2/2 002_slow']);
    await onScratch(source, async (client) => {
      assert.equal(await regclass(client, 'b'), true, 'the cancelled section left its first statement');
      assert.equal(await regclass(client, 'c'), false);
    });
    const status = await replayStatus(source, env());
    assert.match(status.needsReset ?? '', /002_slow was interrupted/);
    assert.deepEqual(statuses(status), ['pending', 'pending']);
    await onScratch(source, async (client) =>
      assert.ok(await regclass(client, 'b'), 'a status read changes nothing'),
    );
    const again = await replay(source, env(), { to: '001' });
    assert.match(again.resetBecause ?? '', /002_slow was interrupted/);
    assert.deepEqual(statuses(again), ['applied', 'pending']);
    await onScratch(source, async (client) => assert.deepEqual(await publicTables(client), ['a']));
  });

  void it('the large realistic folder (135 dbmate migrations) replays end to end and rolls back', async () => {
    const source = await loadSource(join(__dirname, '../../../test/fixtures/large/dbmate'));
    assert.equal(source.migrations.length, 135);
    const report = await replay(source, env(), { reset: true });
    assert.equal(report.failure, undefined, report.failure?.sentence);
    assert.ok(statuses(report).every((s) => s === 'applied'));
    await onScratch(source, async (client) => {
      assert.ok(await validIndex(client, 'orders_name_trgm_idx'));
      const tables = (await publicTables(client)).filter((t) => t !== 'schema_migrations');
      assert.equal(tables.length, 13, tables.join(', '));
      const { rows } = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM audit_log');
      assert.equal(rows[0].n, 36);
    });
    await rollBack(source, env(), source.migrations[0].id);
    const status = await replayStatus(source, env());
    assert.equal(status.needsReset, undefined);
    assert.deepEqual(statuses(status), ['applied', ...Array<string>(134).fill('pending')]);
    await onScratch(source, async (client) => assert.equal(await regclass(client, 'audit_log'), false));
    const none = await rollBack(source, env(), undefined);
    assert.ok(statuses(none).every((s) => s === 'pending'));
    await onScratch(source, async (client) => {
      assert.deepEqual(await publicTables(client), ['schema_migrations'], 'only dbmate’s own table is left');
      const { rows } = await client.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM pg_type WHERE typtype = 'e' AND typnamespace = 'public'::regnamespace",
      );
      assert.equal(rows[0].n, 0, 'the downs dropped every enum type');
    });
  });
});

function writeSql(dir: string, name: string, text: string): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, name), `${text}\n`);
}
