import type pg from 'pg';

/**
 * Indexes left INVALID (or not ready) by a failed or cancelled CONCURRENTLY build: the planner never
 * uses them, and the name is taken. One query, shared by the runner's failure message, the lab's state
 * and the lessons.
 */
export interface InvalidIndex {
  schema: string;
  index: string;
  table: string;
  indisvalid: boolean;
  indisready: boolean;
  /** pg_get_indexdef. */
  definition: string;
}

const INVALID_INDEXES_SQL = `SELECT ns.nspname AS schema, ic.relname AS index, t.relname AS "table",
       i.indisvalid, i.indisready, pg_get_indexdef(i.indexrelid) AS definition
  FROM pg_index i
  JOIN pg_class ic ON ic.oid = i.indexrelid
  JOIN pg_namespace ns ON ns.oid = ic.relnamespace
  JOIN pg_class t ON t.oid = i.indrelid
  JOIN pg_namespace tn ON tn.oid = t.relnamespace
 WHERE tn.nspname = $1 AND (NOT i.indisvalid OR NOT i.indisready)
 ORDER BY t.relname, ic.relname`;

/** Indexes on tables of `schema` that are not valid or not ready, ordered by table and name. */
export async function queryInvalidIndexes(client: pg.ClientBase, schema: string): Promise<InvalidIndex[]> {
  const { rows } = await client.query<InvalidIndex>(INVALID_INDEXES_SQL, [schema]);
  return rows.map((r) => ({
    schema: r.schema,
    index: r.index,
    table: r.table,
    indisvalid: r.indisvalid,
    indisready: r.indisready,
    definition: r.definition,
  }));
}

/**
 * Which invalid index a "drop" request means: the one named (a string, or `{ index }` from a tree item),
 * which must be among `invalid`; the first one when none is named. A string answer is the reason there is
 * nothing to drop.
 */
export function chooseInvalidIndex(
  invalid: readonly Pick<InvalidIndex, 'index'>[],
  requested: unknown,
): { index: string } | { reason: string } {
  const named =
    typeof requested === 'string'
      ? requested
      : requested && typeof requested === 'object' && 'index' in requested
        ? String((requested as { index: unknown }).index)
        : undefined;
  if (named === undefined) {
    const first = invalid[0]?.index;
    return first ? { index: first } : { reason: 'No invalid index in the lab schema.' };
  }
  return invalid.some((i) => i.index === named)
    ? { index: named }
    : { reason: `"${named}" is not an invalid index of the lab schema (any more).` };
}
