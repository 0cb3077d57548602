/** What every adapter needs: strict file reading, scanning with file:line errors, section builders. */
import type { Dirent } from 'node:fs';
import { AsyncLocalStorage } from 'node:async_hooks';
import { open, readdir, readFile, stat } from 'node:fs/promises';
import { isAbsolute, join, relative } from 'node:path';
import {
  MigrationFolderError,
  type Migration,
  type MigrationSection,
  type MigrationStatement,
  type SectionMode,
} from '../model';
import {
  decodeSqlFile,
  scanSql,
  SqlScanError,
  toStatements,
  type PsqlMetaCommand,
  type PsqlVariable,
  type ScanOptions,
  type SqlFileText,
} from '../sqlScanner';

/** A path for messages: relative to the working folder when inside it, else absolute. */
export function shown(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path;
}

/** An error at a place in a file: "file:line: sentence". */
export function errorAt(file: SqlFileText, offset: number, sentence: string): MigrationFolderError {
  const pos = file.positions.at(offset);
  return new MigrationFolderError(
    `${shown(file.path)}:${pos.line}: ${sentence}`,
    file.path,
    pos.line,
    pos.column,
  );
}

/** An error about a file as a whole (or a line of it). */
export function errorIn(
  path: string,
  sentence: string,
  line?: number,
  cause?: unknown,
): MigrationFolderError {
  return new MigrationFolderError(
    `${shown(path)}${line ? `:${line}` : ''}: ${sentence}`,
    path,
    line,
    undefined,
    cause === undefined ? undefined : { cause },
  );
}

export async function listEntries(dir: string): Promise<Dirent[]> {
  try {
    return await readdir(dir, { withFileTypes: true });
  } catch (e) {
    throw errorIn(
      dir,
      `cannot read this folder (${(e as NodeJS.ErrnoException).code ?? 'error'}).`,
      undefined,
      e,
    );
  }
}

/** Entries that are files, by name. */
export async function fileNames(dir: string): Promise<string[]> {
  return (await listEntries(dir)).filter((e) => e.isFile()).map((e) => e.name);
}

export async function dirNames(dir: string): Promise<string[]> {
  return (await listEntries(dir)).filter((e) => e.isDirectory()).map((e) => e.name);
}

export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Reads and strictly decodes a migration file. */
export async function readSqlFile(path: string): Promise<SqlFileText> {
  const unsaved = unsavedTexts.getStore()?.get(path);
  if (unsaved !== undefined) return decodeSqlFile(path, Buffer.from(unsaved, 'utf8'));
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw errorIn(
      path,
      `cannot read this file (${(e as NodeJS.ErrnoException).code ?? 'error'}).`,
      undefined,
      e,
    );
  }
  return decodeSqlFile(path, bytes);
}

/**
 * Texts that replace files on disk while `fn` loads a source: the editor lints a migration as typed,
 * before it is saved, and the adapters still read every other file (and the tool's rules) themselves.
 */
const unsavedTexts = new AsyncLocalStorage<ReadonlyMap<string, string>>();

export function withUnsavedTexts<T>(texts: ReadonlyMap<string, string>, fn: () => Promise<T>): Promise<T> {
  return unsavedTexts.run(texts, fn);
}

/** The first `maxBytes` of a file as text (lenient), for detection only; '' when unreadable. */
export async function readHead(path: string, maxBytes = 8192): Promise<string> {
  try {
    const handle = await open(path, 'r');
    try {
      const buffer = Buffer.alloc(maxBytes);
      const { bytesRead } = await handle.read(buffer, 0, maxBytes, 0);
      return buffer.subarray(0, bytesRead).toString('utf8');
    } finally {
      await handle.close();
    }
  } catch {
    return '';
  }
}

export interface Scanned {
  statements: MigrationStatement[];
  metaCommands: PsqlMetaCommand[];
  variables: PsqlVariable[];
}

/** Scans a range of a file; an unterminated construct becomes a file:line error. */
export function scanFile(file: SqlFileText, options: ScanOptions = {}): Scanned {
  try {
    const result = scanSql(file.text, options);
    return {
      statements: toStatements(file, result.statements),
      metaCommands: result.metaCommands,
      variables: result.variables,
    };
  } catch (e) {
    if (e instanceof SqlScanError) {
      throw errorAt(file, e.offset, `${e.message} starts here, so the file cannot be split into statements.`);
    }
    throw e;
  }
}

