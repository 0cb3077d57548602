// What the synthetic fill must honour, read from the catalog of the scratch database: columns and
// their types (domains resolved, enums' labels, arrays' elements, varchar/numeric modifiers),
// NOT NULL, defaults and identity, unique keys (constraints and unique indexes), foreign keys and
// CHECK constraints (their expressions read through PostgreSQL's own parser).
import type pg from 'pg';
import { LabError } from '../errors';
import { loadParser } from '../lint/parser';
import { mergeBounds, readCheck, type CheckReading, type ColumnBounds, type ColumnType } from './fillValues';

export interface ColumnShape extends ColumnType {
  attnum: number;
  notNull: boolean;
  hasDefault: boolean;
  /** The server gives every row its own value (identity, or a nextval() default). */
  serverUnique: boolean;
  identity: '' | 'a' | 'd';
  /** A generated column (never inserted). */
  generated: boolean;
  /** pg_get_expr of the default, when there is one. */
  defaultExpr?: string;
  /** What the table's and the domain's CHECKs allow it. */
  bounds: ColumnBounds;
}

export interface UniqueKey {
  name: string;
  columns: string[];
  primary: boolean;
}

export interface ForeignKey {
  name: string;
  columns: string[];
  /** schema.table of the referenced table. */
  parent: string;
  /** The referenced table, quoted for SQL. */
  parentSqlName: string;
  parentColumns: string[];
}

export interface CheckShape {
  name: string;
  expression: string;
  reading: CheckReading;
  /** A domain's CHECK (named after the domain) rather than the table's. */
  domain?: string;
}

export interface TableShape {
  oid: number;
  /** schema.table, unquoted (how reports name it). */
  name: string;
  schema: string;
  relname: string;
  /** Quoted for SQL. */
  sqlName: string;
  relkind: string;
  columns: ColumnShape[];
  uniques: UniqueKey[];
  foreignKeys: ForeignKey[];
  checks: CheckShape[];
}

type Parser = Awaited<ReturnType<typeof loadParser>>;

interface TypeRow {
  oid: number;
  typname: string;
  typtype: string;
  typbasetype: number;
  typtypmod: number;
  typnotnull: boolean;
  typelem: number;
  typcategory: string;
  sql_type: string;
  labels: string[] | null;
  checks: { name: string; expr: string }[] | null;
}

interface ResolvedType {
  type: Omit<ColumnType, 'name'>;
  notNull: boolean;
  checks: { name: string; expr: string; domain: string }[];
}

/** Finds a table by a schema-qualified or bare name (as to_regclass reads it, else exactly as spelled). */
export async function resolveTable(
  client: pg.ClientBase,
  name: string,
): Promise<{ oid: number; name: string } | undefined> {
  const r = await client
    .query<{ oid: number; name: string }>(
      `SELECT c.oid::int AS oid, n.nspname || '.' || c.relname AS name
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p')
        AND (c.oid = to_regclass($1)
             OR (to_regclass($1) IS NULL AND n.nspname || '.' || c.relname = $1))
      LIMIT 1`,
      [name],
    )
    .catch(() => undefined); // to_regclass refuses some malformed names; then the exact match decides
  if (r && r.rows[0]) return r.rows[0];
  const exact = await client.query<{ oid: number; name: string }>(
    `SELECT c.oid::int AS oid, n.nspname || '.' || c.relname AS name
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p') AND n.nspname || '.' || c.relname = $1`,
    [name],
  );
  return exact.rows[0];
}

function typmodLength(typname: string, typmod: number): number | undefined {
  return (typname === 'varchar' || typname === 'bpchar') && typmod >= 4 ? typmod - 4 : undefined;
}

function typmodNumeric(typname: string, typmod: number): { precision?: number; scale?: number } {
  if (typname !== 'numeric' || typmod < 4) return {};
  return { precision: ((typmod - 4) >> 16) & 0xffff, scale: (typmod - 4) & 0xffff };
}

class TypeResolver {
  private readonly cache = new Map<string, ResolvedType>();
  constructor(private readonly client: pg.ClientBase) {}

