import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { loadSource } from '../../src/core/migrations/detect';
import {
  InvalidEncodingError,
  MigrationFolderError,
  type MigrationSection,
  type MigrationSource,
  type ToolId,
} from '../../src/core/migrations/model';

const FIXTURES = join(__dirname, '../../../test/fixtures/tools');
const temps: string[] = [];
after(() => temps.forEach((t) => rmSync(t, { recursive: true, force: true })));

/** Loads a fixture folder with detection and checks the detected tool. */
async function fixture(tool: ToolId, sub: string): Promise<MigrationSource> {
  const source = await loadSource(join(FIXTURES, tool, sub));
  assert.equal(source.tool, tool, `detected ${source.tool} for ${tool}/${sub}: ${source.evidence.join(' ')}`);
  return source;
}

/** A temporary folder with the given files (path → text or bytes). */
function folder(files: Record<string, string | Buffer>): string {
  const dir = mkdtempSync(join(tmpdir(), 'migration-lab-tools-'));
  temps.push(dir);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  return dir;
}

async function loadError(dir: string, tool: ToolId): Promise<MigrationFolderError> {
  try {
    await loadSource(dir, tool);
  } catch (e) {
    assert.ok(e instanceof MigrationFolderError, `expected a MigrationFolderError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected the load to fail');
}

const modes = (source: MigrationSource, part: 'up' | 'down' = 'up') =>
  source.migrations.map((m) => m[part]?.mode ?? null);
const texts = (section: MigrationSection) => section.statements.map((s) => s.text);
const range = (section: MigrationSection, k: number) => {
  const s = section.statements[k];
  return [s.start.line, s.start.column, s.end.line, s.end.column];
};

void describe('dbmate', () => {
  void it('is detected by its -- migrate:up marker and loads in version order', async () => {
    const source = await fixture('dbmate', 'migrations');
    assert.match(source.evidence[0], /-- migrate:up/);
    assert.deepEqual(
      source.migrations.map((m) => m.id),
      ['20240101000000_create_tables', '20240102000000_index_books_title', '20240103000000_add_reviews'],
    );
  });

  void it('runs sections in a transaction, and transaction:false as one string', async () => {
    const source = await fixture('dbmate', 'migrations');
    assert.deepEqual(modes(source), ['transaction', 'single-string', 'transaction']);
    assert.deepEqual(modes(source, 'down'), ['transaction', 'single-string', 'transaction']);
    const index = source.migrations[1].up;
    assert.match(index.why, /transaction:false/);
    assert.equal(index.script?.text.trim(), 'CREATE INDEX CONCURRENTLY books_title_idx ON books (title);');
    assert.equal(index.script?.start.line, 2);
    assert.equal((await fixture('dbmate', 'unmarked')).migrations[1].up.mode, 'transaction');
    assert.equal((await fixture('dbmate', 'two-statements')).migrations[1].up.statements.length, 2);
  });

  void it('gives each statement its file, line and column', async () => {
    const up = (await fixture('dbmate', 'migrations')).migrations[0].up;
    assert.deepEqual(range(up, 0), [2, 1, 5, 2]);
    assert.deepEqual(range(up, 1), [7, 1, 11, 2]);
    assert.match(up.statements[1].file, /20240101000000_create_tables\.sql$/);
  });

  void it('reads Windows line endings the same way (columns count no carriage return)', async () => {
    const source = await loadSource(
      folder({
        '001_a.sql':
          '-- migrate:up transaction:false\r\nSELECT 1;\r\n  SELECT 2;\r\n-- migrate:down\r\nSELECT 3;\r\n',
      }),
    );
    assert.equal(source.tool, 'dbmate');
    const up = source.migrations[0].up;
    assert.equal(up.mode, 'single-string');
    assert.deepEqual(texts(up), ['SELECT 1', 'SELECT 2']);
    assert.deepEqual(range(up, 1), [3, 3, 3, 11]);
    assert.deepEqual(texts(source.migrations[0].down!), ['SELECT 3']);
  });

  void it('refuses a file without -- migrate:up, an unknown option, and SQL before the first marker', async () => {
    let e = await loadError(folder({ '001_x.sql': 'SELECT 1;\n' }), 'dbmate');
    assert.match(e.message, /001_x\.sql:1: .*-- migrate:up/);
    e = await loadError(folder({ '001_x.sql': '\n-- migrate:up transaction:maybe\nSELECT 1;\n' }), 'dbmate');
    assert.equal(e.line, 2);
    assert.match(e.message, /transaction:maybe/);
    e = await loadError(folder({ '001_x.sql': 'SELECT 0;\n-- migrate:up\nSELECT 1;\n' }), 'dbmate');
    assert.equal(e.line, 1);
  });
});

void describe('golang-migrate', () => {
  void it('pairs .up.sql with .down.sql and sends each file as one string', async () => {
    const source = await fixture('golang-migrate', 'migrations');
    assert.match(source.evidence[0], /up\.sql/);
    assert.deepEqual(
      source.migrations.map((m) => m.version),
      ['000001', '000002', '000003'],
    );
    assert.deepEqual(modes(source), ['single-string', 'single-string', 'single-string']);
    assert.deepEqual(modes(source, 'down'), ['single-string', 'single-string', 'single-string']);
    assert.match(source.migrations[0].up.why, /one Exec/);
    const unmarked = (await fixture('golang-migrate', 'unmarked')).migrations[1].up;
    assert.deepEqual(texts(unmarked), [
      'ALTER TABLE books ADD COLUMN isbn text',
      'CREATE INDEX CONCURRENTLY books_title_idx ON books (title)',
    ]);
    assert.deepEqual(range(unmarked, 1), [2, 1, 2, 59]);
  });

  void it('refuses a down file without its up file', async () => {
    const e = await loadError(folder({ '1_a.down.sql': 'SELECT 1;' }), 'golang-migrate');
    assert.match(e.message, /1_a\.down\.sql: .*no \.up\.sql/);
  });
});

void describe('goose', () => {
  void it('reads Up/Down, StatementBegin/End blocks and NO TRANSACTION', async () => {
    const source = await fixture('goose', 'migrations');
    assert.deepEqual(modes(source), ['transaction', 'autocommit', 'transaction']);
    assert.deepEqual(modes(source, 'down'), ['transaction', 'autocommit', 'transaction']);
    const up = source.migrations[0].up;
    assert.equal(up.statements.length, 3);
    assert.match(up.statements[2].text, /^CREATE FUNCTION touch_updated_at\(\)[\s\S]*\$\$$/);
    assert.deepEqual(range(up, 2), [14, 1, 19, 3]);
    assert.equal((await fixture('goose', 'unmarked')).migrations[1].up.mode, 'transaction');
  });

  void it('splits by lines as goose does: a function without StatementBegin is cut at its first `;` line', async () => {
    const dir = folder({
      '1_f.sql':
        '-- +goose Up\nCREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$\nBEGIN\n  RETURN 1;\nEND;\n$$;\n',
    });
    const source = await loadSource(dir);
    assert.equal(source.tool, 'goose');
    assert.deepEqual(texts(source.migrations[0].up), [
      'CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$\nBEGIN\n  RETURN 1',
      'END',
      '$$',
    ]);
  });

  void it('refuses a missing Up, an unfinished statement and an unclosed StatementBegin', async () => {
    let e = await loadError(folder({ '1_a.sql': 'SELECT 1;\n' }), 'goose');
    assert.match(e.message, /1_a\.sql:1: .*-- \+goose Up/);
    e = await loadError(folder({ '1_a.sql': '-- +goose Up\nSELECT 1\n' }), 'goose');
    assert.equal(e.line, 2);
    assert.match(e.message, /missing semicolon/);
    e = await loadError(
      folder({ '1_a.sql': '-- +goose Up\n-- +goose StatementBegin\nSELECT 1;\n' }),
      'goose',
    );
    assert.match(e.message, /StatementEnd/);
  });
});

void describe('Flyway', () => {
  void it('orders V files by version (1 < 1.1 < 2 < 3), then repeatables, with U files as downs', async () => {
    const source = await fixture('flyway', 'migrations');
    assert.deepEqual(
      source.migrations.map((m) => m.id),
      [
        'V1__create_tables',
        'V1.1__add_isbn',
        'V2__index_books_title_concurrently',
        'V3__add_reviews',
        'R__books_view',
      ],
    );
    assert.deepEqual(
      source.migrations.map((m) => Boolean(m.down)),
      [true, false, true, false, false],
    );
    // BEGIN ATOMIC … END is one statement.
    assert.equal(source.migrations[0].up.statements.length, 3);
    assert.match(source.migrations[0].up.statements[2].text, /^CREATE FUNCTION book_count[\s\S]*END$/);
  });

  void it('runs outside a transaction with executeInTransaction=false in the .sql.conf', async () => {
    const source = await fixture('flyway', 'migrations');
    assert.deepEqual(modes(source), [
      'transaction',
      'transaction',
      'autocommit',
      'transaction',
      'transaction',
    ]);
    assert.match(source.migrations[2].up.why, /executeInTransaction=false/);
  });

  void it("follows Flyway's PostgreSQL parser: CONCURRENTLY alone runs outside, mixed is refused", async () => {
    const auto = (await fixture('flyway', 'auto-detected')).migrations[1].up;
    assert.equal(auto.mode, 'autocommit');
    assert.match(auto.why, /PostgreSQL parser/);
    const mixed = (await fixture('flyway', 'mixed')).migrations[1].up;
    assert.equal(mixed.mode, 'transaction');
    assert.match(mixed.toolRefusal ?? '', /line 2 .*CREATE INDEX CONCURRENTLY.*executeInTransaction=false/);
  });

  void it("honours the project's flyway.conf / flyway.toml: mixed, executeInTransaction and group", async () => {
    const mixed = 'CREATE TABLE t (a int);\nCREATE INDEX CONCURRENTLY t_a ON t (a);\n';
    let source = await loadSource(
      folder({ 'flyway.conf': 'flyway.mixed=true\n', 'sql/V1__a.sql': mixed }).concat('/sql'),
      'flyway',
    );
    assert.equal(source.migrations[0].up.mode, 'autocommit');
    assert.equal(source.migrations[0].up.toolRefusal, undefined);
    assert.match(source.migrations[0].up.why, /mixed=true/);
    source = await loadSource(
      folder({ 'conf/flyway.conf': 'flyway.executeInTransaction=false\n', 'V1__a.sql': 'SELECT 1;' }),
      'flyway',
    );
    assert.equal(source.migrations[0].up.mode, 'autocommit');
    source = await loadSource(
      folder({ 'flyway.toml': '[flyway]\ngroup = true\n', 'V1__a.sql': 'SELECT 1;' }),
      'flyway',
    );
    assert.match(source.pendingInOneTransaction ?? '', /group=true/);
    assert.equal(source.migrations[0].up.mode, 'transaction');
  });

  void it('refuses a .conf with a bad executeInTransaction value, naming its line', async () => {
    const e = await loadError(
      folder({ 'V1__a.sql': 'SELECT 1;', 'V1__a.sql.conf': '# conf\nexecuteInTransaction=nope\n' }),
      'flyway',
    );
    assert.equal(e.line, 2);
    assert.match(e.message, /V1__a\.sql\.conf:2: /);
  });
});

void describe('Liquibase formatted SQL', () => {
  void it('reads changesets in file order, skips other dbms, honours runInTransaction and splitStatements', async () => {
    const source = await fixture('liquibase', 'changelog');
    assert.deepEqual(
      source.migrations.map((m) => m.id),
      [
        'alice:create-authors',
        'alice:create-books',
        'bob:touch-function',
        'bob:index-books-title',
        'bob:add-reviews',
      ],
    );
    assert.deepEqual(modes(source), [
      'transaction',
      'transaction',
      'transaction',
      'autocommit',
      'transaction',
    ]);
    assert.match(source.migrations[3].up.why, /runInTransaction:false/);
    assert.match(source.migrations[2].up.script?.text ?? '', /\$\$;/);
    assert.equal((await fixture('liquibase', 'unmarked')).migrations[1].up.mode, 'transaction');
  });

  void it('reads --rollback lines and /* liquibase rollback */ blocks with their positions', async () => {
    const source = await fixture('liquibase', 'changelog');
    const down = source.migrations[0].down!;
    assert.deepEqual(texts(down), ['DROP TABLE authors']);
    assert.deepEqual(range(down, 0), [9, 12, 9, 30]);
    assert.deepEqual(texts(source.migrations[2].down!), ['DROP FUNCTION touch()']);
    assert.deepEqual(texts((await fixture('liquibase', 'unmarked')).migrations[0].down!), [
      'DROP TABLE books',
      'DROP TABLE authors',
    ]);
  });

  void it('refuses SQL before the first changeset and a duplicate changeset', async () => {
    let e = await loadError(folder({ 'a.sql': '--liquibase formatted sql\nSELECT 1;\n' }), 'liquibase');
    assert.equal(e.line, 2);
    e = await loadError(
      folder({
        'a.sql': '--liquibase formatted sql\n--changeset a:1\nSELECT 1;\n--changeset a:1\nSELECT 2;\n',
      }),
      'liquibase',
    );
    assert.equal(e.line, 4);
    assert.match(e.message, /a:1 appears twice/);
  });
});

void describe('Sqitch', () => {
  void it('follows the plan and runs scripts as psql does, BEGIN … COMMIT making one transaction', async () => {
    const source = await fixture('sqitch', 'project');
    assert.deepEqual(
      source.migrations.map((m) => m.id),
      ['tables', 'books_title_idx', 'reviews'],
    );
    assert.deepEqual(modes(source), ['transaction', 'autocommit', 'transaction']);
    assert.deepEqual(texts(source.migrations[0].up).length, 2);
    assert.match(source.migrations[1].up.why, /psql/);
    assert.equal((await fixture('sqitch', 'unmarked')).migrations[1].up.mode, 'transaction');
  });

  void it('understands \\set and \\ir (statements from the included file keep their own file)', async () => {
    const reviews = (await fixture('sqitch', 'project')).migrations[2].up;
    assert.equal(reviews.statements.length, 1);
    assert.match(reviews.statements[0].file, /shared\/reviews_table\.sql$/);
    assert.equal(reviews.statements[0].start.line, 1);
  });

  void it('keeps verify scripts (BEGIN … ROLLBACK runs statement by statement)', async () => {
    const verify = (await fixture('sqitch', 'project')).migrations[0].verify!;
    assert.equal(verify.mode, 'autocommit');
    assert.deepEqual(
      verify.statements.map((s) => s.keywords[0]),
      ['BEGIN', 'SELECT', 'SELECT', 'ROLLBACK'],
    );
  });

  void it("reads a reworked change's earlier scripts from <change>@<tag>.sql", async () => {
    const source = await loadSource(
      folder({
        'sqitch.plan':
          '%project=x\n\nf 2024-01-01T00:00:00Z A <a@b.c>\n@v1 2024-01-02T00:00:00Z A <a@b.c>\n\nf [f@v1] 2024-01-03T00:00:00Z A <a@b.c>\n',
        'deploy/f@v1.sql': 'SELECT 1;\n',
        'deploy/f.sql': 'SELECT 2;\n',
      }),
    );
    assert.deepEqual(
      source.migrations.map((m) => [m.id, texts(m.up)[0]]),
      [
        ['f@v1', 'SELECT 1'],
        ['f', 'SELECT 2'],
      ],
    );
  });

  void it('refuses a psql variable psql would substitute, and leaves one it would not', async () => {
    const plan = '%project=x\n\na 2024-01-01T00:00:00Z A <a@b.c>\n';
    const e = await loadError(
      folder({
        'sqitch.plan': plan,
        'sqitch.conf': '[deploy "variables"]\n\towner = alice\n',
        'deploy/a.sql': 'SELECT 1;\nALTER TABLE t OWNER TO :"owner";\n',
      }),
      'sqitch',
    );
    assert.equal(e.line, 2);
    assert.match(e.message, /psql variable :owner/);
    const source = await loadSource(
      folder({ 'sqitch.plan': plan, 'deploy/a.sql': 'SELECT (ARRAY[1,2,3])[1:n] FROM (SELECT 2 AS n) s;\n' }),
    );
    assert.equal(source.migrations[0].up.statements.length, 1);
  });

  void it('refuses a meta-command it cannot honour, and a change without a deploy script', async () => {
    let e = await loadError(
      folder({
        'sqitch.plan': '%project=x\n\na 2024-01-01T00:00:00Z A <a@b.c>\n',
        'deploy/a.sql': "SELECT 1;\n\\copy t FROM 'x.csv'\n",
      }),
      'sqitch',
    );
    assert.match(e.message, /a\.sql:2: .*\\copy/);
    e = await loadError(
      folder({ 'sqitch.plan': '%project=x\n\nb 2024-01-01T00:00:00Z A <a@b.c>\n' }),
      'sqitch',
    );
    assert.match(e.message, /sqitch\.plan:3: .*deploy\/b\.sql/);
  });
});

void describe('Prisma Migrate', () => {
  void it('reads <timestamp>_<name>/migration.sql as one string each, without downs', async () => {
    const source = await fixture('prisma', 'migrations');
    assert.ok(source.evidence.some((e) => /migration_lock\.toml/.test(e)));
    assert.deepEqual(modes(source), ['single-string', 'single-string', 'single-string']);
    assert.ok(source.migrations.every((m) => !m.down));
    assert.equal((await fixture('prisma', 'unmarked')).migrations[1].up.statements.length, 2);
  });

  void it('refuses a migration folder without migration.sql', async () => {
    const e = await loadError(
      folder({ 'migration_lock.toml': 'provider = "postgresql"\n', '20240101000000_a/README.md': 'x' }),
      'prisma',
    );
    assert.match(e.message, /20240101000000_a: .*migration\.sql/);
  });

  void it('refuses migrations written for another database, naming the lock file line', async () => {
    const e = await loadError(
      folder({
        'migration_lock.toml': '# Please do not edit\nprovider = "mysql"\n',
        '20240101000000_a/migration.sql': 'SELECT 1;',
      }),
      'prisma',
    );
    assert.equal(e.line, 2);
    assert.match(e.message, /for mysql/);
  });
});

void describe('Drizzle Kit', () => {
  void it('follows the journal, splits on statement-breakpoint and runs all pending in one transaction', async () => {
    const source = await fixture('drizzle', 'migrations');
    assert.deepEqual(
      source.migrations.map((m) => m.id),
      ['0000_create_tables', '0001_index_books_title', '0002_add_reviews'],
    );
    assert.deepEqual(modes(source), ['transaction', 'transaction', 'transaction']);
    assert.match(source.pendingInOneTransaction ?? '', /one transaction/);
    assert.equal(source.migrations[0].up.statements.length, 3);
    assert.deepEqual(range(source.migrations[0].up, 1), [6, 1, 10, 2]);
  });

  void it('refuses a journal entry without its file (naming the journal line) and invalid JSON', async () => {
    let e = await loadError(
      folder({
        'meta/_journal.json': '{\n  "entries": [\n    { "idx": 0, "tag": "0000_gone", "when": 1 }\n  ]\n}\n',
      }),
      'drizzle',
    );
    assert.equal(e.line, 3);
    assert.match(e.message, /0000_gone\.sql/);
    e = await loadError(folder({ 'meta/_journal.json': '{ "entries": [ }' }), 'drizzle');
    assert.match(e.message, /not valid JSON/);
  });
});

void describe('Diesel', () => {
  void it('reads up.sql/down.sql folders in version order; run_in_transaction = false sends one string', async () => {
    const source = await fixture('diesel', 'migrations');
    assert.ok(source.evidence.some((e) => /diesel\.toml/.test(e)));
    assert.equal(source.migrations[0].id, '00000000000000_diesel_initial_setup');
    assert.deepEqual(modes(source), ['transaction', 'transaction', 'single-string', 'transaction']);
    assert.match(source.migrations[2].up.why, /run_in_transaction = false/);
    assert.equal((await fixture('diesel', 'unmarked')).migrations[2].up.mode, 'transaction');
  });

  void it('refuses a metadata.toml with a bad value, naming its line', async () => {
    const e = await loadError(
      folder({
        '2024_a/up.sql': 'SELECT 1;',
        '2024_a/down.sql': 'SELECT 2;',
        '2024_a/metadata.toml': 'run_in_transaction = "no"\n',
      }),
      'diesel',
    );
    assert.equal(e.line, 1);
    assert.match(e.message, /metadata\.toml:1: /);
  });
});

void describe('SQLx', () => {
  void it('treats a file starting with -- no-transaction as one string outside a transaction', async () => {
    const source = await fixture('sqlx', 'migrations');
    assert.deepEqual(modes(source), ['transaction', 'single-string', 'transaction']);
    assert.deepEqual(modes(source, 'down'), ['transaction', 'single-string', 'transaction']);
    const unmarked = await fixture('sqlx', 'unmarked');
    assert.match(unmarked.evidence[0], /Cargo\.toml/);
    assert.equal(unmarked.migrations[1].up.mode, 'transaction');
  });

  void it('ignores the marker when it is not the very first bytes (as sqlx does)', async () => {
    const source = await loadSource(
      folder({
        '1_a.sql': '\n-- no-transaction\nSELECT 1;',
        '2_b.sql': Buffer.concat([
          Buffer.from([0xef, 0xbb, 0xbf]),
          Buffer.from('-- no-transaction\nSELECT 1;'),
        ]),
      }),
      'sqlx',
    );
    assert.deepEqual(modes(source), ['transaction', 'transaction']);
  });
});

void describe('node-pg-migrate', () => {
  void it('splits -- Up Migration / -- Down Migration, each run in a transaction', async () => {
    const source = await fixture('node-pg-migrate', 'migrations');
    assert.deepEqual(modes(source), ['transaction', 'transaction', 'transaction']);
    const first = source.migrations[0];
    assert.doesNotMatch(first.up.script?.text ?? '', /DROP TABLE/);
    assert.deepEqual(texts(first.down!), ['DROP TABLE books', 'DROP TABLE authors']);
    assert.equal((await fixture('node-pg-migrate', 'unmarked')).migrations[1].up.mode, 'transaction');
  });

  void it('follows its own marker rule: no up marker means the whole file is up; a down may come first', async () => {
    const source = await loadSource(
      folder({
        '1_a.sql': 'CREATE TABLE a (id int);\n',
        '2_b.sql': '-- Down Migration\nDROP TABLE b;\n--- up migration\nCREATE TABLE b (id int);\n',
      }),
      'node-pg-migrate',
    );
    assert.deepEqual(texts(source.migrations[0].up), ['CREATE TABLE a (id int)']);
    assert.equal(source.migrations[0].down, undefined);
    assert.deepEqual(texts(source.migrations[1].up), ['CREATE TABLE b (id int)']);
    assert.deepEqual(texts(source.migrations[1].down!), ['DROP TABLE b']);
    assert.equal(source.migrations[1].up.script?.start.line, 3);
  });
});

void describe('Atlas', () => {
  void it('reads atlas:txmode none and atlas:delimiter from the file header', async () => {
    const source = await fixture('atlas', 'migrations');
    assert.deepEqual(modes(source), ['transaction', 'autocommit', 'transaction', 'transaction']);
    assert.ok(source.migrations.every((m) => !m.down));
    const functions = source.migrations[2].up;
    assert.equal(functions.statements.length, 2);
    assert.match(functions.statements[0].text, /^CREATE FUNCTION "title_length"[\s\S]*\$\$;$/);
    assert.equal((await fixture('atlas', 'unmarked')).migrations[1].up.mode, 'transaction');
  });

  void it('refuses an unknown txmode', async () => {
    const e = await loadError(
      folder({ 'atlas.sum': '', '1_a.sql': '-- atlas:txmode sometimes\nSELECT 1;' }),
      'atlas',
    );
    assert.equal(e.line, 1);
  });
});

void describe('plain SQL / Django sqlmigrate / alembic --sql', () => {
  void it('runs statement by statement unless an outer BEGIN … COMMIT makes one transaction', async () => {
    const source = await fixture('plain', 'migrations');
    assert.ok(source.evidence.some((e) => /sqlmigrate/.test(e)));
    assert.deepEqual(modes(source), ['transaction', 'autocommit', 'transaction']);
    assert.equal(source.migrations[0].up.statements.length, 4);
    assert.equal(source.migrations[0].up.statements[0].start.line, 5);
    assert.equal((await fixture('plain', 'unmarked')).migrations[1].up.mode, 'transaction');
  });

  void it('refuses a file that is not UTF-8 with its byte offset', async () => {
    const dir = folder({
      '0001_a.sql': Buffer.concat([Buffer.from('SELECT 1;\n-- caf'), Buffer.from([0xe9, 0x0a])]),
    });
    try {
      await loadSource(dir, 'plain');
      assert.fail('expected a refusal');
    } catch (e) {
      assert.ok(e instanceof InvalidEncodingError);
      assert.equal(e.byte, 16);
      assert.equal(e.line, 2);
    }
  });

  void it('refuses an unterminated string with the file and line', async () => {
    const e = await loadError(folder({ '0001_a.sql': "SELECT 1;\n\nSELECT 'oops;\n" }), 'plain');
    assert.equal(e.line, 3);
    assert.match(e.message, /0001_a\.sql:3: an unterminated quoted string/);
  });
});

void describe('the large realistic fixture', () => {
  void it('loads 135 dbmate migrations in order, the concurrent indexes as one-string sections', async () => {
    const source = await loadSource(join(__dirname, '../../../test/fixtures/large/dbmate'));
    assert.equal(source.tool, 'dbmate');
    assert.equal(source.migrations.length, 135);
    assert.deepEqual(
      source.migrations.slice(0, 3).map((m) => m.id),
      ['0001_extensions', '0002_ltree', '0003_audit_log'],
    );
    const oneString = source.migrations.filter((m) => m.up.mode === 'single-string');
    assert.equal(oneString.length, 24);
    assert.ok(
      oneString.every(
        (m) => m.up.statements[0].keywords.slice(0, 3).join(' ') === 'CREATE INDEX CONCURRENTLY',
      ),
    );
    // The audit function body keeps its inner semicolons.
    assert.equal(source.migrations[2].up.statements.length, 2);
  });
});

void describe("each tool's documented way out of the transaction", () => {
  const cases: [ToolId, string, number, RegExp][] = [
    ['dbmate', 'unmarked', 1, /transaction:false/],
    ['dbmate', 'two-statements', 1, /alone in its `transaction:false` section/],
    ['golang-migrate', 'unmarked', 1, /alone in its own migration file/],
    ['goose', 'unmarked', 1, /-- \+goose NO TRANSACTION/],
    ['flyway', 'mixed', 1, /executeInTransaction=false/],
    ['liquibase', 'unmarked', 1, /runInTransaction:false/],
    ['sqitch', 'unmarked', 1, /remove the BEGIN … COMMIT/],
    ['prisma', 'unmarked', 1, /alone in its own migration\.sql/],
    ['drizzle', 'unmarked', 1, /outside Drizzle's migrator/],
    ['diesel', 'unmarked', 2, /run_in_transaction = false/],
    ['sqlx', 'unmarked', 1, /-- no-transaction/],
    ['node-pg-migrate', 'unmarked', 1, /pgm\.noTransaction\(\)/],
    ['atlas', 'unmarked', 1, /-- atlas:txmode none/],
    ['plain', 'unmarked', 1, /atomic = False/],
  ];
  for (const [tool, sub, index, wayOut] of cases) {
    void it(`${tool}/${sub}: names it on the section that would fail`, async () => {
      const section = (await fixture(tool, sub)).migrations[index].up;
      assert.match(section.wayOut ?? '', wayOut);
    });
  }

  void it('is absent where statements already run on their own', async () => {
    const marked = [
      (await fixture('goose', 'migrations')).migrations[1].up,
      (await fixture('flyway', 'migrations')).migrations[2].up,
      (await fixture('liquibase', 'changelog')).migrations[3].up,
      (await fixture('sqitch', 'project')).migrations[1].up,
      (await fixture('atlas', 'migrations')).migrations[1].up,
      (await fixture('plain', 'migrations')).migrations[1].up,
    ];
    assert.deepEqual(
      marked.map((s) => [s.mode, s.wayOut]),
      marked.map(() => ['autocommit', undefined]),
    );
  });
});
