// Quick fixes for lint findings, written in the source's own tool format (issue 11 §4). A fix is a
// list of neutral edits (replace a range, create a file) that the editor maps to a WorkspaceEdit and
// the CLI names by title. Each fix is a plan of "units" — statements that may run together — and a
// placement that follows the tool's rules: a statement that must run outside a transaction stays in
// place only where the tool already runs it on its own (or gains the tool's marker when it is alone
// in its migration); otherwise it moves into a new migration of the tool's format that sorts right
// after the current one. A later unit that needs its own transaction (VALIDATE after NOT VALID)
// goes into a following migration the same way. Where the tool has no way out (Drizzle Kit,
// node-pg-migrate SQL files) no such fix is offered; Sqitch's moves after its script's own COMMIT.
//
// SQL is built from the parse tree: keywords are inserted at positions PostgreSQL's own scanner
// gives, names come from the tree and are quoted as needed; the user's text is reused only for the
// statement itself (libpg-query 18 ships no deparser).
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import {
  compareVersions,
  type Migration,
  type MigrationSection,
  type MigrationSource,
  type MigrationStatement,
  type ToolId,
} from '../migrations/model';
import { isTransactionControl } from '../migrations/tools/common';
import type { Finding, LintedStatement } from './lint';
import {
  byteToUtf16,
  loadParser,
  nodeKind,
  parseEach,
  type PgNode,
  type PgQueryParser,
  type ScanToken,
  stringList,
} from './parser';
import { chooseCheckName, chooseName, indexColumnNames, nameAddition } from './pgNames';
import { StaticSchema } from './schema';

/** The lock_timeout the "SET lock_timeout" fix writes when no setting overrides it. */
export const DEFAULT_FIX_LOCK_TIMEOUT = '2s';

/** 0-based, UTF-16 characters: what editor ranges (and the diagnostics' ranges, minus one) use. */
export interface FixPosition {
  line: number;
  character: number;
}

export type FixEdit =
  | { kind: 'replace'; file: string; range: { start: FixPosition; end: FixPosition }; text: string }
  | { kind: 'create'; file: string; text: string };

export interface Fix {
  title: string;
  edits: FixEdit[];
  /** The fix the editor marks preferred (at most one per finding). */
  preferred?: boolean;
}

export interface FixOptions {
  pgMajor: number;
  defaultSchema?: string;
  /** Texts that replace files on disk (the editor's unsaved documents). */
  texts?: ReadonlyMap<string, string>;
  /** The value the lock_timeout fix sets (default DEFAULT_FIX_LOCK_TIMEOUT). */
  lockTimeout?: string;
}

/** Statements of a plan that run together, with what undoes them (for tools with downs). */
interface Unit {
  /** Statements that run together, without their `;`. */
  statements: string[];
  /** The statement cannot run inside a transaction block (so it must run alone, outside one). */
  outside: boolean;
  /** Statements undoing the unit, newest first; empty with `downNote` when nothing needs undoing. */
  down: string[];
  downNote?: string;
  /** The new migration's name when this unit moves into one. */
  slug: string;
  /** Takes ACCESS EXCLUSIVE: a new migration holding it sets lock_timeout first. */
  exclusive?: boolean;
}

interface Plan {
  /** What the fix does, before where it goes, e.g. "Build the index CONCURRENTLY". */
  action: string;
  units: Unit[];
  /** Statements of the current migration's down to remove because a moved unit's down now undoes them. */
  downInverse?: (ast: PgNode | undefined) => boolean;
}

interface Place {
  /** Inside an explicit BEGIN … COMMIT of its section. */
  explicitTransaction: boolean;
  source: MigrationSource;
  migration: Migration;
  index: number;
  section: MigrationSection;
  statement: MigrationStatement;
  statementIndex: number;
  /** Subtracted from a node's `location`: the statement was parsed together with its section's others. */
  locationBase: number;
  options: FixOptions;
  parser: PgQueryParser;
}

/**
 * A file's text as the fixes see it: the caller's (unsaved) text, else the file on disk, read once
 * per fixesForFindings call (a CI lint asks for hundreds of fixes in the same few files).
 */
function fileText(file: string, options: FixOptions): string {
  const given = options.texts?.get(file);
  if (given !== undefined) return given;
  const cache = readCache.get(options);
  let text = cache?.get(file);
  if (text === undefined) {
    text = readFileSync(file, 'utf8');
    cache?.set(file, text);
  }
  return text;
}

/** Files read during one fixesForFindings call, keyed by its options object. */
const readCache = new WeakMap<FixOptions, Map<string, string>>();

/** The line starts of the few texts positions were asked in last (fixes come file by file). */
const lineStarts: { text: string; starts: number[] }[] = [];

function startsOf(text: string): number[] {
  const known = lineStarts.find((l) => l.text === text);
  if (known) return known.starts;
  const starts = [0];
  for (let k = text.indexOf('\n'); k >= 0; k = text.indexOf('\n', k + 1)) starts.push(k + 1);
  lineStarts.unshift({ text, starts });
  lineStarts.length = Math.min(lineStarts.length, 4);
  return starts;
}

/** 0-based line/character of a UTF-16 offset in `text` (a binary search, not a walk from the top). */
export function positionAt(text: string, offset: number): FixPosition {
  const starts = startsOf(text);
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid] <= offset) lo = mid;
    else hi = mid - 1;
  }
  return { line: lo, character: offset - starts[lo] };
}

function replaceEdit(file: string, text: string, from: number, to: number, newText: string): FixEdit {
  return {
    kind: 'replace',
    file,
    range: { start: positionAt(text, from), end: positionAt(text, to) },
    text: newText,
  };
}

const SIMPLE_IDENT = /^[a-z_][a-z0-9_$]*$/;

/** Names already asked of the scanner (the same tables come back in fix after fix). */
const bareNames = new Map<string, boolean>();

/** An identifier as SQL text: bare when PostgreSQL would read it back unchanged, else quoted. */
function ident(parser: PgQueryParser, name: string): string {
  if (SIMPLE_IDENT.test(name)) {
    let bare = bareNames.get(name);
    if (bare === undefined) {
      const tokens = parser.scanSync(name).tokens;
      // 0 = not a keyword, 1 = unreserved keyword: both usable as a bare name.
      bare = tokens.length === 1 && tokens[0].keywordKind <= 1;
      if (bareNames.size < 10_000) bareNames.set(name, bare);
    }
    if (bare) return name;
  }
  return `"${name.replace(/"/g, '""')}"`;
}

function rangeVarSql(parser: PgQueryParser, rv: PgNode): string {
  const rel = ident(parser, String(rv.relname));
  return typeof rv.schemaname === 'string' ? `${ident(parser, rv.schemaname)}.${rel}` : rel;
}

/** An index name in the table's schema, as SQL (the index lives where its table lives). */
function indexSql(parser: PgQueryParser, rv: PgNode, name: string): string {
  const idx = ident(parser, name);
  return typeof rv.schemaname === 'string' ? `${ident(parser, rv.schemaname)}.${idx}` : idx;
}

