// The row generator the fill and the write probe share: for a table's shape, which columns get
// which generated expression (of the row number r.g), which come from a parent's existing keys
// (r.k<fk>_<column>, passed in as text arrays), and which are left to the server.
import { quoteIdent } from '../db';
import type { ColumnShape, ForeignKey, TableShape } from './fillCatalog';
import { canBeUnique, greaterOffset, sqlLiteral, valueExpression } from './fillValues';

export interface ForeignKeySlot {
  fk: ForeignKey;
  /** Index of the slot: its key columns are r.k<slot>_<j>. */
  slot: number;
  /** Strided with the other slots whose combination a unique key needs distinct. */
  strided: boolean;
}

export interface RowPlan {
  table: TableShape;
  /** Inserted columns and their expressions. */
  columns: { name: string; expr: string }[];
  /** Foreign keys whose columns come from the parent's existing keys. */
  slots: ForeignKeySlot[];
  /** Needed for an identity GENERATED ALWAYS column given explicitly (a table of server-made columns only). */
  overriding: boolean;
  /** Sentences: why rows cannot be generated at all (e.g. a NOT NULL column of a type we cannot make). */
  blockers: string[];
  /** Columns left NULL although a foreign key could have filled them (the parent has no rows to reference). */
  nulledForeignKeys: string[];
}

export interface PlanOptions {
  /** Largest row number generated (for text lengths). */
  maxRow: number;
  /** Whether the parent of a foreign key has rows to reference (self references are handled here). */
  parentHasKeys: (fk: ForeignKey) => boolean;
}

const UNIQUE_PREFERENCE = [
  'int8',
  'int4',
  'numeric',
  'text',
  'varchar',
  'uuid',
  'timestamptz',
  'timestamp',
  'date',
];

/** Lower is better: an unbounded column before one a CHECK range or a smallint confines, then by type. */
function preference(c: ColumnShape): number {
  const i = UNIQUE_PREFERENCE.indexOf(c.baseType);
  const confined =
    (c.bounds.min !== undefined && c.bounds.max !== undefined) ||
    c.bounds.maxLength !== undefined ||
    c.maxLength !== undefined ||
    c.baseType === 'int2';
  return (confined ? 100 : 0) + (i < 0 ? UNIQUE_PREFERENCE.length : i);
}

/**
 * Which columns must carry distinct values so every unique key (primary key, unique constraint,
 * unique index) holds: a key with a server-made column (identity, serial) holds by itself; else one
 * of its columns that is no foreign-key column is generated injectively; a key made only of
 * foreign-key columns makes those parents' keys combine without repeating.
 */
export function chooseUniqueColumns(
  table: TableShape,
  fkColumns: ReadonlySet<string>,
): { injective: Set<string>; stridedKeys: Set<string> } {
  const injective = new Set<string>();
  const stridedKeys = new Set<string>();
  const byName = new Map(table.columns.map((c) => [c.name, c]));
  for (const u of table.uniques) {
    const cols = u.columns.map((n) => byName.get(n)).filter((c): c is ColumnShape => c !== undefined);
    if (cols.some((c) => c.serverUnique || injective.has(c.name))) continue;
    const candidates = cols
      .filter((c) => !fkColumns.has(c.name) && !c.generated && canBeUnique(c) && !c.bounds.allowed)
      .sort((a, b) => preference(a) - preference(b));
    if (candidates[0]) injective.add(candidates[0].name);
    else if (cols.length > 0 && cols.every((c) => fkColumns.has(c.name)))
      for (const c of cols) stridedKeys.add(c.name);
  }
  return { injective, stridedKeys };
}

