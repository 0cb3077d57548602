// Shared by the quick-fix unit and integration tests: copy a fixture folder, lint it, apply a fix's
// neutral edits to the copy exactly as the editor would (ranges, then created files), read it back.
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fixesForFindings, type Fix, type FixEdit, type FixPosition } from '../src/core/lint/fixes';
import { lintSource, type Finding, type LintResult } from '../src/core/lint/lint';
import type { RuleId } from '../src/core/lint/rules';
import { loadSource } from '../src/core/migrations/detect';
import type { MigrationSource, ToolId } from '../src/core/migrations/model';

export const FIX_FIXTURES = join(__dirname, '../../test/fixtures/fixes');

/** The folder each tool's source is in, inside its fixture folder. */
export const SOURCE_FOLDER: Partial<Record<ToolId, string>> = {
  sqlx: 'migrations',
  diesel: 'migrations',
};

export interface FixtureCopy {
  root: string;
  dir: string;
  tool: ToolId;
}

export function copyFixture(tool: ToolId): FixtureCopy {
  const root = mkdtempSync(join(tmpdir(), `mlab-fix-${tool}-`));
  cpSync(join(FIX_FIXTURES, tool), root, { recursive: true });
  return { root, dir: SOURCE_FOLDER[tool] ? join(root, SOURCE_FOLDER[tool]) : root, tool };
}

/** A copy of any folder (e.g. a tool fixture under test/fixtures/tools) read as `tool`. */
export function copyFolder(from: string, tool: ToolId): FixtureCopy {
  const root = mkdtempSync(join(tmpdir(), `mlab-fix-${tool}-`));
  cpSync(from, root, { recursive: true });
  return { root, dir: root, tool };
}

/** Writes a folder of files (relative path → text) and returns it as a copy of `tool`. */
export function writeFolder(files: Record<string, string>, tool: ToolId): FixtureCopy {
  const root = mkdtempSync(join(tmpdir(), `mlab-fix-${tool}-`));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, name)), { recursive: true });
    writeFileSync(join(root, name), text);
  }
  return { root, dir: root, tool };
}

export async function lintCopy(
  copy: FixtureCopy,
  pgMajor = 18,
): Promise<{ source: MigrationSource; result: LintResult }> {
  const source = await loadSource(copy.dir, copy.tool);
  return { source, result: await lintSource(source, { pgMajor }) };
}

/** The finding of `rule` on the statement whose text contains `needle`. */
export function findingOn(
  source: MigrationSource,
  result: LintResult,
  rule: RuleId,
  needle: string,
): Finding {
  const statement = source.migrations.flatMap((m) => m.up.statements).find((s) => s.text.includes(needle));
  assert.ok(statement, `no statement containing ${needle}`);
  const finding = result.findings.find(
    (f) => f.rule === rule && f.file === statement.file && f.line === statement.start.line,
  );
  assert.ok(
    finding,
    `no ${rule} on ${needle}: ${JSON.stringify(result.findings.map((f) => [f.rule, f.line]))}`,
  );
  return finding;
}

export async function fixesOf(source: MigrationSource, finding: Finding, pgMajor = 18): Promise<Fix[]> {
  return (await fixesForFindings(source, [finding], { pgMajor }))[0];
}

function offsetOf(text: string, p: FixPosition): number {
  let offset = 0;
  for (let line = 0; line < p.line; line++) {
    const nl = text.indexOf('\n', offset);
    assert.ok(nl >= 0, `line ${p.line} is past the end of the file`);
    offset = nl + 1;
  }
  return offset + p.character;
}

/** Applies edits as a WorkspaceEdit would: every range refers to the file before any edit. */
export function applyEdits(edits: readonly FixEdit[]): void {
  const byFile = new Map<string, { from: number; to: number; text: string }[]>();
  for (const e of edits) {
    if (e.kind !== 'replace') continue;
    const text = readFileSync(e.file, 'utf8');
    const list = byFile.get(e.file) ?? [];
    list.push({ from: offsetOf(text, e.range.start), to: offsetOf(text, e.range.end), text: e.text });
    byFile.set(e.file, list);
  }
  for (const [file, list] of byFile) {
    let text = readFileSync(file, 'utf8');
    for (const r of list.sort((a, b) => b.from - a.from))
      text = text.slice(0, r.from) + r.text + text.slice(r.to);
    writeFileSync(file, text);
  }
  for (const e of edits) {
    if (e.kind !== 'create') continue;
    assert.equal(existsSync(e.file), false, `${e.file} exists already`);
    mkdirSync(dirname(e.file), { recursive: true });
    writeFileSync(e.file, e.text);
  }
}

export function read(path: string): string {
  return readFileSync(path, 'utf8');
}