/** The schema a table (as a RangeVar) lives in, as the static schema qualifies it. */
function schemaOfTable(schema: StaticSchema, rv: PgNode): string {
  const qualified = schema.rangeVarName(rv) ?? schema.qualify(undefined, String(rv.relname));
  return qualified.slice(0, qualified.indexOf('.'));
}

/** The statement text with `insertions` (UTF-16 offsets into it) applied. */
function insertAt(text: string, insertions: { at: number; text: string }[]): string {
  // Insertions at one offset keep their order (CONCURRENTLY before IF NOT EXISTS).
  const merged = new Map<number, string>();
  for (const i of insertions) merged.set(i.at, (merged.get(i.at) ?? '') + i.text);
  let out = text;
  for (const [at, t] of [...merged].sort((a, b) => b[0] - a[0])) out = out.slice(0, at) + t + out.slice(at);
  return out;
}

/**
 * The scanner's tokens of `text`, or only of its start before `untilByte` (a node's location in the
 * statement: the scanner's cost grows with every token, and the keywords a fix looks for come first).
 */
function scanTokens(parser: PgQueryParser, text: string, untilByte?: number): ScanToken[] {
  return parser.scanSync(untilByte === undefined ? text : text.slice(0, byteToUtf16(text, untilByte))).tokens;
}

/** The UTF-16 end in `text` of the first of its `tokens` that is `word` (upper-cased). */
function tokenEnd(text: string, tokens: readonly ScanToken[], word: string): number | undefined {
  const t = tokens.find((k) => k.text.toUpperCase() === word);
  return t ? byteToUtf16(text, t.end) : undefined;
}

// ---------------------------------------------------------------------------------------------
// Plans: what SQL replaces the finding's statement.

function concurrentlyPlan(p: Place, ast: PgNode, schema: StaticSchema): Plan | undefined {
  const [kind, n] = nodeKind(ast) ?? ['', {}];
  const text = p.statement.text;
  if (kind === 'IndexStmt') {
    const rv = n.relation as PgNode;
    const table = schema.rangeVarName(rv);
    // CREATE INDEX CONCURRENTLY is refused on a partitioned table.
    if (table && schema.isPartitioned(table)) return undefined;
    let name = n.idxname as string | undefined;
    const inserts: { at: number; text: string }[] = [];
    // INDEX, CONCURRENTLY and IF NOT EXISTS all come before the table's name.
    const tokens = scanTokens(p.parser, text, (rv.location as number) - p.locationBase);
    const afterIndex = tokenEnd(text, tokens, 'INDEX');
    if (afterIndex === undefined) return undefined;
    let at = afterIndex;
    if (!n.concurrent) inserts.push({ at, text: ' CONCURRENTLY' });
    else at = tokenEnd(text, tokens, 'CONCURRENTLY') ?? at;
    if (!n.if_not_exists) {
      if (name) inserts.push({ at, text: ' IF NOT EXISTS' });
      else {
        // The name PostgreSQL would choose, past the ones taken: IF NOT EXISTS on a taken name would
        // build nothing, and the down's DROP would remove the other index.
        const inSchema = schemaOfTable(schema, rv);
        name = chooseName(String(rv.relname), nameAddition(indexColumnNames(n.indexParams)), 'idx', (x) =>
          schema.relationNameTaken(inSchema, x),
        );
        inserts.push({ at, text: ` IF NOT EXISTS ${ident(p.parser, name)}` });
      }
    }
    return {
      action: n.concurrent
        ? 'Run CREATE INDEX CONCURRENTLY outside a transaction'
        : 'Build the index CONCURRENTLY',
      units: [
        {
          statements: [insertAt(text, inserts)],
          outside: true,
          down: name ? [`DROP INDEX CONCURRENTLY IF EXISTS ${indexSql(p.parser, rv, name)}`] : [],
          downNote: name ? undefined : 'drop the index built above (its name is chosen by PostgreSQL)',
          slug: `${name ?? String(rv.relname)}_concurrently`,
        },
      ],
      downInverse: (down) => {
        const d = nodeKind(down);
        if (d?.[0] !== 'DropStmt' || d[1].removeType !== 'OBJECT_INDEX' || !name) return false;
        const objects = (d[1].objects as unknown[] | undefined) ?? [];
        return objects.length === 1 && stringList(nodeKind(objects[0])?.[1]?.items).pop() === name;
      },
    };
  }
  if (kind === 'DropStmt' && n.removeType === 'OBJECT_INDEX') {
    const objects = (n.objects as unknown[] | undefined) ?? [];
    // DROP INDEX CONCURRENTLY drops one index and refuses CASCADE.
    if (objects.length !== 1 || n.behavior === 'DROP_CASCADE') return undefined;
    const parts = stringList(nodeKind(objects[0])?.[1]?.items);
    const name = parts[parts.length - 1];
    const tokens = scanTokens(p.parser, text);
    const afterIndex = tokenEnd(text, tokens, 'INDEX');
    if (afterIndex === undefined || !name) return undefined;
    const inserts: { at: number; text: string }[] = [];
    let at = afterIndex;
    if (!n.concurrent) inserts.push({ at, text: ' CONCURRENTLY' });
    else at = tokenEnd(text, tokens, 'CONCURRENTLY') ?? at;
    if (!n.missing_ok) inserts.push({ at, text: ' IF EXISTS' });
    const recreate = inverseCreateIndex(p, name);
    return {
      action: n.concurrent
        ? 'Run DROP INDEX CONCURRENTLY outside a transaction'
        : 'Drop the index CONCURRENTLY',
      units: [
        {
          statements: [insertAt(text, inserts)],
          outside: true,
          down: recreate ? [recreate.sql] : [],
          downNote: recreate
            ? undefined
            : `recreate ${name} here (CREATE INDEX CONCURRENTLY …) to make this reversible`,
          slug: `drop_${name}_concurrently`,
        },
      ],
      downInverse: recreate
        ? (down) => nodeKind(down)?.[0] === 'IndexStmt' && nodeKind(down)?.[1].idxname === name
        : undefined,
    };
  }
  if (kind === 'ReindexStmt') {
    if (p.options.pgMajor < 12) return undefined; // REINDEX CONCURRENTLY arrived in 12
    if (n.kind !== 'REINDEX_OBJECT_INDEX' && n.kind !== 'REINDEX_OBJECT_TABLE') return undefined;
    const word = n.kind === 'REINDEX_OBJECT_INDEX' ? 'INDEX' : 'TABLE';
    const concurrent = ((n.params as unknown[] | undefined) ?? []).some(
      (d) => nodeKind(d)?.[1]?.defname === 'concurrently',
    );
    const rv = n.relation as PgNode;
    const after = tokenEnd(text, scanTokens(p.parser, text, (rv.location as number) - p.locationBase), word);
    if (after === undefined) return undefined;
    return {
      action: concurrent ? 'Run REINDEX CONCURRENTLY outside a transaction' : 'Reindex CONCURRENTLY',
      units: [
        {
          statements: [concurrent ? text : insertAt(text, [{ at: after, text: ' CONCURRENTLY' }])],
          outside: true,
          down: [],
          downNote: 'a rebuilt index needs no undo',
          slug: `reindex_${String(rv.relname)}_concurrently`,
        },
      ],
    };
  }
  return undefined;
}

