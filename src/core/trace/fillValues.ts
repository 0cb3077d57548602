// Pure parts of the synthetic fill: what a CHECK constraint allows a column (read from PostgreSQL's
// own parse tree, never from regexes over SQL), the SQL expression that generates a column's value
// from the row number `r.g`, and how many rows each table gets. No I/O here.
import { nodeKind, type PgNode } from '../lint/parser';

/** A bound of a numeric range. */
export interface Bound {
  value: number;
  inclusive: boolean;
}

/** What CHECK constraints (the table's and the column's domain's) allow one column. */
export interface ColumnBounds {
  min?: Bound;
  max?: Bound;
  /** `col IN (...)` / `col = ANY (ARRAY[...])`: SQL literals of the allowed values. */
  allowed?: string[];
  /** `length(col) <= n` and friends. */
  maxLength?: number;
  minLength?: number;
  /** Columns this one must be greater than (`ends_at > starts_at`), with strictness. */
  greaterThan?: { column: string; inclusive: boolean }[];
}

/** What one CHECK expression says, per column; `understood` is false when parts of it were not. */
export interface CheckReading {
  bounds: Map<string, ColumnBounds>;
  understood: boolean;
}

type Comparison = '<' | '<=' | '>' | '>=' | '=';

const FLIP: Record<Comparison, Comparison> = { '<': '>', '<=': '>=', '>': '<', '>=': '<=', '=': '=' };
const LENGTH_FUNCTIONS = new Set(['length', 'char_length', 'character_length', 'octet_length']);

function str(node: unknown): string | undefined {
  const k = nodeKind(node);
  return k && k[0] === 'String' ? (k[1].sval as string | undefined) : undefined;
}

/** The operator name of an A_Expr (`>=`, `=`, `~`...). */
function operatorName(expr: PgNode): string | undefined {
  const names = expr.name as unknown[] | undefined;
  return names && names.length > 0 ? str(names[names.length - 1]) : undefined;
}

/** Strips type casts: `(code)::text` is `code` for our purpose. */
function uncast(node: unknown): unknown {
  let n = node;
  for (let k = nodeKind(n); k && k[0] === 'TypeCast'; k = nodeKind(n)) n = k[1].arg;
  return n;
}

/** The column a ColumnRef names (its last field; `VALUE` in a domain CHECK reads as `value`). */
function columnName(node: unknown): string | undefined {
  const k = nodeKind(uncast(node));
  if (!k || k[0] !== 'ColumnRef') return undefined;
  const fields = k[1].fields as unknown[] | undefined;
  return fields && fields.length > 0 ? str(fields[fields.length - 1]) : undefined;
}

/** A constant as a JS value and an SQL literal; undefined for anything that is not one. */
export function constantOf(node: unknown): { number?: number; literal: string } | undefined {
  const k = nodeKind(uncast(node));
  if (!k || k[0] !== 'A_Const') return undefined;
  const c = k[1];
  if (c.isnull) return undefined;
  if ('ival' in c) {
    const v = Number((c.ival as { ival?: number }).ival ?? 0); // protobuf omits a zero
    return { number: v, literal: String(v) };
  }
  if ('fval' in c) {
    const text = String((c.fval as { fval?: string }).fval ?? '0');
    return { number: Number(text), literal: text };
  }
  if ('boolval' in c) return { literal: (c.boolval as { boolval?: boolean }).boolval ? 'true' : 'false' };
  if ('sval' in c) {
    const text = String((c.sval as { sval?: string }).sval ?? '');
    const n = text.trim() !== '' ? Number(text) : NaN; // '-5'::integer is how PostgreSQL prints negatives
    return { ...(Number.isFinite(n) ? { number: n } : {}), literal: sqlLiteral(text) };
  }
  return undefined;
}

