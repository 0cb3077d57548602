// The real PostgreSQL parser (libpg-query, compiled to WebAssembly), loaded on first use only: the
// extension must not pay for 2 MB of WebAssembly on activation. The statements of a section (boundaries
// from the migration scanner) are parsed in one call; a syntax error fails the whole text, so then the
// bad statement is parsed alone and the others around it together again: one bad statement leaves
// every other statement parsed.
import { scanSql, type RawStatement } from '../migrations/sqlScanner';

/** A parse-tree node as libpg-query returns it: `{ NodeType: { ...fields } }` or plain fields. */
export type PgNode = Record<string, unknown>;

/** A scanner token: UTF-8 byte offsets into the scanned text; keywordKind 0 = not a keyword, 1 = unreserved. */
export interface ScanToken {
  start: number;
  end: number;
  text: string;
  keywordKind: number;
}

/** PostgreSQL's parser and scanner, as the linter calls them. */
export interface PgQueryParser {
  /** Throws a `ParserSyntaxError` when the text does not parse. */
  parseSync(query: string): {
    version: number;
    stmts?: { stmt: PgNode; stmt_location?: number; stmt_len?: number }[];
  };
  scanSync(query: string): { tokens: ScanToken[] };
}

/** PostgreSQL's syntax error; `sqlDetails.cursorPosition` is 0-based and counts characters (code points). */
export class ParserSyntaxError extends Error {
  constructor(
    message: string,
    readonly sqlDetails: { message: string; cursorPosition: number },
  ) {
    super(message);
    this.name = 'ParserSyntaxError';
  }
}

/**
 * The Emscripten module inside libpg-query (pinned to one exact version): the exports its own
 * index.cjs calls. The linter calls them directly so that text crosses into and out of WebAssembly
 * through the platform's UTF-8 encoder and decoder, not Emscripten's per-byte JavaScript loops (a
 * fifth of a cold parse of thousands of statements).
 */
interface PgQueryWasm {
  HEAPU8: Uint8Array;
  _malloc(bytes: number): number;
  _free(pointer: number): void;
  getValue(pointer: number, type: 'i32'): number;
  _wasm_parse_query_raw(query: number): number;
  _wasm_free_parse_result(result: number): void;
  _wasm_scan(query: number): number;
  _wasm_free_string(text: number): void;
}

const utf8Decoder = new TextDecoder();
const utf8Encoder = new TextEncoder();

/** Runs `use` with `text` as a NUL-terminated UTF-8 string in the module's memory. */
function withCString<T>(m: PgQueryWasm, text: string, use: (pointer: number) => T): T {
  const capacity = text.length * 3 + 1; // at most 3 UTF-8 bytes per UTF-16 unit
  const pointer = m._malloc(capacity);
  if (!pointer) throw new Error('The SQL parser ran out of memory.');
  try {
    const { written } = utf8Encoder.encodeInto(text, m.HEAPU8.subarray(pointer, pointer + capacity - 1));
    m.HEAPU8[pointer + written] = 0;
    return use(pointer);
  } finally {
    m._free(pointer);
  }
}

/** The NUL-terminated UTF-8 string at `pointer` (the heap view is read afresh: memory may have grown). */
function readCString(m: PgQueryWasm, pointer: number): string {
  const heap = m.HEAPU8;
  return utf8Decoder.decode(heap.subarray(pointer, heap.indexOf(0, pointer)));
}

function parserOver(m: PgQueryWasm): PgQueryParser {
  return {
    parseSync(query) {
      return withCString(m, query, (q) => {
        // PgQueryParseResult { char *parse_tree; char *stderr_buffer; PgQueryError *error; }
        const result = m._wasm_parse_query_raw(q);
        if (!result) throw new Error('The SQL parser ran out of memory.');
        try {
          const error = m.getValue(result + 8, 'i32');
          if (error) {
            // PgQueryError { char *message; char *funcname; char *filename; int lineno; int cursorpos; }
            const messagePointer = m.getValue(error, 'i32');
            const message = messagePointer ? readCString(m, messagePointer) : 'syntax error';
            const cursor = m.getValue(error + 16, 'i32'); // 1-based; 0 when PostgreSQL gave none
            throw new ParserSyntaxError(message, { message, cursorPosition: cursor > 0 ? cursor - 1 : 0 });
          }
          const tree = m.getValue(result, 'i32');
          if (!tree) throw new Error('The SQL parser returned no parse tree.');
          return JSON.parse(readCString(m, tree)) as ReturnType<PgQueryParser['parseSync']>;
        } finally {
          m._wasm_free_parse_result(result);
        }
      });
    },
    scanSync(query) {
      return withCString(m, query, (q) => {
        const result = m._wasm_scan(q);
        if (!result) throw new Error('The SQL scanner ran out of memory.');
        try {
          const text = readCString(m, result);
          // The scanner reports an error as its text instead of JSON.
          if (!text.startsWith('{')) throw new Error(text);
          return JSON.parse(text) as ReturnType<PgQueryParser['scanSync']>;
        } finally {
          m._wasm_free_string(result);
        }
      });
    },
  };
}

let loading: Promise<PgQueryParser> | undefined;

