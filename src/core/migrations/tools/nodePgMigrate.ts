/**
 * node-pg-migrate (SQL migrations): `<timestamp>_<name>.sql` with `-- Up Migration` and
 * `-- Down Migration` sections.
 * Documented rule (node-pg-migrate docs, "SQL migrations" and "Transactions"): each migration runs
 * in its own transaction; a SQL file has no way to call `pgm.noTransaction()`, so it has no way out.
 * Each section is passed to `pgm.sql()` and sent as one string inside that transaction.
 */
import { join } from 'node:path';
import { compareVersions, type Detection, type MigrationSource } from '../model';
import type { SqlFileText } from '../sqlScanner';
import { fileNames, loadSingleFileMigrations, readHead, scriptSection } from './common';

export const tool = 'node-pg-migrate' as const;
const FILE = /^(\d+)[_-](.+)\.sql$/;
const UP_MARKER = /^\s*--[\s-]*up\s+migration/im;
const DOWN_MARKER = /^\s*--[\s-]*down\s+migration/im;

export async function detect(dir: string): Promise<Detection | undefined> {
  for (const name of (await fileNames(dir).catch(() => []))
    .filter((n) => FILE.test(n))
    .sort()
    .slice(0, 20)) {
    if (UP_MARKER.test(await readHead(join(dir, name)))) {
      return {
        tool,
        confidence: 90,
        evidence: [`${name} has a \`-- Up Migration\` line (node-pg-migrate's SQL section marker).`],
      };
    }
  }
  return undefined;
}

const WAY_OUT =
  'a SQL migration cannot opt out; write this migration in JavaScript and call `pgm.noTransaction()`';
const WHY =
  'node-pg-migrate runs each migration in its own transaction (a SQL migration cannot opt out), sending the section as one string.';

export async function load(dir: string): Promise<MigrationSource> {
  const migrations = await loadSingleFileMigrations(dir, FILE, (file) => {
    const { up, down } = sections(file);
    return {
      up: scriptSection(file, up[0], up[1], 'transaction', WHY, WAY_OUT),
      ...(down ? { down: scriptSection(file, down[0], down[1], 'transaction', WHY, WAY_OUT) } : {}),
    };
  });
  migrations.sort((a, b) => compareVersions(a.version, b.version));
  return { path: dir, tool, evidence: [], migrations };
}

/**
 * node-pg-migrate's own rule (sqlMigration.getActions): the up SQL runs from its marker line to the
 * down marker (or the end), the down SQL from its marker to the up marker (or the end); without an
 * up marker the whole file is the up SQL. Text before the first marker is not run.
 */
function sections(file: SqlFileText): { up: [number, number]; down?: [number, number] } {
  const up = file.text.search(UP_MARKER);
  const down = file.text.search(DOWN_MARKER);
  const markerStart = (at: number) => (at < 0 ? -1 : file.text.lastIndexOf('\n', at) + 1);
  const upFrom = markerStart(up);
  const downFrom = markerStart(down);
  return {
    up: upFrom < 0 ? [0, file.text.length] : [upFrom, downFrom > upFrom ? downFrom : file.text.length],
    ...(downFrom >= 0
      ? { down: [downFrom, upFrom > downFrom ? upFrom : file.text.length] as [number, number] }
      : {}),
  };
}
