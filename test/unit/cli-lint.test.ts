/**
 * `migration-lab lint`: arguments, exit codes and each output format, on the tools' own fixture folders,
 * plus the built `node dist/cli.js lint … --format json` as a child process (no server needed).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import {
  artifactUri,
  LintRunCache,
  lintPath,
  parseLintArgs,
  runLint,
  type LintReport,
} from '../../src/cli/lint';
import { main } from '../../src/cli/main';
import { LOCK_MODES } from '../../src/core/lint/lockModes';

const root = join(__dirname, '../../..');
const FIXTURES = 'test/fixtures/tools';
const UNMARKED_PRISMA = `${FIXTURES}/prisma/unmarked`;
const PRISMA_INDEX_FILE = `${UNMARKED_PRISMA}/20240102000000_index_books_title/migration.sql`;
const CLEAN = `${FIXTURES}/plain/migrations`;
const LARGE = 'test/fixtures/large/dbmate';

async function lint(...argv: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await runLint(argv, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) }, root);
  return { code, stdout, stderr };
}

const FINDING_KEYS = ['rule', 'severity', 'file', 'line', 'column', 'endLine', 'endColumn', 'message'];
const STATEMENT_KEYS = [
  'file',
  'line',
  'column',
  'endLine',
  'endColumn',
  'locks',
  'rewrites',
  'transactional',
];

/** The documented JSON contract, key for key. */
function assertJsonContract(report: LintReport) {
  assert.deepEqual(Object.keys(report), ['findings', 'statements']);
  for (const f of report.findings) {
    const extra = Object.keys(f).filter((k) => !FINDING_KEYS.includes(k));
    assert.deepEqual(
      extra.filter((k) => k !== 'lock' && k !== 'fixes'),
      [],
      `unexpected keys in ${JSON.stringify(f)}`,
    );
    for (const k of FINDING_KEYS) assert.ok(k in f, `finding lacks ${k}`);
    assert.ok(['error', 'warning', 'info'].includes(f.severity));
    assert.ok(f.line >= 1 && f.column >= 1 && f.endLine >= f.line);
    if (f.lock) {
      assert.deepEqual(Object.keys(f.lock), ['relation', 'mode', 'blocks']);
      assert.ok((LOCK_MODES as readonly string[]).includes(f.lock.mode), f.lock.mode);
    }
  }
  for (const s of report.statements) {
    assert.deepEqual(Object.keys(s), STATEMENT_KEYS);
    assert.ok(s.line >= 1 && s.column >= 1);
    for (const l of s.locks) {
      assert.deepEqual(Object.keys(l), ['relation', 'mode']);
      assert.ok((LOCK_MODES as readonly string[]).includes(l.mode), l.mode);
    }
  }
}

void describe('lint: arguments, edge cases', () => {
  void it('refuses an empty --pg, and takes everything after -- as a PATH', async () => {
    for (const argv of [
      ['x', '--pg='],
      ['x', '--pg', ''],
    ]) {
      const r = await lint(...argv);
      assert.equal(r.code, 2, argv.join(' '));
      assert.match(r.stderr, /--pg needs a value/);
    }
    assert.deepEqual(parseLintArgs(['--format', 'json', '--', '-odd.sql', '--tool']).paths, [
      '-odd.sql',
      '--tool',
    ]);
  });

  void it('reports each place once when PATHs overlap (a folder and a file in it, a file twice)', async () => {
    const once = JSON.parse((await lint(UNMARKED_PRISMA, '--format', 'json')).stdout) as LintReport;
    const twice = JSON.parse(
      (await lint(UNMARKED_PRISMA, PRISMA_INDEX_FILE, PRISMA_INDEX_FILE, '--format', 'json')).stdout,
    ) as LintReport;
    assert.deepEqual(twice, once);
  });

  void it('SARIF artifact URIs are percent-encoded per segment; absolute paths are file: URIs', () => {
    assert.equal(artifactUri('db/x#1?.sql'), 'db/x%231%3F.sql');
    assert.equal(artifactUri('a:b.sql'), 'a%3Ab.sql');
    assert.equal(artifactUri('/tmp/a b.sql'), 'file:///tmp/a%20b.sql');
  });
});