/** Loads the parser's WebAssembly once; later calls share the same promise. */
export function loadParser(): Promise<PgQueryParser> {
  loading ??= (async () => {
    // require() where it is needed, not import(): both load it only now, but an import() left in
    // CommonJS output (the tests' build) goes through Node's ES module loader, which costs more than
    // the WebAssembly itself. Emscripten's loader exports its factory and ships no type declarations.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const factory = require('libpg-query/wasm/libpg-query.js') as () => Promise<PgQueryWasm>;
    return parserOver(await factory());
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
  /**
   * The UTF-8 byte offset of the statement in the text the parser received: a node's `location`
   * minus this is a byte offset into `text` (0 when the statement was parsed alone).
   */
  locationBase?: number;
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

/** Between statements parsed together: a newline ends a trailing `--` comment before the `;`. */
const JOIN = '\n;\n';

/** Syntax errors after which the rest of a section is parsed statement by statement (a file that is not SQL). */
const MAX_SPLITS = 8;

/**
 * Parses the statements, after the parser has been loaded (see `loadParser`): all in one call (one
 * JSON round trip instead of one per statement). A syntax error fails that call; PostgreSQL points at
 * it, so the statement it is in is parsed alone (for its own error) and the statements before and
 * after it together again. Each statement is parsed alone when the parser and the slices do not line
 * up one to one (they disagree on a boundary: each slice must stand alone, as it would be run).
 */
export function parseEach(parser: PgQueryParser, statements: readonly StatementSlice[]): ParsedStatement[] {
  const out: ParsedStatement[] = [];
  const alone = (list: readonly StatementSlice[]) => {
    for (const s of list) out.push(parseAlone(parser, s));
  };
  const together = (list: readonly StatementSlice[]) => {
    const attempt = list.length > 1 ? parseTogether(parser, list) : undefined;
    if (Array.isArray(attempt)) for (const p of attempt) out.push(p);
    else alone(list);
  };
  let rest = statements;
  for (let splits = 0; rest.length > 0; splits++) {
    if (rest.length === 1 || splits >= MAX_SPLITS) {
      alone(rest);
      break;
    }
    const attempt = parseTogether(parser, rest);
    if (Array.isArray(attempt)) {
      for (const p of attempt) out.push(p);
      break;
    }
    if (attempt === undefined) {
      alone(rest);
      break;
    }
    // Everything before the failing statement was read without error, so it parses on its own.
    together(rest.slice(0, attempt.failedAt));
    out.push(parseAlone(parser, rest[attempt.failedAt]));
    rest = rest.slice(attempt.failedAt + 1);
  }
  return out;
}

/**
 * The statements parsed in one call; `{ failedAt }` (the index of the statement PostgreSQL's error
 * points into) on a syntax error; undefined when they do not line up one to one.
 */
function parseTogether(
  parser: PgQueryParser,
  statements: readonly StatementSlice[],
): ParsedStatement[] | { failedAt: number } | undefined {
  const joined = statements.map((s) => s.text).join(JOIN);
  let stmts;
  try {
    stmts = parser.parseSync(joined).stmts ?? [];
  } catch (e) {
    const cursor = (e as { sqlDetails?: { cursorPosition?: number } }).sqlDetails?.cursorPosition;
    if (cursor === undefined || cursor < 0) return undefined;
    const at = codePointToUtf16(joined, cursor);
    // The last statement starting at or before the error (an error on the `;` after it is its own).
    let start = 0;
    let failedAt = 0;
    for (let i = 0; i < statements.length && start <= at; i++) {
      failedAt = i;
      start += statements[i].text.length + JOIN.length;
    }
    return { failedAt };
  }
  if (stmts.length !== statements.length) return undefined;
  const joinBytes = Buffer.byteLength(JOIN);
  const out: ParsedStatement[] = new Array<ParsedStatement>(statements.length);
  let base = 0;
  let previousEnd = 0;
  for (let i = 0; i < statements.length; i++) {
    const s = statements[i];
    const bytes = Buffer.byteLength(s.text);
    // A parsed statement starts just after the `;` before it (blanks included): it must start
    // between the end of the previous slice and the end of its own.
    const location = stmts[i].stmt_location ?? 0;
    if (location < previousEnd || location > base + bytes) return undefined;
    out[i] = { text: s.text, offset: s.offset, ast: stmts[i].stmt, locationBase: base };
    previousEnd = base + bytes;
    base = previousEnd + joinBytes;
  }
  return out;
}

function parseAlone(parser: PgQueryParser, s: StatementSlice): ParsedStatement {
  try {
    const result = parser.parseSync(s.text);
    const stmt = result.stmts?.[0]?.stmt;
    return { ...s, ast: stmt, locationBase: 0 };
  } catch (e) {
    const details = (e as { sqlDetails?: { message?: string; cursorPosition?: number } }).sqlDetails;
    const cursor = details?.cursorPosition;
    const at = cursor !== undefined && cursor >= 0 ? codePointToUtf16(s.text, cursor) : 0;
    return {
      ...s,
      syntaxError: { message: details?.message ?? (e as Error).message, offset: s.offset + at },
    };
  }
}

/** The single key of a `{ NodeType: {...} }` node and its fields. */
export function nodeKind(node: unknown): [string, PgNode] | undefined {
  if (!node || typeof node !== 'object') return undefined;
  // Called for every node the linter looks at: no Object.keys array per call.
  let kind: string | undefined;
  for (const key in node) {
    if (kind !== undefined) return undefined;
    kind = key;
  }
  return kind === undefined ? undefined : [kind, (node as PgNode)[kind] as PgNode];
}

/** The texts of a list of `String` nodes (a qualified name, a column list). */
export function stringList(list: unknown): string[] {
  if (!Array.isArray(list)) return [];
  const out: string[] = [];
  for (const item of list) {
    const k = nodeKind(item);
    if (k?.[0] === 'String' && typeof k[1].sval === 'string') out.push(k[1].sval);
  }
  return out;
}
