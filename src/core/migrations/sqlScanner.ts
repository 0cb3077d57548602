/**
 * A linear PostgreSQL statement scanner for migration files, with exact positions.
 *
 * One pass over the text (every construct is skipped with indexOf or a forward loop, never
 * re-scanned), so a 5 MB file splits in a few tens of milliseconds. It understands single-quoted
 * strings (and E'…' with backslash escapes), double-quoted identifiers, dollar quoting ($$ and
 * $tag$), `--` and nested `/* *\/` comments, SQL-standard bodies (BEGIN ATOMIC … END), a custom
 * delimiter (Atlas `-- atlas:delimiter`, Liquibase `endDelimiter`), and psql backslash
 * meta-commands (recorded for the caller to accept or refuse).
 *
 * Files are decoded strictly: a byte sequence that is not UTF-8 is refused with its offset, since
 * PostgreSQL (UTF8 server encoding) would refuse it too, later and less clearly.
 */
import { InvalidEncodingError, type MigrationStatement, type SourcePosition } from './model';

/** A statement found by the scanner, as offsets into the scanned text. */
export interface RawStatement {
  /** Offset of the first code character. */
  from: number;
  /** Offset just after the last code character (before the delimiter). */
  to: number;
  /** The first bare words, upper-cased. */
  keywords: string[];
  /** Whether a delimiter ended it (false for a last statement without one). */
  delimited: boolean;
}

/** A psql meta-command such as `\set ON_ERROR_STOP on` or `\ir other.sql`. */
export interface PsqlMetaCommand {
  from: number;
  to: number;
  /** The command without its backslash, e.g. "set", "ir". */
  command: string;
  /** The rest of the line, trimmed. */
  args: string;
  /** True when it appears after the start of an unfinished statement. */
  insideStatement: boolean;
}

export interface ScanOptions {
  /** Where to start and stop in the text (defaults: the whole text). */
  from?: number;
  to?: number;
  /** The statement delimiter; `;` by default. Any other string replaces `;` entirely. */
  delimiter?: string;
  /** Recognise psql meta-commands (a backslash outside strings and comments, to the end of the line). */
  psql?: boolean;
}

/** A psql variable interpolation (`:name`, `:'name'`, `:"name"`) outside strings and comments. */
export interface PsqlVariable {
  from: number;
  name: string;
}

export interface ScanResult {
  statements: RawStatement[];
  metaCommands: PsqlMetaCommand[];
  /** psql mode only. */
  variables: PsqlVariable[];
}

/** The text cannot be split (an unterminated string, identifier, dollar quote or comment). */
export class SqlScanError extends Error {
  constructor(
    message: string,
    /** Offset where the unterminated construct starts. */
    readonly offset: number,
  ) {
    super(message);
    this.name = 'SqlScanError';
  }
}

const MAX_KEYWORDS = 16;

function isWordStart(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c >= 0x80;
}
function isWordPart(c: number): boolean {
  return isWordStart(c) || (c >= 48 && c <= 57) || c === 36; // digits and `$`
}
/** The characters `isWordPart` accepts, as a sticky pattern (it always matches, maybe nothing). */
const WORD_REST = /[A-Za-z0-9_$\u0080-\uffff]*/y;
function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}
function isSpace(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13 || c === 12 || c === 11;
}

/** Whether a word starting with `c` may be BEGIN, ATOMIC, CASE or END (only those are compared past the first keywords). */
function mayBeBlockWord(c: number): boolean {
  const lower = c | 0x20;
  return lower === 97 /* a */ || lower === 98 /* b */ || lower === 99 /* c */ || lower === 101; /* e */
}

