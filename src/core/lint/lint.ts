// Lints a migration source: the statements of each migration's section are parsed in one call to
// the real PostgreSQL parser (a statement with a syntax error alone, for its own error); each
// statement gets its lock facts against the schema the earlier migrations built, and is
// checked by the rules, knowing how the source's tool runs each section (transaction, one string,
// statement by statement). Output follows the CLI's JSON shape: 1-based lines and columns (UTF-16),
// modes as pg_locks spells them.
import { readFileSync } from 'node:fs';
import { CancelledError } from '../errors';
import {
  TOOL_NAMES,
  type MigrationSection,
  type MigrationSource,
  type MigrationStatement,
  type SourcePosition,
} from '../migrations/model';
import { locateErrorPosition, scanSql, sqlText, toStatements } from '../migrations/sqlScanner';
import { lockFacts, type StatementFacts } from './lockFacts';
import { blocksInWords, sqlModeName, type LockMode } from './lockModes';
import { loadParser, nodeKind, parseEach, type PgNode } from './parser';
import { RULES, rulesForSquawkName, type RuleId, type Severity } from './rules';
import { columnType, StaticSchema } from './schema';

export interface LintOptions {
  /** Target PostgreSQL major (lock facts that changed across majors follow it). */
  pgMajor: number;
  /** Schema unqualified names resolve to (default "public"). */
  defaultSchema?: string;
  /** File contents by absolute path, for suppression comments; files not given are read from disk. */
  texts?: ReadonlyMap<string, string>;
  /**
   * Called after each parsed statement is checked, before the schema takes it in: its parse tree,
   * the schema it was checked against and the findings it got (quick fixes use the same pass).
   */
  onStatement?: (s: LintedStatement) => void;
  /**
   * A lint superseded by a newer one (the editor, as the user types): lintSource yields to the event
   * loop every few milliseconds and stops with CancelledError once this is aborted.
   */
  signal?: AbortSignal;
}

export interface LintedStatement {
  migrationIndex: number;
  section: MigrationSection;
  statementIndex: number;
  ast: PgNode | undefined;
  /** What to subtract from a node's `location` for a UTF-8 byte offset into the statement's own text. */
  locationBase: number;
  schema: StaticSchema;
  /** Inside an explicit BEGIN … COMMIT of its section. */
  explicitTransaction: boolean;
  findings: readonly Finding[];
}

interface Range {
  file: string;
  line: number;
  column: number;
  endLine: number;
  endColumn: number;
}

export interface Finding extends Range {
  rule: RuleId;
  severity: Severity;
  message: string;
  lock?: { relation: string; mode: LockMode; blocks: string };
}

export interface StatementReport extends Range {
  kind: string;
  locks: { relation: string; mode: LockMode }[];
  rewrites: boolean;
  scans: boolean;
  transactional: boolean;
  /** The PostgreSQL documentation page of the command, when known. */
  docs?: string;
}

export interface LintResult {
  findings: Finding[];
  statements: StatementReport[];
}

function range(file: string, start: SourcePosition, end: SourcePosition): Range {
  return { file, line: start.line, column: start.column, endLine: end.line, endColumn: end.column };
}

/**
 * Suppressions of one file: rules off for the whole file, and rules off per 1-based line.
 * `ALL_RULES` in a set turns every rule off there (a bare ignore comment).
 */
interface Suppressions {
  /** The file's text the comments were read from. */
  text: string;
  file: Set<string>;
  /** Statement-level comments, by offset; which statement each belongs to is decided per statement. */
  comments: IgnoreComment[];
}

interface IgnoreComment {
  /** Offset of the comment in the file. */
  offset: number;
  /** Code precedes it on its line (it trails a statement). */
  trailing: boolean;
  rules: Set<string>;
}

const ALL_RULES = '*';

/**
 * An ignore comment, `--` or `/* … *\/`: ours (`migration-lab-ignore[-file][:] rules [reason]`) or
 * squawk's (`squawk-ignore[-file] [rules]`). Group 1 the tool, 2 `-file`, 3 the rest of the comment.
 */
const IGNORE_COMMENT = /(?:--|\/\*)\s*(migration-lab|squawk)-ignore(-file)?\b:?([^\n]*?)(?:\*\/\s*)?$/;

/** The rules an ignore comment names: a leading list of rule names; none named means every rule. */
function ignoredRules(tool: string, rest: string): string[] {
  // The list ends where something that is not a rule name starts (a reason in parentheses, prose).
  const names: string[] = [];
  for (const word of rest.trim().split(/[\s,]+/)) {
    if (!/^[a-z][a-z0-9-]*$/.test(word)) break;
    names.push(word);
  }
  if (names.length === 0) return [ALL_RULES];
  return tool === 'squawk' ? names.flatMap(rulesForSquawkName) : names;
}

