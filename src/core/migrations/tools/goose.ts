/**
 * goose (SQL migrations): `{version}_{name}.sql` with `-- +goose Up` / `-- +goose Down`.
 * Documented rule (goose README, "SQL Migrations"): each migration runs in a transaction unless the
 * file has `-- +goose NO TRANSACTION`; statements end at a line ending in `;`, and statements with
 * semicolons inside (PL/pgSQL bodies) must be wrapped in `-- +goose StatementBegin` / `StatementEnd`.
 * goose splits by LINES, not by SQL syntax, and sends each statement separately — reproduced here,
 * including a function body split at a `;` line ending when the annotations are missing.
 */
import { join } from 'node:path';
import {
  compareVersions,
  type Detection,
  type MigrationSection,
  type MigrationSource,
  type MigrationStatement,
} from '../model';
import { scanSql, type SqlFileText } from '../sqlScanner';
import { errorAt, errorIn, fileNames, lines, loadSingleFileMigrations, readHead } from './common';

export const tool = 'goose' as const;
const FILE = /^(\d+)_(.+)\.sql$/;
const ANNOTATION = /^--\s*\+goose\s+(.*?)\s*$/i;

export async function detect(dir: string): Promise<Detection | undefined> {
  const names = (await fileNames(dir).catch(() => [])).filter((n) => FILE.test(n)).sort();
  for (const name of names.slice(0, 20)) {
    if (/^--\s*\+goose\s+up\b/im.test(await readHead(join(dir, name)))) {
      return { tool, confidence: 90, evidence: [`${name} has a \`-- +goose Up\` annotation.`] };
    }
  }
  return undefined;
}

export async function load(dir: string): Promise<MigrationSource> {
  const migrations = await loadSingleFileMigrations(dir, FILE, parse);
  migrations.sort((a, b) => compareVersions(a.version, b.version));
  for (let k = 1; k < migrations.length; k++) {
    if (compareVersions(migrations[k - 1].version, migrations[k].version) === 0) {
      throw errorIn(
        migrations[k].files[0],
        `version ${migrations[k].version} is used twice (also ${migrations[k - 1].id}); goose refuses duplicate versions.`,
      );
    }
  }
  return { path: dir, tool, evidence: [], migrations };
}

/** goose's "ends with a semicolon": the last word before a `--` comment ends with `;`. Returns the `;` offset. */
function semicolonEnd(text: string, start: number, end: number): number {
  const line = text.slice(start, end);
  const words = line.split(/(\s+)/);
  let offset = 0;
  let last = -1;
  for (const word of words) {
    if (word.startsWith('--')) break;
    if (word.trim()) last = word.endsWith(';') ? start + offset + word.length - 1 : -1;
    offset += word.length;
  }
  return last;
}

function parse(file: SqlFileText): { up: MigrationSection; down?: MigrationSection } {
  type Direction = 'up' | 'down';
  const statements: Record<Direction, MigrationStatement[]> = { up: [], down: [] };
  const seen = new Set<Direction>();
  let direction: Direction | undefined;
  let noTransaction = false;
  let inBlock = false;
  let bufferStart = -1;

  const flush = (to: number) => {
    if (bufferStart < 0 || !direction) return;
    statements[direction].push(statementAt(file, bufferStart, to));
    bufferStart = -1;
  };

  for (const line of lines(file.text)) {
    const note = ANNOTATION.exec(line.text.trim());
    if (note) {
      const command = note[1].toUpperCase();
      if (command === 'UP' || command === 'DOWN') {
        if (bufferStart >= 0)
          throw errorAt(
            file,
            bufferStart,
            'an unfinished statement (missing semicolon?) before this annotation, which goose refuses.',
          );
        direction = command === 'UP' ? 'up' : 'down';
        seen.add(direction);
      } else if (command === 'STATEMENTBEGIN') {
        if (!direction) throw errorAt(file, line.start, '`-- +goose StatementBegin` before `-- +goose Up`.');
        inBlock = true;
        bufferStart = -1;
      } else if (command === 'STATEMENTEND') {
        if (!inBlock) throw errorAt(file, line.start, '`-- +goose StatementEnd` without a StatementBegin.');
        inBlock = false;
        flush(line.start);
      } else if (command === 'NO TRANSACTION') {
        noTransaction = true;
      } else if (command !== 'ENVSUB ON' && command !== 'ENVSUB OFF') {
        throw errorAt(file, line.start, `unknown goose annotation \`-- +goose ${note[1]}\`.`);
      }
      continue;
    }
    const blank = line.text.trim() === '';
    const comment = line.text.trim().startsWith('--');
    if (!direction) {
      if (!blank && !comment)
        throw errorAt(file, line.start, 'SQL before `-- +goose Up`; goose requires the Up annotation first.');
      continue;
    }
    if (blank || (comment && bufferStart < 0)) continue;
    if (bufferStart < 0) bufferStart = line.start;
    if (!inBlock) {
      const semicolon = semicolonEnd(file.text, line.start, line.end);
      if (semicolon >= 0) flush(semicolon);
    }
  }
  if (inBlock)
    throw errorIn(file.path, '`-- +goose StatementBegin` is never closed by `-- +goose StatementEnd`.');
  if (bufferStart >= 0)
    throw errorAt(
      file,
      bufferStart,
      'an unfinished statement at the end of the section (missing semicolon?), which goose refuses.',
    );
  if (!seen.has('up'))
    throw errorIn(file.path, 'it has no `-- +goose Up` annotation, which goose requires.', 1);

  const section = (d: Direction): MigrationSection =>
    noTransaction
      ? {
          mode: 'autocommit',
          why: '`-- +goose NO TRANSACTION`: goose runs each statement on its own, outside a transaction.',
          statements: statements[d],
        }
      : {
          mode: 'transaction',
          why: 'goose runs each migration in a transaction (no `-- +goose NO TRANSACTION` in the file).',
          statements: statements[d],
          wayOut: 'add `-- +goose NO TRANSACTION` to the file',
        };
  return { up: section('up'), ...(seen.has('down') ? { down: section('down') } : {}) };
}

/** The statement goose sends for [from, to), trimmed of leading comments and blanks. */
function statementAt(file: SqlFileText, from: number, to: number): MigrationStatement {
  let start = from;
  let end = to;
  let keywords: string[] = [];
  try {
    // No delimiter can match: the whole range is one statement, trimmed of comments.
    const found = scanSql(file.text, { from, to, delimiter: '\u0000' }).statements[0];
    if (found) ({ from: start, to: end, keywords } = found);
  } catch {
    // goose cut inside a string or dollar quote (missing StatementBegin): send what goose sends.
    while (start < end && /\s/.test(file.text[start])) start++;
    while (end > start && /\s/.test(file.text[end - 1])) end--;
    keywords = (file.text.slice(start, Math.min(end, start + 200)).match(/[A-Za-z_]+/g) ?? [])
      .slice(0, 16)
      .map((w) => w.toUpperCase());
  }
  // Like every other statement in the model, without its final `;` (a block keeps its inner ones).
  while (end > start && (file.text[end - 1] === ';' || /\s/.test(file.text[end - 1]))) end--;
  return {
    text: file.text.slice(start, end),
    file: file.path,
    start: file.positions.at(start),
    end: file.positions.at(end),
    keywords,
  };
}