void describe('lint: arguments', () => {
  void it('reads paths and every option, in both --opt value and --opt=value forms', () => {
    assert.deepEqual(
      parseLintArgs(['a', '--tool', 'prisma', '--pg=14', '--format', 'sarif', '--fail-on=warning', 'b.sql']),
      { paths: ['a', 'b.sql'], tool: 'prisma', pg: '14', format: 'sarif', failOn: 'warning', help: false },
    );
    assert.deepEqual(parseLintArgs(['x']), {
      paths: ['x'],
      pg: 'bundled',
      format: 'text',
      failOn: 'error',
      help: false,
    });
  });

  void it('--pg takes bundled as replay, trace and the demo do', () => {
    assert.equal(parseLintArgs(['x', '--pg', 'bundled']).pg, 'bundled');
    assert.throws(
      () => parseLintArgs(['x', '--pg', '13']),
      /--pg must be "bundled" or one of 14, 15, 16, 17, 18/,
    );
  });

  for (const bad of [
    [],
    ['x', '--format', 'xml'],
    ['x', '--fail-on', 'info'],
    ['x', '--pg', '9'],
    ['x', '--pg'],
    ['x', '--tool', 'rails'],
    ['x', '--verbose'],
  ]) {
    void it(`exits 2 with the usage on: lint ${bad.join(' ')}`, async () => {
      const r = await lint(...bad);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /^error: .+\nUsage: migration-lab lint PATH/);
      assert.equal(r.stdout, '');
    });
  }

  void it('--help prints the options and exits 0; main routes `lint` and `help lint`', async () => {
    const r = await lint('--help');
    assert.equal(r.code, 0);
    assert.match(r.stdout, /--fail-on LEVEL/);
    let out = '';
    const io = { stdout: (t: string) => (out += t), stderr: (t: string) => (out += t) };
    assert.equal(await main(['help', 'lint'], io, new AbortController().signal), 0);
    assert.match(out, /--format F/);
  });

  void it('a path that does not exist exits 1 with one sentence', async () => {
    const r = await lint('no/such/folder');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error: .*no such file or folder\.\n$/);
  });

  void it('an unreadable PATH fails the run but the other PATHs are still linted', async () => {
    const r = await lint('no/such/folder', CLEAN, '--fail-on', 'never', '--format', 'json');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no such file or folder/);
    const report = JSON.parse(r.stdout) as LintReport;
    assert.ok(report.statements.length > 0);
    assert.ok(report.statements.every((s) => s.file.startsWith(`${CLEAN}/`)));
  });
});

