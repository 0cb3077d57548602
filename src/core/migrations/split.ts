/**
 * A PostgreSQL statement splitter: splits on `;` outside single-quoted strings (incl. E'…' with
 * backslash escapes), double-quoted identifiers, dollar quotes ($$ and $tag$), `--` and nested
 * `/* … *\/` comments, and SQL-standard function bodies (BEGIN ATOMIC … END).
 * It also collects each statement's bare words (keywords and unquoted identifiers, upper-cased),
 * so callers can look for tokens such as CONCURRENTLY without matching comments or strings.
 */

export interface ScannedStatement {
  /** The statement text without the trailing `;` and without leading/trailing comments. */
  sql: string;
  /** Unquoted words outside comments and strings, upper-cased, in order. */
  words: string[];
  /** 1-based line (within the scanned text) where the statement starts. */
  line: number;
  /** 1-based column (UTF-16 code units) of the statement's first character on that line. */
  column: number;
}

/** The SQL text cannot be split (an unterminated string or comment); `message` is a sentence fragment. */
export class SqlSplitError extends Error {
  constructor(
    message: string,
    readonly line: number,
  ) {
    super(message);
    this.name = 'SqlSplitError';
  }
}

// Character classes by UTF-16 code, not by regular expression: the scan tests every character of
// the file, and a regex test per character made it several times slower.
/** [A-Za-z_\u0080-\uffff] */
function isWordStart(code: number): boolean {
  return (code >= 97 && code <= 122) || (code >= 65 && code <= 90) || code === 95 || code >= 0x80;
}
/** [A-Za-z0-9_$\u0080-\uffff] */
function isWordPart(code: number): boolean {
  return isWordStart(code) || (code >= 48 && code <= 57) || code === 36;
}
function isDigit(code: number): boolean {
  return code >= 48 && code <= 57;
}
/** [0-9A-Za-z_.] */
function isNumberPart(code: number): boolean {
  return code < 0x80 && code !== 36 && (isWordPart(code) || code === 46);
}
/** What /\s/ matches (non-ASCII spaces such as U+00A0 through the regex). */
function isSpace(code: number): boolean {
  return code === 32 || (code >= 9 && code <= 13) || (code >= 0x80 && /\s/.test(String.fromCharCode(code)));
}
const DOLLAR_TAG = /^\$(?:[A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/;

export function splitStatements(sql: string): string[] {
  return scanStatements(sql).map((s) => s.sql);
}

/**
 * Line and column of offsets in `text`, counted incrementally: statements are asked for in order,
 * so the whole scan reads the text once (counting from 0 for each statement made a 5 MB file take
 * minutes). An offset before the previous one starts again from the top.
 */
class LineCounter {
  private offset = 0;
  private line = 1;
  /** Offset of the first character of `line`. */
  private lineStart = 0;

  constructor(private readonly text: string) {}

  at(index: number): { line: number; column: number } {
    if (index < this.offset) {
      this.offset = 0;
      this.line = 1;
      this.lineStart = 0;
    }
    // A plain loop, not indexOf: on one long line indexOf would search to the end on every call.
    const text = this.text;
    for (let k = this.offset; k < index; k++) {
      if (text.charCodeAt(k) === 10) {
        this.line++;
        this.lineStart = k + 1;
      }
    }
    this.offset = index;
    return { line: this.line, column: index - this.lineStart + 1 };
  }
}

export function scanStatements(sql: string): ScannedStatement[] {
  const statements: ScannedStatement[] = [];
  const lines = new LineCounter(sql);
  const lineAt = (index: number) => lines.at(index).line;
  // Words repeat (INSERT, INTO, the table…): one upper-cased string each keeps a large file's
  // statements from holding hundreds of thousands of copies (most of the scan's time was GC).
  const upperCased = new Map<string, string>();

  let start = -1; // index of the statement's first code character, -1 while only comments/space seen
  let codeEnd = -1; // index just after the statement's last code character
  let words: string[] = [];
  let atomicDepth = 0; // > 0 inside BEGIN ATOMIC … END, where `;` does not end the statement

  const finish = () => {
    if (start >= 0) statements.push({ sql: sql.slice(start, codeEnd), words, ...lines.at(start) });
    start = -1;
    codeEnd = -1;
    words = [];
    atomicDepth = 0;
  };
  const markCode = (from: number, to: number) => {
    if (start < 0) start = from;
    codeEnd = to;
  };

  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql[i];
    const code = sql.charCodeAt(i);
    const next = sql[i + 1];

    if (c === '-' && next === '-') {
      const end = sql.indexOf('\n', i);
      i = end < 0 ? n : end + 1;
      continue;
    }
    if (c === '/' && next === '*') {
      i = skipBlockComment(sql, i, lineAt);
      continue;
    }
    if (isSpace(code)) {
      i++;
      continue;
    }
    if (c === ';') {
      if (atomicDepth > 0) {
        markCode(i, i + 1);
        i++;
        continue;
      }
      finish();
      i++;
      continue;
    }
    if (c === "'") {
      const end = skipQuoted(sql, i, "'", false, lineAt);
      markCode(i, end);
      i = end;
      continue;
    }
    if (c === '"') {
      const end = skipQuoted(sql, i, '"', false, lineAt);
      markCode(i, end);
      i = end;
      continue;
    }
    if (c === '$') {
      const tag = DOLLAR_TAG.exec(sql.slice(i, i + 64))?.[0];
      if (tag) {
        const close = sql.indexOf(tag, i + tag.length);
        if (close < 0) {
          throw new SqlSplitError(`an unterminated dollar-quoted string (${tag})`, lineAt(i));
        }
        const end = close + tag.length;
        markCode(i, end);
        i = end;
        continue;
      }
      markCode(i, i + 1); // a parameter such as $1
      i++;
      continue;
    }
    if (isWordStart(code)) {
      let end = i + 1;
      while (end < n && isWordPart(sql.charCodeAt(end))) end++;
      const raw = sql.slice(i, end);
      let word = upperCased.get(raw);
      if (word === undefined) {
        word = raw.toUpperCase();
        if (upperCased.size < 10_000) upperCased.set(raw, word);
      }
      // E'…' is an escape string: backslash escapes the quote.
      if (word === 'E' && sql[end] === "'") {
        const stringEnd = skipQuoted(sql, end, "'", true, lineAt);
        markCode(i, stringEnd);
        i = stringEnd;
        continue;
      }
      markCode(i, end);
      if (word === 'ATOMIC' && words[words.length - 1] === 'BEGIN') atomicDepth++;
      else if (atomicDepth > 0 && word === 'CASE') atomicDepth++;
      else if (atomicDepth > 0 && word === 'END') atomicDepth--;
      words.push(word);
      i = end;
      continue;
    }
    if (isDigit(code)) {
      // Numbers (incl. 1e5, 1.5) are one token, so their letters are not taken for words.
      let end = i + 1;
      while (end < n && isNumberPart(sql.charCodeAt(end))) end++;
      markCode(i, end);
      i = end;
      continue;
    }
    markCode(i, i + 1);
    i++;
  }
  finish();
  return statements;
}

function skipQuoted(
  sql: string,
  open: number,
  quote: string,
  backslashEscapes: boolean,
  lineAt: (index: number) => number,
): number {
  let i = open + 1;
  if (!backslashEscapes) {
    // Jump from quote to quote; a doubled quote is an escaped quote.
    for (let q = sql.indexOf(quote, i); q >= 0; q = sql.indexOf(quote, i)) {
      if (sql[q + 1] !== quote) return q + 1;
      i = q + 2;
    }
    i = sql.length;
  }
  while (i < sql.length) {
    const c = sql[i];
    if (backslashEscapes && c === '\\') {
      i += 2;
      continue;
    }
    if (c === quote) {
      if (sql[i + 1] === quote) {
        i += 2; // doubled quote is an escaped quote
        continue;
      }
      return i + 1;
    }
    i++;
  }
  const what = quote === '"' ? 'an unterminated quoted identifier' : 'an unterminated quoted string';
  throw new SqlSplitError(what, lineAt(open));
}

function skipBlockComment(sql: string, open: number, lineAt: (index: number) => number): number {
  let depth = 0;
  let i = open;
  while (i < sql.length) {
    if (sql[i] === '/' && sql[i + 1] === '*') {
      depth++;
      i += 2;
    } else if (sql[i] === '*' && sql[i + 1] === '/') {
      depth--;
      i += 2;
      if (depth === 0) return i;
    } else {
      i++;
    }
  }
  throw new SqlSplitError('an unterminated /* comment', lineAt(open));
}
