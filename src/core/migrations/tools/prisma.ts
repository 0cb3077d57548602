/**
 * Prisma Migrate: `prisma/migrations/<timestamp>_<name>/migration.sql`, with `migration_lock.toml`.
 * Documented behaviour (Prisma docs, "Migration histories" and "Customizing migrations"; the schema
 * engine applies a migration script in one round trip): migration.sql is sent whole, as ONE string,
 * with no transaction added around it, so PostgreSQL runs a multi-statement file as one implicit
 * transaction. There are no down migrations.
 */
import { join } from 'node:path';
import { compareVersions, type Detection, type Migration, type MigrationSource } from '../model';
import { dirNames, errorIn, exists, readSqlFile, scriptSection } from './common';

export const tool = 'prisma' as const;
const FOLDER = /^(\d+)_(.+)$/;

export async function detect(dir: string): Promise<Detection | undefined> {
  const evidence: string[] = [];
  if (await exists(join(dir, 'migration_lock.toml'))) evidence.push('migration_lock.toml is in this folder.');
  const folders = (await dirNames(dir).catch(() => [])).filter((n) => FOLDER.test(n));
  let withScript = 0;
  for (const name of folders.slice(0, 20)) if (await exists(join(dir, name, 'migration.sql'))) withScript++;
  if (withScript > 0)
    evidence.push(`${withScript} \`<timestamp>_<name>/migration.sql\` folder(s), Prisma Migrate's layout.`);
  if (withScript > 0) return { tool, confidence: 95, evidence };
  return evidence.length > 0 ? { tool, confidence: 80, evidence } : undefined;
}

const WHY =
  'Prisma Migrate sends migration.sql as one string with no transaction of its own; PostgreSQL runs a multi-statement string as one implicit transaction.';

export async function load(dir: string): Promise<MigrationSource> {
  const migrations: Migration[] = [];
  for (const name of await dirNames(dir)) {
    const m = FOLDER.exec(name);
    if (!m) continue;
    const path = join(dir, name, 'migration.sql');
    if (!(await exists(path)))
      throw errorIn(
        join(dir, name),
        'this migration folder has no migration.sql, which Prisma Migrate requires.',
      );
    const file = await readSqlFile(path);
    migrations.push({
      id: name,
      version: m[1],
      name: m[2],
      files: [path],
      up: scriptSection(file, 0, file.text.length, 'single-string', WHY),
    });
  }
  migrations.sort((a, b) => compareVersions(a.version, b.version) || (a.id < b.id ? -1 : 1));
  return { path: dir, tool, evidence: [], migrations };
}
