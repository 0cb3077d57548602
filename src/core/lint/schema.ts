// The schema the earlier migrations of a source build, read statically from their parse trees: which
// tables exist, their columns' types, their indexes and constraints. Lock facts that depend on
// objects (which table an index belongs to, whether a column change rewrites) come from here.
import { nodeKind, stringList, type PgNode } from './parser';
import { chooseCheckName, chooseName, indexColumnNames, nameAddition } from './pgNames';

export interface ColumnType {
  /** Last part of the type name as the parser normalises it: "int4", "varchar", "text", "numeric". */
  name: string;
  /** Type modifiers (varchar(20) → [20]; numeric(10,2) → [10, 2]). */
  mods: number[];
  array: boolean;
}

export interface ConstraintInfo {
  kind: 'check' | 'foreign' | 'unique' | 'primary' | 'exclusion' | 'other';
  /** Qualified referenced table, for foreign keys. */
  references?: string;
  /** A key's own columns; for a foreign key also the referenced ones (empty: the referenced primary key). */
  columns?: string[];
  referencedColumns?: string[];
  /** For `CHECK (col IS NOT NULL)`: the column (SET NOT NULL skips its scan when the check is valid, PostgreSQL 12+). */
  notNullColumn?: string;
  /** Validated: added without NOT VALID, or VALIDATE CONSTRAINT ran since. */
  valid?: boolean;
}

export interface RelationInfo {
  /** Schema-qualified. */
  name: string;
  kind: 'table' | 'view' | 'matview';
  columns: Map<string, ColumnType>;
  /** Qualified index names. */
  indexes: Set<string>;
  constraints: Map<string, ConstraintInfo>;
  /** Created by the migration being linted (so nobody else can be using it yet). */
  createdHere: boolean;
  /** For views and materialized views: the relations their query reads. */
  reads: string[];
  /** Qualified names of its partitions (CREATE TABLE … PARTITION OF, ATTACH PARTITION). */
  partitions: Set<string>;
  /** Created with PARTITION BY (a partitioned table, with or without partitions yet). */
  partitioned: boolean;
  /** Its DEFAULT partition, if any (what every new bound is checked against). */
  defaultPartition?: string;
  /** Tables that INHERIT from it (not partitions). */
  children: Set<string>;
}

export class StaticSchema {
  readonly relations = new Map<string, RelationInfo>();
  /** Qualified index name → qualified table name. */
  readonly indexes = new Map<string, string>();
  /** Qualified index name → the columns it names (keys, expressions' columns, INCLUDE). */
  readonly indexColumns = new Map<string, string[]>();
  /** Domains (by their last name) with a CHECK or NOT NULL: a new column of one is checked row by row. */
  readonly checkedDomains = new Set<string>();
  /** Functions the migrations create (by their last name), with the volatility they declare. */
  readonly functionVolatility = new Map<string, 'immutable' | 'stable' | 'volatile'>();

  /** The schemas an unqualified name is looked up in (search_path, without "$user" and pg_catalog). */
  private sessionPath: string[];
  /** A SET LOCAL search_path of the migration being applied; it ends with the migration. */
  private localPath: string[] | undefined;

  constructor(readonly defaultSchema = 'public') {
    this.sessionPath = [defaultSchema];
  }

  private get searchPath(): readonly string[] {
    return this.localPath ?? this.sessionPath;
  }

  /**
   * An unqualified name as PostgreSQL resolves it: the first schema of the search_path holding a
   * relation of that name (an existing one), else the first schema (where a new one is created).
   */
  qualify(schema: string | undefined, name: string): string {
    if (schema !== undefined) return `${schema}.${name}`;
    const path = this.searchPath;
    if (path.length > 1)
      for (const s of path) {
        const q = `${s}.${name}`;
        if (this.relations.has(q) || this.indexes.has(q)) return q;
      }
    return `${path[0] ?? this.defaultSchema}.${name}`;
  }