/** The generator of one table's rows. */
export function planRows(table: TableShape, options: PlanOptions): RowPlan {
  const blockers: string[] = [];
  const nulledForeignKeys: string[] = [];
  const byName = new Map(table.columns.map((c) => [c.name, c]));
  const slots: ForeignKeySlot[] = [];
  const fromParent = new Map<string, string>();
  const selfRefs: { fk: ForeignKey }[] = [];
  for (const fk of table.foreignKeys) {
    if (fk.columns.some((c) => fromParent.has(c))) continue; // a column two keys share: the first decides
    if (fk.parent === table.name) {
      selfRefs.push({ fk });
      continue;
    }
    if (!options.parentHasKeys(fk)) {
      const required = fk.columns.filter((c) => byName.get(c)?.notNull);
      if (required.length > 0)
        blockers.push(
          `The foreign key "${fk.name}" of ${table.name} requires a row of ${fk.parent}, which has none to reference.`,
        );
      else nulledForeignKeys.push(...fk.columns);
      continue;
    }
    const slot = slots.length;
    slots.push({ fk, slot, strided: false });
    fk.columns.forEach((c, j) => fromParent.set(c, `r.k${slot}_${j}`));
  }
  const fkColumns = new Set([...fromParent.keys(), ...selfRefs.flatMap((s) => s.fk.columns)]);
  const { injective, stridedKeys } = chooseUniqueColumns(table, fkColumns);
  for (const s of slots) s.strided = s.fk.columns.some((c) => stridedKeys.has(c));

  const columns: { name: string; expr: string }[] = [];
  const generatedExpr = new Map<string, string>();
  for (const c of table.columns) {
    if (c.generated || c.identity !== '') continue;
    const parentExpr = fromParent.get(c.name);
    if (parentExpr) {
      columns.push({ name: c.name, expr: `(${parentExpr})::${c.sqlType}` });
      continue;
    }
    if (fkColumns.has(c.name) || nulledForeignKeys.includes(c.name)) continue; // self references: below
    const unique = injective.has(c.name);
    if (c.hasDefault && !unique) continue; // the server's default (serial, now(), a constant...)
    const expr = valueExpression(c, { unique, bounds: c.bounds, maxRow: options.maxRow });
    if (expr === undefined) {
      if (c.notNull && !c.hasDefault)
        blockers.push(
          `Column "${c.name}" of ${table.name} is NOT NULL with no default, and the fill cannot generate values of type ${c.sqlType}.`,
        );
      continue;
    }
    columns.push({ name: c.name, expr });
    generatedExpr.set(c.name, expr);
  }
  // `ends_at > starts_at`: the greater column is the lesser one's value plus a step.
  for (const col of columns) {
    const c = byName.get(col.name)!;
    for (const g of c.bounds.greaterThan ?? []) {
      const lesser = generatedExpr.get(g.column);
      const offset = greaterOffset(c.baseType);
      if (lesser && offset && byName.get(g.column)?.baseType === c.baseType)
        col.expr = `((${lesser}) + ${offset})::${c.sqlType}`;
    }
  }
  // A self reference: NULL where allowed, else the row references itself (its key is generated here).
  for (const { fk } of selfRefs) {
    const required = fk.columns.some((c) => byName.get(c)?.notNull);
    const ownKeys = fk.parentColumns.map((p) => generatedExpr.get(p));
    if (!required) continue;
    if (ownKeys.every((e) => e !== undefined && !e.includes('gen_random_uuid'))) {
      fk.columns.forEach((c, j) =>
        columns.push({ name: c, expr: `(${ownKeys[j]!})::${byName.get(c)?.sqlType ?? 'text'}` }),
      );
    } else {
      blockers.push(
        `The foreign key "${fk.name}" of ${table.name} requires every row to reference another row of the same table, which the fill cannot generate.`,
      );
    }
  }
  let overriding = false;
  if (columns.length === 0 && blockers.length === 0) {
    // Every column is the server's: give it one explicitly so INSERT … SELECT has a column list.
    const c = table.columns.find((x) => !x.generated && (x.identity !== '' || x.defaultExpr));
    if (c) {
      const expr =
        c.identity !== ''
          ? `nextval(pg_get_serial_sequence(${sqlLiteral(table.sqlName)}, ${sqlLiteral(c.name)}))`
          : c.defaultExpr!;
      columns.push({ name: c.name, expr });
      overriding = c.identity === 'a';
    } else blockers.push(`${table.name} has no column the fill can write.`);
  }
  return { table, columns, slots, overriding, blockers, nulledForeignKeys };
}

/**
 * INSERT … SELECT of rows r.g = $1 .. for the plan. Without foreign-key slots the rows are
 * generate_series($1, $2); with them, one row per element of the key arrays $2, $3, … (each the
 * text of one key column), row numbers counting on from $1.
 */
export function insertSql(plan: RowPlan, options: { onConflictDoNothing?: boolean } = {}): string {
  const target = `${plan.table.sqlName} (${plan.columns.map((c) => quoteIdent(c.name)).join(', ')})`;
  const select = plan.columns.map((c) => c.expr).join(',\n       ');
  const keyNames = plan.slots.flatMap((s) => s.fk.columns.map((_, j) => `k${s.slot}_${j}`));
  const source =
    keyNames.length === 0
      ? 'generate_series($1::bigint, $2::bigint) AS r(g)'
      : `(SELECT $1::bigint - 1 + s.i AS g, ${keyNames.map((k) => `s.${k}`).join(', ')}
          FROM unnest(${keyNames.map((_, i) => `$${i + 2}::text[]`).join(', ')}) WITH ORDINALITY AS s(${keyNames.join(', ')}, i)) AS r`;
  return `INSERT INTO ${target}${plan.overriding ? ' OVERRIDING SYSTEM VALUE' : ''}
SELECT ${select}
  FROM ${source}${options.onConflictDoNothing ? '\nON CONFLICT DO NOTHING' : ''}`;
}

/** Parent keys of each slot, as text per key column: keys[slot][column][row]. */
export type ParentKeys = string[][][];

/**
 * Parameters of insertSql for rows first..last: the row numbers, and per key column the parent key
 * of each row, picked by row index modulo the parent's key count (strided slots multiply, so a
 * unique key made of foreign keys gets distinct combinations).
 */
export function insertParams(plan: RowPlan, keys: ParentKeys, first: number, last: number): unknown[] {
  if (plan.slots.length === 0) return [first, last];
  const n = last - first + 1;
  const params: unknown[] = [first];
  let stride = 1;
  for (const s of plan.slots) {
    const columns = keys[s.slot]!;
    const count = columns[0]!.length;
    const thisStride = s.strided ? stride : 1;
    for (const col of columns) {
      const values = new Array<string>(n);
      for (let i = 0; i < n; i++) values[i] = col[Math.floor((first - 1 + i) / thisStride) % count]!;
      params.push(values);
    }
    if (s.strided) stride *= count;
  }
  return params;
}

/** SQL reading up to `limit` existing keys of a slot's parent, as text. */
export function parentKeysSql(fk: ForeignKey, limit: number): string {
  const cols = fk.parentColumns.map((c) => quoteIdent(c));
  return `SELECT ${cols.map((c, j) => `${c}::text AS k${j}`).join(', ')} FROM ${fk.parentSqlName}
   WHERE ${cols.map((c) => `${c} IS NOT NULL`).join(' AND ')} LIMIT ${Math.floor(limit)}`;
}