export function scanSql(text: string, options: ScanOptions = {}): ScanResult {
  const end = options.to ?? text.length;
  const delimiter = options.delimiter ?? ';';
  const semicolon = delimiter === ';';
  const statements: RawStatement[] = [];
  const metaCommands: PsqlMetaCommand[] = [];
  const variables: PsqlVariable[] = [];

  let start = -1;
  let codeEnd = -1;
  let keywords: string[] = [];
  let previousWord = '';
  let atomicDepth = 0;

  const finish = (delimited: boolean) => {
    if (start >= 0) statements.push({ from: start, to: codeEnd, keywords, delimited });
    start = -1;
    codeEnd = -1;
    keywords = [];
    previousWord = '';
    atomicDepth = 0;
  };
  const code = (from: number, to: number) => {
    if (start < 0) start = from;
    codeEnd = to;
  };

  let i = options.from ?? 0;
  while (i < end) {
    const c = text.charCodeAt(i);
    if ((c === 32 || c === 10) && semicolon) {
      // Blanks are most of a file's characters after words: skip the run here, not one per turn
      // (a custom delimiter may contain blanks, so it is looked for at each one instead).
      i++;
      while (i < end && isSpace(text.charCodeAt(i))) i++;
      continue;
    }
    const next = i + 1 < end ? text.charCodeAt(i + 1) : -1;

    if (!semicolon && atomicDepth === 0 && text.startsWith(delimiter, i) && i + delimiter.length <= end) {
      finish(true);
      i += delimiter.length;
      continue;
    }
    if (c === 45 /* - */ && next === 45) {
      // A line comment ends before its newline, so that a delimiter starting with one still matches.
      const nl = text.indexOf('\n', i);
      i = nl < 0 || nl > end ? end : nl;
      continue;
    }
    if (c === 47 /* / */ && next === 42 /* * */) {
      i = skipBlockComment(text, i, end);
      continue;
    }
    if (isSpace(c)) {
      i++;
      continue;
    }
    if (c === 59 /* ; */ && semicolon) {
      if (atomicDepth > 0) {
        code(i, i + 1);
        i++;
        continue;
      }
      finish(true);
      i++;
      continue;
    }
    if (c === 39 /* ' */) {
      const close = skipQuoted(text, i, end, 39, false);
      code(i, close);
      i = close;
      continue;
    }
    if (c === 34 /* " */) {
      const close = skipQuoted(text, i, end, 34, false);
      code(i, close);
      i = close;
      continue;
    }
    if (c === 36 /* $ */) {
      const tagEnd = dollarTagEnd(text, i, end);
      if (tagEnd > 0) {
        const tag = text.slice(i, tagEnd);
        const close = text.indexOf(tag, tagEnd);
        if (close < 0 || close + tag.length > end) {
          throw new SqlScanError(`an unterminated dollar-quoted string (${tag})`, i);
        }
        code(i, close + tag.length);
        i = close + tag.length;
        continue;
      }
      code(i, i + 1); // a parameter such as $1
      i++;
      continue;
    }
    if (c === 92 /* \ */ && options.psql) {
      const nl = text.indexOf('\n', i);
      const lineEnd = nl < 0 || nl > end ? end : nl;
      const line = text.slice(i + 1, lineEnd);
      const name = /^[^\s\\]*/.exec(line)?.[0] ?? '';
      metaCommands.push({
        from: i,
        to: lineEnd,
        command: name,
        args: line.slice(name.length).trim(),
        insideStatement: start >= 0,
      });
      i = lineEnd;
      continue;
    }
    if (c === 58 /* : */ && options.psql && i > 0 && text.charCodeAt(i - 1) !== 58 && next !== 58) {
      // psql interpolates :name, :'name' and :"name" (not the :: cast, not :=).
      const quoted = next === 39 || next === 34;
      const nameStart = quoted ? i + 2 : i + 1;
      if (nameStart < end && isWordStart(text.charCodeAt(nameStart))) {
        let j = nameStart + 1;
        while (j < end && isWordPart(text.charCodeAt(j)) && text.charCodeAt(j) !== 36) j++;
        if (!quoted || (j < end && text.charCodeAt(j) === next)) {
          variables.push({ from: i, name: text.slice(nameStart, j) });
        }
      }
    }
    if (isWordStart(c)) {
      // The rest of the word in one call of the regular-expression engine, not a loop per character.
      WORD_REST.lastIndex = i + 1;
      WORD_REST.test(text);
      const j = Math.min(WORD_REST.lastIndex, end);
      // E'…' (or e'…') is an escape string: a backslash escapes the next character.
      if (j === i + 1 && (c === 69 || c === 101) && j < end && text.charCodeAt(j) === 39) {
        const close = skipQuoted(text, j, end, 39, true);
        code(i, close);
        i = close;
        continue;
      }
      code(i, j);
      // Upper-case only the words that matter: the first keywords, and BEGIN/ATOMIC/CASE/END.
      const length = j - i;
      const word =
        keywords.length < MAX_KEYWORDS || (length >= 3 && length <= 6 && mayBeBlockWord(c))
          ? text.slice(i, j).toUpperCase()
          : '';
      if (word === 'ATOMIC' && previousWord === 'BEGIN') atomicDepth++;
      else if (atomicDepth > 0 && word === 'CASE') atomicDepth++;
      else if (atomicDepth > 0 && word === 'END') atomicDepth--;
      if (keywords.length < MAX_KEYWORDS) keywords.push(word);
      previousWord = word;
      i = j;
      continue;
    }
    if (isDigit(c)) {
      // A number (1e5, 1.5, 0x1F) is one token, so its letters are not taken for words.
      let j = i + 1;
      while (j < end) {
        const d = text.charCodeAt(j);
        if (isDigit(d) || (d >= 65 && d <= 90) || (d >= 97 && d <= 122) || d === 95 || d === 46) j++;
        else break;
      }
      code(i, j);
      i = j;
      continue;
    }
    code(i, i + 1);
    i++;
  }
  finish(false);
  return { statements, metaCommands, variables };
}