  /** `RangeVar` fields → qualified name. */
  rangeVarName(rv: PgNode | undefined): string | undefined {
    if (!rv || typeof rv.relname !== 'string') return undefined;
    return this.qualify(rv.schemaname as string | undefined, rv.relname);
  }

  /** The qualified name of a relation a statement creates: in the first schema of the search_path. */
  private newRelationName(rv: PgNode | undefined): string | undefined {
    if (!rv || typeof rv.relname !== 'string') return undefined;
    return `${(rv.schemaname as string | undefined) ?? this.searchPath[0] ?? this.defaultSchema}.${rv.relname}`;
  }

  /** `SET [LOCAL] search_path …`, `RESET search_path`: what later unqualified names resolve against. */
  private setSearchPath(n: PgNode): void {
    const path =
      n.kind === 'VAR_SET_VALUE'
        ? ((n.args as unknown[] | undefined) ?? [])
            .map((a) => String((nodeKind(a)?.[1]?.sval as PgNode | undefined)?.sval ?? ''))
            .filter((s) => s !== '' && s !== '$user' && s !== 'pg_catalog')
        : [this.defaultSchema];
    if (n.is_local === true) this.localPath = path;
    else {
      this.sessionPath = path;
      this.localPath = undefined;
    }
  }

  /** A `[schema.]name` list of String nodes → qualified name. */
  listName(list: unknown): string | undefined {
    const parts = stringList(list);
    if (parts.length === 0) return undefined;
    return parts.length >= 2
      ? `${parts[parts.length - 2]}.${parts[parts.length - 1]}`
      : this.qualify(undefined, parts[0]);
  }

  /** Whether a table is partitioned (PARTITION BY), as far as the migrations tell. */
  isPartitioned(table: string): boolean {
    const info = this.relations.get(table);
    return info !== undefined && (info.partitioned || info.partitions.size > 0);
  }

  /** The partitioned table a table is a partition of, if the migrations show one. */
  parentOf(table: string): RelationInfo | undefined {
    for (const r of this.relations.values()) if (r.partitions.has(table)) return r;
    return undefined;
  }

  /** A table's partitions and inheritance children, and theirs: what ALTER TABLE without ONLY reaches. */
  descendantsOf(table: string): string[] {
    const out: string[] = [];
    const visit = (name: string) => {
      const r = this.relations.get(name);
      for (const d of [...(r?.partitions ?? []), ...(r?.children ?? [])]) {
        if (out.includes(d)) continue;
        out.push(d);
        visit(d);
      }
    };
    visit(table);
    return out;
  }

  /** Foreign keys of other tables that reference `table`, with the table they are on. */
  referencingKeys(table: string): { table: string; key: ConstraintInfo }[] {
    const out: { table: string; key: ConstraintInfo }[] = [];
    for (const r of this.relations.values())
      for (const c of r.constraints.values())
        if (c.kind === 'foreign' && c.references === table) out.push({ table: r.name, key: c });
    return out;
  }

  /** A table's partitions, and theirs (not the table itself). */
  partitionsOf(table: string): string[] {
    const out: string[] = [];
    const visit = (name: string) => {
      for (const p of this.relations.get(name)?.partitions ?? []) {
        if (out.includes(p)) continue;
        out.push(p);
        visit(p);
      }
    };
    visit(table);
    return out;
  }

  /** Whether a table, view or index of `schema` has this name (they share one namespace). */
  relationNameTaken(schema: string, name: string): boolean {
    return this.relations.has(`${schema}.${name}`) || this.indexes.has(`${schema}.${name}`);
  }

  /** Tables per qualified constraint name (`schema.name`): a name may repeat on different tables. */
  private readonly constraintNames = new Map<string, number>();

  private countConstraintName(schema: string, name: string, by: 1 | -1): void {
    const key = `${schema}.${name}`;
    const n = (this.constraintNames.get(key) ?? 0) + by;
    if (n > 0) this.constraintNames.set(key, n);
    else this.constraintNames.delete(key);
  }

