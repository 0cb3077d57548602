/**
 * The tracer (issue 12 §1, §3) on a real embedded PostgreSQL, asserting what was observed in pg_locks
 * and by the probes, never timings. The fixture (test/fixtures/trace) has one migration per lock:
 * a plain index, a CONCURRENTLY one, a rewriting ADD COLUMN, SET NOT NULL, a NOT VALID foreign key
 * and its VALIDATE. Its index key sleeps 5 ms a row, so the builds and the rewrite last seconds on any
 * machine: the stalls below come from the locks, not from how fast the host is.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { clientConfig } from '../../src/core/db';
import { CancelledError } from '../../src/core/errors';
import { memoryLogger, silentLogger } from '../../src/core/log';
import { loadSource } from '../../src/core/migrations/detect';
import type { MigrationSource } from '../../src/core/migrations/model';
import { replayStatus, scratchDatabaseName } from '../../src/core/migrations/replay';
import { traceMarkdown } from '../../src/core/trace/report';
import { traceMigrations, type TraceOptions } from '../../src/core/trace/trace';
import type { TraceReport, TraceStatement } from '../../src/core/trace/types';
import { queryDatabase, startTestPostgres, type TestPostgres } from './support';

const FIXTURE = join(__dirname, '../../../test/fixtures/trace/db/migrations');
const ORDERS = 'public.orders';
const CUSTOMERS = 'public.customers';

let postgres: TestPostgres;
let source: MigrationSource;

before(async () => {
  postgres = await startTestPostgres();
  source = await loadSource(FIXTURE);
});

after(async () => {
  await postgres?.stop();
});

function query<T extends pg.QueryResultRow>(database: string, sql: string): Promise<T[]> {
  return queryDatabase<T>(postgres.target, database, sql);
}

function trace(extra: Partial<TraceOptions>): Promise<TraceReport> {
  return traceMigrations({
    target: postgres.target,
    source,
    logger: silentLogger,
    rows: 400,
    ratePerSecond: 20,
    ...extra,
  });
}

function id(prefix: string): string {
  const m = source.migrations.find((x) => x.id.startsWith(prefix));
  assert.ok(m, prefix);
  return m.id;
}

function modesOn(s: TraceStatement, relation: string): string[] {
  return s.locks.filter((l) => l.relation === relation).map((l) => l.mode);
}

/** The trace left nothing behind: no session of the lab on the server, an empty scratch database. */
async function assertNothingLeft(of: MigrationSource = source): Promise<void> {
  const sessions = await query<{ application_name: string }>(
    'postgres',
    "SELECT application_name FROM pg_stat_activity WHERE application_name LIKE 'migration-lab:%'",
  );
  assert.deepEqual(sessions, [], 'no probe, long transaction, monitor or migration session is left');
  const status = await replayStatus(of, { server: postgres.target, logger: silentLogger });
  assert.ok(
    status.migrations.every((m) => m.status === 'pending'),
    'the scratch database was reset (nothing applied)',
  );
  const tables = await query<{ orders: string | null }>(
    scratchDatabaseName(of),
    "SELECT to_regclass('public.orders')::text AS orders",
  );
  assert.equal(tables[0]!.orders, null, 'the filled tables are gone');
}