/** End offset of a dollar-quote tag starting at `i` (`$$` or `$name$`), or -1 when it is not one. */
function dollarTagEnd(text: string, i: number, end: number): number {
  // `$` inside a word (a$b) is part of the identifier; the word branch consumed those already.
  let j = i + 1;
  if (j < end && text.charCodeAt(j) === 36) return j + 1;
  if (j >= end || !isWordStart(text.charCodeAt(j))) return -1;
  j++;
  while (j < end) {
    const c = text.charCodeAt(j);
    if (c === 36) return j + 1;
    if (!isWordStart(c) && !isDigit(c)) return -1;
    j++;
  }
  return -1;
}

function skipQuoted(text: string, open: number, end: number, quote: number, backslash: boolean): number {
  let i = open + 1;
  while (i < end) {
    const c = text.charCodeAt(i);
    if (backslash && c === 92) {
      i += 2;
      continue;
    }
    if (c === quote) {
      if (i + 1 < end && text.charCodeAt(i + 1) === quote) {
        i += 2; // a doubled quote is an escaped quote
        continue;
      }
      return i + 1;
    }
    i++;
  }
  throw new SqlScanError(
    quote === 34 ? 'an unterminated quoted identifier' : 'an unterminated quoted string',
    open,
  );
}

function skipBlockComment(text: string, open: number, end: number): number {
  let depth = 0;
  let i = open;
  while (i < end) {
    const c = text.charCodeAt(i);
    const next = i + 1 < end ? text.charCodeAt(i + 1) : -1;
    if (c === 47 && next === 42) {
      depth++;
      i += 2;
    } else if (c === 42 && next === 47) {
      depth--;
      i += 2;
      if (depth === 0) return i;
    } else {
      i++;
    }
  }
  throw new SqlScanError('an unterminated /* comment', open);
}