  /** Whether a constraint of a table of `schema` has this name (PostgreSQL picks names free in the schema). */
  constraintNameTaken(schema: string, name: string): boolean {
    return this.constraintNames.has(`${schema}.${name}`);
  }

  /** Marks everything known so far as existing before the migration being linted. */
  markAllExisting(): void {
    for (const r of this.relations.values()) r.createdHere = false;
    this.localPath = undefined; // a migration's SET LOCAL ended with its transaction
  }

  private addRelation(name: string, kind: RelationInfo['kind'], createdHere: boolean): RelationInfo {
    const info: RelationInfo = {
      name,
      kind,
      columns: new Map(),
      indexes: new Set(),
      constraints: new Map(),
      createdHere,
      reads: [],
      partitions: new Set(),
      partitioned: false,
      children: new Set(),
    };
    this.relations.set(name, info);
    return info;
  }

  private addIndex(table: RelationInfo, indexName: string, columns?: string[]): void {
    table.indexes.add(indexName);
    this.indexes.set(indexName, table.name);
    if (columns) this.indexColumns.set(indexName, columns);
  }

  /** An index under a new qualified name, with the columns it names. */
  private renameIndex(table: RelationInfo, from: string, to: string): void {
    const columns = this.indexColumns.get(from);
    this.indexes.delete(from);
    this.indexColumns.delete(from);
    table.indexes.delete(from);
    this.addIndex(table, to, columns);
  }

  /** The indexes of a table that name a column. */
  indexesOn(table: string, column: string): string[] {
    return [...(this.relations.get(table)?.indexes ?? [])].filter((i) =>
      this.indexColumns.get(i)?.includes(column),
    );
  }

  private addConstraint(table: RelationInfo, c: PgNode, column?: string): void {
    const contype = c.contype as string;
    const schemaOf = table.name.slice(0, table.name.indexOf('.'));
    const keys = stringList(c.keys);
    const cols = keys.length > 0 ? keys : column ? [column] : [];
    const relname = table.name.slice(table.name.indexOf('.') + 1);
    let kind: ConstraintInfo['kind'];
    let name = c.conname as string | undefined;
    let references: string | undefined;
    let foreignColumns: { columns: string[]; referencedColumns: string[] } | undefined;
    let notNullColumn: string | undefined;
    // An unnamed constraint gets the name PostgreSQL gives it (the next free one).
    const constraintTaken = (x: string) => this.constraintNameTaken(schemaOf, x);
    const indexTaken = (x: string) => this.relationNameTaken(schemaOf, x) || constraintTaken(x);
    if (contype === 'CONSTR_CHECK') {
      kind = 'check';
      notNullColumn = isNotNullTest(c.raw_expr);
      name ??= chooseCheckName(relname, c.raw_expr, constraintTaken);
    } else if (contype === 'CONSTR_FOREIGN') {
      kind = 'foreign';
      references = this.rangeVarName(c.pktable as PgNode);
      const fkColumns = stringList(c.fk_attrs);
      foreignColumns = {
        columns: fkColumns.length > 0 ? fkColumns : cols,
        referencedColumns: stringList(c.pk_attrs),
      };
      name ??= chooseName(
        relname,
        nameAddition(fkColumns.length > 0 ? fkColumns : cols),
        'fkey',
        constraintTaken,
      );
    } else if (contype === 'CONSTR_PRIMARY' || contype === 'CONSTR_UNIQUE') {
      kind = contype === 'CONSTR_PRIMARY' ? 'primary' : 'unique';
      name ??=
        kind === 'primary'
          ? chooseName(relname, undefined, 'pkey', indexTaken)
          : chooseName(relname, nameAddition(cols), 'key', indexTaken);
      const indexName = (c.indexname as string | undefined) ?? name;
      // ADD CONSTRAINT … USING INDEX renames the index to the constraint's name.
      if (c.indexname) {
        this.indexes.delete(`${schemaOf}.${indexName}`);
        table.indexes.delete(`${schemaOf}.${indexName}`);
      }
      this.addIndex(table, `${schemaOf}.${name}`, cols);
      foreignColumns = { columns: cols, referencedColumns: [] };
    } else if (contype === 'CONSTR_EXCLUSION') kind = 'exclusion';
    else if (contype === 'CONSTR_NOTNULL' && name && !column) {
      // ALTER TABLE … ADD CONSTRAINT n NOT NULL col (PostgreSQL 18): once valid, SET NOT NULL skips its scan.
      kind = 'other';
      notNullColumn = keys[0];
    } else return; // a column's NOT NULL, DEFAULT, … are column properties, not named constraints we track
    if (name && !table.constraints.has(name)) this.countConstraintName(schemaOf, name, 1);
    if (name)
      table.constraints.set(name, {
        kind,
        references,
        ...(foreignColumns ?? {}),
        ...(notNullColumn ? { notNullColumn } : {}),
        valid: c.skip_validation !== true,
      });
  }

