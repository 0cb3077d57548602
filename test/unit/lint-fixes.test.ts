import { readdirSync } from 'node:fs';
// Quick fixes (issue 11 §4): the exact files and text each fix writes per tool, and — after the edits
// are applied to a copy of the fixture and the folder is read again by its tool's adapter — that the
// finding is gone and the statement now takes the weaker lock. (The replay of the fixed folders on a
// real server is test/integration/lint-fixes.test.ts.)
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runLint, type LintReport } from '../../src/cli/lint';
import {
  DEFAULT_FIX_LOCK_TIMEOUT,
  fixCollector,
  fixesForFindings,
  positionAt,
  type Fix,
} from '../../src/core/lint/fixes';
import { lintSource } from '../../src/core/lint/lint';
import { loadSource } from '../../src/core/migrations/detect';
import type { LintResult } from '../../src/core/lint/lint';
import type { ToolId } from '../../src/core/migrations/model';
import {
  applyEdits,
  copyFixture,
  copyFolder,
  FIX_FIXTURES,
  findingOn,
  fixesOf,
  lintCopy,
  read,
  writeFolder,
  type FixtureCopy,
} from '../fixSupport';

const TOOL_FIXTURES = join(__dirname, '../../../test/fixtures/tools');

async function onlyFix(
  copy: FixtureCopy,
  rule: Parameters<typeof findingOn>[2],
  needle: string,
): Promise<Fix> {
  const { source, result } = await lintCopy(copy);
  const fixes = await fixesOf(source, findingOn(source, result, rule, needle));
  assert.equal(fixes.length, 1, JSON.stringify(fixes));
  assert.equal(fixes[0].preferred, true);
  return fixes[0];
}

function statementOf(result: LintResult, kind: string) {
  const found = result.statements.find((s) => s.kind === kind);
  assert.ok(found, `no ${kind} statement in ${JSON.stringify(result.statements.map((s) => s.kind))}`);
  return found;
}

/** After the fix: no finding of `rules` is left, and CREATE INDEX CONCURRENTLY runs outside a transaction. */
async function assertConcurrentIndex(copy: FixtureCopy, kind = 'CREATE INDEX CONCURRENTLY'): Promise<void> {
  const { result } = await lintCopy(copy);
  const left = result.findings.filter(
    (f) => f.rule === 'index-without-concurrently' || f.rule === 'concurrently-in-transaction',
  );
  assert.deepEqual(left, []);
  const index = statementOf(result, kind);
  // SHARE UPDATE EXCLUSIVE on the table (and on the index a concurrent drop removes): reads and writes go on.
  assert.ok(index.locks.some((l) => l.relation === 'public.books'));
  assert.ok(
    index.locks.every((l) => l.mode === 'ShareUpdateExclusiveLock'),
    JSON.stringify(index.locks),
  );
  assert.equal(index.transactional, false);
}

