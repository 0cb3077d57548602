// The lock facts of one statement, defined once: which existing relations it locks and in which
// mode (as pg_locks spells it), whether it rewrites or scans the table, whether it may run inside a
// transaction block. Every fact here is checked against a real server by
// test/integration/lint-lockfacts.test.ts; where PostgreSQL disagrees with folklore, PostgreSQL wins.
//
// Locks on relations the statement itself creates (the new index of CREATE INDEX, the new table of
// CREATE TABLE) are not listed: nobody else can see them before commit.
import { lockModeFromNumber, strongerMode, type LockMode } from './lockModes';
import { NOT_VOLATILE_FUNCTIONS, VOLATILE_FUNCTIONS } from './pgFunctions';
import { nodeKind, stringList, type PgNode } from './parser';
import { columnType, type ColumnType, type RelationInfo, type StaticSchema } from './schema';

export interface RelationLock {
  /** Schema-qualified relation name. */
  relation: string;
  mode: LockMode;
  relkind: 'table' | 'index' | 'view' | 'matview' | 'sequence';
  /** The relation was created earlier in the same migration: locking it blocks nobody. */
  createdHere: boolean;
}

export interface StatementFacts {
  /** What the statement is, e.g. "CREATE INDEX", "ALTER TABLE … ADD COLUMN". */
  kind: string;
  locks: RelationLock[];
  /** Rewrites the whole table (and its indexes) under its lock. */
  rewrites: boolean;
  /** Reads the whole table under its lock (validation, index build) without rewriting it. */
  scans: boolean;
  /** May run inside a transaction block. */
  transactional: boolean;
  /** The PostgreSQL documentation page of the command, of the target major. */
  docs?: string;
}

export interface FactOptions {
  /** Target PostgreSQL major version. */
  pgMajor: number;
}

/** A page of the documentation of `major` (the target's, not /current/, whose facts may differ). */
export function postgresDocsUrl(major: number, page: string): string {
  return `https://www.postgresql.org/docs/${major}/${page}`;
}

class FactBuilder {
  readonly locks = new Map<string, RelationLock>();
  rewrites = false;
  scans = false;
  transactional = true;

  constructor(
    private readonly schema: StaticSchema,
    private readonly pgMajor: number,
  ) {}

  lock(relation: string | undefined, mode: LockMode, relkind?: RelationLock['relkind']): void {
    if (!relation) return;
    const known = this.schema.relations.get(relation);
    const kind = relkind ?? (known ? known.kind : this.schema.indexes.has(relation) ? 'index' : 'table');
    const createdHere =
      known?.createdHere ??
      this.schema.relations.get(this.schema.indexes.get(relation) ?? '')?.createdHere ??
      false;
    const previous = this.locks.get(relation);
    this.locks.set(relation, {
      relation,
      mode: previous ? strongerMode(previous.mode, mode) : mode,
      relkind: kind,
      createdHere,
    });
  }

  /** The table and every index it has. */
  lockWithIndexes(table: string | undefined, mode: LockMode, indexMode: LockMode = mode): void {
    if (!table) return;
    this.lock(table, mode);
    for (const i of this.schema.relations.get(table)?.indexes ?? []) this.lock(i, indexMode, 'index');
  }

  done(kind: string, docs?: string): StatementFacts {
    return {
      kind,
      locks: [...this.locks.values()],
      rewrites: this.rewrites,
      scans: this.scans || this.rewrites,
      transactional: this.transactional,
      docs: docs ? postgresDocsUrl(this.pgMajor, docs) : undefined,
    };
  }
}

let builtins: { volatile: Set<string>; other: Set<string> } | undefined;

/**
 * Whether a function call is volatile: as the migrations declare it when they create it, else as
 * PostgreSQL's own catalog has it (pgFunctions.ts, read from pg_proc); a function neither knows is
 * taken to be volatile, CREATE FUNCTION's default.
 */
export function isVolatileFunction(nameParts: readonly string[], schema: StaticSchema): boolean {
  const name = nameParts.at(-1) ?? '';
  const qualifier = nameParts.length > 1 ? nameParts.at(-2) : undefined;
  const own = qualifier === 'pg_catalog' ? undefined : schema.functionVolatility.get(name);
  if (own !== undefined) return own === 'volatile';
  if (qualifier === undefined || qualifier === 'pg_catalog') {
    builtins ??= {
      volatile: new Set(VOLATILE_FUNCTIONS.flatMap((l) => l.split(' '))),
      other: new Set(NOT_VOLATILE_FUNCTIONS.flatMap((l) => l.split(' '))),
    };
    if (builtins.volatile.has(name)) return true;
    if (builtins.other.has(name)) return false;
  }
  return true;
}

/** Whether a default expression is volatile (evaluated per row, so ADD COLUMN rewrites the table). */
export function isVolatileExpression(expr: unknown, schema: StaticSchema): boolean {
  const k = nodeKind(expr);
  if (!k) return false;
  const [kind, n] = k;
  const any = (list: unknown) =>
    ((list as unknown[] | undefined) ?? []).some((x) => isVolatileExpression(x, schema));
  switch (kind) {
    case 'A_Const':
    case 'SQLValueFunction':
    case 'ColumnRef':
      return false;
    case 'TypeCast':
    case 'NullTest':
    case 'BooleanTest':
      return isVolatileExpression(n.arg, schema);
    case 'A_Expr':
      // Operators on built-in types are immutable or stable.
      return isVolatileExpression(n.lexpr, schema) || isVolatileExpression(n.rexpr, schema);
    case 'FuncCall':
      return isVolatileFunction(stringList(n.funcname), schema) || any(n.args);
    case 'A_ArrayExpr':
      return any(n.elements);
    case 'CoalesceExpr':
    case 'MinMaxExpr':
    case 'BoolExpr':
    case 'RowExpr':
      return any(n.args);
    case 'CaseExpr':
      return (
        isVolatileExpression(n.arg, schema) ||
        isVolatileExpression(n.defresult, schema) ||
        ((n.args as unknown[] | undefined) ?? []).some((w) => {
          const c = nodeKind(w)?.[1] ?? {};
          return isVolatileExpression(c.expr, schema) || isVolatileExpression(c.result, schema);
        })
      );
    default:
      return true; // unknown expression kinds (a subquery, …): assume the worst
  }
}

