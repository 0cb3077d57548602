/**
 * Diesel: `migrations/<version>_<name>/up.sql` and `down.sql`, optional `metadata.toml`.
 * Documented rule (diesel_migrations docs, "metadata.toml": `run_in_transaction = false`): each
 * migration runs in a transaction unless metadata.toml says `run_in_transaction = false`; Diesel
 * sends the file whole with `batch_execute` (one string), so without the transaction PostgreSQL
 * still runs a multi-statement file as one implicit transaction.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Detection, Migration, MigrationSection, MigrationSource } from '../model';
import { dirNames, errorIn, exists, lines, readSqlFile, scriptSection } from './common';

export const tool = 'diesel' as const;
const FOLDER = /^([^_]+)_(.+)$/;

export async function detect(dir: string): Promise<Detection | undefined> {
  const folders = (await dirNames(dir).catch(() => [])).filter((n) => FOLDER.test(n));
  let pairs = 0;
  let example = '';
  for (const name of folders.slice(0, 20)) {
    if ((await exists(join(dir, name, 'up.sql'))) && (await exists(join(dir, name, 'down.sql')))) {
      pairs++;
      example ||= name;
    }
  }
  if (pairs === 0) return undefined;
  const evidence = [
    `${pairs} \`<version>_<name>/up.sql\` + \`down.sql\` folder(s), Diesel's layout (e.g. ${example}).`,
  ];
  if (await exists(join(dir, '..', 'diesel.toml'))) evidence.push('diesel.toml is in the parent folder.');
  if (folders.some((n) => n.endsWith('_diesel_initial_setup')))
    evidence.push("it has Diesel's `diesel_initial_setup` migration.");
  return { tool, confidence: evidence.length > 1 ? 92 : 80, evidence };
}

export async function load(dir: string): Promise<MigrationSource> {
  const migrations: Migration[] = [];
  for (const name of (await dirNames(dir)).sort()) {
    const m = FOLDER.exec(name);
    if (!m) continue;
    const folder = join(dir, name);
    const upPath = join(folder, 'up.sql');
    if (!(await exists(upPath)))
      throw errorIn(folder, 'this migration folder has no up.sql, which Diesel requires.');
    const downPath = join(folder, 'down.sql');
    const inTransaction = await runInTransaction(join(folder, 'metadata.toml'));
    const files = [upPath];
    const up = await section(upPath, inTransaction);
    let down: MigrationSection | undefined;
    if (await exists(downPath)) {
      files.push(downPath);
      down = await section(downPath, inTransaction);
    }
    migrations.push({ id: name, version: m[1], name: m[2], files, up, ...(down ? { down } : {}) });
  }
  // Diesel orders by version as text (timestamps of equal width).
  migrations.sort((a, b) => (a.version < b.version ? -1 : a.version > b.version ? 1 : 0));
  return { path: dir, tool, evidence: [], migrations };
}

async function runInTransaction(path: string): Promise<boolean> {
  if (!(await exists(path))) return true;
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw errorIn(path, 'cannot read this metadata.toml.', undefined, e);
  }
  for (const line of lines(text)) {
    const m = /^\s*run_in_transaction\s*=\s*(\S+)\s*(#.*)?$/.exec(line.text);
    if (!m) continue;
    if (m[1] !== 'true' && m[1] !== 'false')
      throw errorIn(path, `run_in_transaction must be true or false, not \`${m[1]}\`.`, line.number);
    return m[1] === 'true';
  }
  return true;
}

async function section(path: string, inTransaction: boolean): Promise<MigrationSection> {
  const file = await readSqlFile(path);
  return inTransaction
    ? scriptSection(
        file,
        0,
        file.text.length,
        'transaction',
        'Diesel runs each migration in a transaction (no `run_in_transaction = false` in metadata.toml).',
        "add `run_in_transaction = false` to the migration's metadata.toml and keep the statement alone in the file",
      )
    : scriptSection(
        file,
        0,
        file.text.length,
        'single-string',
        'metadata.toml sets `run_in_transaction = false`: Diesel sends the file as one string without a transaction; PostgreSQL runs a multi-statement string as one implicit transaction.',
        'keep the statement alone in the file (move the others to another migration)',
      );
}