void describe('quick fix: CONCURRENTLY, moved out of the transaction the way each tool does it', () => {
  const expected: Partial<Record<ToolId, Record<string, string>>> = {
    dbmate: {
      '20240102000001_books_title_idx_concurrently.sql':
        '-- migrate:up transaction:false\nCREATE INDEX CONCURRENTLY IF NOT EXISTS books_title_idx ON books (title);\n\n-- migrate:down transaction:false\nDROP INDEX CONCURRENTLY IF EXISTS books_title_idx;\n',
    },
    'golang-migrate': {
      '20240102000001_books_title_idx_concurrently.up.sql':
        'CREATE INDEX CONCURRENTLY IF NOT EXISTS books_title_idx ON books (title);\n',
      '20240102000001_books_title_idx_concurrently.down.sql':
        'DROP INDEX CONCURRENTLY IF EXISTS books_title_idx;\n',
    },
    goose: {
      '20240102000001_books_title_idx_concurrently.sql':
        '-- +goose NO TRANSACTION\n-- +goose Up\nCREATE INDEX CONCURRENTLY IF NOT EXISTS books_title_idx ON books (title);\n\n-- +goose Down\nDROP INDEX CONCURRENTLY IF EXISTS books_title_idx;\n',
    },
    flyway: {
      'V2.1__books_title_idx_concurrently.sql':
        'CREATE INDEX CONCURRENTLY IF NOT EXISTS books_title_idx ON books (title);\n',
      'V2.1__books_title_idx_concurrently.sql.conf': 'executeInTransaction=false\n',
    },
    diesel: {
      'migrations/2024-01-02-000001_books_title_idx_concurrently/up.sql':
        'CREATE INDEX CONCURRENTLY IF NOT EXISTS books_title_idx ON books (title);\n',
      'migrations/2024-01-02-000001_books_title_idx_concurrently/down.sql':
        'DROP INDEX CONCURRENTLY IF EXISTS books_title_idx;\n',
      'migrations/2024-01-02-000001_books_title_idx_concurrently/metadata.toml':
        'run_in_transaction = false\n',
    },
    sqlx: {
      'migrations/20240102000001_books_title_idx_concurrently.sql':
        '-- no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS books_title_idx ON books (title);\n',
    },
    atlas: {
      '20240102000001_books_title_idx_concurrently.sql':
        '-- atlas:txmode none\n\nCREATE INDEX CONCURRENTLY IF NOT EXISTS books_title_idx ON books (title);\n',
    },
    prisma: {
      '20240102000001_books_title_idx_concurrently/migration.sql':
        'CREATE INDEX CONCURRENTLY IF NOT EXISTS books_title_idx ON books (title);\n',
    },
    plain: {
      '0003_books_title_idx_concurrently.sql':
        'CREATE INDEX CONCURRENTLY IF NOT EXISTS books_title_idx ON books (title);\n',
    },
  };
  for (const [tool, files] of Object.entries(expected) as [ToolId, Record<string, string>][]) {
    void it(`${tool}: a new migration right after the current one, holding only the concurrent build`, async () => {
      const copy = copyFixture(tool);
      const fix = await onlyFix(copy, 'index-without-concurrently', 'CREATE INDEX books_title_idx');
      assert.match(fix.title, /^Build the index CONCURRENTLY in a new migration /);
      const created = fix.edits
        .filter((e) => e.kind === 'create')
        .map((e) => e.file.slice(copy.root.length + 1));
      assert.deepEqual(created.sort(), Object.keys(files).sort());
      applyEdits(fix.edits);
      for (const [name, text] of Object.entries(files)) assert.equal(read(join(copy.root, name)), text);
      await assertConcurrentIndex(copy);
      // The statement left the current migration; the one after it is untouched.
      const { source } = await lintCopy(copy);
      const current = source.migrations.find((m) => /change_books|change-books|^lab:2$/.test(m.id))!;
      assert.equal(
        current.up.statements.some((s) => /CREATE INDEX/.test(s.text)),
        false,
      );
      const k = source.migrations.indexOf(current);
      assert.match(
        source.migrations[k + 1].up.statements[0].text,
        /^CREATE INDEX CONCURRENTLY IF NOT EXISTS/,
      );
    });
  }

  void it("dbmate: the current down's DROP INDEX moves with the index (rolling both back cannot fail)", async () => {
    const copy = copyFixture('dbmate');
    applyEdits((await onlyFix(copy, 'index-without-concurrently', 'CREATE INDEX books_title_idx')).edits);
    const current = read(join(copy.root, '20240102000000_change_books.sql'));
    assert.doesNotMatch(current, /INDEX books_title_idx/);
    assert.match(current, /ALTER TABLE books DROP COLUMN subtitle;/);
  });

  void it('Liquibase: a new changeset after the current one, runInTransaction:false, with its rollback', async () => {
    const copy = copyFixture('liquibase');
    const fix = await onlyFix(copy, 'index-without-concurrently', 'CREATE INDEX books_title_idx');
    assert.equal(fix.title, 'Build the index CONCURRENTLY in a new changeset 2-books-title-idx-concurrently');
    applyEdits(fix.edits);
    assert.match(
      read(join(copy.root, 'changelog.sql')),
      /--rollback ALTER TABLE books DROP COLUMN subtitle;\n\n--changeset lab:2-books-title-idx-concurrently runInTransaction:false\nCREATE INDEX CONCURRENTLY IF NOT EXISTS books_title_idx ON books \(title\);\n--rollback DROP INDEX CONCURRENTLY IF EXISTS books_title_idx;\n\n--changeset lab:3\n/,
    );
    await assertConcurrentIndex(copy);
  });

  void it('Atlas: the title says atlas.sum must be re-hashed (its format is not documented)', async () => {
    const fix = await onlyFix(
      copyFixture('atlas'),
      'index-without-concurrently',
      'CREATE INDEX books_title_idx',
    );
    assert.match(fix.title, /then run `atlas migrate hash`$/);
  });

  void it('Drizzle Kit and node-pg-migrate SQL: no way out, no fix, and the message says why', async () => {
    for (const tool of ['drizzle', 'node-pg-migrate'] as const) {
      const copy = copyFixture(tool);
      const { source, result } = await lintCopy(copy);
      const finding = findingOn(source, result, 'index-without-concurrently', 'CREATE INDEX books_title_idx');
      assert.deepEqual(await fixesOf(source, finding), []);
      assert.match(finding.message, /with no way out .* so no quick fix can move it\.$/);
    }
  });

  const alone: [string, ToolId, RegExp][] = [
    ['dbmate/unmarked', 'dbmate', /-- migrate:up transaction:false\n/],
    ['goose/unmarked', 'goose', /^-- \+goose NO TRANSACTION\n-- \+goose Up\n/],
    ['sqlx/unmarked', 'sqlx', /^-- no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS/],
    [
      'atlas/unmarked',
      'atlas',
      /^-- atlas:txmode none\n\nCREATE INDEX CONCURRENTLY IF NOT EXISTS "books_title_idx"/,
    ],
  ];
  for (const [folder, tool, text] of alone) {
    void it(`${folder}: the statement alone in its migration stays, the migration gets the tool's marker`, async () => {
      const copy = copyFolder(join(TOOL_FIXTURES, folder), tool);
      const { source, result } = await lintCopy(copy);
      const finding = result.findings.find((f) => f.rule === 'concurrently-in-transaction');
      assert.ok(finding, JSON.stringify(result.findings));
      const [fix] = await fixesOf(source, finding);
      assert.ok(fix);
      assert.equal(fix.edits.filter((e) => e.kind === 'create').length, 0);
      applyEdits(fix.edits);
      assert.match(read(finding.file), text);
      await assertConcurrentIndex(copy);
    });
  }

  void it('golang-migrate: a statement alone in its file is sent on its own, so CONCURRENTLY goes in place', async () => {
    const copy = writeFolder(
      {
        '1_t.up.sql': 'CREATE TABLE books (id int, title text);\n',
        '2_i.up.sql': 'CREATE INDEX books_title_idx ON books (title);\n',
        '2_i.down.sql': 'DROP INDEX books_title_idx;\n',
      },
      'golang-migrate',
    );
    const fix = await onlyFix(copy, 'index-without-concurrently', 'CREATE INDEX');
    assert.equal(fix.title, 'Build the index CONCURRENTLY (in place)');
    applyEdits(fix.edits);
    assert.equal(
      read(join(copy.root, '2_i.up.sql')),
      'CREATE INDEX CONCURRENTLY IF NOT EXISTS books_title_idx ON books (title);\n',
    );
    await assertConcurrentIndex(copy);
  });

  void it('Diesel: alone in its migration, metadata.toml gets run_in_transaction = false', async () => {
    const copy = copyFolder(join(TOOL_FIXTURES, 'diesel/unmarked'), 'diesel');
    const { source, result } = await lintCopy(copy);
    const finding = result.findings.find((f) => f.rule === 'concurrently-in-transaction')!;
    const [fix] = await fixesOf(source, finding);
    applyEdits(fix.edits);
    assert.equal(
      read(join(copy.root, '2024-01-02-000000_index_books_title/metadata.toml')),
      'run_in_transaction = false\n',
    );
    await assertConcurrentIndex(copy);
  });

  void it('a statement-by-statement section (goose NO TRANSACTION) only gains CONCURRENTLY, in place', async () => {
    const copy = writeFolder(
      {
        '1_tables.sql': '-- +goose Up\nCREATE TABLE books (id int, title text);\n',
        '2_index.sql':
          '-- +goose NO TRANSACTION\n-- +goose Up\nSELECT 1;\nCREATE INDEX ON books (title);\n\n-- +goose Down\nSELECT 1;\n',
      },
      'goose',
    );
    const fix = await onlyFix(copy, 'index-without-concurrently', 'CREATE INDEX ON books');
    assert.equal(fix.title, 'Build the index CONCURRENTLY (in place)');
    applyEdits(fix.edits);
    // An unnamed index gets the name PostgreSQL would choose, so that IF NOT EXISTS can work.
    assert.match(
      read(join(copy.root, '2_index.sql')),
      /\nSELECT 1;\nCREATE INDEX CONCURRENTLY IF NOT EXISTS books_title_idx ON books \(title\);\n/,
    );
    await assertConcurrentIndex(copy);
  });

  void it('an unnamed index whose usual name is taken gets the next free one, as PostgreSQL names it', async () => {
    // IF NOT EXISTS on the taken name would build nothing, and the down would drop the other index.
    const copy = writeFolder(
      {
        '20240101000000_tables.sql':
          '-- migrate:up\nCREATE TABLE books (id int, title text);\nCREATE INDEX ON books (title);\n\n-- migrate:down\nDROP TABLE books;\n',
        '20240102000000_index.sql':
          "-- migrate:up\nSELECT 1;\nCREATE INDEX ON books (title) WHERE title <> '';\n\n-- migrate:down\nSELECT 1;\n",
      },
      'dbmate',
    );
    const fix = await onlyFix(copy, 'index-without-concurrently', "WHERE title <> ''");
    applyEdits(fix.edits);
    const all = readdirSync(copy.root)
      .map((f) => read(join(copy.root, f)))
      .join('\n');
    assert.match(all, /CREATE INDEX CONCURRENTLY IF NOT EXISTS books_title_idx1 ON books \(title\) WHERE/);
    assert.match(all, /DROP INDEX CONCURRENTLY IF EXISTS books_title_idx1;/);
    assert.doesNotMatch(all, /DROP INDEX CONCURRENTLY IF EXISTS books_title_idx;/);
  });

  void it('DROP INDEX: CONCURRENTLY IF EXISTS, and the down recreates it concurrently from the old down', async () => {
    const copy = writeFolder(
      {
        '1_tables.sql':
          '-- migrate:up\nCREATE TABLE books (id int, title text);\nCREATE INDEX books_title_idx ON books (title);\n-- migrate:down\nDROP TABLE books;\n',
        '2_drop.sql':
          '-- migrate:up\nALTER TABLE books ADD COLUMN isbn text;\nDROP INDEX books_title_idx;\n\n-- migrate:down\nCREATE INDEX books_title_idx ON books (title);\nALTER TABLE books DROP COLUMN isbn;\n',
      },
      'dbmate',
    );
    const fix = await onlyFix(copy, 'index-without-concurrently', 'DROP INDEX');
    applyEdits(fix.edits);
    assert.equal(
      read(join(copy.root, '3_drop_books_title_idx_concurrently.sql')),
      '-- migrate:up transaction:false\nDROP INDEX CONCURRENTLY IF EXISTS books_title_idx;\n\n-- migrate:down transaction:false\nCREATE INDEX CONCURRENTLY IF NOT EXISTS books_title_idx ON books (title);\n',
    );
    assert.equal(
      read(join(copy.root, '2_drop.sql')),
      '-- migrate:up\nALTER TABLE books ADD COLUMN isbn text;\n\n-- migrate:down\nALTER TABLE books DROP COLUMN isbn;\n',
    );
    await assertConcurrentIndex(copy, 'DROP INDEX CONCURRENTLY');
  });

  void it('REINDEX gains CONCURRENTLY after its object keyword; VACUUM in a transaction moves out as is', async () => {
    const copy = writeFolder(
      {
        '1_t.sql':
          '-- migrate:up\nCREATE TABLE books (id int, title text);\nCREATE INDEX books_title_idx ON books (title);\n',
        '2_m.sql': '-- migrate:up\nSELECT 1;\nREINDEX (VERBOSE) TABLE books;\nVACUUM books;\n',
      },
      'dbmate',
    );
    const { source, result } = await lintCopy(copy);
    const [reindex] = await fixesOf(
      source,
      findingOn(source, result, 'index-without-concurrently', 'REINDEX'),
    );
    const [vacuum] = await fixesOf(
      source,
      findingOn(source, result, 'concurrently-in-transaction', 'VACUUM'),
    );
    const created = (fix: Fix) => fix.edits.flatMap((e) => (e.kind === 'create' ? [e.text] : []));
    assert.deepEqual(created(reindex), [
      '-- migrate:up transaction:false\nREINDEX (VERBOSE) TABLE CONCURRENTLY books;\n\n-- migrate:down\n-- Nothing to undo: a rebuilt index needs no undo.\n',
    ]);
    assert.equal(
      vacuum.title,
      'Run the statement outside a transaction in a new migration 3_m_outside_transaction.sql',
    );
    assert.deepEqual(created(vacuum), [
      '-- migrate:up transaction:false\nVACUUM books;\n\n-- migrate:down\n-- Nothing to undo: undo the statement above here if this migration must be reversible.\n',
    ]);
    applyEdits(reindex.edits);
    const after = await lintCopy(copy);
    const rebuilt = statementOf(after.result, 'REINDEX CONCURRENTLY');
    assert.equal(rebuilt.transactional, false);
    assert.ok(
      rebuilt.locks.every((l) => l.mode === 'ShareUpdateExclusiveLock'),
      JSON.stringify(rebuilt.locks),
    );
  });

  void it('no free version between this migration and the next: no move fix (order would change)', async () => {
    const copy = writeFolder(
      {
        '0001_tables.sql': 'CREATE TABLE books (id int, title text);\n',
        '0002_index.sql': 'BEGIN;\nSELECT 1;\nCREATE INDEX books_title_idx ON books (title);\nCOMMIT;\n',
        '0003_more.sql': 'SELECT 1;\n',
      },
      'plain',
    );
    const { source, result } = await lintCopy(copy);
    assert.deepEqual(
      await fixesOf(source, findingOn(source, result, 'index-without-concurrently', 'CREATE INDEX')),
      [],
    );
  });
});