/** Bytes that UTF-8 uses for the UTF-16 text between `from` and `to`. */
function utf8Length(text: string, from: number, to: number): number {
  let bytes = 0;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < to) {
      const low = text.charCodeAt(i + 1);
      if (low >= 0xdc00 && low <= 0xdfff) {
        bytes += 4;
        i++;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}

/**
 * Maps offsets of a decoded file to line, column (UTF-16) and byte offset. Line starts are
 * computed once; byte offsets are counted from the nearest earlier point already mapped, so a
 * forward sweep over a file costs one pass.
 */
export class PositionMap {
  private readonly lineStarts: number[] = [0];
  private readonly lineStartBytes: number[];
  private cursorOffset = 0;
  private cursorByte: number;
  private cursorLine = 0;
  private readonly ascii: boolean;

  constructor(
    private readonly text: string,
    /** Bytes before the text in the file (a UTF-8 BOM is 3). */
    byteBase = 0,
  ) {
    let nl = text.indexOf('\n');
    while (nl >= 0) {
      this.lineStarts.push(nl + 1);
      nl = text.indexOf('\n', nl + 1);
    }
    this.lineStartBytes = new Array<number>(this.lineStarts.length);
    // Most migrations are ASCII, where a byte offset is the offset (one native count decides).
    this.ascii = Buffer.byteLength(text) === text.length;
    let bytes = byteBase;
    for (let l = 0; l < this.lineStarts.length; l++) {
      if (l > 0)
        bytes += this.ascii
          ? this.lineStarts[l] - this.lineStarts[l - 1]
          : utf8Length(text, this.lineStarts[l - 1], this.lineStarts[l]);
      this.lineStartBytes[l] = bytes;
    }
    this.cursorByte = byteBase;
  }

  get lineCount(): number {
    return this.lineStarts.length;
  }

  /** Offset of the start of a 1-based line. */
  lineStart(line: number): number {
    return this.lineStarts[Math.min(Math.max(line, 1), this.lineStarts.length) - 1];
  }

  lineOf(offset: number): number {
    let lo = 0;
    let hi = this.lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.lineStarts[mid] <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  }

  at(offset: number): SourcePosition {
    const o = Math.min(Math.max(offset, 0), this.text.length);
    const line = this.lineOf(o);
    const lineStart = this.lineStarts[line - 1];
    let byte: number;
    if (this.ascii) byte = this.lineStartBytes[line - 1] + (o - lineStart);
    else if (this.cursorLine === line && this.cursorOffset <= o) {
      byte = this.cursorByte + utf8Length(this.text, this.cursorOffset, o);
    } else {
      byte = this.lineStartBytes[line - 1] + utf8Length(this.text, lineStart, o);
    }
    this.cursorLine = line;
    this.cursorOffset = o;
    this.cursorByte = byte;
    return { line, column: o - lineStart + 1, offset: o, byte };
  }
}

/** A decoded migration file with its position map. */
export interface SqlFileText {
  path: string;
  text: string;
  positions: PositionMap;
}

/** 0-based offset of the first byte that does not start or continue a valid UTF-8 sequence; -1 if none. */
export function findInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  const n = bytes.length;
  while (i < n) {
    const b = bytes[i];
    if (b < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let min: number;
    let max = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) {
      need = 1;
      min = 0x80;
    } else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      min = b === 0xe0 ? 0xa0 : 0x80; // no overlong forms
      if (b === 0xed) max = 0x9f; // no UTF-16 surrogates
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      min = b === 0xf0 ? 0x90 : 0x80;
      if (b === 0xf4) max = 0x8f; // nothing above U+10FFFF
    } else {
      return i;
    }
    if (i + need >= n) return i; // truncated at the end of the file
    const second = bytes[i + 1];
    if (second === undefined || second < min || second > max) return i;
    for (let k = 2; k <= need; k++) {
      const cont = bytes[i + k];
      if (cont === undefined || cont < 0x80 || cont > 0xbf) return i;
    }
    i += need + 1;
  }
  return -1;
}

/** Decodes a file strictly as UTF-8 (a leading BOM is dropped); throws InvalidEncodingError otherwise. */
export function decodeSqlFile(path: string, bytes: Uint8Array): SqlFileText {
  const bom = bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    const bad = Math.max(findInvalidUtf8(bytes), 0);
    let line = 1;
    for (let k = 0; k < bad; k++) if (bytes[k] === 10) line++;
    throw new InvalidEncodingError(path, bad, line);
  }
  return { path, text, positions: new PositionMap(text, bom) };
}

/** Decodes in-memory text (e.g. an editor selection) as if it were a file. */
export function sqlText(path: string, text: string): SqlFileText {
  return { path, text, positions: new PositionMap(text) };
}

/** Turns raw statements of `file` into model statements with positions. */
export function toStatements(file: SqlFileText, raw: readonly RawStatement[]): MigrationStatement[] {
  return raw.map((s) => ({
    text: file.text.slice(s.from, s.to),
    file: file.path,
    start: file.positions.at(s.from),
    end: file.positions.at(s.to),
    keywords: s.keywords,
  }));
}

/**
 * Where PostgreSQL's error position falls in the file. PostgreSQL reports `position` as a 1-based
 * index in CHARACTERS (code points) of the query string it received; `sent` is that string (a
 * section script or a statement's text) and `start` where it begins in the file. Linear in the
 * distance walked; positions past the end clamp to the end.
 */
export function locateErrorPosition(start: SourcePosition, sent: string, position: number): SourcePosition {
  let { line, column, offset, byte } = start;
  let i = 0;
  for (let character = 1; character < position && i < sent.length; character++) {
    const c = sent.charCodeAt(i);
    const pair = c >= 0xd800 && c <= 0xdbff && i + 1 < sent.length;
    const units = pair ? 2 : 1;
    byte += c < 0x80 ? 1 : c < 0x800 ? 2 : pair ? 4 : 3;
    if (c === 10) {
      line++;
      column = 1;
    } else column += units;
    offset += units;
    i += units;
  }
  return { line, column, offset, byte };
}