  /** Whether a valid `CHECK (column IS NOT NULL)` of the table proves the column has no NULL. */
  hasValidNotNullCheck(table: string, column: string): boolean {
    for (const c of this.relations.get(table)?.constraints.values() ?? []) {
      if (c.notNullColumn === column && c.valid) return true;
    }
    return false;
  }

  private addColumn(table: RelationInfo, def: PgNode): void {
    const name = def.colname as string;
    table.columns.set(name, columnType(def.typeName as PgNode));
    for (const c of (def.constraints as unknown[] | undefined) ?? []) {
      const k = nodeKind(c);
      if (k && k[0] === 'Constraint') this.addConstraint(table, k[1], name);
    }
  }

  /** A relation under a new qualified name: its indexes, and every key and partition set naming it. */
  private moveRelation(rel: RelationInfo, to: string): void {
    const from = rel.name;
    this.relations.delete(from);
    rel.name = to;
    this.relations.set(to, rel);
    for (const i of rel.indexes) this.indexes.set(i, to);
    for (const other of this.relations.values()) {
      for (const c of other.constraints.values()) if (c.references === from) c.references = to;
      for (const set of [other.partitions, other.children]) if (set.delete(from)) set.add(to);
      if (other.defaultPartition === from) other.defaultPartition = to;
    }
  }

  /** A constraint renamed (and, with `withIndex`, the index a key constraint owns, which follows it). */
  private renameConstraint(table: RelationInfo, from: string, to: string, withIndex: boolean): void {
    const c = table.constraints.get(from);
    if (!c) return;
    table.constraints.delete(from);
    table.constraints.set(to, c);
    const schemaOf = table.name.slice(0, table.name.indexOf('.'));
    this.countConstraintName(schemaOf, from, -1);
    this.countConstraintName(schemaOf, to, 1);
    if (
      withIndex &&
      (c.kind === 'primary' || c.kind === 'unique') &&
      table.indexes.has(`${schemaOf}.${from}`)
    ) {
      this.renameIndex(table, `${schemaOf}.${from}`, `${schemaOf}.${to}`);
    }
  }