void describe('quick fix: NOT VALID, then VALIDATE in its own transaction', () => {
  void it('dbmate: the ADD gains NOT VALID in place, VALIDATE goes into the next migration', async () => {
    const copy = copyFixture('dbmate');
    const fix = await onlyFix(copy, 'constraint-without-not-valid', 'FOREIGN KEY');
    applyEdits(fix.edits);
    assert.match(
      read(join(copy.root, '20240102000000_change_books.sql')),
      /\nALTER TABLE books ADD CONSTRAINT books_author_fk FOREIGN KEY \(author_id\) REFERENCES authors \(id\) NOT VALID;\n/,
    );
    assert.equal(
      read(join(copy.root, '20240102000001_validate_books_author_fk.sql')),
      '-- migrate:up\nALTER TABLE books VALIDATE CONSTRAINT books_author_fk;\n\n-- migrate:down\n-- Nothing to undo: validating a constraint changes no data.\n',
    );
    const { result } = await lintCopy(copy);
    assert.equal(result.findings.filter((f) => f.rule === 'constraint-without-not-valid').length, 1); // the CHECK's
    const add = statementOf(result, 'ALTER TABLE … ADD FOREIGN KEY … NOT VALID');
    assert.equal(add.scans, false);
    const validate = statementOf(result, 'ALTER TABLE … VALIDATE CONSTRAINT');
    assert.deepEqual(validate.locks, [
      { relation: 'public.books', mode: 'ShareUpdateExclusiveLock' },
      { relation: 'public.authors', mode: 'RowShareLock' },
    ]);
  });

  void it('an unnamed CHECK gets the name PostgreSQL would give it, so VALIDATE can name it', async () => {
    const copy = writeFolder(
      {
        '1_t.sql': '-- +goose Up\nCREATE TABLE books (id int, price numeric);\n',
        '2_c.sql': '-- +goose NO TRANSACTION\n-- +goose Up\nALTER TABLE books ADD CHECK (price > 0);\n',
      },
      'goose',
    );
    const fix = await onlyFix(copy, 'constraint-without-not-valid', 'CHECK');
    applyEdits(fix.edits);
    assert.match(
      read(join(copy.root, '2_c.sql')),
      /ALTER TABLE books ADD CONSTRAINT books_price_check CHECK \(price > 0\) NOT VALID;\nALTER TABLE books VALIDATE CONSTRAINT books_price_check;\n/,
    );
    const { result } = await lintCopy(copy);
    assert.equal(result.findings.filter((f) => f.rule === 'constraint-without-not-valid').length, 0);
  });

  void it('names an unnamed CHECK in place when it is not the first statement of its section', async () => {
    // The section is parsed in one call: the fix must still place the name by the statement's own text.
    const copy = writeFolder(
      {
        '1_t.sql': '-- +goose Up\nCREATE TABLE books (id int, price numeric);\n',
        '2_c.sql':
          "-- +goose NO TRANSACTION\n-- +goose Up\nSET lock_timeout = '2s';\nALTER TABLE books ADD CHECK (price > 0);\n",
      },
      'goose',
    );
    const fix = await onlyFix(copy, 'constraint-without-not-valid', 'CHECK');
    applyEdits(fix.edits);
    assert.match(
      read(join(copy.root, '2_c.sql')),
      /SET lock_timeout = '2s';\nALTER TABLE books ADD CONSTRAINT books_price_check CHECK \(price > 0\) NOT VALID;\nALTER TABLE books VALIDATE CONSTRAINT books_price_check;\n/,
    );
  });
});

