import type pg from 'pg';
import { quoteIdent } from './db';
import { LabError } from './errors';

/**
 * The comment the lab puts on a schema it created. Reset Lab drops a schema only when it carries this
 * comment, so a schema someone else made (or `public`) is never dropped, whatever the setting says.
 */
export const LAB_SCHEMA_MARKER = 'Created by Migration Lab; Reset Lab drops it and everything in it.';

export const SCHEMA_SETTING = 'migrationLab.schema';

/**
 * Why `name` cannot be the lab schema (one sentence), or undefined. `public`, `information_schema`
 * and `pg_*` belong to the database itself: the lab would mix its tables with other people's, and
 * Reset would drop what it never created. Compared case-insensitively, as a person reads them.
 */
export function labSchemaNameProblem(name: string, setting = SCHEMA_SETTING): string | undefined {
  const lower = name.toLowerCase();
  if (!/^[A-Za-z_][A-Za-z0-9_$]*$/.test(name) || name.length > 63) {
    return `The schema name "${name}" is not a plain identifier (letters, digits, _ and $, at most 63 characters); change the setting ${setting}.`;
  }
  if (lower === 'public' || lower === 'information_schema' || lower.startsWith('pg_')) {
    return `The schema "${name}" belongs to the database, not to the lab; set ${setting} to a schema of its own, such as migration_lab.`;
  }
  return undefined;
}

/** Throws LabError when `name` cannot be the lab schema. */
export function assertLabSchemaName(name: string, setting = SCHEMA_SETTING): void {
  const problem = labSchemaNameProblem(name, setting);
  if (problem) throw new LabError(problem);
}

/**
 * Creates the lab schema if it does not exist, and marks it as the lab's (in the same transaction).
 * A schema that already exists is left as it is: if someone else made it, it stays unmarked.
 */
export async function ensureLabSchema(client: pg.ClientBase, schema: string): Promise<void> {
  const exists = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
  if ((exists.rowCount ?? 0) > 0) return;
  await client.query('BEGIN');
  try {
    await client.query(`CREATE SCHEMA ${quoteIdent(schema)}`);
    await client.query(`COMMENT ON SCHEMA ${quoteIdent(schema)} IS ${quoteLiteral(LAB_SCHEMA_MARKER)}`);
    await client.query('COMMIT');
  } catch (e) {
    await client.query('ROLLBACK').catch(() => undefined);
    // Created meanwhile by another session (another window's lab): that one marked it.
    if ((e as { code?: unknown }).code === '42P06') return;
    throw e;
  }
}

/** Whether the schema exists, and whether it carries the lab's marker. */
export async function labSchemaState(
  client: pg.ClientBase,
  schema: string,
): Promise<'missing' | 'marked' | 'unmarked'> {
  const { rows } = await client.query<{ comment: string | null }>(
    `SELECT obj_description(oid, 'pg_namespace') AS comment FROM pg_namespace WHERE nspname = $1`,
    [schema],
  );
  if (rows.length === 0) return 'missing';
  return rows[0]!.comment === LAB_SCHEMA_MARKER ? 'marked' : 'unmarked';
}

function quoteLiteral(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}
