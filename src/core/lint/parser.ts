// The real PostgreSQL parser (libpg-query, compiled to WebAssembly), loaded on first use only: the
// extension must not pay for 2 MB of WebAssembly on activation. Statements are parsed one at a time
// (boundaries from the migration scanner), so one syntax error leaves every other statement parsed.
import { scanSql, type RawStatement } from '../migrations/sqlScanner';

/** A parse-tree node as libpg-query returns it: `{ NodeType: { ...fields } }` or plain fields. */
export type PgNode = Record<string, unknown>;

interface PgQueryModule {
  loadModule(): Promise<void>;
  parseSync(query: string): {
    version: number;
    stmts?: { stmt: PgNode; stmt_location?: number; stmt_len?: number }[];
  };
}

let loading: Promise<PgQueryModule> | undefined;

/** Loads the parser's WebAssembly once; later calls share the same promise. */
export function loadParser(): Promise<PgQueryModule> {
  loading ??= (async () => {
    const module = (await import('libpg-query')) as unknown as PgQueryModule;
    await module.loadModule();
    return module;
  })();
  return loading;
}

/** A statement's text as located in its file (offsets are UTF-16 indexes into the file text). */
export interface StatementSlice {
  text: string;
  /** Offset of the statement's first character in the file text. */
  offset: number;
}

export interface SyntaxProblem {
  message: string;
  /** File offset (UTF-16) where PostgreSQL's cursor points. */
  offset: number;
}

export interface ParsedStatement extends StatementSlice {
  /** `{ AlterTableStmt: {...} }` etc.; absent when the statement does not parse. */
  ast?: PgNode;
  syntaxError?: SyntaxProblem;
}

/**
 * UTF-16 index in `text` of a UTF-8 byte offset into it (libpg-query's node `location`s are bytes).
 * A byte inside a multi-byte character maps to that character.
 */
export function byteToUtf16(text: string, byteOffset: number): number {
  let bytes = 0;
  let i = 0;
  while (i < text.length && bytes < byteOffset) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      bytes += 4;
      i++;
    } else bytes += 3;
    i++;
  }
  return i;
}

/**
 * UTF-16 index in `text` of a 0-based CHARACTER (code point) index, which is how the parser's
 * syntax-error cursor counts.
 */
export function codePointToUtf16(text: string, characters: number): number {
  let i = 0;
  for (let n = 0; n < characters && i < text.length; n++) {
    const c = text.charCodeAt(i);
    i += c >= 0xd800 && c <= 0xdbff && i + 1 < text.length ? 2 : 1;
  }
  return i;
}

/** Splits a whole file with the migration scanner (`;`-delimited, dollar quotes and comments respected). */
export function splitStatements(text: string): StatementSlice[] {
  return scanSql(text).statements.map((s: RawStatement) => ({
    text: text.slice(s.from, s.to),
    offset: s.from,
  }));
}

/** Parses each statement on its own, after the parser has been loaded (see `loadParser`). */
export function parseEach(parser: PgQueryModule, statements: readonly StatementSlice[]): ParsedStatement[] {
  return statements.map((s) => {
    try {
      const result = parser.parseSync(s.text);
      const stmt = result.stmts?.[0]?.stmt;
      return { ...s, ast: stmt };
    } catch (e) {
      const details = (e as { sqlDetails?: { message?: string; cursorPosition?: number } }).sqlDetails;
      const cursor = details?.cursorPosition;
      const at = cursor !== undefined && cursor >= 0 ? codePointToUtf16(s.text, cursor) : 0;
      return {
        ...s,
        syntaxError: { message: details?.message ?? (e as Error).message, offset: s.offset + at },
      };
    }
  });
}

/** The single key of a `{ NodeType: {...} }` node and its fields. */
export function nodeKind(node: unknown): [string, PgNode] | undefined {
  if (!node || typeof node !== 'object') return undefined;
  const keys = Object.keys(node);
  if (keys.length !== 1) return undefined;
  return [keys[0], (node as PgNode)[keys[0]] as PgNode];
}