void describe('quick fix: the safe SET NOT NULL sequence', () => {
  void it('golang-migrate: CHECK … NOT VALID in place; VALIDATE, SET NOT NULL, DROP CHECK in the next pair', async () => {
    const copy = copyFixture('golang-migrate');
    const fix = await onlyFix(copy, 'set-not-null', 'SET NOT NULL');
    applyEdits(fix.edits);
    assert.match(
      read(join(copy.root, '20240102000000_change_books.up.sql')),
      /\nALTER TABLE books ADD CONSTRAINT books_isbn_not_null_check CHECK \(isbn IS NOT NULL\) NOT VALID;\n/,
    );
    // golang-migrate sends the file as one string without a transaction: a session SET, then RESET.
    assert.equal(
      read(join(copy.root, '20240102000001_set_books_isbn_not_null.up.sql')),
      "SET lock_timeout = '2s';\nALTER TABLE books VALIDATE CONSTRAINT books_isbn_not_null_check;\nALTER TABLE books ALTER COLUMN isbn SET NOT NULL;\nALTER TABLE books DROP CONSTRAINT books_isbn_not_null_check;\nRESET lock_timeout;\n",
    );
    // The exact inverse (the check comes back), so the new migration alone can be rolled back and redone.
    assert.equal(
      read(join(copy.root, '20240102000001_set_books_isbn_not_null.down.sql')),
      'ALTER TABLE books ALTER COLUMN isbn DROP NOT NULL;\nALTER TABLE books ADD CONSTRAINT books_isbn_not_null_check CHECK (isbn IS NOT NULL) NOT VALID;\n',
    );
    // The current down's DROP NOT NULL moved with it; the check the current up now adds is dropped instead.
    const currentDown = read(join(copy.root, '20240102000000_change_books.down.sql'));
    assert.match(currentDown, /\nALTER TABLE books DROP CONSTRAINT IF EXISTS books_isbn_not_null_check;\n/);
    assert.doesNotMatch(currentDown, /DROP NOT NULL/);
    const { result } = await lintCopy(copy);
    assert.equal(result.findings.filter((f) => f.rule === 'set-not-null').length, 0);
    const newFile = join(copy.root, '20240102000001_set_books_isbn_not_null.up.sql');
    // Only the note that DROP CONSTRAINT runs under the lock SET NOT NULL took (both instant).
    assert.deepEqual(
      result.findings.filter((f) => f.file === newFile).map((f) => [f.rule, f.severity]),
      [['statements-after-access-exclusive', 'info']],
    );
    const setNotNull = statementOf(result, 'ALTER TABLE … ALTER COLUMN … SET NOT NULL');
    assert.equal(setNotNull.scans, false); // the valid CHECK proves it: no scan under ACCESS EXCLUSIVE
  });

  void it('before PostgreSQL 12 the CHECK is not used: no fix, and SET NOT NULL still scans', async () => {
    const copy = copyFixture('golang-migrate');
    const { source, result } = await lintCopy(copy, 11);
    assert.deepEqual(
      await fixesOf(source, findingOn(source, result, 'set-not-null', 'SET NOT NULL'), 11),
      [],
    );
  });
});