const TYPE_FAMILY: Record<string, string> = {
  varchar: 'text-like',
  text: 'text-like',
  bpchar: 'bpchar',
};

/**
 * Whether changing a column from `from` to `to` (no USING) keeps the data as it is stored, so
 * PostgreSQL neither rewrites the table nor rebuilds its indexes: widening varchar, varchar → text,
 * text → unconstrained varchar, widening numeric's precision at the same scale, cidr → inet.
 */
export function isBinaryCoercible(from: ColumnType | undefined, to: ColumnType): boolean {
  if (!from) return false; // unknown current type: cannot promise anything
  // An array's elements are converted one by one (ArrayCoerceExpr): any change rewrites (observed).
  if (from.array || to.array) return sameType(from, to);
  if (TYPE_FAMILY[from.name] === 'text-like' && TYPE_FAMILY[to.name] === 'text-like') {
    if (to.name === 'text' || to.mods.length === 0) return true;
    if (from.name === 'text' || from.mods.length === 0) return false; // unbounded → bounded must check
    return to.mods[0] >= from.mods[0];
  }
  if (from.name === 'numeric' && to.name === 'numeric') {
    if (to.mods.length === 0) return true;
    if (from.mods.length === 0) return false;
    return (from.mods[1] ?? 0) === (to.mods[1] ?? 0) && to.mods[0] >= from.mods[0];
  }
  if (from.name === 'cidr' && to.name === 'inet') return true;
  if (from.name === to.name) {
    if (to.mods.length === 0) return true;
    if (from.mods.length === 0) return false;
    // A longer bit varying, a finer time precision: the stored values stay as they are.
    if (WIDENABLE.has(from.name)) return to.mods[0] >= from.mods[0];
    return from.mods.every((m, i) => m === to.mods[i]);
  }
  return false;
}

/** Types whose single modifier may grow without touching stored values. */
// Not interval: its modifier packs the fields with the precision (observed: interval(6) → (0) rewrites).
const WIDENABLE = new Set(['varbit', 'timestamp', 'timestamptz', 'time', 'timetz']);

function sameType(a: ColumnType, b: ColumnType): boolean {
  return a.name === b.name && a.array === b.array && a.mods.join(',') === b.mods.join(',');
}

/**
 * Whether a `USING` expression only names the column, or casts it to the new type: PostgreSQL then
 * judges the conversion as it would without USING (observed: no rewrite where the cast needs none).
 */
export function usingIsPlainColumn(using: unknown, column: string, to: ColumnType): boolean {
  const k = nodeKind(using);
  if (k?.[0] === 'ColumnRef') {
    const fields = stringList(k[1].fields);
    return fields.length === 1 && fields[0] === column;
  }
  if (k?.[0] === 'TypeCast')
    return sameType(columnType(k[1].typeName as PgNode), to) && usingIsPlainColumn(k[1].arg, column, to);
  return false;
}

const SERIAL_TYPES = new Set(['serial', 'serial4', 'serial8', 'bigserial', 'smallserial', 'serial2']);

/** Storage parameters ALTER TABLE … SET (…) changes under SHARE UPDATE EXCLUSIVE (others: ACCESS EXCLUSIVE). */
const LIGHT_RELOPTIONS =
  /^(fillfactor|autovacuum_.*|toast\.autovacuum_.*|toast_tuple_target|parallel_workers|vacuum_.*|toast\..*|log_autovacuum_min_duration)$/;

function defElemTrue(options: unknown, name: string): boolean {
  for (const o of (options as unknown[] | undefined) ?? []) {
    const d = nodeKind(o);
    if (d?.[0] === 'DefElem' && d[1].defname === name) {
      const arg = nodeKind(d[1].arg);
      if (!arg) return true;
      if (arg[0] === 'Boolean') return arg[1].boolval === true;
      if (arg[0] === 'String') return !['false', 'off', '0'].includes(String(arg[1].sval).toLowerCase());
      if (arg[0] === 'Integer') return arg[1].ival !== 0 && arg[1].ival !== undefined;
      return true;
    }
  }
  return false;
}

/** Every RangeVar in a subtree (the relations a query reads). */
function rangeVars(node: unknown, out: PgNode[] = []): PgNode[] {
  if (Array.isArray(node)) {
    for (const n of node) rangeVars(n, out);
  } else if (node && typeof node === 'object') {
    for (const key in node) {
      const value = (node as PgNode)[key];
      if (key === 'RangeVar') out.push(value as PgNode);
      else if (value && typeof value === 'object') rangeVars(value, out);
    }
  }
  return out;
}