/** The CREATE INDEX of the current migration's down that recreates index `name`, made concurrent. */
function inverseCreateIndex(p: Place, name: string): { sql: string } | undefined {
  for (const s of p.migration.down?.statements ?? []) {
    const ast = p.parser.parseSync(s.text).stmts?.[0]?.stmt;
    const k = nodeKind(ast);
    if (k?.[0] !== 'IndexStmt' || k[1].idxname !== name) continue;
    const at = tokenEnd(s.text, scanTokens(p.parser, s.text), 'INDEX');
    if (at === undefined) return undefined;
    const inserts = [];
    if (!k[1].concurrent) inserts.push({ at, text: ' CONCURRENTLY' });
    if (!k[1].if_not_exists) inserts.push({ at, text: ' IF NOT EXISTS' });
    return { sql: insertAt(s.text, inserts) };
  }
  return undefined;
}

/** Any other statement that refuses a transaction block (VACUUM, DETACH … CONCURRENTLY): moved as is. */
function moveAsIsPlan(p: Place): Plan {
  return {
    action: 'Run the statement outside a transaction',
    units: [
      {
        statements: [p.statement.text],
        outside: true,
        down: [],
        downNote: 'undo the statement above here if this migration must be reversible',
        slug: `${p.migration.name || 'statement'}_outside_transaction`.replace(/[^\w-]+/g, '_'),
      },
    ],
  };
}

/** The one command of an `ALTER TABLE <table>` (as the fix spells the table), when it has only one. */
function onlyAlterTableCmd(
  parser: PgQueryParser,
  ast: PgNode | undefined,
  table: string,
): PgNode | undefined {
  const d = nodeKind(ast);
  if (d?.[0] !== 'AlterTableStmt' || rangeVarSql(parser, d[1].relation as PgNode) !== table) return undefined;
  const cmds = (d[1].cmds as unknown[] | undefined) ?? [];
  return cmds.length === 1 ? nodeKind(cmds[0])?.[1] : undefined;
}

/** The single ADD CONSTRAINT command of an ALTER TABLE, when that is all the statement does. */
function singleAddConstraint(n: PgNode): PgNode | undefined {
  const cmds = (n.cmds as unknown[] | undefined) ?? [];
  if (cmds.length !== 1) return undefined;
  const cmd = nodeKind(cmds[0])?.[1];
  if (cmd?.subtype !== 'AT_AddConstraint') return undefined;
  return nodeKind(cmd.def)?.[1];
}

function notValidPlan(p: Place, ast: PgNode, schema: StaticSchema): Plan | undefined {
  const [kind, n] = nodeKind(ast) ?? ['', {}];
  if (kind !== 'AlterTableStmt') return undefined;
  const con = singleAddConstraint(n);
  if (!con || (con.contype !== 'CONSTR_CHECK' && con.contype !== 'CONSTR_FOREIGN')) return undefined;
  const rv = n.relation as PgNode;
  // Before 18, PostgreSQL refuses a NOT VALID foreign key on a partitioned table (42809).
  const partitioned = schema.isPartitioned(schema.rangeVarName(rv) ?? '');
  if (con.contype === 'CONSTR_FOREIGN' && partitioned && p.options.pgMajor < 18) return undefined;
  const text = p.statement.text;
  let name = con.conname as string | undefined;
  const inserts: { at: number; text: string }[] = [{ at: text.length, text: ' NOT VALID' }];
  if (!name) {
    const inSchema = schemaOfTable(schema, rv);
    const taken = (x: string) => schema.constraintNameTaken(inSchema, x);
    name =
      con.contype === 'CONSTR_FOREIGN'
        ? chooseName(String(rv.relname), nameAddition(stringList(con.fk_attrs)), 'fkey', taken)
        : chooseCheckName(String(rv.relname), con.raw_expr, taken);
    // VALIDATE needs the name: give the constraint the one PostgreSQL would have chosen.
    inserts.push({
      at: byteToUtf16(text, (con.location as number) - p.locationBase),
      text: `CONSTRAINT ${ident(p.parser, name)} `,
    });
  }
  const table = rangeVarSql(p.parser, rv);
  return {
    action: 'Add the constraint NOT VALID, then VALIDATE it in its own transaction',
    units: [
      { statements: [insertAt(text, inserts)], outside: false, down: [], slug: '' },
      {
        statements: [`ALTER TABLE ${table} VALIDATE CONSTRAINT ${ident(p.parser, name)}`],
        outside: false,
        down: [],
        downNote: 'validating a constraint changes no data',
        slug: `validate_${name}`,
      },
    ],
  };
}

function setNotNullPlan(p: Place, ast: PgNode, schema: StaticSchema): Plan | undefined {
  if (p.options.pgMajor < 12) return undefined; // SET NOT NULL uses a valid CHECK only from 12
  const [kind, n] = nodeKind(ast) ?? ['', {}];
  if (kind !== 'AlterTableStmt') return undefined;
  const cmds = (n.cmds as unknown[] | undefined) ?? [];
  const cmd = cmds.length === 1 ? nodeKind(cmds[0])?.[1] : undefined;
  if (cmd?.subtype !== 'AT_SetNotNull') return undefined;
  const rv = n.relation as PgNode;
  const column = String(cmd.name);
  // Not PostgreSQL 18's own `<table>_<column>_not_null`: both exist for a moment.
  const inSchema = schemaOfTable(schema, rv);
  const name = chooseName(String(rv.relname), column, 'not_null_check', (x) =>
    schema.constraintNameTaken(inSchema, x),
  );
  const table = rangeVarSql(p.parser, rv);
  const col = ident(p.parser, column);
  const check = ident(p.parser, name);
  return {
    action: 'Use the safe SET NOT NULL sequence (CHECK … NOT VALID, VALIDATE, SET NOT NULL, drop the CHECK)',
    units: [
      {
        statements: [`ALTER TABLE ${table} ADD CONSTRAINT ${check} CHECK (${col} IS NOT NULL) NOT VALID`],
        outside: false,
        down: [`ALTER TABLE ${table} DROP CONSTRAINT IF EXISTS ${check}`],
        slug: '',
      },
      {
        statements: [
          `ALTER TABLE ${table} VALIDATE CONSTRAINT ${check}`,
          `ALTER TABLE ${table} ALTER COLUMN ${col} SET NOT NULL`,
          `ALTER TABLE ${table} DROP CONSTRAINT ${check}`,
        ],
        outside: false,
        // Its exact inverse, so that rolling back this migration alone and applying it again works:
        // the check its up dropped comes back for the VALIDATE.
        down: [
          `ALTER TABLE ${table} ALTER COLUMN ${col} DROP NOT NULL`,
          `ALTER TABLE ${table} ADD CONSTRAINT ${check} CHECK (${col} IS NOT NULL) NOT VALID`,
        ],
        slug: `set_${String(rv.relname)}_${column}_not_null`,
        exclusive: true,
      },
    ],
    // The current down's DROP NOT NULL is the new migration's now; in its place the check goes.
    downInverse: (down) => {
      const cmd = onlyAlterTableCmd(p.parser, down, table);
      return cmd?.subtype === 'AT_DropNotNull' && cmd.name === column;
    },
  };
}