/**
 * Reads ignore comments: `-- migration-lab-ignore: rule[, rule] [reason]` before a statement, inside
 * it or trailing it on its last line (or before the file's first statement: then for the whole
 * file), and squawk's
 * `-- squawk-ignore [rule]` / `-- squawk-ignore-file [rule]` mapped to our rules; without a rule name
 * either one turns every rule off; block comments work the same way.
 */
export function readSuppressions(text: string): Suppressions {
  const result: Suppressions = { text, file: new Set(), comments: [] };
  // Most files have no ignore comment at all: then there is nothing to scan.
  if (!text.includes('-ignore')) return result;
  let firstCode: number | undefined;
  let start = 0;
  while (start <= text.length) {
    const nl = text.indexOf('\n', start);
    const end = nl < 0 ? text.length : nl;
    const lineText = text.slice(start, end);
    const match = lineText.includes('-ignore') ? IGNORE_COMMENT.exec(lineText.trimEnd()) : null;
    if (match) {
      const rules = new Set(ignoredRules(match[1], match[3]));
      const at = start + match.index;
      if (match[1] === 'migration-lab' && match[2] === undefined) {
        try {
          firstCode ??= scanSql(text).statements[0]?.from ?? text.length;
        } catch {
          firstCode = 0; // not splittable: no comment is before the first statement
        }
      }
      if (match[2] !== undefined || (match[1] === 'migration-lab' && at < firstCode!))
        for (const r of rules) result.file.add(r);
      else
        result.comments.push({ offset: at, trailing: lineText.slice(0, match.index).trim() !== '', rules });
    }
    if (nl < 0) break;
    start = nl + 1;
  }
  return result;
}

interface SectionContext {
  section: MigrationSection;
  migrationIndex: number;
  source?: MigrationSource;
  options: LintOptions;
  schema: StaticSchema;
  findings: Finding[];
  statements: StatementReport[];
  suppressions: (file: string) => Suppressions;
}

/**
 * Whether an ignore comment turns `rule` off for `stmt`, placed as squawk places its own: before the
 * statement (after the previous one ended; other comment lines may come between), inside it, or
 * after it on its last line (before the next one starts). The statements are the tool's own, so a
 * custom delimiter counts.
 */
function isSuppressed(
  ctx: SectionContext,
  rule: RuleId,
  stmt: MigrationStatement,
  previous?: MigrationStatement,
  next?: MigrationStatement,
): boolean {
  const s = ctx.suppressions(stmt.file);
  const applies = (rules: Set<string>) => rules.has(rule) || rules.has(ALL_RULES);
  if (applies(s.file)) return true;
  const after = previous?.file === stmt.file ? previous.end.offset : -1;
  const until = next?.file === stmt.file ? next.start.offset : Infinity;
  return s.comments.some((c) => {
    if (!applies(c.rules)) return false;
    if (c.offset > stmt.start.offset && c.offset < stmt.end.offset) return true; // inside it
    if (c.trailing)
      return (
        c.offset >= stmt.end.offset &&
        c.offset < until &&
        !s.text.slice(stmt.end.offset, c.offset).includes('\n')
      );
    return c.offset > after && c.offset < stmt.start.offset;
  });
}

