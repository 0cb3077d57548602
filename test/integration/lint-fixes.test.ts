/**
 * Quick fixes on a real PostgreSQL (issue 11 §4): for each fix kind and each tool with a way out, the
 * fix is applied to a copy of the tool's fixture, the folder is read again by the tool's adapter and
 * replayed onto a fresh scratch database (replay.ts, the tool's own transaction semantics), and the
 * catalog shows the result is what the original meant (index valid, constraint validated, column
 * NOT NULL, unique constraint on the concurrently built index). Re-linting the fixed folder shows the
 * finding gone and the weaker lock predicted (those predictions are checked against pg_locks by
 * lint-lockfacts.test.ts). Where the tool has downs, everything rolls back too.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { clientConfig } from '../../src/core/db';
import type { RuleId } from '../../src/core/lint/rules';
import { silentLogger } from '../../src/core/log';
import type { MigrationSource, ToolId } from '../../src/core/migrations/model';
import {
  replay,
  rollBack,
  scratchDatabaseName,
  type ReplayEnvironment,
} from '../../src/core/migrations/replay';
import { applyEdits, copyFixture, findingOn, fixesOf, lintCopy, type FixtureCopy } from '../fixSupport';
import { startTestPostgres, type TestPostgres } from './support';

let postgres: TestPostgres;
const copies: FixtureCopy[] = [];

before(async () => {
  postgres = await startTestPostgres();
});

after(async () => {
  await postgres?.stop();
  for (const c of copies) rmSync(c.root, { recursive: true, force: true });
});

function env(): ReplayEnvironment {
  return { server: postgres.target, logger: silentLogger };
}

async function onScratch<T>(source: MigrationSource, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client(
    clientConfig({ ...postgres.target, database: scratchDatabaseName(source) }, 'fixes-test'),
  );
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

async function one<T extends pg.QueryResultRow>(
  c: pg.Client,
  sql: string,
  params: unknown[] = [],
): Promise<T | undefined> {
  return (await c.query<T>(sql, params)).rows[0];
}

interface Kind {
  name: string;
  rule: RuleId;
  needle: string;
  /** The catalog state the fixed migrations must leave. */
  check: (c: pg.Client) => Promise<void>;
  /** The statement kind the re-lint must show, with every lock of it in this mode. */
  weaker?: { kind: string; mode: string };
  /** The fix also covers the statements after it in the section (a session SET). */
  coversFollowing?: boolean;
}

const constraint = (c: pg.Client, name: string) =>
  one<{ contype: string; convalidated: boolean; index: string | null }>(
    c,
    "SELECT contype, convalidated, conindid::regclass::text AS index FROM pg_constraint WHERE conname = $1 AND conrelid = 'books'::regclass",
    [name],
  );

const KINDS: Kind[] = [
  {
    name: 'CONCURRENTLY out of the transaction',
    rule: 'index-without-concurrently',
    needle: 'CREATE INDEX books_title_idx',
    check: async (c) => {
      const row = await one<{ valid: boolean }>(
        c,
        "SELECT indisvalid AS valid FROM pg_index WHERE indexrelid = to_regclass('books_title_idx')",
      );
      assert.equal(row?.valid, true);
    },
    weaker: { kind: 'CREATE INDEX CONCURRENTLY', mode: 'ShareUpdateExclusiveLock' },
  },
  {
    name: 'CHECK NOT VALID + VALIDATE',
    rule: 'constraint-without-not-valid',
    needle: 'CHECK (price',
    check: async (c) =>
      assert.deepEqual(await constraint(c, 'books_price_positive'), {
        contype: 'c',
        convalidated: true,
        index: '-',
      }),
    weaker: { kind: 'ALTER TABLE … VALIDATE CONSTRAINT', mode: 'ShareUpdateExclusiveLock' },
  },
  {
    name: 'FOREIGN KEY NOT VALID + VALIDATE',
    rule: 'constraint-without-not-valid',
    needle: 'FOREIGN KEY',
    check: async (c) => assert.equal((await constraint(c, 'books_author_fk'))?.convalidated, true),
  },
  {
    name: 'the safe SET NOT NULL sequence',
    rule: 'set-not-null',
    needle: 'SET NOT NULL',
    check: async (c) => {
      const col = await one<{ notnull: boolean }>(
        c,
        "SELECT attnotnull AS notnull FROM pg_attribute WHERE attrelid = 'books'::regclass AND attname = 'isbn'",
      );
      assert.equal(col?.notnull, true);
      assert.equal(await constraint(c, 'books_isbn_not_null_check'), undefined); // the helper CHECK is gone
    },
  },
  {
    name: 'unique via a concurrent unique index',
    rule: 'unique-constraint-directly',
    needle: 'UNIQUE (isbn)',
    check: async (c) =>
      assert.deepEqual(await constraint(c, 'books_isbn_key'), {
        contype: 'u',
        convalidated: true,
        index: 'books_isbn_key',
      }),
    weaker: { kind: 'CREATE UNIQUE INDEX CONCURRENTLY', mode: 'ShareUpdateExclusiveLock' },
  },
  {
    name: 'SET lock_timeout before the statement',
    rule: 'access-exclusive-without-lock-timeout',
    needle: 'ADD COLUMN subtitle',
    coversFollowing: true,
    check: async (c) => {
      const col = await one<{ n: number }>(
        c,
        "SELECT count(*)::int AS n FROM pg_attribute WHERE attrelid = 'books'::regclass AND attname = 'subtitle'",
      );
      assert.equal(col?.n, 1);
    },
  },
];