  /** Applies one statement of a migration to the schema. `createdHere` marks new relations. */
  apply(ast: PgNode | undefined, createdHere: boolean): void {
    const k = nodeKind(ast);
    if (!k) return;
    const [kind, n] = k;
    switch (kind) {
      case 'VariableSetStmt':
        if (n.name === 'search_path') this.setSearchPath(n);
        return;
      case 'CreateFunctionStmt': {
        const name = stringList(n.funcname).at(-1);
        let volatility: 'immutable' | 'stable' | 'volatile' = 'volatile'; // CREATE FUNCTION's default
        for (const o of (n.options as unknown[] | undefined) ?? []) {
          const d = nodeKind(o)?.[1];
          const v = String(nodeKind(d?.arg)?.[1]?.sval ?? '');
          if (d?.defname === 'volatility' && (v === 'immutable' || v === 'stable')) volatility = v;
        }
        if (name) this.functionVolatility.set(name, volatility);
        return;
      }
      case 'CreateDomainStmt': {
        const name = stringList(n.domainname).at(-1);
        if (name && ((n.constraints as unknown[] | undefined) ?? []).some(isCheckingConstraint))
          this.checkedDomains.add(name);
        return;
      }
      case 'AlterDomainStmt': {
        const name = stringList(n.typeName).at(-1);
        if (name && n.subtype === 'C' && isCheckingConstraint(n.def)) this.checkedDomains.add(name);
        if (name && n.subtype === 'O') this.checkedDomains.add(name); // SET NOT NULL
        return;
      }
      case 'CreateStmt': {
        const name = this.newRelationName(n.relation as PgNode);
        if (!name) return;
        const table = this.addRelation(name, 'table', createdHere);
        table.partitioned = n.partspec !== undefined;
        if (!n.partbound) {
          for (const parent of (n.inhRelations as unknown[] | undefined) ?? [])
            this.relations.get(this.rangeVarName(nodeKind(parent)?.[1]) ?? '')?.children.add(name);
        }
        if (n.partbound) {
          for (const parent of (n.inhRelations as unknown[] | undefined) ?? []) {
            const info = this.relations.get(this.rangeVarName(nodeKind(parent)?.[1]) ?? '');
            info?.partitions.add(name);
            if (info && (n.partbound as PgNode).is_default === true) info.defaultPartition = name;
          }
        }
        for (const elt of (n.tableElts as unknown[] | undefined) ?? []) {
          const e = nodeKind(elt);
          // (LIKE other): its columns and their types.
          if (e?.[0] === 'TableLikeClause') {
            const like = this.relations.get(this.rangeVarName(e[1].relation as PgNode) ?? '');
            for (const [col, type] of like?.columns ?? []) table.columns.set(col, type);
          }
          if (e?.[0] === 'ColumnDef') this.addColumn(table, e[1]);
          else if (e?.[0] === 'Constraint') this.addConstraint(table, e[1]);
        }
        return;
      }
      case 'ViewStmt': {
        const name = this.newRelationName(n.view as PgNode);
        if (name && !this.relations.has(name))
          this.addRelation(name, 'view', createdHere).reads = queryRelations(this, n.query);
        return;
      }
      case 'CreateTableAsStmt': {
        const into = (n.into as PgNode | undefined)?.rel as PgNode | undefined;
        const name = this.newRelationName(into);
        if (!name) return;
        const rel = this.addRelation(name, n.objtype === 'OBJECT_MATVIEW' ? 'matview' : 'table', createdHere);
        rel.reads = queryRelations(this, n.query);
        return;
      }
      case 'IndexStmt': {
        const table = this.relations.get(this.rangeVarName(n.relation as PgNode) ?? '');
        if (!table) return;
        const schema = table.name.slice(0, table.name.indexOf('.'));
        const idx =
          (n.idxname as string | undefined) ??
          chooseName(
            table.name.slice(schema.length + 1),
            nameAddition(indexColumnNames(n.indexParams)),
            n.primary === true ? 'pkey' : n.isconstraint === true ? 'key' : 'idx',
            (x) =>
              this.relationNameTaken(schema, x) ||
              (n.isconstraint === true && this.constraintNameTaken(schema, x)),
          );
        this.addIndex(table, `${schema}.${idx}`, [
          ...columnRefs(n.indexParams),
          ...columnRefs(n.indexIncludingParams),
          ...columnRefs(n.whereClause),
        ]);
        return;
      }
      case 'AlterTableStmt': {
        const table = this.relations.get(this.rangeVarName(n.relation as PgNode) ?? '');
        if (!table) return;
        for (const cmd of (n.cmds as unknown[] | undefined) ?? []) {
          const c = nodeKind(cmd)?.[1];
          if (!c) continue;
          const def = nodeKind(c.def);
          switch (c.subtype) {
            case 'AT_AddColumn':
              if (def?.[0] === 'ColumnDef') this.addColumn(table, def[1]);
              break;
            case 'AT_DropColumn':
              table.columns.delete(c.name as string);
              break;
            case 'AT_AlterColumnType':
              if (def?.[0] === 'ColumnDef')
                table.columns.set(c.name as string, columnType(def[1].typeName as PgNode));
              break;
            case 'AT_AddConstraint':
              if (def?.[0] === 'Constraint') this.addConstraint(table, def[1]);
              break;
            case 'AT_DropConstraint':
              if (table.constraints.delete(c.name as string))
                this.countConstraintName(table.name.slice(0, table.name.indexOf('.')), c.name as string, -1);
              break;
            case 'AT_ValidateConstraint': {
              const known = table.constraints.get(c.name as string);
              if (known) known.valid = true;
              break;
            }
            case 'AT_AttachPartition':
            case 'AT_DetachPartition': {
              const partition = this.rangeVarName(def?.[1]?.name as PgNode | undefined);
              if (partition && c.subtype === 'AT_AttachPartition') {
                table.partitions.add(partition);
                if ((def?.[1]?.bound as PgNode | undefined)?.is_default === true)
                  table.defaultPartition = partition;
              } else if (partition) {
                table.partitions.delete(partition);
                if (table.defaultPartition === partition) table.defaultPartition = undefined;
              }
              break;
            }
          }
        }
        return;
      }
      case 'RenameStmt': {
        if (n.renameType === 'OBJECT_INDEX') {
          const index = this.rangeVarName(n.relation as PgNode);
          const table = this.relations.get(this.indexes.get(index ?? '') ?? '');
          if (!index || !table) return;
          const renamed = `${index.slice(0, index.indexOf('.'))}.${String(n.newname)}`;
          this.renameIndex(table, index, renamed);
          // The index of a primary key or unique constraint carries the constraint's name.
          this.renameConstraint(table, index.slice(index.indexOf('.') + 1), String(n.newname), false);
          return;
        }
        const rel = this.relations.get(this.rangeVarName(n.relation as PgNode) ?? '');
        if (!rel) return;
        if (n.renameType === 'OBJECT_TABCONSTRAINT') {
          this.renameConstraint(rel, String(n.subname), String(n.newname), true);
          return;
        }
        if (n.renameType === 'OBJECT_COLUMN') {
          const from = n.subname as string;
          const to = n.newname as string;
          const col = rel.columns.get(from);
          if (col) {
            rel.columns.delete(from);
            rel.columns.set(to, col);
          }
          // Keys name their columns: this table's own, and other tables' keys referencing them.
          const renamed = (list: string[] | undefined) => list?.map((c) => (c === from ? to : c));
          for (const i of rel.indexes) {
            const cols = renamed(this.indexColumns.get(i));
            if (cols) this.indexColumns.set(i, cols);
          }
          for (const c of rel.constraints.values()) {
            c.columns = renamed(c.columns);
            if (c.notNullColumn === from) c.notNullColumn = to;
          }
          for (const { key } of this.referencingKeys(rel.name))
            key.referencedColumns = renamed(key.referencedColumns);
        } else if (n.renameType === 'OBJECT_TABLE') {
          this.moveRelation(rel, this.qualify(rel.name.slice(0, rel.name.indexOf('.')), n.newname as string));
        }
        return;
      }
      case 'AlterObjectSchemaStmt': {
        // SET SCHEMA moves the table with its indexes.
        const rel = this.relations.get(this.rangeVarName(n.relation as PgNode) ?? '');
        if (!rel || typeof n.newschema !== 'string') return;
        const schemaName = n.newschema;
        for (const i of [...rel.indexes])
          this.renameIndex(rel, i, `${schemaName}.${i.slice(i.indexOf('.') + 1)}`);
        this.moveRelation(rel, `${schemaName}.${rel.name.slice(rel.name.indexOf('.') + 1)}`);
        return;
      }
      case 'DropStmt': {
        for (const obj of (n.objects as unknown[] | undefined) ?? []) {
          const name = this.listName(nodeKind(obj)?.[1]?.items ?? []);
          if (!name) continue;
          if (n.removeType === 'OBJECT_INDEX') {
            const t = this.indexes.get(name);
            this.indexes.delete(name);
            if (t) this.relations.get(t)?.indexes.delete(name);
          } else if (['OBJECT_TABLE', 'OBJECT_VIEW', 'OBJECT_MATVIEW'].includes(n.removeType as string)) {
            const rel = this.relations.get(name);
            if (rel) for (const i of rel.indexes) this.indexes.delete(i);
            for (const c of rel?.constraints.keys() ?? [])
              this.countConstraintName(name.slice(0, name.indexOf('.')), c, -1);
            this.relations.delete(name);
            for (const other of this.relations.values()) {
              other.partitions.delete(name);
              other.children.delete(name);
              if (other.defaultPartition === name) other.defaultPartition = undefined;
            }
          }
        }
        return;
      }
    }
  }
}

