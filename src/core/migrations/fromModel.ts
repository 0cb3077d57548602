/**
 * The tools' model → the lab runner's migrations. The demo's source is read by its tool's adapter (as a
 * workspace folder is) and run by the runner, which the lessons need (the migration's pid, cancel,
 * lock_timeout, retries). A section the tool sends as one string runs statement by statement without a
 * transaction, which is the same for the bundled sources (one statement per such section).
 */
import { basename } from 'node:path';
import type { Migration as ModelMigration, MigrationSection as ModelSection } from './model';
import {
  nonTransactionalOperation,
  transactionControl,
  type Migration,
  type MigrationSection,
} from './parse';

function toRunnerSection(m: ModelMigration, fileName: string, section: ModelSection): MigrationSection {
  const transaction = section.mode === 'transaction';
  const out: MigrationSection = { transaction, statements: section.statements.map((s) => s.text) };
  if (!transaction) return out;
  for (const statement of section.statements) {
    // The same refusals the runner's own parser makes before anything runs.
    const operation = nonTransactionalOperation(statement.keywords);
    const control = transactionControl(statement.keywords);
    if (operation || control) {
      out.transactionConflict =
        `${fileName}: line ${statement.start.line} has ${operation ?? control}, which cannot run inside the ` +
        `transaction ${m.id} runs in${section.wayOut ? `; ${section.wayOut}` : ''}.`;
      break;
    }
  }
  return out;
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
    source: [...m.up.statements, ...(m.down?.statements ?? [])].map((s) => s.text).join(';\n'),
  };
}