const ALL = KINDS.map((k) => k.name);
const TRANSACTIONAL_ONLY = [KINDS[1].name, KINDS[2].name, KINDS[3].name, KINDS[5].name];
const TOOLS: [ToolId, string[], boolean][] = [
  // tool, the fix kinds it has a way for, whether its fixture has downs to roll back
  ['dbmate', ALL, true],
  ['golang-migrate', ALL, true],
  ['goose', ALL, true],
  ['flyway', ALL, false],
  ['liquibase', ALL, true],
  ['prisma', ALL, false],
  ['diesel', ALL, true],
  ['sqlx', ALL, false],
  ['atlas', ALL, false],
  ['plain', ALL, false],
  ['sqitch', ALL, true],
  ['node-pg-migrate', TRANSACTIONAL_ONLY, true],
  ['drizzle', [KINDS[5].name], false],
];

void describe('quick fixes replay on the real server and take the weaker lock', () => {
  for (const [tool, kinds, downs] of TOOLS) {
    for (const kind of KINDS.filter((k) => kinds.includes(k.name))) {
      void it(`${tool}: ${kind.name}`, async () => {
        const copy = copyFixture(tool);
        copies.push(copy);
        const before = await lintCopy(copy);
        const finding = findingOn(before.source, before.result, kind.rule, kind.needle);
        const [fix] = await fixesOf(before.source, finding);
        assert.ok(fix, `no fix for ${kind.rule}`);
        applyEdits(fix.edits);

        const after = await lintCopy(copy);
        const report = await replay(after.source, env(), { reset: true });
        assert.equal(report.failure, undefined, report.failure?.sentence);
        assert.ok(report.migrations.every((m) => m.status === 'applied'));
        assert.ok(
          report.migrations.length > before.source.migrations.length ||
            fix.edits.every((e) => e.kind === 'replace'),
        );
        await onScratch(after.source, kind.check);

        // The finding is gone from the statement it was on (and from whatever replaced it).
        const moved = after.result.findings.filter((f) => f.rule === kind.rule);
        const expectedLeft = before.result.findings.filter((f) => f.rule === kind.rule).length - 1;
        if (kind.coversFollowing) {
          const target = after.source.migrations
            .flatMap((m) => m.up.statements)
            .find((s) => s.text.includes(kind.needle))!;
          assert.equal(moved.filter((f) => f.file === target.file && f.line === target.start.line).length, 0);
          assert.ok(moved.length <= expectedLeft, JSON.stringify(moved));
        } else assert.equal(moved.length, expectedLeft, JSON.stringify(moved));
        if (kind.weaker) {
          const statement = after.result.statements.find((s) => s.kind === kind.weaker!.kind);
          assert.ok(statement, `no ${kind.weaker.kind} after the fix`);
          assert.ok(
            statement.locks.length > 0 && statement.locks.every((l) => l.mode === kind.weaker!.mode),
            JSON.stringify(statement.locks),
          );
          if (kind.weaker.kind.includes('CONCURRENTLY')) assert.equal(statement.transactional, false);
        }
        if (downs) {
          // Each migration the fix wrote or changed can be rolled back alone and applied again
          // (`dbmate rollback && dbmate up`, `diesel migration redo`), newest first.
          const fixedId = before.source.migrations.find((m) =>
            m.up.statements.some((x) => x.file === finding.file && x.start.line === finding.line),
          )!.id;
          const changed = after.source.migrations.findIndex((m) => m.id === fixedId);
          assert.ok(changed >= 0, fixedId);
          for (let k = after.source.migrations.length - 1; k >= changed && k > 0; k--) {
            const id = after.source.migrations[k].id;
            const down = await rollBack(after.source, env(), after.source.migrations[k - 1].id);
            assert.equal(down.failure, undefined, `rolling back to before ${id}: ${down.failure?.sentence}`);
            const redo = await replay(after.source, env());
            assert.equal(redo.failure, undefined, `applying ${id} again: ${redo.failure?.sentence}`);
          }
          await onScratch(after.source, kind.check);
          const back = await rollBack(after.source, env(), undefined);
          assert.equal(back.failure, undefined, back.failure?.sentence);
          const left = await onScratch(after.source, (c) =>
            one<{ t: string | null }>(c, "SELECT to_regclass('books')::text AS t"),
          );
          assert.equal(left?.t, null);
        }
      });
    }
  }
});

