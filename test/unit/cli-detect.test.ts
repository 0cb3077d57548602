import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parseDetectArgs, runDetect, type DetectReport } from '../../src/cli/detect';

const FIXTURES = join(__dirname, '../../../test/fixtures/tools');
const temps: string[] = [];
after(() => temps.forEach((t) => rmSync(t, { recursive: true, force: true })));

async function run(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runDetect(argv, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) });
  return { code, stdout, stderr };
}

void describe('detect command', () => {
  void it('parses DIR, --tool and --json, and refuses the rest', () => {
    assert.deepEqual(parseDetectArgs(['db', '--json', '--tool', 'goose']), {
      dir: 'db',
      pg: 'bundled',
      json: true,
      help: false,
      tool: 'goose',
    });
    assert.throws(() => parseDetectArgs(['--tool', 'rails']), /--tool needs one of/);
    assert.throws(() => parseDetectArgs(['a', 'b']), /Only one folder/);
  });

  void it('takes --pg MAJOR like every command, checked the same way', async () => {
    assert.equal(parseDetectArgs(['db', '--pg', '14']).pg, '14');
    assert.equal(parseDetectArgs(['--pg=bundled']).pg, 'bundled');
    assert.throws(
      () => parseDetectArgs(['--pg', '12']),
      /--pg must be "bundled" or one of 14, 15, 16, 17, 18/,
    );
    assert.throws(() => parseDetectArgs(['--pg']), /--pg needs a value/);
    const { code, stdout } = await run([join(FIXTURES, 'dbmate'), '--pg', '15', '--json']);
    assert.equal(code, 0);
    // The JSON is a contract: --pg adds nothing to it.
    assert.deepEqual(Object.keys(JSON.parse(stdout) as DetectReport), ['sources']);
    const bad = await run(['--pg', '9']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^--pg must be .+\nUsage: migration-lab detect/);
  });

  void it('exits 2 with the usage line on bad arguments', async () => {
    const { code, stderr } = await run(['--nope']);
    assert.equal(code, 2);
    assert.match(stderr, /Unknown option --nope\.\nUsage: migration-lab detect/);
  });

  void it('prints { sources: [{ path, tool, evidence, migrations }] } with --json', async () => {
    const { code, stdout } = await run([join(FIXTURES, 'dbmate'), '--json']);
    assert.equal(code, 0);
    const report = JSON.parse(stdout) as DetectReport;
    assert.deepEqual(
      report.sources.map((s) => [s.path, s.tool]),
      [
        ['migrations', 'dbmate'],
        ['two-statements', 'dbmate'],
        ['unmarked', 'dbmate'],
      ],
    );
    const index = report.sources[0].migrations[1];
    assert.equal(index.id, '20240102000000_index_books_title');
    assert.equal(index.mode, 'single-string');
    assert.deepEqual(index.files, ['migrations/20240102000000_index_books_title.sql']);
    assert.deepEqual(index.down, { mode: 'single-string', statements: 1 });
    assert.match(report.sources[0].evidence[0], /migrate:up/);
  });

  void it('reports a folder it cannot read with the file and line, and exits 1', async () => {
    const root = mkdtempSync(join(tmpdir(), 'migration-lab-cli-'));
    temps.push(root);
    mkdirSync(join(root, 'migrations'));
    writeFileSync(join(root, 'migrations', '001_a.sql'), "-- migrate:up\nSELECT 'oops;\n");
    const { code, stdout } = await run([root, '--json']);
    assert.equal(code, 1);
    const [source] = (JSON.parse(stdout) as DetectReport).sources;
    assert.equal(source.tool, 'dbmate');
    assert.deepEqual(source.migrations, []);
    assert.equal(source.error?.file, 'migrations/001_a.sql');
    assert.equal(source.error?.line, 2);
    const text = await run([root]);
    assert.match(text.stdout, /ERROR .*001_a\.sql:2: an unterminated quoted string/);
  });
});