void describe('lint: exit codes', () => {
  void it('the unmarked Prisma CONCURRENTLY migration fails with the tool-aware error', async () => {
    const r = await lint(UNMARKED_PRISMA, '--format', 'json');
    assert.equal(r.code, 1);
    const report = JSON.parse(r.stdout) as LintReport;
    const f = report.findings.find((x) => x.rule === 'concurrently-in-transaction');
    assert.ok(f, r.stdout);
    assert.equal(f.file, PRISMA_INDEX_FILE);
    assert.equal(f.line, 5);
    assert.match(f.message, /Prisma/);
  });

  void it('a clean folder exits 0, even with --fail-on warning', async () => {
    for (const failOn of ['error', 'warning']) {
      const r = await lint(CLEAN, '--fail-on', failOn);
      assert.equal(r.code, 0, r.stdout);
      assert.match(r.stdout, /^No findings in \d+ statement\(s\) of 3 file\(s\)\.\n$/);
    }
  });

  void it('--fail-on decides: a warning alone fails at warning, passes at error; never always passes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mlab-lint-'));
    try {
      const file = join(dir, 'only_warning.sql');
      // A plain file of its own: an ACCESS EXCLUSIVE statement with no lock_timeout is a warning.
      writeFileSync(file, 'ALTER TABLE books DROP COLUMN legacy;\n');
      assert.equal((await lint(file)).code, 0);
      const atWarning = await lint(file, '--fail-on', 'warning');
      assert.equal(atWarning.code, 1);
      assert.match(
        atWarning.stdout,
        /only_warning\.sql:1:1: warning \[access-exclusive-without-lock-timeout\]/,
      );
      assert.match(atWarning.stdout, /\n {2}lock: ACCESS EXCLUSIVE on public\.books · blocks everything/);
      assert.equal((await lint(UNMARKED_PRISMA, '--fail-on', 'never')).code, 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  void it('--pg 14 gives the locks PostgreSQL 14 takes where they differ from the bundled major (GRANT)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mlab-lint-'));
    try {
      const file = join(dir, 'grant.sql');
      writeFileSync(file, 'GRANT SELECT ON books TO PUBLIC;\n');
      const locksOn = async (...pg: string[]) =>
        (JSON.parse((await lint(file, '--format', 'json', ...pg)).stdout) as LintReport).statements[0].locks;
      // Observed on real servers (test/integration/lint-lockfacts.test.ts): 18 takes ACCESS SHARE, 14–17 none.
      assert.deepEqual(await locksOn('--pg', '18'), [{ relation: 'public.books', mode: 'AccessShareLock' }]);
      assert.deepEqual(await locksOn('--pg', '14'), []);
      assert.deepEqual(await locksOn('--pg=17'), []);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  void it('several files of one folder lint its source once, with the same results as one at a time', async () => {
    const dir = join(root, LARGE);
    const files = readdirSync(dir)
      .filter((n) => n.endsWith('.sql'))
      .slice(0, 12)
      .map((n) => join(dir, n));
    const cache = new LintRunCache(undefined, 18);
    const together = [];
    for (const file of files) together.push(await lintPath(file, {}, 18, cache));
    // One load and one lint of the folder, kept for every later file of it.
    assert.equal(cache.lint(dir), cache.lint(dir));
    for (const k of [0, 5, files.length - 1])
      assert.deepEqual(together[k], await lintPath(files[k], {}, 18), files[k]);
    assert.ok(together.some((r) => r.findings.length > 0));
  });

  void it("a single .sql file is linted with its folder's source: the tool and the earlier schema apply", async () => {
    const r = await lint(PRISMA_INDEX_FILE, '--format', 'json');
    assert.equal(r.code, 1);
    const report = JSON.parse(r.stdout) as LintReport;
    assert.ok(report.findings.some((f) => f.rule === 'concurrently-in-transaction'));
    assert.ok(report.statements.every((s) => s.file === PRISMA_INDEX_FILE));
    // "Book" comes from the earlier migration's CREATE TABLE, which only the folder's source knows
    assert.ok(report.statements.some((s) => s.locks.some((l) => l.relation === 'public.Book')));
  });
});

void describe('lint: a file of a folder its tool cannot read', () => {
  void it('reports the folder error (exit 1) instead of linting the file as plain SQL', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mlab-lint-broken-'));
    try {
      writeFileSync(
        join(dir, '1_t.sql'),
        '-- migrate:up\nCREATE TABLE t (a int);\n-- migrate:down\nDROP TABLE t;\n',
      );
      writeFileSync(
        join(dir, '2_c.sql'),
        '-- migrate:up\nALTER TABLE t ADD COLUMN b int;\n-- migrate:down\nALTER TABLE t DROP COLUMN b;\n',
      );
      writeFileSync(join(dir, '3_broken.sql'), 'ALTER TABLE t ADD COLUMN c int;\n'); // no -- migrate:up
      for (const path of [dir, join(dir, '2_c.sql')]) {
        const r = await lint(path, '--fail-on', 'never');
        assert.equal(r.code, 1, path);
        assert.match(
          r.stderr,
          /3_broken\.sql:1: it has no `-- migrate:up` line, which dbmate requires\./,
          path,
        );
        // Not linted as plain SQL: the down's DROP COLUMN would be a finding then.
        assert.doesNotMatch(r.stdout, /rename-or-drop/, path);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

void describe('lint: review cases', () => {
  void it('a bare folder: another .sql file that cannot be split does not stop this one from being linted', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mlab-lint-bare-'));
    try {
      writeFileSync(join(dir, 'hotfix.sql'), 'ALTER TABLE books ALTER COLUMN isbn SET NOT NULL;\n');
      writeFileSync(join(dir, 'scratch.sql'), "SELECT 'never closed;\n");
      const r = await lint(join(dir, 'hotfix.sql'), '--format', 'json');
      assert.equal(r.code, 0, r.stderr);
      assert.ok((JSON.parse(r.stdout) as LintReport).findings.some((f) => f.rule === 'set-not-null'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  void it('keeps two findings of one rule on one statement (two constraints in one ALTER TABLE)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mlab-lint-two-'));
    try {
      const file = join(dir, 'two.sql');
      writeFileSync(
        file,
        "SET lock_timeout = '2s';\nALTER TABLE t ADD CONSTRAINT ca CHECK (a > 0), ADD CONSTRAINT cb CHECK (b > 0);\n",
      );
      const report = JSON.parse(
        (await lint(file, '--format', 'json', '--fail-on', 'never')).stdout,
      ) as LintReport;
      assert.equal(report.findings.filter((f) => f.rule === 'constraint-without-not-valid').length, 2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  void it('Atlas with its own delimiter: an ignore comment applies to the statement after it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mlab-lint-atlas-'));
    try {
      writeFileSync(
        join(dir, '20240101000000_t.sql'),
        'CREATE TABLE ta (a int);\nCREATE TABLE tb (b int);\n',
      );
      writeFileSync(
        join(dir, '20240102000000_i.sql'),
        '-- atlas:delimiter -- end\n\nCREATE INDEX ta_a ON ta (a)\n-- end\n-- squawk-ignore require-concurrent-index-creation\nCREATE INDEX tb_b ON tb (b)\n-- end\n',
      );
      writeFileSync(join(dir, 'atlas.sum'), 'h1:x=\n');
      const report = JSON.parse(
        (await lint(dir, '--tool', 'atlas', '--format', 'json', '--fail-on', 'never')).stdout,
      ) as LintReport;
      const flagged = report.findings
        .filter((f) => f.rule === 'index-without-concurrently')
        .map((f) => f.line);
      assert.deepEqual(flagged, [3], JSON.stringify(report.findings));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

void describe('lint: formats', () => {
  void it('json follows the documented contract, modes spelled as pg_locks spells them', async () => {
    const r = await lint(UNMARKED_PRISMA, `${FIXTURES}/dbmate/unmarked`, '--format', 'json');
    const report = JSON.parse(r.stdout) as LintReport;
    assertJsonContract(report);
    assert.ok(report.findings.some((f) => f.lock?.mode === 'AccessExclusiveLock'));
    const concurrently = report.statements.find((s) =>
      s.locks.some((l) => l.relation === 'public.Book' && l.mode === 'ShareUpdateExclusiveLock'),
    );
    assert.ok(concurrently);
    assert.equal(concurrently.transactional, false);
    assert.ok(report.findings.some((f) => f.file.startsWith(`${FIXTURES}/dbmate/unmarked/`)));
  });

  void it('github prints one escaped workflow annotation per finding', async () => {
    const r = await lint(UNMARKED_PRISMA, '--format', 'github');
    const lines = r.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 3, r.stdout);
    const error = lines.find((l) => l.startsWith('::error '));
    assert.ok(error, r.stdout);
    assert.match(
      error,
      /^::error file=test\/fixtures\/tools\/prisma\/unmarked\/20240102000000_index_books_title\/migration\.sql,line=5,col=1,endLine=5,endColumn=\d+,title=concurrently-in-transaction::CREATE INDEX CONCURRENTLY /,
    );
    // the lock line is a second line of the message: escaped, never a raw newline
    assert.ok(
      lines.some((l) => l.startsWith('::warning ') && l.includes('%0AACCESS EXCLUSIVE on public.Book')),
    );
    assert.ok(lines.some((l) => l.startsWith('::notice ')));
  });

  void it('github escapes % \\r \\n in the message and also , and : in properties', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mlab,lint:'));
    try {
      writeFileSync(join(dir, 'x.sql'), 'ALTER TABLE "100%" DROP COLUMN a;\n');
      const r = await lint(join(dir, 'x.sql'), '--format', 'github');
      assert.match(r.stdout, /file=[^,]*mlab%2Clint%3A[^,]*\/x\.sql,line=1,/);
      assert.match(r.stdout, /100%25/);
      assert.doesNotMatch(r.stdout.trimEnd(), /\r|\n(?!::)/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  void it('sarif is SARIF 2.1.0 with the required fields', async () => {
    const r = await lint(UNMARKED_PRISMA, '--format', 'sarif');
    const log = JSON.parse(r.stdout) as Record<string, unknown>;
    // The schema's required properties (sarif-schema-2.1.0.json): sarifLog{version, runs},
    // run{tool}, tool{driver}, toolComponent{name}, result{message}, message{text or id};
    // level is an enum; region lines/columns are integers ≥ 1.
    assert.equal(log.version, '2.1.0');
    assert.equal(typeof log.$schema, 'string');
    assert.match(log.$schema as string, /sarif-2\.1\.0/);
    const runs = log.runs as {
      tool: {
        driver: {
          name: string;
          rules: { id: string; shortDescription: { text: string }; help: { text: string } }[];
        };
      };
      results: {
        ruleId: string;
        ruleIndex: number;
        level: string;
        message: { text: string };
        locations: {
          physicalLocation: {
            artifactLocation: { uri: string };
            region: { startLine: number; startColumn: number; endLine: number; endColumn: number };
          };
        }[];
      }[];
    }[];
    assert.ok(Array.isArray(runs) && runs.length === 1);
    const driver = runs[0].tool.driver;
    assert.equal(typeof driver.name, 'string');
    assert.ok(driver.name.length > 0);
    assert.ok(driver.rules.length > 10);
    for (const rule of driver.rules) {
      assert.equal(typeof rule.id, 'string');
      assert.ok(rule.shortDescription.text.length > 0);
      assert.match(rule.help.text, new RegExp(`docs/rules\\.md explains ${rule.id}`));
      assert.equal('helpUri' in rule, false, 'no file: URI of the machine that ran the lint');
    }
    assert.equal(runs[0].results.length, 3);
    for (const result of runs[0].results) {
      assert.equal(typeof result.message.text, 'string');
      assert.ok(result.message.text.length > 0);
      assert.ok(['none', 'note', 'warning', 'error'].includes(result.level), result.level);
      assert.equal(driver.rules[result.ruleIndex].id, result.ruleId);
      const { artifactLocation, region } = result.locations[0].physicalLocation;
      assert.match(artifactLocation.uri, /^test\/fixtures\/tools\/prisma\/unmarked\//);
      for (const n of [region.startLine, region.startColumn, region.endLine, region.endColumn])
        assert.ok(Number.isInteger(n) && n >= 1);
    }
    assert.deepEqual(runs[0].results.map((x) => x.level).sort(), ['error', 'note', 'warning']);
  });
});

void describe('node dist/cli.js lint (the built command line, as a child process)', () => {
  const CLI = join(root, 'dist', 'cli.js');
  before(() => {
    if (!existsSync(CLI)) {
      const build = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: root, encoding: 'utf8' });
      assert.equal(build.status, 0, `build failed:\n${build.stderr}`);
    }
  });

  void it('prints the JSON contract on stdout and exits 1 on the unmarked CONCURRENTLY fixture', () => {
    const run = spawnSync(process.execPath, [CLI, 'lint', UNMARKED_PRISMA, '--format', 'json'], {
      cwd: root,
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(run.status, 1, run.stderr);
    assert.equal(run.stderr, '');
    const report = JSON.parse(run.stdout) as LintReport;
    assertJsonContract(report);
    assert.ok(
      report.findings.some((f) => f.rule === 'concurrently-in-transaction' && f.file === PRISMA_INDEX_FILE),
    );
  });

  void it('exits 0 on a clean folder and 2 on a bad option', () => {
    const clean = spawnSync(process.execPath, [CLI, 'lint', CLEAN, '--format', 'json'], {
      cwd: root,
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(clean.status, 0, clean.stderr);
    assert.deepEqual((JSON.parse(clean.stdout) as LintReport).findings, []);
    const bad = spawnSync(process.execPath, [CLI, 'lint', CLEAN, '--format', 'xml'], {
      cwd: root,
      encoding: 'utf8',
    });
    assert.equal(bad.status, 2);
  });
});

void describe('lint CLI: the workspace rule settings (.vscode/settings.json)', () => {
  /** A workspace whose migration drops a column of a table an earlier migration created. */
  function workspace(settings?: string): string {
    const dir = mkdtempSync(join(tmpdir(), 'migration-lab-lint-settings-'));
    mkdirSync(join(dir, 'db', 'migrations'), { recursive: true });
    writeFileSync(
      join(dir, 'db/migrations/20240101000000_t.sql'),
      '-- migrate:up\nCREATE TABLE t (a int, b int);\n-- migrate:down\nDROP TABLE t;\n',
    );
    writeFileSync(
      join(dir, 'db/migrations/20240102000000_drop.sql'),
      '-- migrate:up\nALTER TABLE t DROP COLUMN b;\n-- migrate:down\nSELECT 1;\n',
    );
    if (settings !== undefined) {
      mkdirSync(join(dir, '.vscode'));
      writeFileSync(join(dir, '.vscode/settings.json'), settings);
    }
    return dir;
  }
  const rulesOf = (report: LintReport) => report.findings.map((f) => `${f.rule}:${f.severity}`).sort();

  void it('turns rules off and changes severities as the editor does, comments and trailing commas allowed', async () => {
    const plain = workspace();
    const configured = workspace(
      '{\n  // what the team agreed\n  "migrationLab.lint.rules": {\n    "rename-or-drop": "off",\n    "access-exclusive-without-lock-timeout": "error",\n  },\n}\n',
    );
    try {
      const before = await lint(join(plain, 'db/migrations'), '--format', 'json');
      assert.deepEqual(rulesOf(JSON.parse(before.stdout) as LintReport), [
        'access-exclusive-without-lock-timeout:warning',
        'rename-or-drop:warning',
      ]);
      assert.equal(before.code, 0);
      // a file inside the folder finds the settings too, and the changed severity fails the run
      const after = await lint(join(configured, 'db/migrations/20240102000000_drop.sql'), '--format', 'json');
      assert.deepEqual(rulesOf(JSON.parse(after.stdout) as LintReport), [
        'access-exclusive-without-lock-timeout:error',
      ]);
      assert.equal(after.code, 1);
    } finally {
      rmSync(plain, { recursive: true, force: true });
      rmSync(configured, { recursive: true, force: true });
    }
  });

  void it('refuses a settings file naming a rule that does not exist, in one sentence', async () => {
    const dir = workspace('{ "migrationLab.lint.rules": { "no-such-rule": "off" } }');
    try {
      const run = await lint(join(dir, 'db/migrations'), '--format', 'json');
      assert.equal(run.code, 1);
      assert.match(run.stderr, /names "no-such-rule", which is not a rule/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