function lintSection(ctx: SectionContext, parsed: ReturnType<typeof parseEach>): void {
  const { section, schema, options } = ctx;
  const toolTransaction = section.mode === 'transaction' || ctx.source?.pendingInOneTransaction !== undefined;
  const oneString = section.mode === 'single-string' && section.statements.length > 1;
  let explicitTransaction = false;
  /** A lock_timeout set for the session (SET), and one set for the open transaction only (SET LOCAL). */
  let sessionLockTimeout = false;
  let transactionLockTimeout: boolean | undefined;
  let heldExclusive: string | undefined;
  let reportedHeld = false;
  /** The section's own BEGIN still open (its COMMIT not seen yet). */
  let openedBy: MigrationStatement | undefined;
  /** Constraints added NOT VALID in the open transaction, by table and name, with the lock the ADD took. */
  const addedNotValid = new Map<string, { relation: string; mode: LockMode }>();

  section.statements.forEach((stmt, i) => {
    const p = parsed[i];
    const explicitBefore = explicitTransaction;
    const findingsBefore = ctx.findings.length;
    const add = (rule: RuleId, message: string, lock?: Finding['lock'], at?: Range) => {
      if (isSuppressed(ctx, rule, stmt, section.statements[i - 1], section.statements[i + 1])) return;
      const info = RULES.get(rule)!;
      ctx.findings.push({
        rule,
        severity: info.severity,
        ...(at ?? range(stmt.file, stmt.start, stmt.end)),
        message,
        lock,
      });
    };
    if (p.syntaxError) {
      openedBy = undefined; // the unparsed statement may be the COMMIT (e.g. swallowed by a psql meta-command)
      const at = locateErrorPosition(
        stmt.start,
        stmt.text,
        codePointIndex(stmt.text, p.syntaxError.offset - p.offset) + 1,
      );
      add(
        'syntax-error',
        `${p.syntaxError.message[0].toUpperCase()}${p.syntaxError.message.slice(1)}.`,
        undefined,
        {
          file: stmt.file,
          line: at.line,
          column: at.column,
          endLine: at.line,
          endColumn: at.column + 1,
        },
      );
      return;
    }
    const facts = lockFacts(p.ast, schema, { pgMajor: options.pgMajor });
    const inTransaction = toolTransaction || oneString || explicitTransaction;
    ctx.statements.push({
      file: stmt.file,
      line: stmt.start.line,
      column: stmt.start.column,
      endLine: stmt.end.line,
      endColumn: stmt.end.column,
      kind: facts.kind,
      locks: facts.locks.map((l) => ({ relation: l.relation, mode: l.mode })),
      rewrites: facts.rewrites,
      scans: facts.scans,
      transactional: facts.transactional,
      docs: facts.docs,
    });
    checkStatement(p.ast, facts, {
      schema,
      options,
      inTransaction,
      openedByLine: !toolTransaction && !oneString && explicitTransaction ? openedBy?.start.line : undefined,
      section,
      add,
      lockTimeoutSet: transactionLockTimeout ?? sessionLockTimeout,
      source: ctx.source,
    });

    const [kind, n] = nodeKind(p.ast) ?? ['', {}];
    const existingExclusive = facts.locks.find((l) => l.mode === 'AccessExclusiveLock' && !l.createdHere);
    if (kind === 'TransactionStmt') {
      if (
        section.mode === 'transaction' &&
        ['TRANS_STMT_BEGIN', 'TRANS_STMT_START', 'TRANS_STMT_COMMIT', 'TRANS_STMT_ROLLBACK'].includes(
          n.kind as string,
        )
      ) {
        add(
          'transaction-control-in-transaction',
          `${String(n.kind).replace('TRANS_STMT_', '')} inside a section the tool already wraps in a transaction (${sentence(section.why).replace(/\.$/, '')}): the tool's own transaction no longer covers what follows.`,
        );
      }
      if (n.kind === 'TRANS_STMT_BEGIN' || n.kind === 'TRANS_STMT_START') {
        explicitTransaction = true;
        openedBy ??= stmt;
      }
      if (n.kind === 'TRANS_STMT_COMMIT' || n.kind === 'TRANS_STMT_ROLLBACK') {
        explicitTransaction = false;
        transactionLockTimeout = undefined; // SET LOCAL ends with its transaction
        openedBy = undefined;
        heldExclusive = undefined;
        reportedHeld = false;
        addedNotValid.clear();
      }
    } else if (kind === 'VariableSetStmt' && n.name === 'lock_timeout') {
      const set = n.kind === 'VAR_SET_VALUE' && !isZeroSetting(n.args);
      // SET LOCAL outside a transaction block does nothing (PostgreSQL only warns); a plain SET
      // replaces a SET LOCAL of the same transaction and outlives it.
      if (n.is_local === true) {
        if (inTransaction) transactionLockTimeout = set;
      } else {
        sessionLockTimeout = set;
        transactionLockTimeout = undefined;
      }
    } else if (heldExclusive && inTransaction && !reportedHeld) {
      reportedHeld = true;
      add(
        'statements-after-access-exclusive',
        `ACCESS EXCLUSIVE on ${heldExclusive} is still held while this runs (until the transaction commits): readers and writers of ${heldExclusive} wait for it too.`,
      );
    }
    if (existingExclusive && inTransaction && !heldExclusive) heldExclusive = existingExclusive.relation;
    // NOT VALID constraints added in this transaction (named as the schema names them, after apply).
    let notValidAdded: { table: string; mode: LockMode; before: Set<string> } | undefined;
    if (kind === 'AlterTableStmt' && inTransaction) {
      const table = schema.rangeVarName(n.relation as PgNode) ?? '';
      const lock = facts.locks.find((l) => l.relation === table);
      for (const cmdNode of (n.cmds as unknown[] | undefined) ?? []) {
        const cmd = nodeKind(cmdNode)?.[1] ?? {};
        const con = nodeKind(cmd.def)?.[1] ?? {};
        if (cmd.subtype === 'AT_AddConstraint' && con.skip_validation === true && lock && !lock.createdHere)
          notValidAdded = {
            table,
            mode: lock.mode,
            before: new Set(schema.relations.get(table)?.constraints.keys() ?? []),
          };
        const added =
          cmd.subtype === 'AT_ValidateConstraint'
            ? addedNotValid.get(`${table} ${String(cmd.name)}`)
            : undefined;
        if (added)
          add(
            'constraint-without-not-valid',
            `VALIDATE CONSTRAINT ${String(cmd.name)} runs in the same transaction as its ADD … NOT VALID, so the ADD's ${sqlModeName(added.mode)} on ${added.relation} is held for the whole validation. VALIDATE it in its own transaction (a later migration).`,
            { relation: added.relation, mode: added.mode, blocks: blocksInWords(added.mode) },
          );
      }
    }
    options.onStatement?.({
      migrationIndex: ctx.migrationIndex,
      section,
      statementIndex: i,
      ast: p.ast,
      locationBase: p.locationBase ?? 0,
      schema,
      explicitTransaction: explicitBefore,
      findings: ctx.findings.slice(findingsBefore),
    });
    schema.apply(p.ast, true);
    if (notValidAdded)
      for (const name of schema.relations.get(notValidAdded.table)?.constraints.keys() ?? [])
        if (!notValidAdded.before.has(name))
          addedNotValid.set(`${notValidAdded.table} ${name}`, {
            relation: notValidAdded.table,
            mode: notValidAdded.mode,
          });
  });
  // A section the tool wraps has its BEGIN flagged already (transaction-control-in-transaction).
  const at = openedBy ? section.statements.indexOf(openedBy) : -1;
  if (
    openedBy &&
    !toolTransaction &&
    !isSuppressed(
      ctx,
      'uncommitted-transaction',
      openedBy,
      section.statements[at - 1],
      section.statements[at + 1],
    )
  ) {
    ctx.findings.push({
      rule: 'uncommitted-transaction',
      severity: RULES.get('uncommitted-transaction')!.severity,
      ...range(openedBy.file, openedBy.start, openedBy.end),
      message:
        'This BEGIN has no COMMIT after it in the migration: the statements after it are rolled back when the session ends (or committed by whatever the next migration runs). End the transaction with COMMIT.',
    });
  }
}