function uniquePlan(p: Place, ast: PgNode, schema: StaticSchema): Plan | undefined {
  const [kind, n] = nodeKind(ast) ?? ['', {}];
  if (kind !== 'AlterTableStmt') return undefined;
  const con = singleAddConstraint(n);
  // PRIMARY KEY … USING INDEX also sets NOT NULL (a scan under ACCESS EXCLUSIVE): only UNIQUE here.
  if (!con || con.contype !== 'CONSTR_UNIQUE' || con.indexname) return undefined;
  if (con.including || con.options || con.indexspace || con.nulls_not_distinct) return undefined;
  const keys = stringList(con.keys);
  if (keys.length === 0) return undefined;
  const rv = n.relation as PgNode;
  // Neither CREATE INDEX CONCURRENTLY nor ADD CONSTRAINT … USING INDEX works on a partitioned table.
  if (schema.isPartitioned(schema.rangeVarName(rv) ?? '')) return undefined;
  const inSchema = schemaOfTable(schema, rv);
  const name =
    (con.conname as string | undefined) ??
    chooseName(
      String(rv.relname),
      nameAddition(keys),
      'key',
      (x) => schema.relationNameTaken(inSchema, x) || schema.constraintNameTaken(inSchema, x),
    );
  const table = rangeVarSql(p.parser, rv);
  const idx = ident(p.parser, name);
  const columns = keys.map((k) => ident(p.parser, k)).join(', ');
  const deferrable = con.deferrable
    ? con.initdeferred
      ? ' DEFERRABLE INITIALLY DEFERRED'
      : ' DEFERRABLE'
    : '';
  return {
    action: 'Build a unique index CONCURRENTLY, then ADD CONSTRAINT … UNIQUE USING INDEX',
    units: [
      {
        statements: [`CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS ${idx} ON ${table} (${columns})`],
        outside: true,
        down: [`DROP INDEX CONCURRENTLY IF EXISTS ${indexSql(p.parser, rv, name)}`],
        slug: `${name}_index_concurrently`,
      },
      {
        statements: [`ALTER TABLE ${table} ADD CONSTRAINT ${idx} UNIQUE USING INDEX ${idx}${deferrable}`],
        outside: false,
        // Dropping the constraint drops its index: the down builds it again (inside the down's
        // transaction, so not CONCURRENTLY), so that this migration alone can be rolled back and
        // applied again, and the index migration's down still finds the index.
        down: [
          `ALTER TABLE ${table} DROP CONSTRAINT IF EXISTS ${idx}`,
          `CREATE UNIQUE INDEX IF NOT EXISTS ${idx} ON ${table} (${columns})`,
        ],
        slug: `add_${name}`,
        exclusive: true,
      },
    ],
    // The new migrations' downs drop the constraint; the current down's DROP CONSTRAINT goes.
    downInverse: (down) => {
      const cmd = onlyAlterTableCmd(p.parser, down, table);
      return cmd?.subtype === 'AT_DropConstraint' && cmd.name === name;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Placement: where the units go, in the tool's format.

/** For each statement of a statement-by-statement section: whether an explicit BEGIN is open before it. */
function explicitTransactionsOpen(section: MigrationSection): boolean[] {
  let open = false;
  return section.statements.map((s) => {
    const before = open;
    if (isTransactionControl(s.keywords)) open = s.keywords[0] === 'BEGIN' || s.keywords[0] === 'START';
    return before;
  });
}

/** The offsets of a statement in its file, with its `;`, the rest of its line and its indentation. */
function statementSpan(text: string, s: MigrationStatement): { from: number; to: number; indent: string } {
  const lineStart = text.lastIndexOf('\n', s.start.offset - 1) + 1;
  const before = text.slice(lineStart, s.start.offset);
  const onItsOwn = /^[ \t]*$/.test(before);
  let to = s.end.offset;
  while (to < text.length && /[ \t]/.test(text[to])) to++;
  if (text[to] === ';') to++;
  while (to < text.length && /[ \t]/.test(text[to])) to++;
  if (onItsOwn) {
    if (text[to] === '\r') to++;
    if (text[to] === '\n') to++;
  }
  return { from: onItsOwn ? lineStart : s.start.offset, to, indent: onItsOwn ? before : '' };
}

/** The statements of units joined as they replace one statement (its own `;` stays after the last). */
function joined(statements: string[], indent: string): string {
  return statements.join(`;\n${indent}`);
}

interface NewMigration {
  edits: FixEdit[];
  /** File (or folder) name shown in the title. */
  shown: string;
}

const SLUG = /[^A-Za-z0-9_]+/g;

function slugFor(unit: Unit, separator = '_'): string {
  return unit.slug.replace(SLUG, '_').replace(/_+/g, '_').replace(/^_|_$/g, '').replace(/_/g, separator);
}

/** The next migration with a version after `index` (Flyway's repeatables have none). */
function nextVersion(source: MigrationSource, index: number): string | undefined {
  return source.migrations.slice(index + 1).find((m) => m.version !== '')?.version;
}

/**
 * The version `k` steps after `current` in the tool's style: numeric +k at the same width; Diesel's
 * last digit run +k; Flyway a dotted sub-version (2 → 2.k). Undefined when it has no such form.
 */
function versionStep(tool: ToolId, current: string, k: number): string | undefined {
  if (tool === 'flyway') return `${current}.${k}`;
  if (tool === 'diesel') {
    const m = /^(.*?)(\d+)(\D*)$/.exec(current);
    if (!m) return undefined;
    const n = (BigInt(m[2]) + BigInt(k)).toString().padStart(m[2].length, '0');
    return n.length > m[2].length ? undefined : `${m[1]}${n}${m[3]}`;
  }
  if (!/^\d+$/.test(current)) return undefined;
  return (BigInt(current) + BigInt(k)).toString().padStart(current.length, '0');
}

/**
 * `count` versions right after `current` and before `next` (versionStep's, Diesel's compared as
 * text), none of them used. Undefined when there is no room (the next migration is current+1).
 */
function versionsAfter(
  tool: ToolId,
  current: string,
  next: string | undefined,
  count: number,
  used: ReadonlySet<string>,
): string[] | undefined {
  const out: string[] = [];
  for (let k = 1; out.length < count && k <= count + 20; k++) {
    const v = versionStep(tool, current, k);
    if (v === undefined) return undefined;
    const before =
      next === undefined ||
      (tool === 'diesel'
        ? v < next
        : compareVersions(v, next) < 0 && !(tool === 'flyway' && v.startsWith(`${next}.`)));
    if (!before) return undefined;
    if (!used.has(v)) out.push(v);
  }
  return out.length === count ? out : undefined;
}

/**
 * A new migration's statements: a unit taking ACCESS EXCLUSIVE sets lock_timeout first, as the
 * lock_timeout fix would for a section of that kind (SET LOCAL inside the tool's transaction; a
 * session SET and a RESET where the tool sends the file as one string without a transaction).
 */
function upStatements(unit: Unit, tool: ToolId, options: FixOptions): string[] {
  if (!unit.exclusive || unit.outside) return unit.statements;
  const value = (options.lockTimeout ?? DEFAULT_FIX_LOCK_TIMEOUT).replace(/'/g, "''");
  if (tool === 'golang-migrate' || tool === 'prisma')
    return [`SET lock_timeout = '${value}'`, ...unit.statements, 'RESET lock_timeout'];
  return [`SET LOCAL lock_timeout = '${value}'`, ...unit.statements];
}

/**
 * The names the fixes give the migrations they write (slugFor of each plan's units), but `add_<key>`:
 * that one only right after its `<key>_index_concurrently`, as the unique fix writes the pair.
 */
const FIX_MOVE_NAME =
  /(^|[-_ ])concurrently$|[-_ ]outside[-_ ]transaction$|^validate[-_ ]|^set[-_ ].*[-_ ]not[-_ ]null$/;

/**
 * Whether `m`, right after `previous`, is a migration an earlier fix of `origin` wrote, so a later
 * fix goes after it instead of finding no room: a fix's name, at most the few statements a fix
 * writes, and the next version up (current+1, as versionsAfter numbers them; Flyway a sub-version of
 * `origin`). A migration of the user's own is never passed over, or the moved statement would run
 * after something that may need it; a name like a fix's is the one way to be mistaken.
 */
function isFixMove(tool: ToolId, origin: Migration, previous: Migration, m: Migration): boolean {
  // Names as the tool reads them back: Flyway's description has spaces for the underscores.
  const norm = (name: string) => name.replace(/[- ]/g, '_');
  const pairedAdd = /^add_(.+)$/.exec(norm(m.name));
  const named =
    FIX_MOVE_NAME.test(m.name) ||
    (pairedAdd !== null && norm(previous.name) === `${pairedAdd[1]}_index_concurrently`);
  if (!named || m.up.statements.length > 4) return false;
  if (tool === 'flyway') return m.version.startsWith(`${origin.version}.`);
  return versionStep(tool, previous.version, 1) === m.version;
}

function sqlLines(statements: string[]): string {
  return statements.map((s) => `${s};\n`).join('');
}

/**
 * Statements as psql runs them, one by one: several that belong together get BEGIN … COMMIT around
 * them (one statement is its own transaction anyway; one that must run outside stays bare).
 */
function psqlScript(statements: string[], outside: boolean): string {
  const sql = sqlLines(statements);
  return !outside && statements.length > 1 ? `BEGIN;\n${sql}COMMIT;\n` : sql;
}

function downText(unit: Unit, comment = '--'): string {
  return unit.down.length
    ? sqlLines(unit.down)
    : `${comment} Nothing to undo: ${unit.downNote ?? 'see the up migration'}.\n`;
}

/** The separator between version and name in the current migration's id (`_` or `-`). */
function separatorOf(m: Migration): string {
  return m.id.charAt(m.version.length) === '-' ? '-' : '_';
}

/**
 * New migrations holding `units`, right after `p.migration`, in the tool's format. Undefined when the
 * tool cannot run them as needed (no way out of its transaction, no free version, no plan file).
 */
function newMigrations(p: Place, units: Unit[]): NewMigration[] | undefined {
  const { source, migration } = p;
  const tool = source.tool;
  if (source.pendingInOneTransaction) return undefined; // a new migration shares the one transaction
  if (tool === 'sqitch' || tool === 'drizzle') return undefined;
  if (tool === 'node-pg-migrate' && units.some((u) => u.outside)) return undefined;
  if (tool === 'liquibase') return liquibaseChangesets(p, units);
  const dir = source.path;
  const used = new Set(source.migrations.map((m) => m.version));
  // Earlier fixes of this migration wrote migrations right after it: a later one goes after those.
  let last = p.index;
  while (
    last + 1 < source.migrations.length &&
    isFixMove(tool, migration, source.migrations[last], source.migrations[last + 1])
  )
    last++;
  const versions = versionsAfter(
    tool,
    tool === 'flyway' ? migration.version : source.migrations[last].version,
    nextVersion(source, last),
    units.length,
    used,
  );
  if (!versions) return undefined;
  const first = migration.files[0];
  return units.map((unit, k): NewMigration => {
    const v = versions[k];
    const slug = slugFor(unit);
    const statements = upStatements(unit, tool, p.options);
    const up = sqlLines(statements);
    const downOutside = unit.down.length > 0 && unit.outside;
    switch (tool) {
      case 'dbmate': {
        const file = join(dir, `${v}_${slug}.sql`);
        const text =
          `-- migrate:up${unit.outside ? ' transaction:false' : ''}\n${up}\n` +
          `-- migrate:down${downOutside ? ' transaction:false' : ''}\n${downText(unit)}`;
        return { edits: [{ kind: 'create', file, text }], shown: basename(file) };
      }
      case 'golang-migrate': {
        const base = join(dir, `${v}_${slug}`);
        return {
          edits: [
            { kind: 'create', file: `${base}.up.sql`, text: up },
            { kind: 'create', file: `${base}.down.sql`, text: downText(unit) },
          ],
          shown: `${basename(base)}.up.sql / .down.sql`,
        };
      }
      case 'goose': {
        const file = join(dir, `${v}_${slug}.sql`);
        const text = `${unit.outside ? '-- +goose NO TRANSACTION\n' : ''}-- +goose Up\n${up}\n-- +goose Down\n${downText(unit)}`;
        return { edits: [{ kind: 'create', file, text }], shown: basename(file) };
      }
      case 'flyway': {
        const file = join(dir, `V${v}__${slug}.sql`);
        const edits: FixEdit[] = [{ kind: 'create', file, text: up }];
        if (unit.outside)
          edits.push({ kind: 'create', file: `${file}.conf`, text: 'executeInTransaction=false\n' });
        // Where the current migration has an undo file, the new one gets its own (what moved out of
        // the current undo goes there).
        if (!migration.down) return { edits, shown: `${basename(file)}${unit.outside ? ' (+ .conf)' : ''}` };
        const undo = join(dir, `U${v}__${slug}.sql`);
        edits.push({ kind: 'create', file: undo, text: downText(unit) });
        if (downOutside)
          edits.push({ kind: 'create', file: `${undo}.conf`, text: 'executeInTransaction=false\n' });
        return { edits, shown: `${basename(file)} (+ ${basename(undo)}${unit.outside ? ', .conf' : ''})` };
      }
      case 'diesel': {
        const folder = join(dir, `${v}_${slug}`);
        const edits: FixEdit[] = [
          { kind: 'create', file: join(folder, 'up.sql'), text: up },
          { kind: 'create', file: join(folder, 'down.sql'), text: downText(unit) },
        ];
        if (unit.outside)
          edits.push({
            kind: 'create',
            file: join(folder, 'metadata.toml'),
            text: 'run_in_transaction = false\n',
          });
        return { edits, shown: `${basename(folder)}/` };
      }
      case 'sqlx': {
        const marker = unit.outside ? '-- no-transaction\n' : '';
        const reversible = migration.down !== undefined;
        const base = join(dir, `${v}_${slug}`);
        if (!reversible)
          return {
            edits: [{ kind: 'create', file: `${base}.sql`, text: marker + up }],
            shown: `${basename(base)}.sql`,
          };
        return {
          edits: [
            { kind: 'create', file: `${base}.up.sql`, text: marker + up },
            { kind: 'create', file: `${base}.down.sql`, text: (downOutside ? marker : '') + downText(unit) },
          ],
          shown: `${basename(base)}.up.sql / .down.sql`,
        };
      }
      case 'atlas': {
        const file = join(dir, `${v}_${slug}.sql`);
        // Atlas reads file directives from the header, separated from the statements by a blank line.
        return {
          edits: [{ kind: 'create', file, text: `${unit.outside ? '-- atlas:txmode none\n\n' : ''}${up}` }],
          shown: basename(file),
        };
      }
      case 'prisma': {
        const folder = join(dir, `${v}_${slug}`);
        return {
          edits: [{ kind: 'create', file: join(folder, 'migration.sql'), text: up }],
          shown: `${basename(folder)}/`,
        };
      }
      case 'node-pg-migrate': {
        const file = join(dir, `${v}${separatorOf(migration)}${slugFor(unit, '-')}.sql`);
        const text = `-- Up Migration\n${up}\n-- Down Migration\n${downText(unit)}`;
        return { edits: [{ kind: 'create', file, text }], shown: basename(file) };
      }
      case 'plain': {
        const file = join(dirname(first), `${v}${separatorOf(migration)}${slug}.sql`);
        const text = psqlScript(statements, unit.outside);
        return { edits: [{ kind: 'create', file, text }], shown: basename(file) };
      }
      default:
        throw new Error(`No new-migration format for ${String(tool)}.`);
    }
  });
}

const CHANGESET = /^--\s*changeset\s+("[^"]+"|\S+?):(\S+)(.*)$/i;

/** Liquibase: new changesets in the same file, right after the current one. */
function liquibaseChangesets(p: Place, units: Unit[]): NewMigration[] | undefined {
  const file = p.statement.file;
  const text = fileText(file, p.options);
  const lines = text.split('\n');
  let offset = 0;
  let head: number | undefined;
  let end = text.length;
  let author = '';
  for (const line of lines) {
    const m = CHANGESET.exec(line.trim());
    if (m) {
      const key = `${m[1].replace(/^"|"$/g, '')}:${m[2]}`;
      if (head !== undefined) {
        end = offset;
        break;
      }
      if (key === p.migration.id) {
        head = offset;
        author = m[1];
      }
    }
    offset += line.length + 1;
  }
  if (head === undefined) return undefined;
  const ids = new Set(p.source.migrations.map((m) => m.id));
  const added = units.map((unit) => {
    let id = `${p.migration.name}-${slugFor(unit, '-')}`;
    for (let k = 2; ids.has(`${author}:${id}`); k++) id = `${p.migration.name}-${slugFor(unit, '-')}-${k}`;
    ids.add(`${author}:${id}`);
    const rollback = unit.down.length
      ? unit.down.map((d) => `--rollback ${d};\n`).join('')
      : '--rollback empty\n';
    return {
      id,
      text: `--changeset ${author}:${id}${unit.outside ? ' runInTransaction:false' : ''}\n${sqlLines(upStatements(unit, 'liquibase', p.options))}${rollback}`,
    };
  });
  // Insert before the next changeset (after a blank line), or at the end of the file.
  const atEnd = end === text.length;
  const lead = atEnd && !text.endsWith('\n') ? '\n\n' : '\n';
  const body = added.map((a) => a.text).join('\n');
  const insert = atEnd ? `${lead}${body}` : `${body}\n`;
  return [
    {
      edits: [replaceEdit(file, text, end, end, insert)],
      shown: `${added.length > 1 ? 'new changesets' : 'a new changeset'} ${added.map((a) => a.id).join(', ')}`,
    },
  ];
}

/** Edits that make the migration (whose only up statement this is) run outside a transaction. */
function markerEdits(p: Place): { edits: FixEdit[]; marker: string } | undefined {
  const file = p.statement.file;
  const text = fileText(file, p.options);
  switch (p.source.tool) {
    case 'dbmate': {
      const m = /^--\s*migrate:up\b.*$/m.exec(text);
      if (!m) return undefined;
      const line = m[0].replace(/\s+transaction:true\b/, '').replace(/\s+$/, '');
      return {
        edits: [replaceEdit(file, text, m.index, m.index + m[0].length, `${line} transaction:false`)],
        marker: '`transaction:false`',
      };
    }
    case 'goose':
      return {
        edits: [replaceEdit(file, text, 0, 0, '-- +goose NO TRANSACTION\n')],
        marker: '`-- +goose NO TRANSACTION`',
      };
    case 'sqlx':
      if (text.charCodeAt(0) === 0xfeff) return undefined;
      return { edits: [replaceEdit(file, text, 0, 0, '-- no-transaction\n')], marker: '`-- no-transaction`' };
    case 'atlas': {
      const existing = /^--\s*atlas:txmode\s+\S+[ \t]*$/m.exec(text);
      const edit = existing
        ? replaceEdit(file, text, existing.index, existing.index + existing[0].length, '-- atlas:txmode none')
        : replaceEdit(file, text, 0, 0, '-- atlas:txmode none\n\n');
      return { edits: [edit], marker: '`-- atlas:txmode none`' };
    }
    case 'liquibase': {
      const lines = text.split('\n');
      let offset = 0;
      for (const line of lines) {
        const m = CHANGESET.exec(line.trim());
        if (m && `${m[1].replace(/^"|"$/g, '')}:${m[2]}` === p.migration.id) {
          const end = offset + line.replace(/\r$/, '').length;
          if (/runInTransaction:true/.test(line)) {
            const at = offset + line.indexOf('runInTransaction:true');
            return {
              edits: [
                replaceEdit(file, text, at, at + 'runInTransaction:true'.length, 'runInTransaction:false'),
              ],
              marker: '`runInTransaction:false`',
            };
          }
          return {
            edits: [replaceEdit(file, text, end, end, ' runInTransaction:false')],
            marker: '`runInTransaction:false`',
          };
        }
        offset += line.length + 1;
      }
      return undefined;
    }
    case 'diesel': {
      const path = join(dirname(file), 'metadata.toml');
      const current =
        p.options.texts?.get(path) ?? (existsSync(path) ? readFileSync(path, 'utf8') : undefined);
      if (current === undefined)
        return {
          edits: [{ kind: 'create', file: path, text: 'run_in_transaction = false\n' }],
          marker: 'metadata.toml `run_in_transaction = false`',
        };
      const m = /^\s*run_in_transaction\s*=.*$/m.exec(current);
      const edit = m
        ? replaceEdit(path, current, m.index, m.index + m[0].length, 'run_in_transaction = false')
        : replaceEdit(
            path,
            current,
            current.length,
            current.length,
            `${current.endsWith('\n') || !current ? '' : '\n'}run_in_transaction = false\n`,
          );
      return { edits: [edit], marker: 'metadata.toml `run_in_transaction = false`' };
    }
    case 'flyway': {
      const conf = `${file}.conf`;
      const current =
        p.options.texts?.get(conf) ?? (existsSync(conf) ? readFileSync(conf, 'utf8') : undefined);
      if (current === undefined)
        return {
          edits: [{ kind: 'create', file: conf, text: 'executeInTransaction=false\n' }],
          marker: `${basename(conf)} \`executeInTransaction=false\``,
        };
      const m = /^\s*executeInTransaction\s*=.*$/m.exec(current);
      const edit = m
        ? replaceEdit(conf, current, m.index, m.index + m[0].length, 'executeInTransaction=false')
        : replaceEdit(
            conf,
            current,
            current.length,
            current.length,
            `${current.endsWith('\n') || !current ? '' : '\n'}executeInTransaction=false\n`,
          );
      return { edits: [edit], marker: `${basename(conf)} \`executeInTransaction=false\`` };
    }
    default:
      return undefined;
  }
}

/** Where the tool's new migration is described in a title: "a new dbmate migration 2024…sql". */
function whereNew(tool: ToolId, shown: string[]): string {
  const note = tool === 'atlas' ? '; then run `atlas migrate hash`' : '';
  if (tool === 'liquibase') return `in ${shown.join(', ')}`;
  return `in ${shown.length > 1 ? 'new migrations' : 'a new migration'} ${shown.join(', ')}${note}`;
}

/** Turns a plan into edits at its place, or undefined when the tool offers no way to run it safely. */
function place(p: Place, plan: Plan): Fix | undefined {
  const { section, statement, source } = p;
  const text = fileText(statement.file, p.options);
  const span = statementSpan(text, statement);
  const statementRange = (newText: string) =>
    replaceEdit(statement.file, text, statement.start.offset, statement.end.offset, newText);
  const byItself =
    section.mode === 'autocommit' && source.pendingInOneTransaction === undefined && !p.explicitTransaction;

  if (byItself) {
    // The tool runs each statement on its own: every unit goes right here, in order.
    const all = plan.units.flatMap((u) => u.statements);
    return { title: `${plan.action} (in place)`, edits: [statementRange(joined(all, span.indent))] };
  }
  if (source.pendingInOneTransaction !== undefined && (plan.units.length > 1 || plan.units[0].outside))
    return undefined;

  const [first, ...rest] = plan.units;
  // Sqitch: what moves stays in the same change, so the revert script keeps undoing it; only from the
  // deploy script itself (a statement of an \ir include would land inside the BEGIN … COMMIT).
  const afterCommit =
    source.tool === 'sqitch' && section.mode === 'transaction' && statement.file === p.migration.files[0];
  const edits: FixEdit[] = [];
  const where: string[] = [];
  let moved: Unit[] = rest;
  let marker: ReturnType<typeof markerEdits>;
  if (!first.outside) {
    edits.push(statementRange(joined(first.statements, span.indent)));
    // The current down's inverse of the replaced statement now undoes what stays in its place.
    if (rest.length > 0 && first.down.length > 0 && !afterCommit)
      edits.push(...downEdits(p, plan, first.down));
  } else if (section.mode === 'single-string' && section.statements.length === 1) {
    // Alone in a string sent without a transaction: PostgreSQL runs it on its own.
    edits.push(statementRange(joined(first.statements, span.indent)));
  } else if (section.statements.length === 1 && (marker = markerEdits(p))) {
    edits.push(statementRange(joined(first.statements, span.indent)), ...marker.edits);
    where.push(`with ${marker.marker}`);
  } else {
    // Out of this migration into a new one; its inverse in this migration's down goes with it.
    edits.push(replaceEdit(statement.file, text, span.from, span.to, ''));
    moved = plan.units;
    if (!afterCommit) edits.push(...downEdits(p, plan, []));
  }
  if (moved.length > 0 && afterCommit) {
    // Sqitch's script is one transaction only through its own BEGIN … COMMIT, and psql runs what
    // follows the COMMIT statement by statement: the units go there, in the same change (no plan edit).
    const after = moved.map((u) => psqlScript(upStatements(u, source.tool, p.options), u.outside)).join('');
    const end = text.length;
    edits.push(replaceEdit(statement.file, text, end, end, `${text.endsWith('\n') ? '' : '\n'}\n${after}`));
    where.push("after the script's COMMIT (psql runs it on its own there)");
  } else if (moved.length > 0) {
    const created = newMigrations(p, moved);
    if (!created) return undefined;
    for (const c of created) edits.push(...c.edits);
    where.push(
      whereNew(
        source.tool,
        created.map((c) => c.shown),
      ),
    );
  }
  return {
    title: `${plan.action}${where.length ? ` ${where.join(' ')}` : ' (in place)'}`,
    edits: mergeEdits(edits),
  };
}

/**
 * Edits of the current migration's down: each statement `plan.downInverse` matches is replaced by
 * `replacement` (its statements, on one line for Liquibase's `--rollback` lines), or removed with its
 * line when `replacement` is empty (its undo moved into a new migration's down).
 */
function downEdits(p: Place, plan: Plan, replacement: string[]): FixEdit[] {
  const edits: FixEdit[] = [];
  if (!plan.downInverse || !p.migration.down) return edits;
  for (const d of p.migration.down.statements) {
    const ast = p.parser.parseSync(d.text).stmts?.[0]?.stmt;
    if (!plan.downInverse(ast)) continue;
    const downText = fileText(d.file, p.options);
    const span = statementSpan(downText, d);
    if (p.source.tool === 'liquibase') {
      // A rollback statement sits on its own `--rollback` line.
      const lineStart = downText.lastIndexOf('\n', d.start.offset - 1) + 1;
      const prefix = downText.slice(lineStart, d.start.offset);
      if (!/^\s*--\s*rollback\s*$/i.test(prefix) || d.start.line !== d.end.line) continue;
      const nl = downText.indexOf('\n', d.end.offset);
      const end = nl < 0 ? downText.length : nl + 1;
      const lines = replacement.map((r) => `${prefix}${r};\n`).join('');
      edits.push(replaceEdit(d.file, downText, lineStart, end, lines));
    } else if (replacement.length === 0) edits.push(replaceEdit(d.file, downText, span.from, span.to, ''));
    else
      edits.push(
        replaceEdit(d.file, downText, d.start.offset, d.end.offset, joined(replacement, span.indent)),
      );
  }
  return edits;
}

/** Several insertions into one file at one place become one edit (editors refuse overlapping edits). */
function mergeEdits(edits: FixEdit[]): FixEdit[] {
  const out: FixEdit[] = [];
  for (const e of edits) {
    const same =
      e.kind === 'replace'
        ? out.find(
            (o) =>
              o.kind === 'replace' &&
              o.file === e.file &&
              o.range.start.line === e.range.start.line &&
              o.range.start.character === e.range.start.character &&
              o.range.end.line === o.range.start.line &&
              o.range.end.character === o.range.start.character &&
              e.range.end.line === e.range.start.line &&
              e.range.end.character === e.range.start.character,
          )
        : undefined;
    if (same && same.kind === 'replace' && e.kind === 'replace') same.text += e.text;
    else out.push(e);
  }
  return out;
}

function lockTimeoutFix(p: Place): Fix | undefined {
  const shown = p.options.lockTimeout ?? DEFAULT_FIX_LOCK_TIMEOUT;
  const value = shown.replace(/'/g, "''");
  const inTransaction = p.section.mode === 'transaction' || p.source.pendingInOneTransaction !== undefined;
  const text = fileText(p.statement.file, p.options);
  const span = statementSpan(text, p.statement);
  const at = p.statement.start.offset;
  if (inTransaction) {
    // SET LOCAL ends with the tool's transaction. Drizzle sends each chunk as one query: the SET gets
    // its own chunk, as drizzle-kit writes them.
    const separator = p.source.tool === 'drizzle' ? `\n${span.indent}--> statement-breakpoint\n` : '\n';
    return {
      title: `Set lock_timeout = '${shown}' before the statement (SET LOCAL, for its transaction)`,
      edits: [
        replaceEdit(
          p.statement.file,
          text,
          at,
          at,
          `SET LOCAL lock_timeout = '${value}';${separator}${span.indent}`,
        ),
      ],
    };
  }
  // Outside a transaction a SET stays for the tool's whole session, where it would also cut short a
  // later CREATE INDEX CONCURRENTLY's waits: RESET it right after the statement.
  let after = p.statement.end.offset;
  while (after < text.length && /[ \t]/.test(text[after])) after++;
  const delimited = text[after] === ';';
  const reset = delimited ? `\n${span.indent}RESET lock_timeout;` : `;\n${span.indent}RESET lock_timeout`;
  const resetAt = delimited ? after + 1 : p.statement.end.offset;
  return {
    title: `Set lock_timeout = '${shown}' for the statement (SET before it, RESET after it)`,
    edits: [
      replaceEdit(p.statement.file, text, at, at, `SET lock_timeout = '${value}';\n${span.indent}`),
      replaceEdit(p.statement.file, text, resetAt, resetAt, reset),
    ],
  };
}

function fixesAt(p: Place, finding: Finding, ast: PgNode | undefined, schema: StaticSchema): Fix[] {
  if (!ast) return [];
  let plan: Plan | undefined;
  switch (finding.rule) {
    case 'index-without-concurrently':
      plan = concurrentlyPlan(p, ast, schema);
      break;
    case 'concurrently-in-transaction':
      plan = concurrentlyPlan(p, ast, schema) ?? moveAsIsPlan(p);
      break;
    case 'constraint-without-not-valid':
      plan = notValidPlan(p, ast, schema);
      break;
    case 'set-not-null':
      plan = setNotNullPlan(p, ast, schema);
      break;
    case 'unique-constraint-directly':
      plan = uniquePlan(p, ast, schema);
      break;
    case 'access-exclusive-without-lock-timeout':
      return withChecksumNote(p, lockTimeoutFix(p));
    default:
      return [];
  }
  return withChecksumNote(p, plan && place(p, plan));
}

/** Atlas checks every file against atlas.sum: any fix that edits or adds a file says to re-hash. */
function withChecksumNote(p: Place, fix: Fix | undefined): Fix[] {
  if (!fix) return [];
  const note = '; then run `atlas migrate hash`';
  const title = p.source.tool === 'atlas' && !fix.title.endsWith(note) ? `${fix.title}${note}` : fix.title;
  return [{ ...fix, title, preferred: true }];
}

/**
 * The fixes of each finding (same order as `findings`; an empty list where none is offered). One
 * pass over the source rebuilds the schema the lint saw at each statement.
 */
export async function fixesForFindings(
  source: MigrationSource,
  findings: readonly Finding[],
  options: FixOptions,
): Promise<Fix[][]> {
  const result = findings.map((): Fix[] => []);
  if (findings.length === 0) return result;
  const parser = await loadParser();
  const at = new Map<string, number[]>();
  findings.forEach((f, k) => {
    const key = `${f.file}\u0000${f.line}\u0000${f.column}`;
    at.set(key, [...(at.get(key) ?? []), k]);
  });
  const schema = new StaticSchema(options.defaultSchema ?? 'public');
  readCache.set(options, new Map());
  source.migrations.forEach((migration, index) => {
    const section = migration.up;
    let explicit: boolean[] | undefined;
    const parsed = parseEach(
      parser,
      section.statements.map((s) => ({ text: s.text, offset: s.start.offset })),
    );
    section.statements.forEach((statement, statementIndex) => {
      const here = at.get(`${statement.file}\u0000${statement.start.line}\u0000${statement.start.column}`);
      if (here) {
        explicit ??= explicitTransactionsOpen(section);
        const { ast, locationBase = 0 } = parsed[statementIndex];
        const placeOf: Place = {
          explicitTransaction: explicit[statementIndex],
          source,
          migration,
          index,
          section,
          statement,
          statementIndex,
          locationBase,
          options,
          parser,
        };
        for (const k of here) result[k] = fixesAt(placeOf, findings[k], ast, schema);
      }
      schema.apply(parsed[statementIndex].ast, true);
    });
    schema.markAllExisting();
  });
  return result;
}

/**
 * Quick fixes computed in the lint's own pass (pass `onStatement` in LintOptions): each finding's
 * fixes from the parse tree and schema the lint already has, with no second parse of the source.
 */
export async function fixCollector(
  source: MigrationSource,
  options: FixOptions,
): Promise<{ onStatement: (s: LintedStatement) => void; fixesOf: (finding: Finding) => Fix[] }> {
  const parser = await loadParser();
  const found = new Map<Finding, Fix[]>();
  readCache.set(options, new Map());
  return {
    onStatement(s) {
      if (s.findings.length === 0) return;
      const place: Place = {
        explicitTransaction: s.explicitTransaction,
        source,
        migration: source.migrations[s.migrationIndex],
        index: s.migrationIndex,
        section: s.section,
        statement: s.section.statements[s.statementIndex],
        statementIndex: s.statementIndex,
        locationBase: s.locationBase,
        options,
        parser,
      };
      for (const f of s.findings) found.set(f, fixesAt(place, f, s.ast, s.schema));
    },
    fixesOf: (finding) => found.get(finding) ?? [],
  };
}
