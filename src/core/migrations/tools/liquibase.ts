/**
 * Liquibase formatted SQL: files starting `--liquibase formatted sql`, changesets opened by
 * `--changeset author:id [attribute:value …]`, rollbacks as `--rollback <sql>` lines or a
 * `/* liquibase rollback … *\/` block.
 * Documented rules (Liquibase docs, "Example Changelogs: SQL Format" and changeset attributes):
 * each changeset runs in a transaction (`runInTransaction`, default true), its statements split on
 * `;` (or `endDelimiter`) and sent one by one unless `splitStatements:false`; `dbms:` limits a
 * changeset to some databases. The files of a folder run in name order, as `includeAll` does.
 */
import { join } from 'node:path';
import type { Detection, Migration, MigrationSection, MigrationSource, MigrationStatement } from '../model';
import { scanSql, type SqlFileText } from '../sqlScanner';
import {
  compareFileNames,
  errorAt,
  fileNames,
  lines,
  readHead,
  readSqlFile,
  scanFile,
  scriptSection,
  type Line,
} from './common';

export const tool = 'liquibase' as const;
const HEADER = /^--\s*liquibase\s+formatted\s+sql\b/i;
const CHANGESET = /^--\s*changeset\s+("[^"]+"|\S+?):(\S+)(.*)$/i;
const ROLLBACK_LINE = /^--\s*rollback\b ?(.*)$/i;
const ROLLBACK_BLOCK = /^\/\*\s*liquibase\s+rollback\s*$/i;

export async function detect(dir: string): Promise<Detection | undefined> {
  for (const name of (await fileNames(dir).catch(() => [])).filter((n) => n.endsWith('.sql')).sort()) {
    if (HEADER.test((await readHead(join(dir, name), 512)).trimStart())) {
      return { tool, confidence: 90, evidence: [`${name} starts with \`--liquibase formatted sql\`.`] };
    }
  }
  return undefined;
}

export async function load(dir: string): Promise<MigrationSource> {
  const migrations: Migration[] = [];
  for (const name of (await fileNames(dir)).filter((n) => n.endsWith('.sql')).sort(compareFileNames)) {
    const file = await readSqlFile(join(dir, name));
    if (!HEADER.test(file.text.trimStart())) continue; // not a formatted-SQL changelog
    for (const migration of parse(file)) {
      migrations.push({ ...migration, version: String(migrations.length + 1) });
    }
  }
  return { path: dir, tool, evidence: [], migrations };
}

interface Attributes {
  runInTransaction: boolean;
  splitStatements: boolean;
  endDelimiter?: string;
  dbms?: string;
}