function alterTableCmd(
  b: FactBuilder,
  schema: StaticSchema,
  table: string,
  cmd: PgNode,
  options: FactOptions,
): string {
  const def = nodeKind(cmd.def);
  const info = schema.relations.get(table);
  switch (cmd.subtype) {
    case 'AT_AddColumn': {
      b.lock(table, 'AccessExclusiveLock');
      const col = def?.[1];
      const type = columnType(col?.typeName as PgNode);
      // A serial fills every row; a column of a checked domain is checked row by row, which rewrites (observed).
      let rewrite = SERIAL_TYPES.has(type.name) || (!type.array && schema.checkedDomains.has(type.name));
      for (const c of (col?.constraints as unknown[] | undefined) ?? []) {
        const con = nodeKind(c)?.[1];
        if (!con) continue;
        if (con.contype === 'CONSTR_DEFAULT') {
          if (isVolatileExpression(con.raw_expr, schema) || options.pgMajor < 11) rewrite = true;
        } else if (con.contype === 'CONSTR_GENERATED' || con.contype === 'CONSTR_IDENTITY') {
          // Virtual generated columns (PostgreSQL 18's default) are computed on read.
          if (con.contype === 'CONSTR_IDENTITY' || con.generated_kind !== 'v') rewrite = true;
        } else if (con.contype === 'CONSTR_FOREIGN') {
          b.lock(schema.rangeVarName(con.pktable as PgNode), 'ShareRowExclusiveLock');
        } else if (
          con.contype === 'CONSTR_PRIMARY' ||
          con.contype === 'CONSTR_UNIQUE' ||
          con.contype === 'CONSTR_CHECK' ||
          con.contype === 'CONSTR_NOTNULL'
        ) {
          b.scans = true;
        }
      }
      // A rewrite rebuilds every index of the table under ACCESS EXCLUSIVE as well.
      if (rewrite) {
        b.rewrites = true;
        b.lockWithIndexes(table, 'AccessExclusiveLock');
      }
      return 'ADD COLUMN';
    }
    case 'AT_DropColumn':
      b.lock(table, 'AccessExclusiveLock');
      // Its foreign key goes with it, and with the key the triggers on the referenced table.
      for (const t of referencedThrough(info, cmd.name as string)) b.lock(t, 'AccessExclusiveLock');
      return 'DROP COLUMN';
    case 'AT_AlterColumnType': {
      b.lock(table, 'AccessExclusiveLock');
      const to = columnType(def?.[1]?.typeName as PgNode);
      const using = def?.[1]?.raw_default;
      const plainUsing = !using || usingIsPlainColumn(using, cmd.name as string, to);
      if (!plainUsing || !isBinaryCoercible(info?.columns.get(cmd.name as string), to)) {
        b.rewrites = true;
        b.lockWithIndexes(table, 'AccessExclusiveLock');
      } else {
        // Kept data, but the indexes on the column are checked and locked all the same (observed).
        for (const i of schema.indexesOn(table, cmd.name as string))
          b.lock(i, 'AccessExclusiveLock', 'index');
      }
      // A foreign key on either side of the column is rebuilt: the other table is locked too.
      const column = cmd.name as string;
      for (const t of referencedThrough(info, column)) b.lock(t, 'AccessExclusiveLock');
      const keyColumns =
        [...(info?.constraints.values() ?? [])].find((c) => c.kind === 'primary')?.columns ?? [];
      for (const { table: other, key } of schema.referencingKeys(table)) {
        const referenced = key.referencedColumns?.length ? key.referencedColumns : keyColumns;
        if (referenced.includes(column)) b.lock(other, 'AccessExclusiveLock');
      }
      return 'ALTER COLUMN … TYPE';
    }
    case 'AT_SetNotNull':
      b.lock(table, 'AccessExclusiveLock');
      // From 12, a valid CHECK (col IS NOT NULL) proves the column and the scan is skipped.
      b.scans = !(options.pgMajor >= 12 && schema.hasValidNotNullCheck(table, cmd.name as string));
      return 'ALTER COLUMN … SET NOT NULL';
    case 'AT_DropNotNull':
      b.lock(table, 'AccessExclusiveLock');
      return 'ALTER COLUMN … DROP NOT NULL';
    case 'AT_ColumnDefault':
      b.lock(table, 'AccessExclusiveLock');
      return def ? 'ALTER COLUMN … SET DEFAULT' : 'ALTER COLUMN … DROP DEFAULT';
    case 'AT_AddConstraint': {
      const con = def?.[1] ?? {};
      const notValid = con.skip_validation === true;
      switch (con.contype) {
        case 'CONSTR_FOREIGN':
          b.lock(table, 'ShareRowExclusiveLock');
          b.lock(schema.rangeVarName(con.pktable as PgNode), 'ShareRowExclusiveLock');
          if (!notValid) b.scans = true;
          return notValid ? 'ADD FOREIGN KEY … NOT VALID' : 'ADD FOREIGN KEY';
        case 'CONSTR_CHECK':
          b.lock(table, 'AccessExclusiveLock');
          if (!notValid) b.scans = true;
          return notValid ? 'ADD CHECK … NOT VALID' : 'ADD CHECK';
        case 'CONSTR_PRIMARY':
        case 'CONSTR_UNIQUE': {
          b.lock(table, 'AccessExclusiveLock');
          const what = con.contype === 'CONSTR_PRIMARY' ? 'PRIMARY KEY' : 'UNIQUE';
          if (con.indexname) {
            const idx = schema.qualify(table.slice(0, table.indexOf('.')), con.indexname as string);
            // PostgreSQL renames the index under SHARE UPDATE EXCLUSIVE (pg_locks says so; not ACCESS EXCLUSIVE).
            b.lock(idx, 'ShareUpdateExclusiveLock', 'index');
            // A primary key also sets NOT NULL on its columns, which scans unless they already are.
            if (con.contype === 'CONSTR_PRIMARY') b.scans = true;
            return `ADD ${what} USING INDEX`;
          }
          b.scans = true;
          return `ADD ${what}`;
        }
        case 'CONSTR_NOTNULL':
          // PostgreSQL 18's named NOT NULL constraint: SET NOT NULL's scan, or none NOT VALID.
          b.lock(table, 'AccessExclusiveLock');
          b.scans = !notValid;
          return notValid ? 'ADD NOT NULL … NOT VALID' : 'ADD NOT NULL';
        default:
          b.lock(table, 'AccessExclusiveLock');
          b.scans = !notValid;
          return 'ADD CONSTRAINT';
      }
    }
    case 'AT_ValidateConstraint': {
      b.lock(table, 'ShareUpdateExclusiveLock');
      b.scans = true;
      const c = info?.constraints.get(cmd.name as string);
      if (c?.kind === 'foreign') b.lock(c.references, 'RowShareLock');
      return 'VALIDATE CONSTRAINT';
    }
    case 'AT_DropConstraint': {
      b.lock(table, 'AccessExclusiveLock');
      const c = info?.constraints.get(cmd.name as string);
      if (c?.kind === 'foreign') b.lock(c.references, 'AccessExclusiveLock');
      if (c?.kind === 'primary' || c?.kind === 'unique') {
        b.lock(
          schema.qualify(table.slice(0, table.indexOf('.')), cmd.name as string),
          'AccessExclusiveLock',
          'index',
        );
      }
      return 'DROP CONSTRAINT';
    }
    case 'AT_SetStatistics':
      b.lock(table, 'ShareUpdateExclusiveLock');
      return 'ALTER COLUMN … SET STATISTICS';
    case 'AT_AttachPartition': {
      const partition = schema.rangeVarName((def?.[1]?.name as PgNode) ?? undefined);
      b.lock(table, options.pgMajor >= 12 ? 'ShareUpdateExclusiveLock' : 'AccessExclusiveLock');
      b.lock(partition, 'AccessExclusiveLock');
      // The default partition is scanned for rows the new bound would take (observed).
      if (info?.defaultPartition !== partition) b.lock(info?.defaultPartition, 'AccessExclusiveLock');
      b.scans = true;
      return 'ATTACH PARTITION';
    }
    case 'AT_DetachPartition': {
      const concurrent = def?.[1]?.concurrent === true;
      const partition = schema.rangeVarName((def?.[1]?.name as PgNode) ?? undefined);
      b.lock(table, concurrent ? 'ShareUpdateExclusiveLock' : 'AccessExclusiveLock');
      b.lock(partition, concurrent ? 'ShareUpdateExclusiveLock' : 'AccessExclusiveLock');
      // The default partition's implicit bound widens (observed: ACCESS EXCLUSIVE on it).
      if (info?.defaultPartition !== partition) b.lock(info?.defaultPartition, 'AccessExclusiveLock');
      if (concurrent) b.transactional = false;
      return concurrent ? 'DETACH PARTITION … CONCURRENTLY' : 'DETACH PARTITION';
    }
    case 'AT_EnableTrig':
    case 'AT_DisableTrig':
    case 'AT_EnableTrigAll':
    case 'AT_DisableTrigAll':
    case 'AT_EnableTrigUser':
    case 'AT_DisableTrigUser':
    case 'AT_EnableAlwaysTrig':
    case 'AT_EnableReplicaTrig':
      b.lock(table, 'ShareRowExclusiveLock');
      return String(cmd.subtype).startsWith('AT_Disable') ? 'DISABLE TRIGGER' : 'ENABLE TRIGGER';
    case 'AT_SetRelOptions':
    case 'AT_ResetRelOptions': {
      const items = (nodeKind(cmd.def)?.[1]?.items as unknown[] | undefined) ?? [];
      const names = items.map((d) => String(nodeKind(d)?.[1]?.defname ?? ''));
      const light = names.every((n) => LIGHT_RELOPTIONS.test(n));
      b.lock(table, light ? 'ShareUpdateExclusiveLock' : 'AccessExclusiveLock');
      return cmd.subtype === 'AT_SetRelOptions' ? 'SET (storage parameters)' : 'RESET (storage parameters)';
    }
    case 'AT_ClusterOn':
    case 'AT_DropCluster':
      b.lock(table, 'ShareUpdateExclusiveLock');
      if (cmd.name)
        b.lock(
          schema.qualify(table.slice(0, table.indexOf('.')), cmd.name as string),
          'ShareUpdateExclusiveLock',
          'index',
        );
      return cmd.subtype === 'AT_ClusterOn' ? 'CLUSTER ON' : 'SET WITHOUT CLUSTER';
    case 'AT_ChangeOwner':
      b.lock(table, 'AccessExclusiveLock');
      return 'OWNER TO';
    case 'AT_SetOptions':
    case 'AT_ResetOptions':
      // A column's n_distinct / n_distinct_inherited (the only attribute options): planner statistics.
      b.lock(table, 'ShareUpdateExclusiveLock');
      return `ALTER COLUMN … ${cmd.subtype === 'AT_SetOptions' ? 'SET' : 'RESET'} (attribute options)`;
    case 'AT_SetLogged':
    case 'AT_SetUnLogged':
      // The table is written anew (with or without WAL), and so are its indexes.
      b.rewrites = true;
      b.lockWithIndexes(table, 'AccessExclusiveLock');
      return cmd.subtype === 'AT_SetLogged' ? 'SET LOGGED' : 'SET UNLOGGED';
    case 'AT_SetTableSpace':
      // The files are copied block by block to the new tablespace under the lock.
      b.rewrites = true;
      b.lock(table, 'AccessExclusiveLock');
      return 'SET TABLESPACE';
    case 'AT_SetExpression':
      // A stored generated column is computed again for every row.
      b.rewrites = true;
      b.lockWithIndexes(table, 'AccessExclusiveLock');
      return 'ALTER COLUMN … SET EXPRESSION';
    case 'AT_ReplicaIdentity': {
      b.lock(table, 'AccessExclusiveLock');
      const ri = def?.[1] ?? {};
      if (ri.identity_type === 'i' && ri.name)
        b.lock(schema.qualify(table.slice(0, table.indexOf('.')), ri.name as string), 'ShareLock', 'index');
      return 'REPLICA IDENTITY';
    }
    default:
      b.lock(table, 'AccessExclusiveLock');
      return String(cmd.subtype).replace(/^AT_/, '');
  }
}

