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
