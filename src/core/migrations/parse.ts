import { readdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { LabError } from '../errors';
import { readMigrationFile } from './readFile';
import { scanStatements, SqlSplitError, type ScannedStatement } from './split';

export { splitStatements, scanStatements, type ScannedStatement } from './split';

export type SectionKind = 'up' | 'down';

export interface MigrationSection {
  /** false when the section line carries `transaction:false`: statements then run one by one, autocommit. */
  transaction: boolean;
  statements: string[];
  /**
   * Set when a statement in a transactional section cannot run inside a transaction
   * (e.g. CREATE INDEX CONCURRENTLY): the user message the planners refuse with before anything runs.
   * Kept here instead of failing the parse so that the other migrations still list and run.
   */
  transactionConflict?: string;
}

export interface Migration {
  /** File name without `.sql`, e.g. "0002_add_email_index". */
  id: string;
  /** The leading digits, e.g. "0002". Migrations with the same version are alternatives. */
  version: string;
  /** The part after the version, e.g. "add_email_index". */
  name: string;
  fileName: string;
  up: MigrationSection;
  /** null when the file has no `-- migrate:down` line: the migration cannot be rolled back. */
  down: MigrationSection | null;
  /** The file's text, for display. */
  source: string;
}

const FILE_NAME = /^(\d+)_(.+)\.sql$/;
const SECTION_LINE = /^--\s*migrate:(\S*)(.*)$/;

/** Splits "0002_add_email_index.sql" into its parts; null when the name is not `NNNN_name.sql`. */
export function parseFileName(fileName: string): { id: string; version: string; name: string } | null {
  const match = FILE_NAME.exec(fileName);
  if (!match) return null;
  return { id: fileName.slice(0, -'.sql'.length), version: match[1], name: match[2] };
}

/** Parses one migration file in dbmate's format. Throws LabError naming the file and the problem. */
export function parseMigration(fileName: string, text: string): Migration {
  const parts = parseFileName(fileName);
  if (!parts) {
    throw new LabError(
      `${fileName}: a migration file name must look like NNNN_name.sql (leading digits, an underscore, a name).`,
    );
  }

  const lines = text.split(/\r?\n/);
  const found: Partial<Record<SectionKind, { transaction: boolean; body: string[] }>> = {};
  let current: { body: string[] } | undefined;
  const preamble: string[] = [];

  lines.forEach((line, index) => {
    const marker = SECTION_LINE.exec(line.trim());
    if (!marker) {
      (current?.body ?? preamble).push(line);
      return;
    }
    const kind = marker[1];
    if (kind !== 'up' && kind !== 'down') {
      throw new LabError(
        `${fileName}: line ${index + 1} has an unknown section \`-- migrate:${kind}\`; use \`-- migrate:up\` or \`-- migrate:down\`.`,
      );
    }
    if (found[kind]) {
      throw new LabError(`${fileName}: it has two \`-- migrate:${kind}\` lines (line ${index + 1}).`);
    }
    // The body starts with empty lines so that line numbers in errors match the file.
    const section = {
      transaction: parseOptions(fileName, kind, marker[2]),
      body: new Array<string>(index + 1).fill(''),
    };
    found[kind] = section;
    current = section;
  });

  if (!found.up) {
    throw new LabError(`${fileName}: it has no \`-- migrate:up\` line.`);
  }
  const strayStatements = scan(fileName, preamble.join('\n'));
  if (strayStatements.length > 0) {
    throw new LabError(
      `${fileName}: line ${strayStatements[0].line} has SQL before the first \`-- migrate:up\` or \`-- migrate:down\` line.`,
    );
  }

  const up = buildSection(fileName, 'up', found.up.transaction, found.up.body.join('\n'));
  if (up.statements.length === 0) {
    throw new LabError(`${fileName}: its \`-- migrate:up\` section has no SQL statements.`);
  }
  const down = found.down
    ? buildSection(fileName, 'down', found.down.transaction, found.down.body.join('\n'))
    : null;
  return { ...parts, fileName, up, down, source: text };
}

function parseOptions(fileName: string, kind: SectionKind, rest: string): boolean {
  let transaction = true;
  for (const option of rest.trim().split(/\s+/).filter(Boolean)) {
    if (option === 'transaction:false') transaction = false;
    else if (option === 'transaction:true') transaction = true;
    else {
      throw new LabError(
        `${fileName}: unknown option \`${option}\` on its \`-- migrate:${kind}\` line; only \`transaction:false\` is supported.`,
      );
    }
  }
  return transaction;
}

function scan(fileName: string, sql: string): ScannedStatement[] {
  try {
    return scanStatements(sql);
  } catch (e) {
    if (e instanceof SqlSplitError) {
      throw new LabError(`${fileName}: line ${e.line} starts ${e.message}.`, { cause: e });
    }
    throw e;
  }
}

function buildSection(
  fileName: string,
  kind: SectionKind,
  transaction: boolean,
  sql: string,
): MigrationSection {
  const scanned = scan(fileName, sql);
  const section: MigrationSection = { transaction, statements: scanned.map((s) => s.sql) };
  if (transaction) {
    for (const statement of scanned) {
      const operation = nonTransactionalOperation(statement.words);
      if (operation) {
        section.transactionConflict =
          `${fileName}: ${operation} cannot run inside a transaction; ` +
          `add \`transaction:false\` to its \`-- migrate:${kind}\` line.`;
        break;
      }
      const control = transactionControl(statement.words);
      if (control) {
        // COMMIT would make what ran before it permanent (and a later failure "roll back" only the
        // rest); ROLLBACK would undo the migration yet let it be recorded as applied.
        section.transactionConflict =
          `${fileName}: line ${statement.line} has ${control}, which would end or split the transaction ` +
          `the migration runs in; remove it (the section already runs in one transaction), or add ` +
          `\`transaction:false\` to its \`-- migrate:${kind}\` line to manage transactions yourself.`;
        break;
      }
    }
  }
  return section;
}

/** Statements that begin, end or split a transaction, by their leading keyword. */
const TRANSACTION_CONTROL = new Set([
  'BEGIN',
  'START',
  'COMMIT',
  'END',
  'ROLLBACK',
  'ABORT',
  'SAVEPOINT',
  'RELEASE',
]);

/**
 * The statement's transaction-control command ("COMMIT", "START TRANSACTION", "PREPARE TRANSACTION",
 * "ROLLBACK TO SAVEPOINT", …), judged from its first keywords; undefined for any other statement.
 * (BEGIN ATOMIC only occurs inside CREATE FUNCTION, never as a statement's first word.)
 */
export function transactionControl(words: readonly string[]): string | undefined {
  const [first, second] = words;
  if (first === 'PREPARE') return second === 'TRANSACTION' ? 'PREPARE TRANSACTION' : undefined;
  if (first === undefined || !TRANSACTION_CONTROL.has(first)) return undefined;
  if (first === 'START') return second === 'TRANSACTION' ? 'START TRANSACTION' : undefined;
  if ((first === 'COMMIT' || first === 'ROLLBACK') && second === 'PREPARED') return `${first} PREPARED`;
  if (first === 'ROLLBACK' && second === 'TO') return 'ROLLBACK TO SAVEPOINT';
  if (first === 'RELEASE') return 'RELEASE SAVEPOINT';
  return first;
}

const LABEL_WORDS = new Set([
  'CREATE',
  'UNIQUE',
  'INDEX',
  'DROP',
  'REINDEX',
  'TABLE',
  'SCHEMA',
  'DATABASE',
  'SYSTEM',
]);

/**
 * The name of the operation when a statement uses CONCURRENTLY in a way PostgreSQL refuses inside a
 * transaction block (CREATE/DROP INDEX, REINDEX, DETACH PARTITION), e.g. "CREATE INDEX CONCURRENTLY".
 */
export function nonTransactionalOperation(words: readonly string[]): string | undefined {
  const at = words.indexOf('CONCURRENTLY');
  if (at < 0) return undefined;
  // REFRESH MATERIALIZED VIEW CONCURRENTLY is allowed inside a transaction.
  if (words[0] === 'REFRESH') return undefined;
  const before = words.slice(0, at).filter((w) => w !== 'VERBOSE'); // REINDEX (VERBOSE) …
  if (before.length > 0 && before.length <= 4 && before.every((w) => LABEL_WORDS.has(w))) {
    return `${before.join(' ')} CONCURRENTLY`;
  }
  return `${words.slice(0, 2).join(' ')} … CONCURRENTLY`;
}

/** Reads every `*.sql` file of `dir` as a migration, ordered by version, then id. */
export async function loadMigrations(dir: string): Promise<Migration[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    throw new LabError(`Cannot read the migrations folder ${basename(dir)}.`, {
      cause: e,
      detail: `Folder: ${dir}`,
    });
  }
  const cached = parsedFiles.get(dir);
  const fresh = new Map<string, ParsedFile>();
  for (const name of names.filter((n) => n.endsWith('.sql'))) {
    // Stat before reading: a file changed in between is stored with the older stat, so it is read again.
    const { mtimeMs, ctimeMs, size } = await stat(join(dir, name));
    const hit = cached?.get(name);
    const migration =
      hit && hit.mtimeMs === mtimeMs && hit.ctimeMs === ctimeMs && hit.size === size
        ? hit.migration
        : freezeMigration(parseMigration(name, await readMigrationFile(dir, name)));
    fresh.set(name, { mtimeMs, ctimeMs, size, migration });
  }
  // Replacing the folder's map forgets files that were deleted.
  parsedFiles.set(dir, fresh);
  return sortMigrations([...fresh.values()].map((f) => f.migration));
}

interface ParsedFile {
  mtimeMs: number;
  ctimeMs: number;
  size: number;
  migration: Migration;
}

/**
 * Parsed migrations by folder and file name, reused while a file's mtime, ctime and size are
 * unchanged: the extension host lists migrations on every refresh, and parsing runs on its only
 * thread, so each file is parsed once per change.
 */
const parsedFiles = new Map<string, Map<string, ParsedFile>>();

/** Cached migrations are shared by every caller: frozen, so that none can change another's copy. */
function freezeMigration(m: Migration): Migration {
  for (const section of [m.up, m.down]) {
    if (!section) continue;
    Object.freeze(section.statements);
    Object.freeze(section);
  }
  return Object.freeze(m);
}

/** Orders by version (numerically), then id. */
export function sortMigrations(migrations: readonly Migration[]): Migration[] {
  return [...migrations].sort(
    (a, b) => compareVersions(a.version, b.version) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
  );
}

/** Compares two digit strings by numeric value ("0002" equals "2"). */
export function compareVersions(a: string, b: string): number {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}
