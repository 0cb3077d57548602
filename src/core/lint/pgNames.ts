// The names PostgreSQL gives what a migration leaves unnamed (an index, a CHECK, a foreign key, a
// UNIQUE constraint), following its own rules: makeObjectName, ChooseRelationName and
// ChooseConstraintName (src/backend/commands/indexcmds.c, src/backend/catalog/pg_constraint.c) and
// ChooseIndexColumnNames / FigureColname (indexcmds.c, parser/parse_target.c). The schema records
// what PostgreSQL named, and a quick fix writes a name that a later `DROP … <name>` finds.
import { nodeKind, stringList, type PgNode } from './parser';

/** NAMEDATALEN - 1: the bytes of a name. */
const MAX_NAME_BYTES = 63;

/** The longest start of `text` within `bytes` UTF-8 bytes, never cutting a character (pg_mbcliplen). */
function clipToBytes(text: string, bytes: number): string {
  if (Buffer.byteLength(text) <= bytes) return text;
  let out = '';
  let used = 0;
  for (const ch of text) {
    const size = Buffer.byteLength(ch);
    if (used + size > bytes) break;
    out += ch;
    used += size;
  }
  return out;
}

/**
 * `name1_name2_label`, with name1 and name2 shortened (the longer one first, a byte at a time) so the
 * whole fits in a name; the label is never shortened.
 */
export function makeObjectName(name1: string, name2: string | undefined, label: string | undefined): string {
  const overhead = (name2 !== undefined ? 1 : 0) + (label !== undefined ? Buffer.byteLength(label) + 1 : 0);
  const available = MAX_NAME_BYTES - overhead;
  let name1Bytes = Buffer.byteLength(name1);
  let name2Bytes = name2 !== undefined ? Buffer.byteLength(name2) : 0;
  while (name1Bytes + name2Bytes > available) {
    if (name1Bytes > name2Bytes) name1Bytes--;
    else name2Bytes--;
  }
  let name = clipToBytes(name1, name1Bytes);
  if (name2 !== undefined) name += `_${clipToBytes(name2, name2Bytes)}`;
  if (label !== undefined) name += `_${label}`;
  return name;
}

/** The first free name of `name1_name2_label`, `…_label1`, `…_label2`, … (ChooseRelationName, ChooseConstraintName). */
export function chooseName(
  name1: string,
  name2: string | undefined,
  label: string,
  taken: (name: string) => boolean,
): string {
  for (let pass = 0; ; pass++) {
    const name = makeObjectName(name1, name2, pass === 0 ? label : `${label}${pass}`);
    if (!taken(name)) return name;
  }
}

/** Column names joined by `_` (ChooseIndexNameAddition, ChooseForeignKeyConstraintNameAddition). */
export function nameAddition(columns: readonly string[]): string {
  let out = '';
  for (const column of columns) {
    if (out.length > 0) out += '_';
    out += column;
    if (Buffer.byteLength(out) >= MAX_NAME_BYTES + 1) break;
  }
  return out;
}

/** The name FigureColname gives an expression: a function's or a column's, through casts; else none. */
function expressionName(node: unknown): string | undefined {
  const k = nodeKind(node);
  if (!k) return undefined;
  const [kind, n] = k;
  switch (kind) {
    case 'ColumnRef':
      return stringList(n.fields).pop();
    case 'FuncCall':
      return stringList(n.funcname).pop();
    case 'TypeCast':
      return expressionName(n.arg) ?? stringList((n.typeName as PgNode | undefined)?.names).pop();
    case 'CoalesceExpr':
      return 'coalesce';
    case 'MinMaxExpr':
      return n.op === 'IS_GREATEST' ? 'greatest' : 'least';
    case 'CaseExpr':
      return 'case';
    default:
      return undefined;
  }
}

/** The index's column names as ChooseIndexColumnNames makes them: an expression is "expr" unless named; repeats get 1, 2, … */
export function indexColumnNames(indexParams: unknown): string[] {
  const names: string[] = [];
  for (const param of (indexParams as unknown[] | undefined) ?? []) {
    const elem = nodeKind(param)?.[1] ?? {};
    const original =
      (elem.name as string | undefined) ??
      (elem.indexcolname as string | undefined) ??
      expressionName(elem.expr) ??
      'expr';
    let name = original;
    for (let suffix = 1; names.includes(name); suffix++)
      name = makeObjectName(original, undefined, undefined) + suffix;
    names.push(name);
  }
  return names;
}

/** Distinct column names a CHECK expression mentions, in order. */
export function checkColumns(expr: unknown, out: string[] = []): string[] {
  if (Array.isArray(expr)) for (const x of expr) checkColumns(x, out);
  else if (expr && typeof expr === 'object') {
    for (const [key, value] of Object.entries(expr)) {
      if (key === 'ColumnRef') {
        const last = stringList((value as PgNode).fields).pop();
        if (last && !out.includes(last)) out.push(last);
      } else checkColumns(value, out);
    }
  }
  return out;
}

/** A CHECK's name: `table_column_check` when it mentions exactly one column, else `table_check`. */
export function chooseCheckName(table: string, expr: unknown, taken: (name: string) => boolean): string {
  const columns = checkColumns(expr);
  return chooseName(table, columns.length === 1 ? columns[0] : undefined, 'check', taken);
}
