/**
 * Prisma Migrate: `prisma/migrations/<timestamp>_<name>/migration.sql`, with `migration_lock.toml`.
 * Documented behaviour (Prisma docs, "Migration histories" and "Customizing migrations"; the schema
 * engine applies a migration script in one round trip): migration.sql is sent whole, as ONE string,
 * with no transaction added around it, so PostgreSQL runs a multi-statement file as one implicit
 * transaction. There are no down migrations.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { compareVersions, type Detection, type Migration, type MigrationSource } from '../model';
import { dirNames, errorIn, exists, lines, readSqlFile, scriptSection } from './common';

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
  await checkProvider(join(dir, 'migration_lock.toml'));
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
      up: scriptSection(
        file,
        0,
        file.text.length,
        'single-string',
        WHY,
        'put the statement alone in its own migration.sql (prisma migrate dev --create-only, then edit it)',
      ),
    });
  }
  migrations.sort((a, b) => compareVersions(a.version, b.version) || (a.id < b.id ? -1 : 1));
  return { path: dir, tool, evidence: [], migrations };
}

/** migration_lock.toml names the database the migrations were written for; only PostgreSQL replays here. */
async function checkProvider(path: string): Promise<void> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return; // no lock file: nothing says otherwise
  }
  for (const line of lines(text)) {
    const m = /^\s*provider\s*=\s*"([^"]*)"/.exec(line.text);
    if (m && m[1] !== 'postgresql' && m[1] !== 'postgres') {
      throw errorIn(
        path,
        `the migrations are for ${m[1]}; the lab replays PostgreSQL migrations only.`,
        line.number,
      );
    }
  }
}