void describe('quick fix: unique constraint via a concurrent unique index', () => {
  void it('sqlx: index in a -- no-transaction file, the constraint USING INDEX in the next one', async () => {
    const copy = copyFixture('sqlx');
    const fix = await onlyFix(copy, 'unique-constraint-directly', 'UNIQUE (isbn)');
    applyEdits(fix.edits);
    assert.equal(
      read(join(copy.dir, '20240102000001_books_isbn_key_index_concurrently.sql')),
      '-- no-transaction\nCREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS books_isbn_key ON books (isbn);\n',
    );
    assert.equal(
      read(join(copy.dir, '20240102000002_add_books_isbn_key.sql')),
      "SET LOCAL lock_timeout = '2s';\nALTER TABLE books ADD CONSTRAINT books_isbn_key UNIQUE USING INDEX books_isbn_key;\n",
    );
    const { result } = await lintCopy(copy);
    assert.deepEqual(
      result.findings
        .filter((f) => f.file === join(copy.dir, '20240102000002_add_books_isbn_key.sql'))
        .map((f) => f.rule),
      [],
      'the migrations the fix writes trip none of the lab’s rules',
    );
    assert.equal(result.findings.filter((f) => f.rule === 'unique-constraint-directly').length, 0);
    const index = statementOf(result, 'CREATE UNIQUE INDEX CONCURRENTLY');
    assert.deepEqual(index.locks, [{ relation: 'public.books', mode: 'ShareUpdateExclusiveLock' }]);
    assert.equal(index.transactional, false);
    const using = statementOf(result, 'ALTER TABLE … ADD UNIQUE USING INDEX');
    assert.equal(using.scans, false);
  });
});