export function sqlLiteral(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

function boundsOf(map: Map<string, ColumnBounds>, column: string): ColumnBounds {
  let b = map.get(column);
  if (!b) map.set(column, (b = {}));
  return b;
}

function tighten(b: ColumnBounds, op: Comparison, value: number): void {
  if (op === '>' || op === '>=' || op === '=') {
    const inclusive = op !== '>';
    if (!b.min || value > b.min.value || (value === b.min.value && !inclusive)) b.min = { value, inclusive };
  }
  if (op === '<' || op === '<=' || op === '=') {
    const inclusive = op !== '<';
    if (!b.max || value < b.max.value || (value === b.max.value && !inclusive)) b.max = { value, inclusive };
  }
}

function tightenLength(b: ColumnBounds, op: Comparison, value: number): void {
  const max = op === '<' ? value - 1 : op === '<=' || op === '=' ? value : undefined;
  const min = op === '>' ? value + 1 : op === '>=' || op === '=' ? value : undefined;
  if (max !== undefined) b.maxLength = Math.min(b.maxLength ?? Infinity, max);
  if (min !== undefined) b.minLength = Math.max(b.minLength ?? 0, min);
}

function allow(b: ColumnBounds, literals: string[]): void {
  b.allowed = b.allowed ? b.allowed.filter((l) => literals.includes(l)) : literals;
}

/** Reads one conjunct; returns false when it is of a shape we do not understand. */
function readConjunct(node: unknown, out: Map<string, ColumnBounds>): boolean {
  const k = nodeKind(node);
  if (!k) return false;
  const [kind, n] = k;
  if (kind === 'BoolExpr') {
    if (n.boolop !== 'AND_EXPR') return false;
    let all = true;
    for (const arg of (n.args as unknown[]) ?? []) all = readConjunct(arg, out) && all;
    return all;
  }
  if (kind === 'NullTest') return columnName(n.arg) !== undefined; // IS NOT NULL: we never generate NULL
  if (kind !== 'A_Expr') return false;
  const exprKind = n.kind as string;
  const op = operatorName(n);
  if (exprKind === 'AEXPR_BETWEEN') {
    const col = columnName(n.lexpr);
    const items = (nodeKind(n.rexpr)?.[1].items as unknown[] | undefined) ?? [];
    const lo = constantOf(items[0])?.number;
    const hi = constantOf(items[1])?.number;
    if (!col || lo === undefined || hi === undefined) return false;
    const b = boundsOf(out, col);
    tighten(b, '>=', lo);
    tighten(b, '<=', hi);
    return true;
  }
  if ((exprKind === 'AEXPR_IN' && op === '=') || (exprKind === 'AEXPR_OP_ANY' && op === '=')) {
    const col = columnName(n.lexpr);
    const list = nodeKind(uncast(n.rexpr));
    const items = (
      list?.[0] === 'List' ? list[1].items : list?.[0] === 'A_ArrayExpr' ? list[1].elements : []
    ) as unknown[] | undefined;
    const literals = (items ?? []).map((i) => constantOf(i)?.literal);
    if (!col || literals.length === 0 || literals.some((l) => l === undefined)) return false;
    allow(boundsOf(out, col), literals as string[]);
    return true;
  }
  if (exprKind !== 'AEXPR_OP' || !op) return false;
  if (op === '<>' || op === '!=') {
    // `col <> ''` or `col <> 0`: the generated values are never empty strings; a number is left alone.
    const col = columnName(n.lexpr) ?? columnName(n.rexpr);
    const c = constantOf(n.rexpr) ?? constantOf(n.lexpr);
    return col !== undefined && c !== undefined && c.literal === "''";
  }
  if (!(op in FLIP)) return false;
  let cmp = op as Comparison;
  let left = n.lexpr;
  let right = n.rexpr;
  if (constantOf(left) && !constantOf(right)) {
    [left, right] = [right, left];
    cmp = FLIP[cmp];
  }
  const leftColumn = columnName(left);
  const rightColumn = columnName(right);
  if (leftColumn && rightColumn) {
    if (cmp === '=') return false;
    const [greater, lesser] =
      cmp === '>' || cmp === '>=' ? [leftColumn, rightColumn] : [rightColumn, leftColumn];
    const b = boundsOf(out, greater);
    (b.greaterThan ??= []).push({ column: lesser, inclusive: cmp === '>=' || cmp === '<=' });
    return true;
  }
  const constant = constantOf(right);
  if (constant === undefined) return false;
  if (leftColumn) {
    if (constant.number === undefined) {
      if (cmp === '=') {
        allow(boundsOf(out, leftColumn), [constant.literal]);
        return true;
      }
      return false; // a date or text range: not read
    }
    tighten(boundsOf(out, leftColumn), cmp, constant.number);
    return true;
  }
  const fn = nodeKind(uncast(left));
  if (fn?.[0] === 'FuncCall' && constant.number !== undefined) {
    const name = str((fn[1].funcname as unknown[]).at(-1));
    const args = (fn[1].args as unknown[] | undefined) ?? [];
    const col = args.length === 1 ? columnName(args[0]) : undefined;
    if (name && LENGTH_FUNCTIONS.has(name) && col) {
      tightenLength(boundsOf(out, col), cmp, constant.number);
      return true;
    }
  }
  return false;
}

/**
 * What a CHECK expression (the parse tree of `SELECT 1 WHERE <expr>`'s where clause) allows each
 * column: ranges of `col > 0`, `col BETWEEN a AND b`, `col IN (...)`, `length(col) <= n`, and
 * `a > b` between columns, combined with AND. Anything else makes `understood` false.
 */
export function readCheck(whereClause: unknown): CheckReading {
  const bounds = new Map<string, ColumnBounds>();
  const understood = readConjunct(whereClause, bounds);
  return { bounds, understood };
}

/** Merges what several CHECKs allow a column. */
export function mergeBounds(into: ColumnBounds, from: ColumnBounds): ColumnBounds {
  if (from.min) tighten(into, from.min.inclusive ? '>=' : '>', from.min.value);
  if (from.max) tighten(into, from.max.inclusive ? '<=' : '<', from.max.value);
  if (from.allowed) allow(into, from.allowed);
  if (from.maxLength !== undefined) into.maxLength = Math.min(into.maxLength ?? Infinity, from.maxLength);
  if (from.minLength !== undefined) into.minLength = Math.max(into.minLength ?? 0, from.minLength);
  if (from.greaterThan) (into.greaterThan ??= []).push(...from.greaterThan);
  return into;
}

/** The column facts a value expression depends on. */
export interface ColumnType {
  name: string;
  /** format_type() of the column's declared type: what generated text is cast to. */
  sqlType: string;
  /** pg_type.typname of the base type (domains resolved), e.g. int4, varchar, _int4, my_enum. */
  baseType: string;
  /** pg_type.typtype of the base: b (base), e (enum), r (range), c (composite)... */
  typtype: string;
  /** For arrays: the element's typname and typtype; enum labels when the element is an enum. */
  element?: { baseType: string; typtype: string; enumLabels?: string[]; sqlType: string };
  /** Labels of an enum, in sort order. */
  enumLabels?: string[];
  /** varchar(n) / char(n) (from the column or its domain). */
  maxLength?: number;
  /** numeric(p, s). */
  precision?: number;
  scale?: number;
}

export interface ValueContext {
  /** The value must differ for every row number (it is the generated part of a unique key). */
  unique: boolean;
  bounds?: ColumnBounds;
  /** Largest row number this statement generates (for length planning). */
  maxRow: number;
}

const INTEGER_TYPES: Record<string, { max: number; cast: string }> = {
  int2: { max: 32_767, cast: 'smallint' },
  int4: { max: 2_147_483_647, cast: 'integer' },
  int8: { max: Number.MAX_SAFE_INTEGER, cast: 'bigint' },
};
const FLOAT_TYPES = new Set(['numeric', 'float4', 'float8', 'money']);
const TEXT_TYPES = new Set(['text', 'varchar', 'bpchar', 'name', 'citext']);
/** Cyclic spread of non-unique values: enough distinct values to look real, few enough to repeat. */
const SPREAD = 1000;

function integerBounds(b: ColumnBounds | undefined): { lo?: number; hi?: number } {
  const lo = b?.min ? (b.min.inclusive ? Math.ceil(b.min.value) : Math.floor(b.min.value) + 1) : undefined;
  const hi = b?.max ? (b.max.inclusive ? Math.floor(b.max.value) : Math.ceil(b.max.value) - 1) : undefined;
  return { lo, hi };
}

/** Values lo.. (or ..hi, or lo..hi) from the row number: injective while the range lasts. */
function integerExpression(lo: number | undefined, hi: number | undefined, unique: boolean): string {
  const n = unique ? '(r.g - 1)' : `(r.g % ${SPREAD})`;
  if (lo !== undefined && hi !== undefined) {
    const span = hi - lo + 1;
    if (span <= 0) return `${lo}`; // an empty range: the insert fails and names the constraint
    return `(${lo} + ${n} % ${span})`;
  }
  if (lo !== undefined) return `(${lo} + ${n})`;
  if (hi !== undefined) return `(${hi} - ${n})`;
  return unique ? 'r.g' : `(r.g % ${SPREAD})`;
}

function numericExpression(type: ColumnType, ctx: ValueContext): string {
  const b = ctx.bounds;
  const integral =
    (b?.min === undefined || Number.isInteger(b.min.value)) &&
    (b?.max === undefined || Number.isInteger(b.max.value));
  // numeric(p, s) holds integers below 10^(p - s).
  const limit = type.precision !== undefined ? 10 ** (type.precision - (type.scale ?? 0)) - 1 : undefined;
  if (ctx.unique || integral) {
    let { lo, hi } = integerBounds(b);
    if (limit !== undefined) {
      hi = Math.min(hi ?? limit, limit);
      lo = Math.max(lo ?? (ctx.unique ? 1 : 0), -limit);
    }
    return integerExpression(lo, hi, ctx.unique);
  }
  // A fractional range: spread strictly inside it.
  const lo = b?.min?.value ?? (b?.max ? b.max.value - SPREAD : 0);
  const hi = b?.max?.value ?? lo + SPREAD;
  return `(${lo} + (${hi} - ${lo}) * ((r.g % 999) + 1) / 1000.0)`;
}

function textExpression(type: ColumnType, ctx: ValueContext): string {
  const max = Math.min(type.maxLength ?? Infinity, ctx.bounds?.maxLength ?? Infinity);
  const min = ctx.bounds?.minLength ?? 0;
  const digits = String(Math.max(1, ctx.maxRow)).length;
  const prefix = /mail/i.test(type.name)
    ? 'user'
    : `${type.name.replace(/[^A-Za-z0-9]/g, '').slice(0, 12) || 'v'}_`;
  let expr: string;
  if (
    /mail/i.test(type.name) &&
    (ctx.unique ? `user${'9'.repeat(digits)}@example.com`.length <= max : max >= 20)
  ) {
    expr = `'user' || ${ctx.unique ? 'r.g' : `(r.g % ${SPREAD})`} || '@example.com'`;
  } else if (ctx.unique) {
    expr = prefix.length + digits <= max ? `${sqlLiteral(prefix)} || r.g` : 'r.g::text';
  } else {
    expr = `${sqlLiteral(prefix)} || (r.g % ${SPREAD})`;
    if (prefix.length + 3 > max) expr = `left(${expr}, ${Math.max(1, max)})`;
  }
  if (min > 0) expr = `rpad(${expr}, ${min}, 'x')`;
  return `(${expr})`;
}

/**
 * The SQL expression of a value for `type`, from the row number `r.g` (bigint, 1-based), or
 * undefined when the fill cannot generate this type. It respects the bounds where it can; where
 * it cannot, the server refuses the row and the refusal names the constraint.
 */
export function valueExpression(type: ColumnType, ctx: ValueContext): string | undefined {
  const b = ctx.bounds;
  if (b?.allowed && b.allowed.length > 0) {
    const pick = ctx.unique ? `least(r.g, ${b.allowed.length})` : `1 + (r.g % ${b.allowed.length})::int`;
    return `((ARRAY[${b.allowed.join(', ')}]::text[])[${pick}])::${type.sqlType}`;
  }
  const base = baseExpression(type, ctx);
  return base === undefined ? undefined : `(${base})::${type.sqlType}`;
}

function baseExpression(type: ColumnType, ctx: ValueContext): string | undefined {
  const t = type.baseType;
  const u = ctx.unique;
  if (type.typtype === 'e' && type.enumLabels && type.enumLabels.length > 0) {
    const labels = type.enumLabels.map(sqlLiteral).join(', ');
    const pick = u ? `least(r.g, ${type.enumLabels.length})` : `1 + (r.g % ${type.enumLabels.length})::int`;
    return `(ARRAY[${labels}]::text[])[${pick}]`;
  }
  if (type.element) {
    const elementType: ColumnType = { ...type.element, name: type.name };
    const first = baseExpression(elementType, { unique: u, maxRow: ctx.maxRow });
    const second = baseExpression(elementType, { unique: false, maxRow: ctx.maxRow });
    if (!first || !second) return undefined;
    const el = type.element.sqlType;
    return `ARRAY[(${first})::${el}, (${second.replace(/r\.g/g, '(r.g + 1)')})::${el}]`;
  }
  if (t in INTEGER_TYPES) {
    const { lo, hi } = integerBounds(ctx.bounds);
    return integerExpression(lo, hi, u);
  }
  if (FLOAT_TYPES.has(t)) {
    const e = numericExpression(type, ctx);
    return t === 'money' ? `(${e})::numeric` : e;
  }
  if (TEXT_TYPES.has(t)) return textExpression(type, ctx);
  switch (t) {
    case 'bool':
      return u ? 'r.g = 1' : '(r.g % 2 = 0)';
    case 'uuid':
      return 'gen_random_uuid()';
    case 'jsonb':
    case 'json':
      return `jsonb_build_object('n', r.g, 'tag', 'tag' || (r.g % 10))`;
    case 'date':
      return u ? `date '2000-01-01' + r.g::int` : `date '2024-01-01' + (r.g % 3650)::int`;
    case 'timestamp':
    case 'timestamptz':
      return `timestamptz '2025-01-01 00:00:00+00' + ${u ? 'r.g' : '(r.g % 31536000)'} * interval '1 second'`;
    case 'time':
    case 'timetz':
      return `time '00:00' + (r.g % 86400) * interval '1 second'`;
    case 'interval':
      return `${u ? 'r.g' : `(r.g % ${SPREAD})`} * interval '1 second'`;
    case 'bytea':
      return 'int8send(r.g)';
    case 'inet':
      return `inet '10.0.0.0' + ${u ? 'r.g' : '(r.g % 16777216)'}`;
    case 'cidr':
      return `set_masklen(inet '10.0.0.0' + ${u ? 'r.g' : '(r.g % 16777216)'}, 32)`;
    case 'macaddr':
      return `('08002b' || lpad(to_hex(r.g % 16777216), 6, '0'))`;
    case 'tsvector':
      return `('w' || (r.g % ${SPREAD}))`;
    case 'int4range':
      return `int4range(r.g::int4, r.g::int4 + 10)`;
    case 'int8range':
      return `int8range(r.g, r.g + 10)`;
    case 'numrange':
      return `numrange(r.g::numeric, r.g::numeric + 10)`;
    case 'daterange':
      return `daterange(date '2000-01-01' + (r.g % 3650)::int, date '2000-01-01' + (r.g % 3650)::int + 7)`;
    case 'tsrange':
    case 'tstzrange': {
      const start = `timestamp '2025-01-01' + r.g * interval '1 minute'`;
      return `${t}(${start}, ${start} + interval '1 minute')`;
    }
    case 'oid':
      return `(r.g % ${SPREAD})`;
    default:
      return undefined;
  }
}

/** Types whose generated values can differ for every row (so they can carry a unique key). */
export function canBeUnique(type: ColumnType): boolean {
  const t = type.baseType;
  if (type.typtype === 'e') return false;
  if (type.element) return canBeUnique({ ...type, ...type.element, element: undefined });
  return (
    t in INTEGER_TYPES ||
    FLOAT_TYPES.has(t) ||
    TEXT_TYPES.has(t) ||
    ['uuid', 'jsonb', 'date', 'timestamp', 'timestamptz', 'interval', 'bytea', 'inet', 'cidr'].includes(t)
  );
}

/** How much a greater column exceeds the one it must be greater than, by type. */
export function greaterOffset(baseType: string): string | undefined {
  if (baseType in INTEGER_TYPES || FLOAT_TYPES.has(baseType)) return '1';
  if (baseType === 'date') return '1';
  if (baseType === 'timestamp' || baseType === 'timestamptz') return "interval '1 hour'";
  return undefined;
}

/** A table in the fill, for sizing. */
export interface SizingTable {
  /** schema.table */
  name: string;
  /** Bare table name (matched against bare keys of rowsPerTable / estimates). */
  bare: string;
  /** The migration touches it (else it is only a referenced parent). */
  touched: boolean;
  /** Tables (schema.table) whose foreign keys reference this one. */
  children: string[];
}

function lookup(map: Record<string, number> | undefined, t: SizingTable): number | undefined {
  if (!map) return undefined;
  const v = map[t.name] ?? map[t.bare];
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/** A referenced table outside the migration gets this share of its largest child's rows. */
export const PARENT_SHARE = 0.1;

/**
 * Rows per table: `rowsPerTable` wins; else, with production estimates, in proportion to them (the
 * largest touched table gets `rows`, none more); else `rows` for each touched table and a tenth of
 * its largest child for a referenced table the migration does not touch. At least 1 each.
 */
export function plannedRowCounts(
  tables: readonly SizingTable[],
  request: {
    rows: number;
    rowsPerTable?: Record<string, number>;
    productionRowEstimates?: Record<string, number>;
  },
): Map<string, number> {
  const counts = new Map<string, number>();
  const estimates = request.productionRowEstimates;
  const positive = (v: number | undefined) => (v !== undefined && v > 0 ? v : undefined);
  const touchedEstimates = tables.filter((t) => t.touched).map((t) => positive(lookup(estimates, t)) ?? 0);
  const maxEstimate = Math.max(
    0,
    ...touchedEstimates,
    ...tables.map((t) => positive(lookup(estimates, t)) ?? 0),
  );
  const explicit = (t: SizingTable) => lookup(request.rowsPerTable, t);
  const fromEstimate = (t: SizingTable) => {
    const e = positive(lookup(estimates, t));
    return e !== undefined && maxEstimate > 0 ? Math.round((request.rows * e) / maxEstimate) : undefined;
  };
  for (const t of tables) {
    const n = explicit(t) ?? fromEstimate(t) ?? (t.touched ? request.rows : undefined);
    if (n !== undefined) counts.set(t.name, Math.max(1, Math.round(n)));
  }
  // Referenced tables without a count: sized from their children (children first, as parents may chain).
  const byName = new Map(tables.map((t) => [t.name, t]));
  const sizeOf = (name: string, seen: Set<string>): number => {
    const known = counts.get(name);
    if (known !== undefined) return known;
    const t = byName.get(name);
    if (!t || seen.has(name)) return 1;
    seen.add(name);
    const largestChild = Math.max(0, ...t.children.filter((c) => c !== name).map((c) => sizeOf(c, seen)));
    const n = Math.max(1, Math.ceil(largestChild * PARENT_SHARE));
    counts.set(name, n);
    return n;
  };
  for (const t of tables) sizeOf(t.name, new Set());
  return counts;
}

function kahn(tables: readonly string[], edges: readonly { child: string; parent: string }[]): string[] {
  const indegree = new Map(tables.map((t) => [t, 0]));
  const out = new Map<string, string[]>();
  for (const e of edges) {
    if (e.child === e.parent || !indegree.has(e.child) || !indegree.has(e.parent)) continue;
    indegree.set(e.child, indegree.get(e.child)! + 1);
    (out.get(e.parent) ?? out.set(e.parent, []).get(e.parent)!).push(e.child);
  }
  const order: string[] = [];
  const ready = tables.filter((t) => indegree.get(t) === 0);
  while (ready.length > 0) {
    const t = ready.shift()!;
    order.push(t);
    for (const c of out.get(t) ?? []) {
      indegree.set(c, indegree.get(c)! - 1);
      if (indegree.get(c) === 0) ready.push(c);
    }
  }
  return order;
}

/**
 * Parents before children (Kahn's algorithm over foreign keys). Tables in a cycle are ordered again
 * by their required (NOT NULL) foreign keys only, since an optional one can be left NULL; what is
 * still cyclic comes last in the given order (the plan then names the key it cannot satisfy).
 */
export function fillOrder(
  tables: readonly string[],
  edges: readonly { child: string; parent: string; optional?: boolean }[],
): string[] {
  const order = kahn(tables, edges);
  const stuck = tables.filter((t) => !order.includes(t));
  if (stuck.length > 0) {
    const inCycle = new Set(stuck);
    const required = edges.filter((e) => !e.optional && inCycle.has(e.child) && inCycle.has(e.parent));
    const broken = kahn(stuck, required);
    order.push(...broken, ...stuck.filter((t) => !broken.includes(t)));
  }
  return order;
}

/** The row index of a parent key for child row `i` (0-based): unique combinations when strided. */
export function parentKeyIndex(i: number, count: number, stride: number): number {
  return Math.floor(i / stride) % count;
}