/** Whether `SET x = <args>` sets 0 (lock_timeout 0 means "wait forever", as if unset). */
function isZeroSetting(args: unknown): boolean {
  const first = nodeKind((args as unknown[] | undefined)?.[0]);
  if (first?.[0] !== 'A_Const') return false;
  const c = first[1];
  if (c.ival !== undefined) return ((c.ival as PgNode).ival ?? 0) === 0; // the parser omits a 0
  const text = String((c.sval as PgNode | undefined)?.sval ?? '').trim();
  return /^0+\s*(ms|s|min|h|d)?$/i.test(text);
}

/** A tool's sentence, ending with one period. */
function sentence(s: string): string {
  const t = s.trim();
  return /[.!?]$/.test(t) ? t : `${t}.`;
}

/** Characters (code points) in the first `units` UTF-16 units of `text`. */
function codePointIndex(text: string, units: number): number {
  let n = 0;
  for (let i = 0; i < units && i < text.length; i++, n++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) i++;
  }
  return n;
}

interface CheckContext {
  schema: StaticSchema;
  options: LintOptions;
  inTransaction: boolean;
  /** The statement's own script opened the transaction block it runs in (BEGIN on that line). */
  openedByLine?: number;
  section: MigrationSection;
  source?: MigrationSource;
  lockTimeoutSet: boolean;
  add: (rule: RuleId, message: string, lock?: Finding['lock']) => void;
}

/** Syntax the parser (PostgreSQL 18's) takes that older majors do not: what it is and since when. */
function newerSyntax(kind: string, n: PgNode): { what: string; since: number } | undefined {
  if (kind !== 'AlterTableStmt') return undefined;
  for (const cmdNode of (n.cmds as unknown[] | undefined) ?? []) {
    const cmd = nodeKind(cmdNode)?.[1] ?? {};
    if (cmd.subtype === 'AT_AddConstraint' && nodeKind(cmd.def)?.[1]?.contype === 'CONSTR_NOTNULL')
      return { what: 'ALTER TABLE … ADD CONSTRAINT … NOT NULL', since: 18 };
    if (cmd.subtype === 'AT_SetExpression') return { what: 'ALTER COLUMN … SET EXPRESSION', since: 17 };
  }
  return undefined;
}

function lockOf(facts: StatementFacts, relation: string | undefined): Finding['lock'] | undefined {
  const l = facts.locks.find((x) => x.relation === relation) ?? facts.locks[0];
  return l ? { relation: l.relation, mode: l.mode, blocks: blocksInWords(l.mode) } : undefined;
}