void describe('quick fix: SET lock_timeout before the statement', () => {
  void it('in a transaction: SET LOCAL; outside one: SET before, RESET after; Drizzle: its own chunk', async () => {
    const cases: [ToolId, string, string][] = [
      [
        'dbmate',
        '20240102000000_change_books.sql',
        "-- migrate:up\nSET LOCAL lock_timeout = '2s';\nALTER TABLE books ADD COLUMN subtitle text;\n",
      ],
      [
        'prisma',
        '20240102000000_change_books/migration.sql',
        "SET lock_timeout = '2s';\nALTER TABLE books ADD COLUMN subtitle text;\nRESET lock_timeout;\n",
      ],
      [
        'drizzle',
        '0001_change_books.sql',
        "SET LOCAL lock_timeout = '2s';\n--> statement-breakpoint\nALTER TABLE books ADD COLUMN subtitle text;\n",
      ],
    ];
    for (const [tool, file, start] of cases) {
      const copy = copyFixture(tool);
      const fix = await onlyFix(copy, 'access-exclusive-without-lock-timeout', 'ADD COLUMN subtitle');
      applyEdits(fix.edits);
      assert.ok(read(join(copy.dir, file)).startsWith(start), `${tool}: ${read(join(copy.dir, file))}`);
      const { source, result } = await lintCopy(copy);
      const statement = source.migrations
        .flatMap((m) => m.up.statements)
        .find((s) => s.text.includes('subtitle'))!;
      assert.equal(
        result.findings.some(
          (f) => f.rule === 'access-exclusive-without-lock-timeout' && f.line === statement.start.line,
        ),
        false,
        tool,
      );
    }
  });
});

void describe('lint CLI: the fixes of each finding', () => {
  async function lint(...argv: string[]) {
    let stdout = '';
    const code = await runLint(argv, { stdout: (t) => (stdout += t), stderr: () => undefined }, FIX_FIXTURES);
    return { code, stdout };
  }

  void it('--format json fills `fixes: [{ title }]` where a fix exists, and leaves the key out elsewhere', async () => {
    const { stdout } = await lint('dbmate', '--format', 'json', '--fail-on', 'never');
    const report = JSON.parse(stdout) as LintReport;
    const index = report.findings.find((f) => f.rule === 'index-without-concurrently');
    assert.deepEqual(index?.fixes, [
      {
        title:
          'Build the index CONCURRENTLY in a new migration 20240102000001_books_title_idx_concurrently.sql',
      },
    ]);
    const held = report.findings.find((f) => f.rule === 'statements-after-access-exclusive');
    assert.ok(held);
    assert.equal('fixes' in held, false);
    assert.deepEqual(Object.keys(index), [...Object.keys(index).filter((k) => k !== 'fixes'), 'fixes']);
  });

  void it('--format text adds a "fix:" line under the finding', async () => {
    const { stdout } = await lint('drizzle', '--format', 'text', '--fail-on', 'never');
    assert.match(
      stdout,
      /\[access-exclusive-without-lock-timeout\][^\n]*\n {2}lock: [^\n]*\n {2}fix: Set lock_timeout = '2s' before the statement \(SET LOCAL, for its transaction\)\n/,
    );
    // Drizzle has no way out of its transaction: the index finding has no fix line.
    assert.doesNotMatch(stdout, /\[index-without-concurrently\][^\n]*\n {2}lock: [^\n]*\n {2}fix:/);
  });
});

void describe('quick fix settings', () => {
  void it("the setting's default is the core's constant (one value, defined in core, mirrored in the manifest)", () => {
    const manifest = JSON.parse(read(join(__dirname, '../../../package.json'))) as {
      contributes: { configuration: { properties: Record<string, { default?: unknown }> } };
    };
    const properties = manifest.contributes.configuration.properties;
    assert.equal(properties['migrationLab.lint.fixLockTimeout'].default, DEFAULT_FIX_LOCK_TIMEOUT);
  });
});

void describe('quick fix positions', () => {
  void it('gives the 0-based line and character of every offset, across texts asked in turn', () => {
    const texts = ['a\nbc\r\n\nd😀e\n', 'no newline', '\n\nx'];
    for (const text of [...texts, ...texts]) {
      for (let offset = 0; offset <= text.length + 1; offset++) {
        const before = text.slice(0, offset).split('\n');
        assert.deepEqual(
          positionAt(text, offset),
          { line: before.length - 1, character: offset - (text.slice(0, offset).lastIndexOf('\n') + 1) },
          `${JSON.stringify(text)} at ${offset}`,
        );
      }
    }
  });
});

void describe('quick fixes computed in the lint pass', () => {
  void it("the CLI's in-pass collector gives exactly the editor's on-demand fixes, finding for finding", async () => {
    for (const tool of ['dbmate', 'liquibase', 'plain', 'drizzle'] as const) {
      const copy = copyFixture(tool);
      const source = await loadSource(copy.dir, tool);
      const collector = await fixCollector(source, { pgMajor: 18 });
      const result = await lintSource(source, { pgMajor: 18, onStatement: collector.onStatement });
      const onDemand = await fixesForFindings(source, result.findings, { pgMajor: 18 });
      assert.deepEqual(result.findings.map(collector.fixesOf), onDemand, tool);
      assert.ok(
        onDemand.some((f) => f.length > 0),
        tool,
      );
    }
  });
});