/** The column of a `col IS NOT NULL` expression, or undefined. */
function isNotNullTest(expr: unknown): string | undefined {
  const k = nodeKind(expr);
  if (k?.[0] !== 'NullTest' || k[1].nulltesttype !== 'IS_NOT_NULL') return undefined;
  const ref = nodeKind(k[1].arg);
  if (ref?.[0] !== 'ColumnRef') return undefined;
  const fields = stringList(ref[1].fields);
  return fields.length === 1 ? fields[0] : undefined;
}

/** The strings of a List of String nodes. */
export function columnType(typeName: PgNode | undefined): ColumnType {
  const names = stringList(typeName?.names);
  const mods: number[] = [];
  for (const m of (typeName?.typmods as unknown[] | undefined) ?? []) {
    const c = nodeKind(m);
    const ival = (c?.[1]?.ival as PgNode | undefined)?.ival;
    if (c?.[0] === 'A_Const') mods.push(typeof ival === 'number' ? ival : 0);
  }
  return { name: names[names.length - 1] ?? '', mods, array: Array.isArray(typeName?.arrayBounds) };
}

/** The relations a query names (every RangeVar in it), qualified. */
export function queryRelations(schema: StaticSchema, node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) {
    for (const n of node) queryRelations(schema, n, out);
  } else if (node && typeof node === 'object') {
    for (const key in node) {
      const value = (node as PgNode)[key];
      if (key === 'RangeVar') {
        const name = schema.rangeVarName(value as PgNode);
        if (name && !out.includes(name)) out.push(name);
      } else if (value && typeof value === 'object') queryRelations(schema, value, out);
    }
  }
  return out;
}

/** A domain constraint that values are checked against (CHECK, NOT NULL). */
function isCheckingConstraint(c: unknown): boolean {
  const t = nodeKind(c)?.[1]?.contype;
  return t === 'CONSTR_CHECK' || t === 'CONSTR_NOTNULL';
}

/** Every column an index definition names: an element's column, and the columns its expressions use. */
function columnRefs(node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) for (const n of node) columnRefs(n, out);
  else if (node && typeof node === 'object') {
    for (const [key, value] of Object.entries(node as PgNode)) {
      if (key === 'IndexElem' && typeof (value as PgNode).name === 'string')
        out.push((value as PgNode).name as string);
      if (key === 'ColumnRef') {
        const last = stringList((value as PgNode).fields).at(-1);
        if (last) out.push(last);
      } else if (value && typeof value === 'object') columnRefs(value, out);
    }
  }
  return out;
}