function checkStatement(ast: PgNode | undefined, facts: StatementFacts, c: CheckContext): void {
  const [kind, n] = nodeKind(ast) ?? ['', {}];
  // A relation this migration did not create existed before it (else the statement would fail), known
  // to the folder's history or not (a baseline made outside the folder, a lone file): only locks on
  // relations created in this migration block nobody.
  const existing = (name: string | undefined) =>
    name !== undefined && c.schema.relations.get(name)?.createdHere !== true;
  const tableOfIndex = (name: string | undefined) => c.schema.indexes.get(name ?? '');
  const main = facts.locks.find((l) => !l.createdHere);
  // Tools with no way out of their transaction: CONCURRENTLY cannot help here, and no fix moves it.
  const stuck =
    c.inTransaction &&
    (c.source?.pendingInOneTransaction !== undefined || c.source?.tool === 'node-pg-migrate')
      ? ` ${TOOL_NAMES[c.source.tool]} runs it inside a transaction with no way out (${(c.section.wayOut ?? sentence(c.source.pendingInOneTransaction ?? c.section.why)).replace(/\.$/, '')}), so no quick fix can move it.`
      : '';

  // Before 12, ALTER TYPE … ADD VALUE is not transactional too, but enum-add-value-in-transaction
  // names that refusal (one finding for one refusal).
  if (!facts.transactional && c.inTransaction && kind !== 'AlterEnumStmt') {
    // The tool's reason already says why: a one-string section's says PostgreSQL runs the string as
    // one implicit transaction (each tool states it once, in its section's `why`).
    const how =
      c.openedByLine !== undefined
        ? `the BEGIN on line ${c.openedByLine} opened a transaction block that is still open here.`
        : sentence(c.source?.pendingInOneTransaction ?? c.section.why);
    const wayOut = c.section.wayOut ? ` Way out: ${c.section.wayOut}.` : '';
    c.add(
      'concurrently-in-transaction',
      `${facts.kind} cannot run inside a transaction block, and here it would: ${how} PostgreSQL refuses it (25001).${wayOut}`,
    );
  }
  if (c.options.pgMajor < 12 && kind === 'AlterEnumStmt' && c.inTransaction) {
    c.add(
      'enum-add-value-in-transaction',
      `PostgreSQL ${c.options.pgMajor} refuses ALTER TYPE … ADD VALUE inside a transaction block (allowed from 12).`,
    );
  }
  const exclusive = facts.locks.find((l) => l.mode === 'AccessExclusiveLock' && !l.createdHere);
  if (exclusive && !c.lockTimeoutSet) {
    c.add(
      'access-exclusive-without-lock-timeout',
      `${facts.kind} waits for ACCESS EXCLUSIVE on ${exclusive.relation} behind any open transaction, and every query on ${exclusive.relation} queues behind that wait. SET lock_timeout (e.g. '2s') before it, and retry on 55P03.`,
      lockOf(facts, exclusive.relation),
    );
  }

  // The parser is PostgreSQL 18's: syntax an older target major lacks is that major's syntax error.
  const newer = newerSyntax(kind, n);
  if (newer && c.options.pgMajor < newer.since)
    c.add(
      'syntax-error',
      `PostgreSQL ${c.options.pgMajor} has no ${newer.what} (it came in ${newer.since}): this statement fails there with a syntax error.`,
    );

  switch (kind) {
    case 'IndexStmt': {
      const table = c.schema.rangeVarName(n.relation as PgNode);
      // ON ONLY too: PostgreSQL refuses CONCURRENTLY on a partitioned table either way.
      if (n.concurrent && c.schema.isPartitioned(table ?? ''))
        c.add(
          'concurrently-on-partitioned-table',
          `${table} is partitioned, and PostgreSQL refuses CREATE INDEX CONCURRENTLY on a partitioned table (0A000): this migration always fails. Build the index on each partition CONCURRENTLY, then create it ON ONLY ${table} and ALTER INDEX … ATTACH PARTITION each one.`,
          lockOf(facts, table),
        );
      if (!n.concurrent && existing(table)) {
        c.add(
          'index-without-concurrently',
          c.schema.isPartitioned(table ?? '')
            ? `CREATE INDEX takes SHARE on ${table} and its partitions for the whole build: it ${blocksInWords('ShareLock')}. A partitioned table refuses CONCURRENTLY (0A000): build the index on each partition with CREATE INDEX CONCURRENTLY first, and this CREATE INDEX then only attaches them (PostgreSQL's CREATE INDEX page, "Building Indexes Concurrently").`
            : `CREATE INDEX takes SHARE on ${table} for the whole build: it ${blocksInWords('ShareLock')}. Use CREATE INDEX CONCURRENTLY (outside a transaction).${stuck}`,
          lockOf(facts, table),
        );
      }
      break;
    }
    case 'DropStmt': {
      if (n.removeType === 'OBJECT_INDEX' && !n.concurrent) {
        const index = facts.locks.find((l) => l.relkind === 'index');
        const table = index && tableOfIndex(index.relation);
        // An index the history does not know is on a table it does not know either: one that existed.
        if (index && (table === undefined || existing(table))) {
          c.add(
            'index-without-concurrently',
            `DROP INDEX takes ACCESS EXCLUSIVE on ${table ?? `the table of ${index.relation}`}: it ${blocksInWords('AccessExclusiveLock')}. Use DROP INDEX CONCURRENTLY.${stuck}`,
            lockOf(facts, table),
          );
        }
      } else if (n.removeType === 'OBJECT_TABLE') {
        // The dropped tables only: a table a dropped foreign key referenced is locked, not dropped.
        const dropped = ((n.objects as unknown[] | undefined) ?? []).map((o) =>
          c.schema.listName(nodeKind(o)?.[1]?.items),
        );
        const t = facts.locks.find(
          (l) => l.relkind === 'table' && !l.createdHere && dropped.includes(l.relation),
        );
        if (t)
          c.add(
            'rename-or-drop',
            `DROP TABLE ${t.relation}: the application still running the old code fails on it; drop it in a release after the code stopped using it.`,
            lockOf(facts, t.relation),
          );
      }
      break;
    }
    case 'ReindexStmt': {
      const concurrent = facts.kind.includes('CONCURRENTLY');
      const table = facts.locks.find((l) => l.relkind === 'table');
      if (!concurrent && table && existing(table.relation)) {
        // Planning any query on the table opens every index of it (ACCESS SHARE), so the index's
        // ACCESS EXCLUSIVE holds up reads that never use it (checked in lint-lockfacts.test.ts).
        const index = facts.locks.find((l) => l.relkind === 'index' && l.mode === 'AccessExclusiveLock');
        const what = n.kind === 'REINDEX_OBJECT_INDEX' ? (index?.relation ?? 'the index') : 'its indexes';
        c.add(
          'index-without-concurrently',
          index || n.kind === 'REINDEX_OBJECT_INDEX'
            ? `REINDEX takes SHARE on ${table.relation} and ACCESS EXCLUSIVE on ${what}: every query planned on ${table.relation} opens all its indexes, so reads wait as well as writes. Use REINDEX … CONCURRENTLY.${stuck}`
            : `REINDEX takes SHARE on ${table.relation} and ACCESS EXCLUSIVE on each of its indexes (the earlier migrations show none): writes wait, and reads too wherever it has indexes. Use REINDEX … CONCURRENTLY.${stuck}`,
          lockOf(facts, index?.relation ?? table.relation),
        );
      }
      break;
    }
    case 'AlterTableStmt': {
      const table = c.schema.rangeVarName(n.relation as PgNode);
      if (!existing(table)) break;
      for (const cmdNode of (n.cmds as unknown[] | undefined) ?? []) {
        const cmd = nodeKind(cmdNode)?.[1] ?? {};
        const con = nodeKind(cmd.def)?.[1] ?? {};
        switch (cmd.subtype) {
          case 'AT_AddConstraint':
            if (con.contype === 'CONSTR_NOTNULL' && con.skip_validation !== true)
              c.add(
                'set-not-null',
                `ADD CONSTRAINT … NOT NULL scans ${table} under ACCESS EXCLUSIVE, as SET NOT NULL does. Add it NOT VALID, then VALIDATE CONSTRAINT in its own transaction (SHARE UPDATE EXCLUSIVE: reads and writes continue).`,
                lockOf(facts, table),
              );
            if (
              (con.contype === 'CONSTR_CHECK' || con.contype === 'CONSTR_FOREIGN') &&
              con.skip_validation !== true
            ) {
              const noNotValid =
                con.contype === 'CONSTR_FOREIGN' &&
                c.options.pgMajor < 18 &&
                c.schema.isPartitioned(table ?? '');
              c.add(
                'constraint-without-not-valid',
                noNotValid
                  ? `The constraint is validated against every row of ${table} while the lock is held, and before PostgreSQL 18 a foreign key on a partitioned table cannot be added NOT VALID (42809), so the check cannot be split off here: run it when ${table} is quiet.`
                  : `The constraint is validated against every row of ${table} while the lock is held. Add it NOT VALID, then VALIDATE CONSTRAINT in its own transaction (SHARE UPDATE EXCLUSIVE: reads and writes continue).`,
                lockOf(facts, table),
              );
            }
            if ((con.contype === 'CONSTR_UNIQUE' || con.contype === 'CONSTR_PRIMARY') && !con.indexname) {
              c.add(
                'unique-constraint-directly',
                c.schema.isPartitioned(table ?? '')
                  ? `The unique index is built under ACCESS EXCLUSIVE on ${table}, and on a partitioned table PostgreSQL refuses both CREATE INDEX CONCURRENTLY and ADD CONSTRAINT … USING INDEX (0A000), so the build cannot be moved out of the lock: run it when ${table} is quiet.`
                  : `The unique index is built under ACCESS EXCLUSIVE on ${table}. Build it with CREATE UNIQUE INDEX CONCURRENTLY, then ADD CONSTRAINT … USING INDEX.`,
                lockOf(facts, table),
              );
            }
            break;
          case 'AT_SetNotNull':
            if (!facts.scans) break; // a valid CHECK (col IS NOT NULL) already proves it (PostgreSQL 12+)
            c.add(
              'set-not-null',
              `SET NOT NULL scans ${table} under ACCESS EXCLUSIVE. ${c.options.pgMajor >= 12 ? 'Add CHECK (col IS NOT NULL) NOT VALID, VALIDATE it, then SET NOT NULL (it uses the valid check and skips the scan) and drop the check.' : 'Before PostgreSQL 12 there is no scan-free way; keep the table small or use a CHECK constraint instead.'}`,
              lockOf(facts, table),
            );
            break;
          case 'AT_AddColumn': {
            const column = nodeKind(cmd.def)?.[1] ?? {};
            const keyed = ((column.constraints as unknown[] | undefined) ?? []).some((x) => {
              const t = nodeKind(x)?.[1]?.contype;
              return t === 'CONSTR_UNIQUE' || t === 'CONSTR_PRIMARY';
            });
            if (keyed)
              c.add(
                'unique-constraint-directly',
                `The new column's unique index is built over every row of ${table} under ACCESS EXCLUSIVE. Add the column without the key, build the index with CREATE UNIQUE INDEX CONCURRENTLY, then ADD CONSTRAINT … USING INDEX.`,
                lockOf(facts, table),
              );
            if (requiresValueWithoutDefault(cmd.def))
              c.add(
                'adding-required-field',
                `Column ${String((nodeKind(cmd.def)?.[1] ?? {}).colname)} is NOT NULL with no DEFAULT: PostgreSQL fills the existing rows of ${table} with NULL, so the ALTER TABLE fails (23502) as soon as the table has a row. Add it with a DEFAULT, or nullable, backfill, then SET NOT NULL.`,
                lockOf(facts, table),
              );
            if (facts.rewrites)
              c.add(
                'add-column-rewrite',
                `Adding this column rewrites ${table} and its indexes under ACCESS EXCLUSIVE. Add the column without the default (or as nullable), backfill in batches, then set the default.`,
                lockOf(facts, table),
              );
            break;
          }
          case 'AT_AlterColumnType':
            if (facts.rewrites) {
              // Without the column's current type the rewrite is likely, not known.
              const current = c.schema.relations.get(table ?? '')?.columns.get(String(cmd.name));
              const known = current !== undefined;
              const to = columnType(nodeKind(cmd.def)?.[1]?.typeName as PgNode);
              // Between timestamp and timestamptz PostgreSQL 12+ keeps the data when the session is in UTC.
              const zoned =
                c.options.pgMajor >= 12 &&
                !current?.array &&
                !to.array &&
                [current?.name, to.name].sort().join() === 'timestamp,timestamptz'
                  ? ' (unless the session runs with TimeZone UTC: from PostgreSQL 12 that conversion keeps the data)'
                  : '';
              c.add(
                'type-change-rewrite',
                `This type change rewrites ${table} and rebuilds its indexes under ACCESS EXCLUSIVE${known ? zoned : ` (unless the new type is binary-coercible from column ${String(cmd.name)}'s current type, which the earlier migrations do not show)`}. Add a new column, backfill it in batches and switch over.`,
                lockOf(facts, table),
              );
            }
            break;
          case 'AT_DropColumn':
            c.add(
              'rename-or-drop',
              `Dropping column ${String(cmd.name)} breaks the application still running the old code; stop using it first, drop it in a later release.`,
              lockOf(facts, table),
            );
            break;
        }
      }
      break;
    }
    case 'RenameStmt': {
      if (
        (n.renameType === 'OBJECT_COLUMN' || n.renameType === 'OBJECT_TABLE') &&
        existing(c.schema.rangeVarName(n.relation as PgNode))
      ) {
        c.add(
          'rename-or-drop',
          `Renaming ${n.renameType === 'OBJECT_COLUMN' ? `column ${String(n.subname)}` : 'the table'} breaks the application still running the old code.`,
          lockOf(facts, undefined),
        );
      }
      break;
    }
    case 'TruncateStmt':
      if (n.behavior === 'DROP_CASCADE')
        c.add(
          'truncate-cascade',
          'TRUNCATE … CASCADE also empties every table with a foreign key to it, and locks them all ACCESS EXCLUSIVE.',
          lockOf(facts, undefined),
        );
      break;
    case 'VacuumStmt':
    case 'ClusterStmt':
      if (facts.rewrites && main)
        c.add(
          'rewrite-under-access-exclusive',
          `${facts.kind} rewrites ${main.relation} under ACCESS EXCLUSIVE: it ${blocksInWords('AccessExclusiveLock')} for the whole rewrite. Consider pg_repack or pg_squeeze.`,
          lockOf(facts, main.relation),
        );
      break;
    case 'AlterDomainStmt': {
      const tables = facts.locks.filter((l) => !l.createdHere).map((l) => l.relation);
      if (tables.length > 0)
        c.add(
          'alter-domain-constraint',
          `This checks every stored value of the domain, under SHARE on ${tables.join(', ')}: it ${blocksInWords('ShareLock')} for the whole scan, and a domain's VALIDATE CONSTRAINT takes SHARE too (a table's takes only SHARE UPDATE EXCLUSIVE). Add the domain constraint NOT VALID (new values only) and, where old rows must be proven, a CHECK … NOT VALID plus VALIDATE CONSTRAINT on each table.`,
          lockOf(facts, tables[0]),
        );
      break;
    }
    case 'DropdbStmt':
      c.add(
        'drop-database',
        `DROP DATABASE ${String(n.dbname)} destroys a whole database, and cannot be rolled back; a migration should not run it.`,
      );
      break;
    case 'RefreshMatViewStmt':
      if (!n.concurrent && main && !main.createdHere)
        c.add(
          'refresh-without-concurrently',
          `REFRESH MATERIALIZED VIEW takes ACCESS EXCLUSIVE on ${main.relation}: it ${blocksInWords('AccessExclusiveLock')}. Use CONCURRENTLY (needs a unique index on the view).`,
          lockOf(facts, main.relation),
        );
      break;
  }
}

/** Serial pseudo-types: NOT NULL with their own sequence default. */
const SERIAL_TYPES = new Set(['serial', 'serial4', 'bigserial', 'serial8', 'smallserial', 'serial2']);

/**
 * Whether an added column (a ColumnDef) needs a value in every existing row and gets none: NOT NULL
 * or PRIMARY KEY, with no DEFAULT, identity, generated expression or serial type to fill it.
 */
function requiresValueWithoutDefault(def: unknown): boolean {
  const column = nodeKind(def)?.[1];
  if (!column) return false;
  const types = ((column.typeName as PgNode | undefined)?.names as unknown[] | undefined) ?? [];
  const typeName = String((nodeKind(types.at(-1))?.[1] ?? {}).sval ?? '');
  if (SERIAL_TYPES.has(typeName.toLowerCase())) return false;
  const kinds = ((column.constraints as unknown[] | undefined) ?? []).map((x) =>
    String((nodeKind(x)?.[1] ?? {}).contype),
  );
  const required = kinds.includes('CONSTR_NOTNULL') || kinds.includes('CONSTR_PRIMARY');
  const filled = ['CONSTR_DEFAULT', 'CONSTR_IDENTITY', 'CONSTR_GENERATED'].some((k) => kinds.includes(k));
  return required && !filled;
}

/** Lints every migration of a source, the schema of each built from the ones before it. */
/** How long a cancellable lint runs before it lets the event loop (and an abort) in. */
const YIELD_EVERY_MS = 15;

export async function lintSource(source: MigrationSource, options: LintOptions): Promise<LintResult> {
  const parser = await loadParser();
  const schema = new StaticSchema(options.defaultSchema ?? 'public');
  const cache = new Map<string, Suppressions>();
  const suppressions = (file: string) => {
    let s = cache.get(file);
    if (!s) {
      let text = options.texts?.get(file);
      if (text === undefined) {
        try {
          text = readFileSync(file, 'utf8');
        } catch {
          text = ''; // the loader already read it; a file gone since has no suppressions to honour
        }
      }
      s = readSuppressions(text);
      cache.set(file, s);
    }
    return s;
  };
  const result: LintResult = { findings: [], statements: [] };
  let lastYield = performance.now();
  for (const [migrationIndex, migration] of source.migrations.entries()) {
    if (options.signal && performance.now() - lastYield > YIELD_EVERY_MS) {
      await new Promise((resolve) => setImmediate(resolve));
      lastYield = performance.now();
    }
    if (options.signal?.aborted) throw new CancelledError('The lint was superseded.');
    const section = migration.up;
    const parsed = parseEach(
      parser,
      section.statements.map((s) => ({ text: s.text, offset: s.start.offset })),
    );
    lintSection(
      {
        section,
        migrationIndex,
        source,
        options,
        schema,
        findings: result.findings,
        statements: result.statements,
        suppressions,
      },
      parsed,
    );
    schema.markAllExisting();
  }
  return result;
}

/** Lints one SQL text as one migration run the given way (default: statement by statement). */
export async function lintSql(
  text: string,
  options: LintOptions & {
    file?: string;
    mode?: MigrationSection['mode'];
    why?: string;
    wayOut?: string;
    earlier?: string;
  },
): Promise<LintResult> {
  const file = options.file ?? 'migration.sql';
  const statementsOf = (sql: string, path: string) =>
    toStatements(sqlText(path, sql), scanSql(sql).statements);
  const migrations = [];
  if (options.earlier !== undefined) {
    const earlier = statementsOf(options.earlier, 'earlier.sql');
    migrations.push({
      id: '0',
      version: '0',
      name: 'earlier',
      files: ['earlier.sql'],
      up: { mode: 'autocommit' as const, why: 'Earlier migrations.', statements: earlier },
    });
  }
  migrations.push({
    id: '1',
    version: '1',
    name: 'migration',
    files: [file],
    up: {
      mode: options.mode ?? 'autocommit',
      why: options.why ?? 'Runs statement by statement.',
      wayOut: options.wayOut,
      statements: statementsOf(text, file),
    },
  });
  const texts = new Map([
    [file, text],
    ['earlier.sql', options.earlier ?? ''],
  ]);
  const source: MigrationSource = { path: '.', tool: 'plain', evidence: [], migrations };
  const result = await lintSource(source, {
    ...options,
    texts: new Map([...(options.texts ?? []), ...texts]),
  });
  // The earlier SQL only builds the schema; its own findings are not this file's.
  return {
    findings: result.findings.filter((f) => f.file === file),
    statements: result.statements.filter((s) => s.file === file),
  };
}