void describe('quick fixes on a partitioned table (only what PostgreSQL accepts there)', () => {
  const folder = (change: string) =>
    writeFolder(
      {
        '1_t.sql':
          '-- migrate:up\nCREATE TABLE authors (id int PRIMARY KEY);\n' +
          'CREATE TABLE m (id int, author_id int, d date) PARTITION BY RANGE (d);\n' +
          "CREATE TABLE m_2024 PARTITION OF m FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');\n",
        '2_c.sql': `-- migrate:up\n${change}\n`,
      },
      'dbmate',
    );

  void it('UNIQUE: no fix, and the message says the lock-free way is refused there (majors.test.ts checks it)', async () => {
    const copy = folder('ALTER TABLE m ADD CONSTRAINT m_id_d_key UNIQUE (id, d);');
    const { source, result } = await lintCopy(copy);
    const finding = findingOn(source, result, 'unique-constraint-directly', 'UNIQUE');
    assert.match(
      finding.message,
      /partitioned table PostgreSQL refuses both CREATE INDEX CONCURRENTLY and ADD CONSTRAINT … USING INDEX/,
    );
    assert.deepEqual(await fixesOf(source, finding), []);
  });

  void it('FOREIGN KEY: NOT VALID only from PostgreSQL 18; before, no fix and the message says why', async () => {
    const copy = folder(
      'ALTER TABLE m ADD CONSTRAINT m_author_fk FOREIGN KEY (author_id) REFERENCES authors (id);',
    );
    const on17 = await lintCopy(copy, 17);
    const finding17 = findingOn(on17.source, on17.result, 'constraint-without-not-valid', 'FOREIGN KEY');
    assert.match(
      finding17.message,
      /before PostgreSQL 18 a foreign key on a partitioned table cannot be added NOT VALID \(42809\)/,
    );
    assert.deepEqual(await fixesOf(on17.source, finding17, 17), []);
    const on18 = await lintCopy(copy, 18);
    const finding18 = findingOn(on18.source, on18.result, 'constraint-without-not-valid', 'FOREIGN KEY');
    assert.match(finding18.message, /Add it NOT VALID/);
    assert.equal((await fixesOf(on18.source, finding18, 18)).length, 1);
  });

  void it('CREATE INDEX: no CONCURRENTLY fix; the message gives the per-partition way', async () => {
    const copy = folder('CREATE INDEX m_d_idx ON m (d);');
    const { source, result } = await lintCopy(copy);
    const finding = findingOn(source, result, 'index-without-concurrently', 'CREATE INDEX');
    assert.match(finding.message, /refuses CONCURRENTLY \(0A000\): build the index on each partition/);
    assert.deepEqual(await fixesOf(source, finding), []);
  });
});