void describe('the SET NOT NULL fix rests on what PostgreSQL really does', () => {
  void it('SET NOT NULL skips its scan when a valid CHECK (col IS NOT NULL) exists (PostgreSQL says so at DEBUG1)', async () => {
    const client = new pg.Client(clientConfig(postgres.target, 'fixes-not-null'));
    await client.connect();
    const notices: string[] = [];
    client.on('notice', (n) => notices.push(n.message ?? ''));
    try {
      await client.query('CREATE TABLE not_null_proof (id int, isbn text)');
      await client.query("INSERT INTO not_null_proof SELECT g, 'x' || g FROM generate_series(1, 100) g");
      await client.query('SET client_min_messages = debug1');
      const proved = () => notices.some((m) => /sufficient to prove that it does not contain nulls/.test(m));

      await client.query('ALTER TABLE not_null_proof ALTER COLUMN id SET NOT NULL');
      assert.equal(proved(), false, 'without a check, SET NOT NULL scans');

      await client.query(
        'ALTER TABLE not_null_proof ADD CONSTRAINT not_null_proof_isbn_not_null_check CHECK (isbn IS NOT NULL) NOT VALID',
      );
      await client.query('ALTER TABLE not_null_proof VALIDATE CONSTRAINT not_null_proof_isbn_not_null_check');
      await client.query('ALTER TABLE not_null_proof ALTER COLUMN isbn SET NOT NULL');
      assert.equal(proved(), true, notices.join(' | '));
    } finally {
      await client.query('DROP TABLE IF EXISTS not_null_proof');
      await client.end();
    }
  });
});

void describe('PostgreSQL 18 named NOT NULL constraints', () => {
  void it('NOT VALID records an unvalidated NOT NULL; VALIDATE makes it valid, the proof SET NOT NULL uses', async () => {
    const client = new pg.Client(clientConfig(postgres.target, 'fixes-not-null-18'));
    await client.connect();
    try {
      await client.query('CREATE TABLE nn_proof (id int, code text)');
      await client.query("INSERT INTO nn_proof SELECT g, 'c' || g FROM generate_series(1, 50) g");
      await client.query('ALTER TABLE nn_proof ADD CONSTRAINT nn_proof_code_nn NOT NULL code NOT VALID');
      const state = () =>
        one<{ contype: string; valid: boolean }>(
          client,
          "SELECT contype, convalidated AS valid FROM pg_constraint WHERE conname = 'nn_proof_code_nn'",
        );
      assert.deepEqual(await state(), { contype: 'n', valid: false });
      await client.query('ALTER TABLE nn_proof VALIDATE CONSTRAINT nn_proof_code_nn');
      assert.deepEqual(await state(), { contype: 'n', valid: true });
      // SET NOT NULL keeps that constraint (no second one), as it has nothing left to prove.
      await client.query('ALTER TABLE nn_proof ALTER COLUMN code SET NOT NULL');
      const count = await one<{ n: number }>(
        client,
        "SELECT count(*)::int AS n FROM pg_constraint WHERE conrelid = 'nn_proof'::regclass AND contype = 'n'",
      );
      assert.equal(count?.n, 1);
    } finally {
      await client.query('DROP TABLE IF EXISTS nn_proof');
      await client.end();
    }
  });
});

void describe('every fix of one migration, applied one after another', () => {
  for (const tool of ['dbmate', 'flyway', 'goose'] as ToolId[]) {
    void it(`${tool}: the folder replays, and each constraint and index is what the original meant`, async () => {
      const copy = copyFixture(tool);
      copies.push(copy);
      for (const kind of KINDS.filter((k) => k.rule !== 'access-exclusive-without-lock-timeout')) {
        const { source, result } = await lintCopy(copy);
        const [fix] = await fixesOf(source, findingOn(source, result, kind.rule, kind.needle));
        assert.ok(fix, `no fix for ${kind.name} after the earlier ones`);
        applyEdits(fix.edits);
      }
      const after = await lintCopy(copy);
      const report = await replay(after.source, env(), { reset: true });
      assert.equal(report.failure, undefined, report.failure?.sentence);
      for (const kind of KINDS) await onScratch(after.source, kind.check);
    });
  }
});