  private async row(oid: number, typmod: number): Promise<TypeRow> {
    const r = await this.client.query<TypeRow>(
      `SELECT t.oid::int AS oid, t.typname, t.typtype, t.typbasetype::int AS typbasetype, t.typtypmod,
              t.typnotnull, t.typelem::int AS typelem, t.typcategory, format_type(t.oid, $2) AS sql_type,
              CASE WHEN t.typtype = 'e' THEN
                ARRAY(SELECT e.enumlabel::text FROM pg_enum e WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder) END AS labels,
              CASE WHEN t.typtype = 'd' THEN
                (SELECT json_agg(json_build_object('name', c.conname, 'expr', pg_get_expr(c.conbin, 0)) ORDER BY c.conname)
                   FROM pg_constraint c WHERE c.contypid = t.oid AND c.contype = 'c') END AS checks
         FROM pg_type t WHERE t.oid = $1`,
      [oid, typmod],
    );
    if (!r.rows[0]) throw new LabError(`The type with oid ${oid} is not in the catalog.`);
    return r.rows[0];
  }

  /** A type with its domains unwrapped (their NOT NULL and CHECKs collected) and arrays' elements. */
  async resolve(oid: number, typmod: number): Promise<ResolvedType> {
    const key = `${oid}/${typmod}`;
    const cached = this.cache.get(key);
    if (cached) return cached;
    const declared = await this.row(oid, typmod);
    let t = declared;
    let mod = typmod;
    let notNull = false;
    const checks: ResolvedType['checks'] = [];
    for (let depth = 0; t.typtype === 'd' && depth < 16; depth++) {
      notNull ||= t.typnotnull;
      for (const c of t.checks ?? []) checks.push({ ...c, domain: t.sql_type });
      mod = t.typtypmod >= 0 ? t.typtypmod : mod;
      t = await this.row(t.typbasetype, mod);
    }
    let element: ColumnType['element'];
    if (t.typcategory === 'A' && t.typelem !== 0) {
      const el = await this.resolve(t.typelem, mod); // varchar(10)[]: the length is the element's
      element = {
        baseType: el.type.baseType,
        typtype: el.type.typtype,
        sqlType: el.type.sqlType,
        ...(el.type.enumLabels ? { enumLabels: el.type.enumLabels } : {}),
      };
    }
    const resolved: ResolvedType = {
      type: {
        sqlType: declared.sql_type,
        baseType: t.typname,
        typtype: t.typtype,
        ...(element ? { element } : {}),
        ...(t.labels ? { enumLabels: t.labels } : {}),
        ...(typmodLength(t.typname, mod) !== undefined ? { maxLength: typmodLength(t.typname, mod) } : {}),
        ...typmodNumeric(t.typname, mod),
      },
      notNull,
      checks,
    };
    this.cache.set(key, resolved);
    return resolved;
  }
}

function parseCheck(parser: Parser, expression: string): CheckReading {
  try {
    const stmt = parser.parseSync(`SELECT 1 WHERE ${expression}`).stmts?.[0]?.stmt as
      { SelectStmt?: { whereClause?: unknown } } | undefined;
    return readCheck(stmt?.SelectStmt?.whereClause);
  } catch {
    return { bounds: new Map(), understood: false };
  }
}

interface ColumnRow {
  attname: string;
  attnum: number;
  atttypid: number;
  atttypmod: number;
  attnotnull: boolean;
  atthasdef: boolean;
  attidentity: '' | 'a' | 'd';
  attgenerated: string;
  default_expr: string | null;
}

interface ConstraintRow {
  conname: string;
  contype: string;
  columns: string[];
  parent: string | null;
  parent_sql: string | null;
  parent_columns: string[] | null;
  check_expr: string | null;
}

