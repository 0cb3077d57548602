/**
 * SQLx (`sqlx migrate`): `<version>_<description>.sql`, or reversible pairs
 * `<version>_<description>.up.sql` / `.down.sql`.
 * Documented rule (sqlx-cli README; sqlx-core migrate/source.rs `sql.starts_with("-- no-transaction")`):
 * each migration runs in a transaction unless the file's very first bytes are `-- no-transaction`;
 * the file is executed whole as ONE string, so without the transaction PostgreSQL still runs a
 * multi-statement file as one implicit transaction.
 */
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import {
  compareVersions,
  type Detection,
  type Migration,
  type MigrationSection,
  type MigrationSource,
} from '../model';
import type { SqlFileText } from '../sqlScanner';
import { errorIn, fileNames, readHead, readSqlFile, scriptSection } from './common';

export const tool = 'sqlx' as const;
const FILE = /^(\d+)_(.+?)(\.up|\.down)?\.sql$/;
const NO_TRANSACTION = '-- no-transaction';

export async function detect(dir: string): Promise<Detection | undefined> {
  const names = (await fileNames(dir).catch(() => [])).filter((n) => FILE.test(n)).sort();
  if (names.length === 0) return undefined;
  for (const name of names.slice(0, 50)) {
    if ((await readHead(join(dir, name), 64)).startsWith(NO_TRANSACTION)) {
      return {
        tool,
        confidence: 85,
        evidence: [`${name} starts with \`-- no-transaction\`, SQLx's marker.`],
      };
    }
  }
  for (const cargo of [join(dir, '..', 'Cargo.toml'), join(dirname(dirname(dir)), 'Cargo.toml')]) {
    try {
      if (/^\s*sqlx\b/m.test(await readFile(cargo, 'utf8'))) {
        return {
          tool,
          confidence: 80,
          evidence: [
            `${names.length} \`<version>_<description>.sql\` file(s) next to a Cargo.toml that depends on sqlx.`,
          ],
        };
      }
    } catch {
      // no Cargo.toml there
    }
  }
  return undefined;
}

export async function load(dir: string): Promise<MigrationSource> {
  const byVersion = new Map<string, { description: string; up?: string; down?: string }>();
  for (const name of await fileNames(dir)) {
    const m = FILE.exec(name);
    if (!m) continue;
    const [, version, description, suffix] = m;
    const entry = byVersion.get(version) ?? { description };
    const key = suffix === '.down' ? 'down' : 'up';
    if (entry[key])
      throw errorIn(
        join(dir, name),
        `version ${version} is used twice (also ${entry[key]}); SQLx refuses that.`,
      );
    entry[key] = name;
    byVersion.set(version, entry);
  }
  const migrations: Migration[] = [];
  for (const [version, entry] of byVersion) {
    if (!entry.up)
      throw errorIn(join(dir, entry.down!), `version ${version} has a .down.sql but no .up.sql.`);
    const upPath = join(dir, entry.up);
    const downPath = entry.down ? join(dir, entry.down) : undefined;
    migrations.push({
      id: `${version}_${entry.description}`,
      version,
      name: entry.description.replace(/_/g, ' '),
      files: downPath ? [upPath, downPath] : [upPath],
      up: section(await readSqlFile(upPath)),
      ...(downPath ? { down: section(await readSqlFile(downPath)) } : {}),
    });
  }
  migrations.sort((a, b) => compareVersions(a.version, b.version));
  return { path: dir, tool, evidence: [], migrations };
}

function section(file: SqlFileText): MigrationSection {
  // sqlx tests the raw file, so a BOM or a blank line before the marker disables it — as here.
  if (file.text.startsWith(NO_TRANSACTION) && file.positions.at(0).byte === 0) {
    return scriptSection(
      file,
      0,
      file.text.length,
      'single-string',
      '`-- no-transaction` on its first line: SQLx sends the file as one string without a transaction; PostgreSQL runs a multi-statement string as one implicit transaction.',
      'keep the statement alone in the file (move the others to another migration)',
    );
  }
  return scriptSection(
    file,
    0,
    file.text.length,
    'transaction',
    'SQLx runs each migration in a transaction (the file does not start with `-- no-transaction`).',
    'start the file with `-- no-transaction` (its very first line) and keep the statement alone in it',
  );
}