void describe('trace', () => {
  void it('observes each statement’s locks, rewrite and impact, as the linter predicted', async () => {
    const logger = memoryLogger();
    const seen = { snapshots: 0, latencies: 0, starts: 0, ends: 0 };
    const report = await trace({
      migration: id('20240102'),
      through: id('20240107'),
      logger,
      live: {
        onLocks: () => seen.snapshots++,
        onLatency: (byTable) => {
          if ((byTable[ORDERS]?.writes.length ?? 0) > 0) seen.latencies++;
        },
        onStatement: (s) => (s.endedAt === undefined ? seen.starts++ : seen.ends++),
      },
    });
    assert.deepEqual([seen.starts, seen.ends], [6, 6], 'each statement’s start and end reach the panel');
    assert.ok(seen.snapshots > 0 && seen.latencies > 0, 'lock snapshots and probe samples reach the panel');
    assert.match(report.postgres, /^PostgreSQL \d+\.\d+/);
    assert.equal(report.tool, 'dbmate');
    assert.equal(report.migrations.length, 6);
    assert.equal(report.migrations[0]!.rows[ORDERS], 400);
    assert.ok(report.migrations[0]!.rows[CUSTOMERS]! > 0);
    const [plain, concurrent, addColumn, notNull, fk, validate] = report.migrations.map((m) => {
      assert.equal(m.statements.length, 1, m.id);
      return m.statements[0]!;
    });

    // Plain CREATE INDEX: ShareLock; writes of orders queued behind it, reads flowed.
    assert.deepEqual(modesOn(plain!, ORDERS), ['ShareLock']);
    assert.deepEqual(plain!.rewrites, []);
    assert.ok(plain!.writes[ORDERS]!.stalled > 0, 'writes of orders stalled behind the ShareLock');
    assert.equal(plain!.reads[ORDERS]!.stalled, 0, 'reads of orders did not stall');
    assert.ok(plain!.maxBlockedSessions >= 1, 'a write probe was seen waiting on the migration');
    assert.ok(plain!.progressPhases.length > 0, 'index build phases were seen');

    // CONCURRENTLY: ShareUpdateExclusiveLock seen from outside although no transaction; nothing stalled.
    assert.deepEqual(modesOn(concurrent!, ORDERS), ['ShareUpdateExclusiveLock']);
    assert.equal(concurrent!.reads[ORDERS]!.stalled, 0);
    assert.equal(concurrent!.writes[ORDERS]!.stalled, 0);

    // ADD COLUMN … DEFAULT clock_timestamp(): the table was rewritten; reads and writes stalled.
    assert.ok(addColumn!.rewrites.includes(ORDERS), `rewrites: ${addColumn!.rewrites.join(', ')}`);
    assert.ok(modesOn(addColumn!, ORDERS).includes('AccessExclusiveLock'));
    assert.ok(addColumn!.reads[ORDERS]!.stalled > 0, 'reads stalled during the rewrite');
    assert.ok(addColumn!.writes[ORDERS]!.stalled > 0, 'writes stalled during the rewrite');
    assert.match(addColumn!.verdict, /^Rewrote public\.orders \(400 rows\) under AccessExclusiveLock/);

    assert.deepEqual(modesOn(notNull!, ORDERS), ['AccessExclusiveLock']);
    assert.deepEqual(notNull!.rewrites, []);

    // The NOT VALID foreign key locks both tables ShareRowExclusive; VALIDATE only ShareUpdateExclusive.
    assert.ok(modesOn(fk!, ORDERS).includes('ShareRowExclusiveLock'));
    assert.ok(modesOn(fk!, CUSTOMERS).includes('ShareRowExclusiveLock'));
    assert.ok(modesOn(validate!, ORDERS).includes('ShareUpdateExclusiveLock'));
    assert.ok(!modesOn(validate!, ORDERS).includes('ShareRowExclusiveLock'));

    // The linter's prediction equals the observation for every statement.
    for (const s of [plain, concurrent, addColumn, notNull, fk, validate]) {
      assert.ok(s!.predicted && s!.predicted.length > 0, s!.sql);
      assert.equal(s!.predictionMismatch, undefined, `${s!.sql}: ${s!.predictionMismatch}`);
    }
    assert.ok(!logger.lines.some((l) => /linter bug/.test(l)));

    // The linter's findings on the traced files travel with the report, so every renderer lists them.
    assert.ok(
      report.findings?.some((f) => f.rule === 'index-without-concurrently' && f.file === plain!.file),
      `findings: ${JSON.stringify(report.findings?.map((f) => f.rule))}`,
    );
    const markdown = traceMarkdown(report);
    assert.match(markdown, /warning index-without-concurrently|error index-without-concurrently/);
    assert.match(markdown, /PostgreSQL \d+\.\d+/);
    assert.match(markdown, /\| public\.orders \| 400 \|/);
    assert.match(markdown, /blocks writes \(INSERT\/UPDATE\/DELETE\), not reads/);
    assert.match(markdown, /The linter predicted every observed lock/);
    await assertNothingLeft();
  });

  void it('with a long transaction open, reads queue behind the ALTER TABLE waiting for its lock', async () => {
    const report = await trace({ migration: id('20240105'), longTransactionSeconds: 2, rows: 100 });
    const s = report.migrations[0]!.statements[0]!;
    const lock = s.locks.find((l) => l.relation === ORDERS && l.mode === 'AccessExclusiveLock');
    assert.ok(lock, JSON.stringify(s.locks));
    assert.ok(lock.waitedMs > 0, 'the ALTER waited for the long transaction');
    assert.ok(s.maxBlockedSessions >= 1, 'sessions queued behind the waiting ALTER');
    assert.ok(s.reads[ORDERS]!.stalled > 0, 'reads of orders stalled in the queue');
    assert.match(s.verdict, /waited .* for AccessExclusiveLock on public\.orders/);
    await assertNothingLeft();
  });

  void it('a cancel mid-migration leaves nothing behind', async () => {
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    await assert.rejects(
      trace({
        migration: id('20240102'),
        signal: controller.signal,
        live: {
          onStatement: (s) => {
            if (s.endedAt === undefined) timer = setTimeout(() => controller.abort(), 300);
          },
        },
      }),
      CancelledError,
    );
    clearTimeout(timer);
    await assertNothingLeft();
  });

  void it('a cancel mid-fill leaves nothing behind', async () => {
    const controller = new AbortController();
    await assert.rejects(
      trace({
        migration: id('20240102'),
        rows: 2_000_000,
        signal: controller.signal,
        onProgress: (p) => {
          if (p.phase === 'fill' && (p.done ?? 0) > 0) controller.abort();
        },
      }),
      CancelledError,
    );
    await assertNothingLeft();
  });

  void it('a migration that fails is traced up to the failing statement; an earlier one that fails is a clear error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'migration-lab-trace-failing-'));
    try {
      const folder = join(dir, 'db', 'migrations');
      mkdirSync(folder, { recursive: true });
      const write = (name: string, up: string) =>
        writeFileSync(join(folder, `${name}.sql`), `-- migrate:up\n${up}\n\n-- migrate:down\n`);
      write('20240101000000_create', 'CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL);');
      write(
        '20240102000000_broken',
        'ALTER TABLE items ADD COLUMN price numeric;\nALTER TABLE items ALTER COLUMN missing SET NOT NULL;',
      );
      write('20240103000000_after', 'CREATE INDEX items_name_idx ON items (name);');
      const failing = await loadSource(folder);
      const report = await traceMigrations({
        target: postgres.target,
        source: failing,
        migration: '20240102000000',
        rows: 100,
        logger: silentLogger,
      });
      const [first, second] = report.migrations[0]!.statements;
      assert.ok(first!.locks.some((l) => l.relation === 'public.items' && l.mode === 'AccessExclusiveLock'));
      assert.match(second!.verdict, /^Failed after .*: column "missing" of relation "items" does not exist/);
      assert.match(
        report.migrations[0]!.verdict,
        /^Failed: 20240102000000_broken failed at .*:3: .*\(SQLSTATE 42703\)/,
      );
      await assertNothingLeft(failing);
      // Tracing the migration after it needs the broken one replayed first: that is the error.
      await assert.rejects(
        traceMigrations({
          target: postgres.target,
          source: failing,
          migration: '20240103000000',
          rows: 100,
          logger: silentLogger,
        }),
        /The migrations before 20240103000000_after could not be replayed: 20240102000000_broken failed at/,
      );
      await assertNothingLeft(failing);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  void it('on an external database: no fill, rolled back unless committing, non-transactional refused', async () => {
    const admin = new pg.Client(clientConfig(postgres.target, 'trace-test'));
    await admin.connect();
    await admin.query('DROP DATABASE IF EXISTS staging');
    await admin.query('CREATE DATABASE staging');
    await admin.end();
    const staging = { ...postgres.target, database: 'staging' };
    const setup = new pg.Client(clientConfig(staging, 'trace-test'));
    await setup.connect();
    await setup.query(`CREATE TABLE customers (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, email text NOT NULL UNIQUE);
      CREATE FUNCTION slow_key(value bigint) RETURNS bigint LANGUAGE sql IMMUTABLE AS 'SELECT value';
      CREATE TABLE orders (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, customer_id bigint NOT NULL REFERENCES customers (id),
        total numeric(12, 2) NOT NULL CHECK (total >= 0), placed_at timestamptz NOT NULL DEFAULT now());
      INSERT INTO customers (email) SELECT g || '@example.com' FROM generate_series(1, 20) g;
      INSERT INTO orders (customer_id, total) SELECT 1 + g % 20, g FROM generate_series(1, 50) g;`);
    await setup.end();
    const external = { commit: false, allowNonTransactional: false, allowWrites: false };
    await assert.rejects(
      traceMigrations({ target: staging, source, migration: id('20240103'), external, logger: silentLogger }),
      /cannot be rolled back/,
    );
    const report = await traceMigrations({
      target: staging,
      source,
      migration: id('20240102'),
      external,
      logger: silentLogger,
    });
    const s = report.migrations[0]!.statements[0]!;
    assert.deepEqual(modesOn(s, ORDERS), ['ShareLock'], 'the locks are real');
    assert.equal(report.writeProbes[ORDERS]?.kind, 'none', 'probes are read-only on an external database');
    const rows = await query<{ n: number; idx: string | null }>(
      'staging',
      "SELECT count(*)::int AS n, to_regclass('public.orders_customer_slow_idx')::text AS idx FROM orders",
    );
    assert.deepEqual(rows, [{ n: 50, idx: null }], 'no rows were added and the index was rolled back');
  });
});