/** Reads one table's shape (by oid). */
export async function readTableShape(client: pg.ClientBase, oid: number): Promise<TableShape> {
  const parser = await loadParser();
  const types = new TypeResolver(client);
  const rel = await client.query<{ schema: string; relname: string; relkind: string; sql_name: string }>(
    `SELECT n.nspname AS schema, c.relname, c.relkind::text AS relkind,
            quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS sql_name
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = $1`,
    [oid],
  );
  const r = rel.rows[0];
  if (!r) throw new LabError(`The table with oid ${oid} no longer exists.`);
  const cols = await client.query<ColumnRow>(
    `SELECT a.attname, a.attnum::int AS attnum, a.atttypid::int AS atttypid, a.atttypmod, a.attnotnull,
            a.atthasdef, a.attidentity::text AS attidentity, a.attgenerated::text AS attgenerated,
            pg_get_expr(d.adbin, d.adrelid) AS default_expr
       FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
      WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
      ORDER BY a.attnum`,
    [oid],
  );
  // Constraints a partition inherits are read on the table itself (conparentid = 0); PostgreSQL 18's
  // NOT ENFORCED constraints are not checked on insert, so they do not bind the fill.
  const cons = await client.query<ConstraintRow>(
    `SELECT con.conname, con.contype::text AS contype,
            ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(n, o)
                    JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n ORDER BY k.o) AS columns,
            CASE WHEN con.contype = 'f' THEN (SELECT pn.nspname || '.' || pc.relname FROM pg_class pc
                    JOIN pg_namespace pn ON pn.oid = pc.relnamespace WHERE pc.oid = con.confrelid) END AS parent,
            CASE WHEN con.contype = 'f' THEN (SELECT quote_ident(pn.nspname) || '.' || quote_ident(pc.relname) FROM pg_class pc
                    JOIN pg_namespace pn ON pn.oid = pc.relnamespace WHERE pc.oid = con.confrelid) END AS parent_sql,
            CASE WHEN con.contype = 'f' THEN ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(n, o)
                    JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n ORDER BY k.o) END AS parent_columns,
            CASE WHEN con.contype = 'c' THEN pg_get_expr(con.conbin, con.conrelid) END AS check_expr
       FROM pg_constraint con
      WHERE con.conrelid = $1 AND con.contype IN ('p', 'u', 'f', 'c')
        AND coalesce((to_jsonb(con) ->> 'conenforced')::boolean, true)
        AND (con.contype <> 'f' OR con.conparentid = 0)
      ORDER BY con.contype = 'p' DESC, con.conname`,
    [oid],
  );
  // Unique indexes that back no constraint, expression and partial ones included (their columns
  // from pg_depend), since they refuse duplicates all the same.
  const indexes = await client.query<{ name: string; columns: string[] }>(
    `SELECT ic.relname AS name,
            ARRAY(SELECT DISTINCT a.attname::text FROM pg_attribute a
                   WHERE a.attrelid = i.indrelid
                     AND (a.attnum = ANY (i.indkey::int2[])
                          OR a.attnum IN (SELECT d.refobjsubid FROM pg_depend d
                                           WHERE d.classid = 'pg_class'::regclass AND d.objid = i.indexrelid
                                             AND d.refobjid = i.indrelid AND d.refobjsubid > 0))) AS columns
       FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
      WHERE i.indrelid = $1 AND i.indisunique
        AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid)
      ORDER BY ic.relname`,
    [oid],
  );

  const checks: CheckShape[] = [];
  const uniques: UniqueKey[] = [];
  const foreignKeys: ForeignKey[] = [];
  for (const c of cons.rows) {
    if (c.contype === 'p' || c.contype === 'u')
      uniques.push({ name: c.conname, columns: c.columns, primary: c.contype === 'p' });
    else if (c.contype === 'f' && c.parent && c.parent_sql && c.parent_columns)
      foreignKeys.push({
        name: c.conname,
        columns: c.columns,
        parent: c.parent,
        parentSqlName: c.parent_sql,
        parentColumns: c.parent_columns,
      });
    else if (c.contype === 'c' && c.check_expr)
      checks.push({ name: c.conname, expression: c.check_expr, reading: parseCheck(parser, c.check_expr) });
  }
  for (const i of indexes.rows)
    if (i.columns.length > 0) uniques.push({ name: i.name, columns: i.columns, primary: false });

  const columns: ColumnShape[] = [];
  for (const a of cols.rows) {
    const t = await types.resolve(a.atttypid, a.atttypmod);
    const bounds: ColumnBounds = {};
    for (const c of t.checks) {
      const reading = parseCheck(parser, c.expr);
      if (!checks.some((x) => x.domain === c.domain && x.name === c.name))
        checks.push({ name: c.name, expression: c.expr, reading, domain: c.domain });
      const b = reading.bounds.get('value');
      if (b) mergeBounds(bounds, b);
    }
    for (const c of checks) {
      if (c.domain) continue;
      const b = c.reading.bounds.get(a.attname);
      if (b) mergeBounds(bounds, b);
    }
    columns.push({
      ...t.type,
      name: a.attname,
      attnum: a.attnum,
      notNull: a.attnotnull || t.notNull,
      hasDefault: a.atthasdef || a.attidentity !== '',
      serverUnique: a.attidentity !== '' || /^nextval\(/i.test(a.default_expr ?? ''),
      identity: a.attidentity,
      generated: a.attgenerated !== '',
      ...(a.default_expr ? { defaultExpr: a.default_expr } : {}),
      bounds,
    });
  }
  return {
    oid,
    name: `${r.schema}.${r.relname}`,
    schema: r.schema,
    relname: r.relname,
    sqlName: r.sql_name,
    relkind: r.relkind,
    columns,
    uniques,
    foreignKeys,
    checks,
  };
}
