/**
 * Atlas (versioned migrations): `<version>[_<name>].sql` files with an `atlas.sum` integrity file,
 * applied in file-name order.
 * Documented rules (atlasgo.io "Applying Schema Migrations" / "Manual Migrations"): Atlas splits a
 * file into statements and by default runs each file in its own transaction (`--tx-mode file`); a
 * file header `-- atlas:txmode none` runs that file outside a transaction, and
 * `-- atlas:delimiter <d>` replaces `;` as the statement delimiter (`\n` escapes allowed).
 * Down migrations are computed by Atlas at run time, so the folder has none.
 */
import { join } from 'node:path';
import type { Detection, Migration, MigrationSection, MigrationSource } from '../model';
import type { SqlFileText } from '../sqlScanner';
import { errorAt, exists, fileNames, lines, readSqlFile, scanFile } from './common';

export const tool = 'atlas' as const;
const FILE = /^([^_]+?)(?:_(.*))?\.sql$/;

export async function detect(dir: string): Promise<Detection | undefined> {
  if (!(await exists(join(dir, 'atlas.sum')))) return undefined;
  return {
    tool,
    confidence: 100,
    evidence: ["atlas.sum (Atlas's migration directory checksum) is in this folder."],
  };
}

export async function load(dir: string): Promise<MigrationSource> {
  const migrations: Migration[] = [];
  for (const name of (await fileNames(dir)).filter((n) => n.endsWith('.sql')).sort()) {
    const m = FILE.exec(name)!;
    const path = join(dir, name);
    migrations.push({
      id: name.slice(0, -4),
      version: m[1],
      name: m[2] ?? '',
      files: [path],
      up: section(await readSqlFile(path)),
    });
  }
  return { path: dir, tool, evidence: [], migrations };
}

/** The header directives: comment lines before the first statement. */
function directives(file: SqlFileText): { txmode?: string; delimiter?: string } {
  const result: { txmode?: string; delimiter?: string } = {};
  for (const line of lines(file.text)) {
    const text = line.text.trim();
    if (text === '') continue;
    if (!text.startsWith('--')) break;
    const m = /^--\s*atlas:(\w+)\s*(.*)$/.exec(text);
    if (!m) continue;
    const [, name, value] = m;
    if (name === 'txmode') {
      if (!['none', 'file', 'all'].includes(value))
        throw errorAt(file, line.start, `\`-- atlas:txmode ${value}\` is not one of none, file, all.`);
      result.txmode = value;
    } else if (name === 'delimiter') {
      if (!value) throw errorAt(file, line.start, '`-- atlas:delimiter` without a delimiter.');
      result.delimiter = value.replace(/\\n/g, '\n').replace(/\\t/g, '\t');
    }
  }
  return result;
}

function section(file: SqlFileText): MigrationSection {
  const { txmode, delimiter } = directives(file);
  const { statements } = scanFile(file, delimiter ? { delimiter } : {});
  if (txmode === 'none') {
    return {
      mode: 'autocommit',
      why: '`-- atlas:txmode none`: Atlas runs each statement of this file on its own, outside a transaction.',
      statements,
    };
  }
  return {
    mode: 'transaction',
    why: txmode
      ? `\`-- atlas:txmode ${txmode}\`: Atlas runs this file in a transaction.`
      : 'Atlas runs each migration file in its own transaction (tx-mode "file").',
    statements,
    wayOut: "add `-- atlas:txmode none` to the file's header",
  };
}
