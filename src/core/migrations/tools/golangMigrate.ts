/**
 * golang-migrate: `{version}_{title}.up.sql` and `{version}_{title}.down.sql`.
 * Documented rule (MIGRATIONS.md, and the postgres driver's Run): migrate adds no transaction of its
 * own and the postgres driver sends the whole file in ONE Exec (unless `x-multi-statement` is set),
 * so a file with several statements is one implicit transaction in PostgreSQL.
 */
import { join } from 'node:path';
import {
  compareVersions,
  type Detection,
  type Migration,
  type MigrationSection,
  type MigrationSource,
} from '../model';
import { errorIn, fileNames, readSqlFile, scriptSection } from './common';

export const tool = 'golang-migrate' as const;
export const FILE = /^(\d+)_(.*)\.(up|down)\.sql$/;

export async function detect(dir: string): Promise<Detection | undefined> {
  const names = (await fileNames(dir).catch(() => [])).filter((n) => FILE.test(n));
  const ups = names.filter((n) => n.endsWith('.up.sql'));
  const downs = names.filter((n) => n.endsWith('.down.sql'));
  if (ups.length === 0) return undefined;
  return {
    tool,
    confidence: downs.length > 0 ? 75 : 60,
    evidence: [
      `${ups.length} \`{version}_{title}.up.sql\` file(s)${downs.length ? ` and ${downs.length} \`.down.sql\`` : ''}, golang-migrate's naming (e.g. ${ups.sort()[0]}).`,
    ],
  };
}

export async function load(dir: string): Promise<MigrationSource> {
  return { path: dir, tool, evidence: [], migrations: await loadUpDownFiles(dir, section) };
}

const WHY =
  'golang-migrate sends the whole file in one Exec without a transaction of its own; PostgreSQL runs a multi-statement string as one implicit transaction.';

async function section(path: string): Promise<MigrationSection> {
  const file = await readSqlFile(path);
  return scriptSection(
    file,
    0,
    file.text.length,
    'single-string',
    WHY,
    'put the statement alone in its own migration file',
  );
}

/** Pairs `{version}_{name}.up.sql` with its `.down.sql` (golang-migrate and SQLx reversible share this naming). */
export async function loadUpDownFiles(
  dir: string,
  readSection: (path: string) => Promise<MigrationSection>,
): Promise<Migration[]> {
  const byVersion = new Map<string, { name: string; up?: string; down?: string }>();
  for (const name of await fileNames(dir)) {
    const m = FILE.exec(name);
    if (!m) continue;
    const [, version, title, direction] = m;
    const entry = byVersion.get(version) ?? { name: title };
    const key = direction as 'up' | 'down';
    if (entry[key]) {
      throw errorIn(
        join(dir, name),
        `a second ${key} file for version ${version} (${entry[key]}); each version has one.`,
      );
    }
    entry[key] = name;
    byVersion.set(version, entry);
  }
  const migrations: Migration[] = [];
  for (const [version, entry] of byVersion) {
    if (!entry.up)
      throw errorIn(join(dir, entry.down!), `version ${version} has a down file but no .up.sql.`);
    const upPath = join(dir, entry.up);
    const downPath = entry.down ? join(dir, entry.down) : undefined;
    migrations.push({
      id: `${version}_${entry.name}`,
      version,
      name: entry.name,
      files: downPath ? [upPath, downPath] : [upPath],
      up: await readSection(upPath),
      ...(downPath ? { down: await readSection(downPath) } : {}),
    });
  }
  return migrations.sort((a, b) => compareVersions(a.version, b.version));
}
