/**
 * node-pg-migrate (SQL migrations): `<timestamp>_<name>.sql` with `-- Up Migration` and
 * `-- Down Migration` sections.
 * Documented rule (node-pg-migrate docs, "SQL migrations" and "Transactions"): each migration runs
 * in its own transaction; a SQL file has no way to call `pgm.noTransaction()`, so it has no way out.
 * Each section is passed to `pgm.sql()` and sent as one string inside that transaction.
 */
import { join } from 'node:path';
import { compareVersions, type Detection, type Migration, type MigrationSource } from '../model';
import type { SqlFileText } from '../sqlScanner';
import { errorAt, errorIn, fileNames, lines, readHead, readSqlFile, scanFile, scriptSection } from './common';

export const tool = 'node-pg-migrate' as const;
const FILE = /^(\d+)[_-](.+)\.sql$/;
const MARKER = /^--\s*(Up|Down)\s+Migration\s*$/i;

export async function detect(dir: string): Promise<Detection | undefined> {
  for (const name of (await fileNames(dir).catch(() => []))
    .filter((n) => FILE.test(n))
    .sort()
    .slice(0, 20)) {
    if (/^--\s*Up\s+Migration\s*$/im.test(await readHead(join(dir, name)))) {
      return {
        tool,
        confidence: 90,
        evidence: [`${name} has a \`-- Up Migration\` line (node-pg-migrate's SQL section marker).`],
      };
    }
  }
  return undefined;
}

const WHY =
  'node-pg-migrate runs each migration in its own transaction (a SQL migration cannot opt out), sending the section as one string.';

export async function load(dir: string): Promise<MigrationSource> {
  const migrations: Migration[] = [];
  for (const name of await fileNames(dir)) {
    const m = FILE.exec(name);
    if (!m) continue;
    const path = join(dir, name);
    const file = await readSqlFile(path);
    const { upFrom, upTo, downFrom } = sections(file);
    migrations.push({
      id: name.slice(0, -4),
      version: m[1],
      name: m[2],
      files: [path],
      up: scriptSection(file, upFrom, upTo, 'transaction', WHY),
      ...(downFrom !== undefined
        ? { down: scriptSection(file, downFrom, file.text.length, 'transaction', WHY) }
        : {}),
    });
  }
  migrations.sort((a, b) => compareVersions(a.version, b.version));
  return { path: dir, tool, evidence: [], migrations };
}

function sections(file: SqlFileText): { upFrom: number; upTo: number; downFrom?: number } {
  let up: { from: number; line: number } | undefined;
  let down: { from: number; start: number } | undefined;
  for (const line of lines(file.text)) {
    const m = MARKER.exec(line.text.trim());
    if (!m) continue;
    const kind = m[1].toLowerCase();
    if (kind === 'up') {
      if (up) throw errorAt(file, line.start, 'a second `-- Up Migration` line.');
      if (down)
        throw errorAt(
          file,
          line.start,
          '`-- Up Migration` after `-- Down Migration`; node-pg-migrate expects Up first.',
        );
      up = { from: line.next, line: line.number };
    } else {
      if (down) throw errorAt(file, line.start, 'a second `-- Down Migration` line.');
      down = { from: line.next, start: line.start };
    }
  }
  if (!up)
    throw errorIn(
      file.path,
      'it has no `-- Up Migration` line, which node-pg-migrate needs to find the up SQL.',
      1,
    );
  const stray = scanFile(file, { to: file.positions.lineStart(up.line) }).statements[0];
  if (stray)
    throw errorAt(
      file,
      stray.start.offset,
      'SQL before `-- Up Migration`, which node-pg-migrate does not run.',
    );
  return {
    upFrom: up.from,
    upTo: down ? down.start : file.text.length,
    ...(down ? { downFrom: down.from } : {}),
  };
}