function attributes(file: SqlFileText, line: Line, rest: string): Attributes {
  const result: Attributes = { runInTransaction: true, splitStatements: true };
  for (const m of rest.matchAll(/(\w+):("[^"]*"|\S+)/g)) {
    const key = m[1];
    const value = m[2].replace(/^"|"$/g, '');
    const bool = () => {
      if (value !== 'true' && value !== 'false')
        throw errorAt(file, line.start, `${key} must be true or false, not \`${value}\`.`);
      return value === 'true';
    };
    if (key === 'runInTransaction') result.runInTransaction = bool();
    else if (key === 'splitStatements') result.splitStatements = bool();
    else if (key === 'endDelimiter') result.endDelimiter = value.replace(/\\n/g, '\n').replace(/\\;/g, ';');
    else if (key === 'dbms') result.dbms = value;
  }
  return result;
}

/** Whether a `dbms:` list lets the changeset run on PostgreSQL. */
function runsOnPostgres(dbms: string | undefined): boolean {
  if (!dbms) return true;
  const list = dbms.split(',').map((d) => d.trim().toLowerCase());
  if (list.includes('!postgresql')) return false;
  return list.some((d) => d === 'postgresql' || d === 'all' || d.startsWith('!'));
}

function parse(file: SqlFileText): Omit<Migration, 'version'>[] {
  const all = lines(file.text);
  const heads = all.filter((l) => CHANGESET.test(l.text.trim()));
  const firstCode = scanFile(file, { to: heads[0]?.start ?? file.text.length }).statements[0];
  if (firstCode)
    throw errorAt(
      file,
      firstCode.start.offset,
      'SQL before the first `--changeset` line, which Liquibase does not run.',
    );
  const result: Omit<Migration, 'version'>[] = [];
  const seen = new Set<string>();
  heads.forEach((head, k) => {
    const [, rawAuthor, id, rest] = CHANGESET.exec(head.text.trim())!;
    const author = rawAuthor.replace(/^"|"$/g, '');
    const key = `${author}:${id}`;
    if (seen.has(key))
      throw errorAt(
        file,
        head.start,
        `changeset ${key} appears twice in this file; Liquibase refuses duplicates.`,
      );
    seen.add(key);
    const attrs = attributes(file, head, rest);
    const bodyFrom = head.next;
    const bodyTo = k + 1 < heads.length ? heads[k + 1].start : file.text.length;
    if (!runsOnPostgres(attrs.dbms)) return;
    const up = body(file, bodyFrom, bodyTo, attrs, key);
    const down = rollback(
      file,
      all.filter((l) => l.start >= bodyFrom && l.start < bodyTo),
      attrs,
    );
    result.push({ id: key, name: id, files: [file.path], up, ...(down ? { down } : {}) });
  });
  return result;
}

function modeFor(attrs: Attributes, key: string): Pick<MigrationSection, 'mode' | 'why' | 'wayOut'> {
  if (attrs.runInTransaction)
    return {
      mode: 'transaction',
      why: `Liquibase runs changeset ${key} in a transaction (runInTransaction defaults to true).`,
      wayOut: 'add `runInTransaction:false` to its `--changeset` line',
    };
  return attrs.splitStatements
    ? {
        mode: 'autocommit',
        why: `runInTransaction:false on changeset ${key}: Liquibase runs each statement on its own.`,
      }
    : {
        mode: 'single-string',
        why: `runInTransaction:false and splitStatements:false on changeset ${key}: Liquibase sends the changeset as one string without a transaction; PostgreSQL runs a multi-statement string as one implicit transaction.`,
        wayOut:
          'remove `splitStatements:false` from its `--changeset` line, or keep the statement alone in the changeset',
      };
}

function body(file: SqlFileText, from: number, to: number, attrs: Attributes, key: string): MigrationSection {
  const { mode, why, wayOut } = modeFor(attrs, key);
  if (!attrs.splitStatements) return scriptSection(file, from, to, mode, why, wayOut);
  const { statements } = scanFile(file, {
    from,
    to,
    ...(attrs.endDelimiter ? { delimiter: attrs.endDelimiter } : {}),
  });
  return { mode, why, statements, ...(wayOut ? { wayOut } : {}) };
}

/** The rollback of a changeset, from `--rollback` lines or a `/* liquibase rollback` block. */
function rollback(file: SqlFileText, bodyLines: Line[], attrs: Attributes): MigrationSection | undefined {
  const statements: MigrationStatement[] = [];
  let found = false;
  let pending: MigrationStatement | undefined;
  for (let k = 0; k < bodyLines.length; k++) {
    const line = bodyLines[k];
    const trimmed = line.text.trim();
    if (ROLLBACK_BLOCK.test(trimmed)) {
      found = true;
      const close = file.text.indexOf('*/', line.next);
      if (close < 0)
        throw errorAt(file, line.start, 'a `/* liquibase rollback` block that is never closed with `*/`.');
      statements.push(...scanFile(file, { from: line.next, to: close }).statements);
      continue;
    }
    const m = ROLLBACK_LINE.exec(trimmed);
    if (!m) continue;
    found = true;
    const content = m[1].trim();
    if (/^(empty|not required)$/i.test(content) || content === '') continue;
    const from = line.start + line.text.indexOf(m[1]);
    let raw;
    try {
      raw = scanSql(file.text, {
        from,
        to: line.end,
        ...(attrs.endDelimiter ? { delimiter: attrs.endDelimiter } : {}),
      }).statements;
    } catch (e) {
      throw errorAt(file, from, `this --rollback line cannot be split (${(e as Error).message}).`);
    }
    for (const s of raw) {
      const statement: MigrationStatement = {
        text: file.text.slice(s.from, s.to),
        file: file.path,
        start: file.positions.at(s.from),
        end: file.positions.at(s.to),
        keywords: s.keywords,
      };
      if (pending) {
        // A rollback statement continued over several `--rollback` lines.
        pending = { ...pending, text: `${pending.text}\n${statement.text}`, end: statement.end };
      } else pending = statement;
      if (s.delimited) {
        statements.push(pending);
        pending = undefined;
      }
    }
  }
  if (pending) statements.push(pending);
  if (!found) return undefined;
  const { mode, why, wayOut } = modeFor({ ...attrs, splitStatements: true }, 'rollback');
  return {
    mode,
    why: why.replace('changeset rollback', 'the rollback'),
    statements,
    ...(wayOut ? { wayOut } : {}),
  };
}