export interface Line {
  /** 1-based. */
  number: number;
  /** Offset of its first character. */
  start: number;
  /** Offset of its end (before `\r\n` or `\n`). */
  end: number;
  /** Offset of the next line's start. */
  next: number;
  text: string;
}

export function lines(text: string, from = 0, to = text.length): Line[] {
  const result: Line[] = [];
  let start = from;
  let number = 1;
  for (let k = text.indexOf('\n'); k >= 0 && k < from; k = text.indexOf('\n', k + 1)) number++;
  while (start <= to) {
    const nl = text.indexOf('\n', start);
    const lineEnd = nl < 0 || nl >= to ? to : nl;
    const end = lineEnd > start && text.charCodeAt(lineEnd - 1) === 13 ? lineEnd - 1 : lineEnd;
    result.push({ number, start, end, next: lineEnd + 1, text: text.slice(start, end) });
    if (lineEnd >= to) break;
    start = lineEnd + 1;
    number++;
  }
  return result;
}

/** A section whose statements the tool sends one by one. */
export function statementSection(
  mode: SectionMode,
  why: string,
  statements: MigrationStatement[],
): MigrationSection {
  return { mode, why, statements };
}

/**
 * A section the tool sends as ONE string: the text between `from` and `to` exactly as in the file
 * (comments included, as the tool sends them), with its statements for positions.
 */
export function scriptSection(
  file: SqlFileText,
  from: number,
  to: number,
  mode: SectionMode,
  why: string,
  wayOut?: string,
): MigrationSection {
  const { statements } = scanFile(file, { from, to });
  return {
    mode,
    why,
    statements,
    ...(wayOut ? { wayOut } : {}),
    script: { text: file.text.slice(from, to), file: file.path, start: file.positions.at(from) },
  };
}

const BEGIN_WORDS = new Set(['BEGIN', 'START']);
const END_WORDS = new Set(['COMMIT', 'END']);

/** BEGIN / START TRANSACTION / COMMIT / END / ROLLBACK / ABORT (not BEGIN ATOMIC bodies). */
export function isTransactionControl(keywords: readonly string[]): boolean {
  const first = keywords[0];
  if (first === 'BEGIN') return keywords[1] !== 'ATOMIC';
  if (first === 'START') return keywords[1] === 'TRANSACTION';
  return first === 'COMMIT' || first === 'END' || first === 'ROLLBACK' || first === 'ABORT';
}

/**
 * For files run statement by statement in autocommit (psql, a plain folder): an outer
 * `BEGIN; … COMMIT;` with no other transaction control inside makes the whole file one transaction.
 * Returns the inner statements in that case, undefined otherwise.
 */
export function outerTransaction(
  statements: readonly MigrationStatement[],
): MigrationStatement[] | undefined {
  if (statements.length < 2) return undefined;
  const first = statements[0].keywords;
  const last = statements[statements.length - 1].keywords;
  const opens = BEGIN_WORDS.has(first[0]) && isTransactionControl(first);
  const closes = END_WORDS.has(last[0]) && isTransactionControl(last);
  if (!opens || !closes) return undefined;
  const inner = statements.slice(1, -1);
  return inner.some((s) => isTransactionControl(s.keywords)) ? undefined : inner;
}

/** Natural order for file names: leading numbers compared as numbers, then the text. */
export function compareFileNames(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}

/**
 * The migrations of a folder with one file per migration, `<version>_<name>.sql` (dbmate, goose,
 * node-pg-migrate): each file whose name `file` matches (group 1 the version, group 2 the name) read
 * and split into its sections by the tool's `sections`, in the folder's order; the caller sorts.
 */
export async function loadSingleFileMigrations(
  dir: string,
  file: RegExp,
  sections: (text: SqlFileText) => { up: MigrationSection; down?: MigrationSection },
): Promise<Migration[]> {
  const migrations: Migration[] = [];
  for (const name of await fileNames(dir)) {
    const match = file.exec(name);
    if (!match) continue;
    const path = join(dir, name);
    const { up, down } = sections(await readSqlFile(path));
    migrations.push({
      id: name.slice(0, -'.sql'.length),
      version: match[1],
      name: match[2],
      files: [path],
      up,
      ...(down ? { down } : {}),
    });
  }
  return migrations;
}
