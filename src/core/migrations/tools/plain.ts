/**
 * A plain folder of `.sql` files, and what Django `sqlmigrate` or `alembic upgrade --sql` print.
 * There is no tool to follow, so the lab does what psql does with such a file: each statement on
 * its own in autocommit; an outer `BEGIN; … COMMIT;` (which Django prints around an atomic
 * migration, and alembic around its offline script) makes the whole file one transaction.
 * Files run in natural name order (0002 before 0010).
 */
import { join } from 'node:path';
import type { Detection, Migration, MigrationSection, MigrationSource } from '../model';
import type { SqlFileText } from '../sqlScanner';
import { compareFileNames, fileNames, outerTransaction, readHead, readSqlFile, scanFile } from './common';

export const tool = 'plain' as const;

export async function detect(dir: string): Promise<Detection | undefined> {
  const names = (await fileNames(dir).catch(() => []))
    .filter((n) => n.endsWith('.sql'))
    .sort(compareFileNames);
  if (names.length === 0) return undefined;
  const numbered = names.filter((n) => /^\d+[_-]/.test(n)).length;
  const evidence = [
    numbered > 0
      ? `${numbered} numbered .sql file(s) (e.g. ${names.find((n) => /^\d/.test(n))}) and no other tool's markers.`
      : `${names.length} .sql file(s) and no other tool's markers.`,
  ];
  const head = await readHead(join(dir, names[0]), 4096);
  if (/^BEGIN;\s*\n--\n-- /m.test(head))
    evidence.push(`${names[0]} looks like Django \`sqlmigrate\` output (BEGIN; and "--" headers).`);
  else if (/alembic_version/.test(head))
    evidence.push(`${names[0]} looks like \`alembic upgrade --sql\` output (it writes alembic_version).`);
  // Numbered files are ordered migrations; loose ones (seed.sql) count only in a folder named for them.
  return { tool, confidence: numbered > 0 ? 10 : 5, evidence };
}

export async function load(dir: string): Promise<MigrationSource> {
  const migrations: Migration[] = [];
  for (const name of (await fileNames(dir)).filter((n) => n.endsWith('.sql')).sort(compareFileNames)) {
    const path = join(dir, name);
    const m = /^(\d+)[_-]?(.*)\.sql$/.exec(name);
    migrations.push({
      id: name.slice(0, -4),
      version: m ? m[1] : String(migrations.length + 1),
      name: m ? m[2] : name.slice(0, -4),
      files: [path],
      up: plainSection(await readSqlFile(path)),
    });
  }
  return { path: dir, tool, evidence: [], migrations };
}

/** How psql would run a file: autocommit per statement, or one transaction inside BEGIN … COMMIT. */
export function plainSection(file: SqlFileText): MigrationSection {
  const { statements } = scanFile(file);
  const inner = outerTransaction(statements);
  if (inner) {
    return {
      mode: 'transaction',
      why: 'The file is wrapped in BEGIN; … COMMIT;, so it runs as one transaction.',
      statements: inner,
      wayOut: 'remove the BEGIN; … COMMIT; around the file (for Django, `atomic = False` on the migration)',
    };
  }
  return {
    mode: 'autocommit',
    why: 'A plain SQL file runs statement by statement in autocommit, as psql runs it (no outer BEGIN; … COMMIT;).',
    statements,
  };
}