void describe('quick fixes: undo files, checksums, Sqitch', () => {
  void it('Flyway: a moved statement whose inverse was in the undo file gets its own U… file', async () => {
    const copy = writeFolder(
      {
        'V1__init.sql': 'CREATE TABLE t (id int, a int);\n',
        'U1__init.sql': 'DROP TABLE t;\n',
        'V2__change.sql': 'ALTER TABLE t ADD COLUMN b int;\nCREATE INDEX t_a_idx ON t (a);\n',
        'U2__change.sql': 'DROP INDEX t_a_idx;\nALTER TABLE t DROP COLUMN b;\n',
      },
      'flyway',
    );
    const fix = await onlyFix(copy, 'index-without-concurrently', 'CREATE INDEX');
    assert.match(
      fix.title,
      /V2\.1__t_a_idx_concurrently\.sql \(\+ U2\.1__t_a_idx_concurrently\.sql, \.conf\)/,
    );
    applyEdits(fix.edits);
    assert.equal(read(join(copy.dir, 'U2__change.sql')), 'ALTER TABLE t DROP COLUMN b;\n');
    assert.equal(
      read(join(copy.dir, 'U2.1__t_a_idx_concurrently.sql')),
      'DROP INDEX CONCURRENTLY IF EXISTS t_a_idx;\n',
    );
    assert.equal(read(join(copy.dir, 'U2.1__t_a_idx_concurrently.sql.conf')), 'executeInTransaction=false\n');
    const { source } = await lintCopy(copy);
    assert.ok(
      source.migrations.find((m) => m.version === '2.1')?.down,
      'Flyway reads the undo file as its undo',
    );
  });

  void it('Atlas: every fix, also one that edits a file in place, says to run `atlas migrate hash`', async () => {
    const copy = writeFolder(
      {
        '20240101000000_t.sql': 'CREATE TABLE t (id int, a int);\n',
        '20240102000000_i.sql': 'CREATE INDEX t_a_idx ON t (a);\n',
        '20240103000000_c.sql':
          'ALTER TABLE t ADD COLUMN b int;\nALTER TABLE t ALTER COLUMN a TYPE bigint;\n',
      },
      'atlas',
    );
    const { source, result } = await lintCopy(copy);
    const titles = (await fixesForFindings(source, result.findings, { pgMajor: 18 }))
      .flat()
      .map((f) => f.title);
    assert.ok(titles.length >= 2, JSON.stringify(titles));
    for (const title of titles) assert.match(title, /; then run `atlas migrate hash`$/, title);
    assert.ok(titles.some((t) => /txmode none/.test(t)));
  });

  void it('Sqitch: what must leave the transaction goes after the script’s own COMMIT, in the same change', async () => {
    const copy = copyFixture('sqitch');
    const fix = await onlyFix(copy, 'constraint-without-not-valid', 'FOREIGN KEY');
    assert.match(fix.title, /after the script's COMMIT/);
    applyEdits(fix.edits);
    const deploy = read(join(copy.dir, 'deploy/change_books.sql'));
    assert.match(deploy, /FOREIGN KEY \(author_id\) REFERENCES authors \(id\) NOT VALID;\n/);
    assert.match(deploy, /\nCOMMIT;\n\nALTER TABLE books VALIDATE CONSTRAINT books_author_fk;\n$/);
    assert.equal(read(join(copy.dir, 'sqitch.plan')), read(join(FIX_FIXTURES, 'sqitch/sqitch.plan')));
    const { result } = await lintCopy(copy);
    assert.equal(result.findings.filter((f) => f.rule === 'constraint-without-not-valid').length, 1);
  });
});

void describe('quick fixes: several in one migration', () => {
  void it('each later fix goes after the migrations the earlier ones wrote (dbmate, Flyway)', async () => {
    for (const [tool, expected] of [
      [
        'dbmate',
        [
          '20240102000001_books_title_idx_concurrently.sql',
          '20240102000002_validate_books_price_positive.sql',
          '20240102000003_validate_books_author_fk.sql',
          '20240102000004_set_books_isbn_not_null.sql',
          '20240102000005_books_isbn_key_index_concurrently.sql',
          '20240102000006_add_books_isbn_key.sql',
        ],
      ],
      [
        'flyway',
        [
          'V2.1__books_title_idx_concurrently.sql',
          'V2.2__validate_books_price_positive.sql',
          'V2.3__validate_books_author_fk.sql',
          'V2.4__set_books_isbn_not_null.sql',
          'V2.5__books_isbn_key_index_concurrently.sql',
          'V2.6__add_books_isbn_key.sql',
        ],
      ],
    ] as [ToolId, string[]][]) {
      const copy = copyFixture(tool);
      const before = new Set(readdirSync(copy.dir));
      for (const [rule, needle] of [
        ['index-without-concurrently', 'CREATE INDEX books_title_idx'],
        ['constraint-without-not-valid', 'CHECK (price'],
        ['constraint-without-not-valid', 'FOREIGN KEY'],
        ['set-not-null', 'SET NOT NULL'],
        ['unique-constraint-directly', 'UNIQUE (isbn)'],
      ] as const) {
        const fix = await onlyFix(copy, rule, needle);
        applyEdits(fix.edits);
      }
      const created = readdirSync(copy.dir)
        .filter((n) => !before.has(n) && n.endsWith('.sql'))
        .sort();
      assert.deepEqual(created, expected, tool);
      const { result } = await lintCopy(copy);
      const left = result.findings.filter((f) =>
        [
          'index-without-concurrently',
          'constraint-without-not-valid',
          'set-not-null',
          'unique-constraint-directly',
        ].includes(f.rule),
      );
      assert.deepEqual(left, [], `${tool}: ${JSON.stringify(left)}`);
    }
  });
});

void describe('quick fixes never pass over a migration of the user’s own', () => {
  void it('golang-migrate and Flyway: a next migration named like a fix, but not one, leaves no room', async () => {
    const golang = writeFolder(
      {
        '000001_users.up.sql': 'CREATE TABLE users (id int, email text);\n',
        '000002_name_and_index.up.sql':
          'ALTER TABLE users ADD COLUMN name text;\nCREATE UNIQUE INDEX users_email_idx ON users (email);\n',
        '000003_add_email_key.up.sql':
          'ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE USING INDEX users_email_idx;\n',
      },
      'golang-migrate',
    );
    const g = await lintCopy(golang);
    assert.deepEqual(
      await fixesOf(
        g.source,
        findingOn(g.source, g.result, 'index-without-concurrently', 'CREATE UNIQUE INDEX'),
      ),
      [],
    );
    const flyway = writeFolder(
      {
        'V1__users.sql': 'CREATE TABLE users (id int, email text);\n',
        'V2__name_and_index.sql':
          'ALTER TABLE users ADD COLUMN name text;\nCREATE UNIQUE INDEX users_email_idx ON users (email);\n',
        'V2.1__email_key.sql':
          'ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE USING INDEX users_email_idx;\n',
        'V3__more.sql': 'ALTER TABLE users ADD COLUMN age int;\n',
      },
      'flyway',
    );
    const f = await lintCopy(flyway);
    const [fix] = await fixesOf(
      f.source,
      findingOn(f.source, f.result, 'index-without-concurrently', 'CREATE UNIQUE INDEX'),
    );
    // Room between 2 and 2.1 does not exist in Flyway's dotted scheme here, so the fix would have to go
    // after the user's 2.1, which uses the index: no fix at all.
    assert.equal(fix, undefined, fix?.title);
  });

  void it('Sqitch: a statement of an \\ir include gets no after-COMMIT fix (it would still be inside the transaction)', async () => {
    const copy = writeFolder(
      {
        'sqitch.plan':
          '%syntax-version=1.0.0\n%project=p\n\nbase 2024-01-01T00:00:00Z A <a@example.invalid> # base\nidx [base] 2024-01-02T00:00:00Z A <a@example.invalid> # idx\n',
        'deploy/base.sql': 'BEGIN;\nCREATE TABLE t (a int);\nCOMMIT;\n',
        'deploy/idx.sql': 'BEGIN;\n\\ir inc/idx_body.sql\nCOMMIT;\n',
        'deploy/inc/idx_body.sql': 'CREATE INDEX t_a_idx ON t (a);\n',
        'revert/base.sql': 'DROP TABLE t;\n',
        'revert/idx.sql': 'DROP INDEX t_a_idx;\n',
      },
      'sqitch',
    );
    const { source, result } = await lintCopy(copy);
    assert.deepEqual(
      await fixesOf(source, findingOn(source, result, 'index-without-concurrently', 'CREATE INDEX')),
      [],
    );
  });
});
