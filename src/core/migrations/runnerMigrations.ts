/**
 * The migrations the lab's own runner applies (the demo's and the lessons' folders, in dbmate's
 * format). They are read by the dbmate adapter, as a workspace folder is, so the format is modelled
 * once; the runner exists beside `replay.ts` because the demo and the lessons need the migration's
 * pid, cancel, lock_timeout and retries on the lab database. A section the tool sends as one string
 * runs statement by statement without a transaction, which is the same for the bundled sources (one
 * statement per such section).
 */
import { basename } from 'node:path';
import { loadSource } from './detect';
import {
  compareVersions,
  type Migration as ModelMigration,
  type MigrationSection as ModelSection,
  type ToolId,
} from './model';

export interface MigrationSection {
  /** false when the section runs without a transaction (`transaction:false`): statements run one by one, autocommit. */
  transaction: boolean;
  statements: string[];
  /**
   * Set when a statement in a transactional section cannot run inside a transaction (e.g. CREATE
   * INDEX CONCURRENTLY, COMMIT): the user message the planners refuse with before anything runs.
   * Kept here instead of failing the load so that the other migrations still list and run.
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
  /** null when the file has no `-- migrate:down` section: the migration cannot be rolled back. */
  down: MigrationSection | null;
}

/** The migrations of a folder in `tool`'s format as the runner runs them, in the tool's order. */
export async function loadRunnerMigrations(dir: string, tool: ToolId): Promise<Migration[]> {
  return (await loadSource(dir, tool)).migrations.map(toRunnerMigration);
}

/** One migration of a loaded source as the runner runs it. */
export function toRunnerMigration(m: ModelMigration): Migration {
  const fileName = basename(m.files[0] ?? `${m.id}.sql`);
  return {
    id: m.id,
    version: m.version,
    name: m.name,
    fileName,
    up: toRunnerSection(m, fileName, m.up),
    down: m.down ? toRunnerSection(m, fileName, m.down) : null,
  };
}

function toRunnerSection(m: ModelMigration, fileName: string, section: ModelSection): MigrationSection {
  const transaction = section.mode === 'transaction';
  const out: MigrationSection = { transaction, statements: section.statements.map((s) => s.text) };
  if (!transaction) return out;
  for (const statement of section.statements) {
    const where = `${fileName}: line ${statement.start.line} has`;
    const operation = nonTransactionalOperation(statement.keywords);
    if (operation) {
      out.transactionConflict =
        `${where} ${operation}, which cannot run inside the transaction ${m.id} runs in` +
        `${section.wayOut ? `; ${section.wayOut}` : ''}.`;
      break;
    }
    const control = transactionControl(statement.keywords);
    if (control) {
      // COMMIT would make what ran before it permanent (and a later failure "roll back" only the
      // rest); ROLLBACK would undo the migration yet let it be recorded as applied.
      out.transactionConflict =
        `${where} ${control}, which would end or split the transaction ${m.id} runs in; ` +
        `remove it (the section already runs in one transaction).`;
      break;
    }
  }
  return out;
}

/** Orders by version (numerically), then id: migrations, or the runner's status rows. */
export function sortMigrations<T extends { id: string; version: string }>(migrations: readonly T[]): T[] {
  return [...migrations].sort(
    (a, b) => compareVersions(a.version, b.version) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
  );
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