/** The tables the foreign keys on `column` of a table reference. */
function referencedThrough(info: RelationInfo | undefined, column: string): string[] {
  return [...(info?.constraints.values() ?? [])]
    .filter((c) => c.kind === 'foreign' && c.columns?.includes(column) && c.references)
    .map((c) => c.references!);
}

/** ALTER TABLE subcommands PostgreSQL applies to every partition too. */
const RECURSING = new Set([
  'AT_AddColumn',
  'AT_DropColumn',
  'AT_AlterColumnType',
  'AT_SetNotNull',
  'AT_DropNotNull',
  'AT_ColumnDefault',
  'AT_AddConstraint',
  'AT_ValidateConstraint',
  'AT_DropConstraint',
  'AT_SetStatistics',
]);

/** The lock facts of one parsed statement against the schema the earlier statements built. */
export function lockFacts(
  ast: PgNode | undefined,
  schema: StaticSchema,
  options: FactOptions,
): StatementFacts {
  const b = new FactBuilder(schema, options.pgMajor);
  const k = nodeKind(ast);
  if (!k) return b.done('unknown');
  const [kind, n] = k;
  switch (kind) {
    case 'IndexStmt': {
      const table = schema.rangeVarName(n.relation as PgNode);
      const concurrent = n.concurrent === true;
      b.lock(table, concurrent ? 'ShareUpdateExclusiveLock' : 'ShareLock');
      // An index on a partitioned table is built on every partition (ONLY builds none of them).
      if ((n.relation as PgNode).inh === true) {
        for (const p of schema.partitionsOf(table ?? ''))
          b.lock(p, concurrent ? 'ShareUpdateExclusiveLock' : 'ShareLock');
      }
      b.scans = true;
      b.transactional = !concurrent;
      return b.done(
        `CREATE ${n.unique ? 'UNIQUE ' : ''}INDEX${concurrent ? ' CONCURRENTLY' : ''}`,
        'sql-createindex.html',
      );
    }
    case 'DropStmt': {
      const concurrent = n.concurrent === true;
      const objects = ((n.objects as unknown[] | undefined) ?? []).map((o) => nodeKind(o)?.[1]?.items ?? []);
      switch (n.removeType) {
        case 'OBJECT_INDEX': {
          const mode: LockMode = concurrent ? 'ShareUpdateExclusiveLock' : 'AccessExclusiveLock';
          for (const items of objects) {
            const index = schema.listName(items);
            b.lock(schema.indexes.get(index ?? ''), mode, 'table');
            b.lock(index, mode, 'index');
          }
          b.transactional = !concurrent;
          return b.done(`DROP INDEX${concurrent ? ' CONCURRENTLY' : ''}`, 'sql-dropindex.html');
        }
        case 'OBJECT_TABLE':
        case 'OBJECT_VIEW':
        case 'OBJECT_MATVIEW': {
          for (const items of objects) {
            const name = schema.listName(items);
            b.lockWithIndexes(name, 'AccessExclusiveLock');
            // Dropping a partition changes its parent's partition set, and the default partition's
            // implicit bound with it (observed: both ACCESS EXCLUSIVE).
            const parent = n.removeType === 'OBJECT_TABLE' ? schema.parentOf(name ?? '') : undefined;
            if (parent) {
              b.lock(parent.name, 'AccessExclusiveLock');
              if (parent.defaultPartition !== name) b.lock(parent.defaultPartition, 'AccessExclusiveLock');
            }
            for (const c of schema.relations.get(name ?? '')?.constraints.values() ?? []) {
              if (c.kind === 'foreign') b.lock(c.references, 'AccessExclusiveLock');
            }
            // CASCADE drops the foreign keys that reference it, on their own tables.
            if (n.behavior === 'DROP_CASCADE')
              for (const { table } of schema.referencingKeys(name ?? ''))
                b.lock(table, 'AccessExclusiveLock');
          }
          const what =
            n.removeType === 'OBJECT_TABLE'
              ? 'TABLE'
              : n.removeType === 'OBJECT_VIEW'
                ? 'VIEW'
                : 'MATERIALIZED VIEW';
          return b.done(`DROP ${what}`, `sql-drop${what.replace(/ /g, '').toLowerCase()}.html`);
        }
        case 'OBJECT_POLICY':
        case 'OBJECT_RULE':
        case 'OBJECT_TRIGGER': {
          for (const items of objects) {
            const parts = stringList(items);
            b.lock(
              schema.listName(parts.slice(0, -1).map((s) => ({ String: { sval: s } }))),
              'AccessExclusiveLock',
            );
          }
          const what = String(n.removeType).replace(/^OBJECT_/, '');
          return b.done(`DROP ${what}`, `sql-drop${what.toLowerCase()}.html`);
        }
        default:
          return b.done(`DROP ${String(n.removeType).replace(/^OBJECT_/, '')}`);
      }
    }
    case 'ReindexStmt': {
      const concurrent = defElemTrue(n.params, 'concurrently');
      b.transactional = !concurrent;
      b.rewrites = false;
      b.scans = true;
      if (n.kind === 'REINDEX_OBJECT_INDEX') {
        const index = schema.rangeVarName(n.relation as PgNode);
        b.lock(
          schema.indexes.get(index ?? ''),
          concurrent ? 'ShareUpdateExclusiveLock' : 'ShareLock',
          'table',
        );
        b.lock(index, concurrent ? 'ShareUpdateExclusiveLock' : 'AccessExclusiveLock', 'index');
      } else if (n.kind === 'REINDEX_OBJECT_TABLE') {
        const table = schema.rangeVarName(n.relation as PgNode);
        b.lockWithIndexes(
          table,
          concurrent ? 'ShareUpdateExclusiveLock' : 'ShareLock',
          concurrent ? 'ShareUpdateExclusiveLock' : 'AccessExclusiveLock',
        );
      } else b.transactional = false; // REINDEX SCHEMA/DATABASE/SYSTEM
      // A partitioned table's or index's REINDEX runs one transaction per partition (25001 in a block).
      const target = schema.rangeVarName(n.relation as PgNode);
      if (schema.isPartitioned(schema.indexes.get(target ?? '') ?? target ?? '')) b.transactional = false;
      return b.done(`REINDEX${concurrent ? ' CONCURRENTLY' : ''}`, 'sql-reindex.html');
    }
    case 'AlterTableStmt': {
      const relation = schema.rangeVarName(n.relation as PgNode);
      if (n.objtype === 'OBJECT_INDEX') {
        const cmd = nodeKind(((n.cmds as unknown[] | undefined) ?? [])[0])?.[1] ?? {};
        if (cmd.subtype === 'AT_SetRelOptions' || cmd.subtype === 'AT_ResetRelOptions') {
          const items = (nodeKind(cmd.def)?.[1]?.items as unknown[] | undefined) ?? [];
          const light = items.every((d) => LIGHT_RELOPTIONS.test(String(nodeKind(d)?.[1]?.defname ?? '')));
          b.lock(relation, light ? 'ShareUpdateExclusiveLock' : 'AccessExclusiveLock', 'index');
        } else if (cmd.subtype === 'AT_AttachPartition') {
          // The partitioned index and the partition's own index it takes in.
          const child = schema.rangeVarName(nodeKind(cmd.def)?.[1]?.name as PgNode);
          b.lock(relation, 'ShareUpdateExclusiveLock', 'index');
          b.lock(child, 'AccessExclusiveLock', 'index');
          // Both tables are only read (their definitions compared).
          b.lock(schema.indexes.get(relation ?? ''), 'AccessShareLock', 'table');
          b.lock(schema.indexes.get(child ?? ''), 'AccessShareLock', 'table');
        } else b.lock(relation, 'AccessExclusiveLock', 'index');
        return b.done('ALTER INDEX', 'sql-alterindex.html');
      }
      const cmds = ((n.cmds as unknown[] | undefined) ?? []).map((c) => nodeKind(c)?.[1] ?? {});
      const parts = cmds.map((cmd) => alterTableCmd(b, schema, relation ?? '', cmd, options));
      // Most subcommands recurse to every partition (unless ONLY), in the same mode.
      if ((n.relation as PgNode).inh === true && cmds.every((c) => RECURSING.has(c.subtype as string))) {
        const mode = b.locks.get(relation ?? '')?.mode;
        // Partitions and inheritance children alike; a rewrite rewrites each of them with its indexes.
        if (mode)
          for (const p of schema.descendantsOf(relation ?? ''))
            if (b.rewrites) b.lockWithIndexes(p, mode);
            else b.lock(p, mode);
      }
      return b.done(`ALTER TABLE … ${parts.join(', ')}`, 'sql-altertable.html');
    }
    case 'RenameStmt': {
      const relation = schema.rangeVarName(n.relation as PgNode);
      switch (n.renameType) {
        case 'OBJECT_INDEX':
          b.lock(
            relation,
            options.pgMajor >= 12 ? 'ShareUpdateExclusiveLock' : 'AccessExclusiveLock',
            'index',
          );
          return b.done('ALTER INDEX … RENAME', 'sql-alterindex.html');
        case 'OBJECT_COLUMN':
          b.lock(relation, 'AccessExclusiveLock');
          return b.done('ALTER TABLE … RENAME COLUMN', 'sql-altertable.html');
        case 'OBJECT_TABCONSTRAINT':
          b.lock(relation, 'AccessExclusiveLock');
          return b.done('ALTER TABLE … RENAME CONSTRAINT', 'sql-altertable.html');
        case 'OBJECT_TRIGGER':
          b.lock(relation, 'AccessExclusiveLock');
          return b.done('ALTER TRIGGER … RENAME', 'sql-altertrigger.html');
        default:
          b.lock(relation, 'AccessExclusiveLock');
          return b.done('ALTER TABLE … RENAME TO', 'sql-altertable.html');
      }
    }
    case 'CreatePolicyStmt':
    case 'AlterPolicyStmt':
      // Row-level security policies change how every query on the table is planned.
      b.lock(schema.rangeVarName(n.table as PgNode), 'AccessExclusiveLock');
      return b.done(
        kind === 'CreatePolicyStmt' ? 'CREATE POLICY' : 'ALTER POLICY',
        `sql-${kind === 'CreatePolicyStmt' ? 'create' : 'alter'}policy.html`,
      );
    case 'RuleStmt':
      b.lock(schema.rangeVarName(n.relation as PgNode), 'AccessExclusiveLock');
      return b.done('CREATE RULE', 'sql-createrule.html');
    case 'AlterObjectSchemaStmt':
      if (
        n.objectType === 'OBJECT_TABLE' ||
        n.objectType === 'OBJECT_VIEW' ||
        n.objectType === 'OBJECT_MATVIEW'
      )
        b.lock(schema.rangeVarName(n.relation as PgNode), 'AccessExclusiveLock');
      return b.done('SET SCHEMA', 'sql-altertable.html');
    case 'AlterSeqStmt':
      // Every nextval() (an INSERT filling a serial or identity column) waits for it (observed).
      b.lock(schema.rangeVarName(n.sequence as PgNode), 'ShareRowExclusiveLock', 'sequence');
      return b.done('ALTER SEQUENCE', 'sql-altersequence.html');
    case 'CreateStatsStmt':
      for (const rel of (n.relations as unknown[] | undefined) ?? [])
        b.lock(schema.rangeVarName(nodeKind(rel)?.[1]), 'ShareUpdateExclusiveLock');
      return b.done('CREATE STATISTICS', 'sql-createstatistics.html');
    case 'CreatedbStmt':
    case 'DropdbStmt':
    case 'CreateTableSpaceStmt':
    case 'DropTableSpaceStmt':
    case 'AlterSystemStmt':
      // PostgreSQL refuses these inside a transaction block (25001).
      b.transactional = false;
      return b.done(kind.replace(/Stmt$/, ''));
    case 'CreateTrigStmt': {
      const table = schema.rangeVarName(n.relation as PgNode);
      b.lock(table, 'ShareRowExclusiveLock');
      // A row trigger on a partitioned table is created on every partition too.
      if (n.row === true)
        for (const p of schema.partitionsOf(table ?? '')) b.lock(p, 'ShareRowExclusiveLock');
      return b.done('CREATE TRIGGER', 'sql-createtrigger.html');
    }
    case 'CreateStmt': {
      const self = schema.rangeVarName(n.relation as PgNode);
      // CREATE TABLE … PARTITION OF takes ACCESS EXCLUSIVE on the parent (observed on PostgreSQL 18).
      if (n.partbound) {
        for (const parent of (n.inhRelations as unknown[] | undefined) ?? []) {
          const name = schema.rangeVarName(nodeKind(parent)?.[1]);
          b.lock(name, 'AccessExclusiveLock');
          // A new bound is checked against the default partition's rows: a scan under ACCESS EXCLUSIVE.
          const fallback = schema.relations.get(name ?? '')?.defaultPartition;
          if (fallback && (n.partbound as PgNode).is_default !== true) {
            b.lock(fallback, 'AccessExclusiveLock');
            b.scans = true;
          }
        }
      }
      for (const elt of (n.tableElts as unknown[] | undefined) ?? []) {
        const e = nodeKind(elt);
        const constraints =
          e?.[0] === 'ColumnDef'
            ? ((e[1].constraints as unknown[] | undefined) ?? [])
            : e?.[0] === 'Constraint'
              ? [elt]
              : [];
        for (const c of constraints) {
          const con = nodeKind(c)?.[1];
          const ref =
            con?.contype === 'CONSTR_FOREIGN' ? schema.rangeVarName(con.pktable as PgNode) : undefined;
          if (ref && ref !== self) b.lock(ref, 'ShareRowExclusiveLock');
        }
      }
      return b.done('CREATE TABLE', 'sql-createtable.html');
    }
    case 'TruncateStmt': {
      for (const rel of (n.relations as unknown[] | undefined) ?? []) {
        const rv = nodeKind(rel)?.[1];
        const table = schema.rangeVarName(rv);
        b.lockWithIndexes(table, 'AccessExclusiveLock');
        // A partitioned or inherited table is truncated with every partition and child (unless ONLY).
        if (rv?.inh === true)
          for (const p of schema.descendantsOf(table ?? '')) b.lockWithIndexes(p, 'AccessExclusiveLock');
      }
      b.rewrites = false;
      return b.done('TRUNCATE', 'sql-truncate.html');
    }
    case 'VacuumStmt': {
      const full = defElemTrue(n.options, 'full');
      const isVacuum = n.is_vacuumcmd === true;
      for (const rel of (n.rels as unknown[] | undefined) ?? []) {
        const table = schema.rangeVarName(nodeKind(rel)?.[1]?.relation as PgNode);
        b.lock(table, full ? 'AccessExclusiveLock' : 'ShareUpdateExclusiveLock');
      }
      b.transactional = !isVacuum;
      b.rewrites = full;
      b.scans = true;
      return b.done(
        isVacuum ? (full ? 'VACUUM FULL' : 'VACUUM') : 'ANALYZE',
        isVacuum ? 'sql-vacuum.html' : 'sql-analyze.html',
      );
    }
    case 'ClusterStmt': {
      const table = schema.rangeVarName(n.relation as PgNode);
      // CLUSTER of every clustered table, or of a partitioned one, refuses a transaction block.
      if (!table || schema.isPartitioned(table)) b.transactional = false;
      b.lockWithIndexes(table, 'AccessExclusiveLock');
      b.rewrites = true;
      return b.done('CLUSTER', 'sql-cluster.html');
    }
    case 'RefreshMatViewStmt': {
      const concurrent = n.concurrent === true;
      const view = schema.rangeVarName(n.relation as PgNode);
      // The plain form swaps in new storage for the view and its indexes; both forms read the query's tables.
      if (concurrent) b.lock(view, 'ExclusiveLock', 'matview');
      else b.lockWithIndexes(view, 'AccessExclusiveLock');
      for (const read of schema.relations.get(view ?? '')?.reads ?? []) b.lock(read, 'AccessShareLock');
      // CONCURRENTLY applies a diff to the existing storage; the plain form writes new storage.
      b.rewrites = !concurrent;
      b.scans = true;
      return b.done(
        `REFRESH MATERIALIZED VIEW${concurrent ? ' CONCURRENTLY' : ''}`,
        'sql-refreshmaterializedview.html',
      );
    }
    case 'AlterEnumStmt':
      b.transactional = options.pgMajor >= 12;
      return b.done('ALTER TYPE … ADD VALUE', 'sql-altertype.html');
    case 'ViewStmt': {
      const view = schema.rangeVarName(n.view as PgNode);
      if (n.replace === true && view && schema.relations.has(view))
        b.lock(view, 'AccessExclusiveLock', 'view');
      for (const rv of rangeVars(n.query)) b.lock(schema.rangeVarName(rv), 'AccessShareLock');
      return b.done(n.replace ? 'CREATE OR REPLACE VIEW' : 'CREATE VIEW', 'sql-createview.html');
    }
    case 'CommentStmt': {
      const list = nodeKind(n.object)?.[1]?.items;
      if (n.objtype === 'OBJECT_TABLE' || n.objtype === 'OBJECT_INDEX' || n.objtype === 'OBJECT_VIEW') {
        b.lock(schema.listName(list), 'ShareUpdateExclusiveLock');
      } else if (n.objtype === 'OBJECT_COLUMN') {
        const parts = stringList(list);
        b.lock(
          schema.listName(parts.slice(0, -1).map((s) => ({ String: { sval: s } }))),
          'ShareUpdateExclusiveLock',
        );
      }
      return b.done('COMMENT ON', 'sql-comment.html');
    }
    case 'GrantStmt':
      // Observed: GRANT/REVOKE on a table takes ACCESS SHARE on it (blocks only ACCESS EXCLUSIVE) from
      // PostgreSQL 18; 14 to 17 take no lock on the table at all (checked on each).
      if (n.targtype === 'ACL_TARGET_OBJECT' && n.objtype === 'OBJECT_TABLE' && options.pgMajor >= 18) {
        for (const rel of (n.objects as unknown[] | undefined) ?? [])
          b.lock(schema.rangeVarName(nodeKind(rel)?.[1]), 'AccessShareLock');
      }
      return b.done(n.is_grant ? 'GRANT' : 'REVOKE', 'sql-grant.html');
    case 'LockStmt': {
      const mode = lockModeFromNumber((n.mode as number | undefined) ?? 8);
      for (const rel of (n.relations as unknown[] | undefined) ?? [])
        b.lock(schema.rangeVarName(nodeKind(rel)?.[1]), mode);
      return b.done('LOCK TABLE', 'sql-lock.html');
    }
    case 'InsertStmt':
    case 'UpdateStmt':
    case 'DeleteStmt': {
      const target = schema.rangeVarName(n.relation as PgNode);
      for (const rv of rangeVars(n))
        if (schema.rangeVarName(rv) !== target) b.lock(schema.rangeVarName(rv), 'AccessShareLock');
      // UPDATE opens the table's indexes for writing; INSERT … VALUES and DELETE do not lock them (observed).
      if (kind === 'UpdateStmt') b.lockWithIndexes(target, 'RowExclusiveLock');
      else b.lock(target, 'RowExclusiveLock');
      return b.done(
        kind.replace('Stmt', '').toUpperCase(),
        `sql-${kind.replace('Stmt', '').toLowerCase()}.html`,
      );
    }
    case 'SelectStmt':
      for (const rv of rangeVars(n)) b.lock(schema.rangeVarName(rv), 'AccessShareLock');
      return b.done('SELECT', 'sql-select.html');
    case 'AlterDomainStmt': {
      // Adding a checked constraint, SET NOT NULL and VALIDATE CONSTRAINT check the stored values of
      // every column of the domain, under SHARE on each table (observed; a table's VALIDATE takes
      // only SHARE UPDATE EXCLUSIVE, a domain's does not). Columns are matched by the type's last
      // name; arrays over the domain are not followed.
      const con = nodeKind(n.def)?.[1] ?? {};
      const checks =
        (n.subtype === 'C' && con.contype !== undefined && con.skip_validation !== true) ||
        n.subtype === 'O' ||
        n.subtype === 'V';
      if (checks) {
        const names = ((n.typeName as unknown[] | undefined) ?? []).map((x) =>
          String((nodeKind(x)?.[1] ?? {}).sval ?? ''),
        );
        const domain = names.at(-1);
        for (const rel of schema.relations.values()) {
          if (rel.kind !== 'table') continue;
          if ([...rel.columns.values()].some((t) => t.name === domain && !t.array)) {
            b.lock(rel.name, 'ShareLock');
            b.scans = true;
          }
        }
      }
      return b.done('ALTER DOMAIN', 'sql-alterdomain.html');
    }
    case 'TransactionStmt':
      return b.done(String(n.kind).replace(/^TRANS_STMT_/, ''), 'sql-begin.html');
    case 'VariableSetStmt':
      return b.done('SET', 'sql-set.html');
    default:
      return b.done(kind.replace(/Stmt$/, ''));
  }
}
