/**
 * Drizzle Kit: `NNNN_name.sql` files listed in `meta/_journal.json`, statements separated by
 * `--> statement-breakpoint`.
 * Documented behaviour (Drizzle docs, "Migrations" / `migrate()`; drizzle-orm's pg dialect runs
 * every pending migration inside ONE `session.transaction(...)`, each breakpoint chunk as one
 * query): there is no way out of the transaction, so CREATE INDEX CONCURRENTLY always fails in a
 * Drizzle folder; the documented way is to run such statements outside Drizzle's migrator.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Detection, Migration, MigrationSource, MigrationStatement } from '../model';
import { scanSql, type SqlFileText } from '../sqlScanner';
import { errorAt, errorIn, exists, readSqlFile } from './common';

export const tool = 'drizzle' as const;
const BREAKPOINT = '--> statement-breakpoint';

export async function detect(dir: string): Promise<Detection | undefined> {
  if (!(await exists(join(dir, 'meta', '_journal.json')))) return undefined;
  return {
    tool,
    confidence: 100,
    evidence: ["meta/_journal.json (Drizzle Kit's migration journal) is in this folder."],
  };
}

interface JournalEntry {
  idx: number;
  tag: string;
  when: number;
  breakpoints?: boolean;
}

export async function load(dir: string): Promise<MigrationSource> {
  const journalPath = join(dir, 'meta', '_journal.json');
  let raw: string;
  try {
    raw = await readFile(journalPath, 'utf8');
  } catch (e) {
    throw errorIn(journalPath, 'cannot read the Drizzle journal.', undefined, e);
  }
  let journal: { dialect?: string; entries?: JournalEntry[] };
  try {
    journal = JSON.parse(raw) as typeof journal;
  } catch (e) {
    const at = /position (\d+)/.exec((e as Error).message);
    const line = at ? raw.slice(0, Number(at[1])).split('\n').length : undefined;
    throw errorIn(journalPath, `is not valid JSON (${(e as Error).message}).`, line, e);
  }
  if (!Array.isArray(journal.entries)) throw errorIn(journalPath, 'has no "entries" list.', 1);
  if (journal.dialect && journal.dialect !== 'postgresql') {
    throw errorIn(
      journalPath,
      `is for the ${journal.dialect} dialect; the lab replays PostgreSQL migrations only.`,
      1,
    );
  }
  const migrations: Migration[] = [];
  for (const entry of journal.entries) {
    const path = join(dir, `${entry.tag}.sql`);
    if (!(await exists(path))) {
      const line = raw.slice(0, Math.max(raw.indexOf(`"${entry.tag}"`), 0)).split('\n').length;
      throw errorIn(journalPath, `entry "${entry.tag}" has no ${entry.tag}.sql next to meta/.`, line);
    }
    const file = await readSqlFile(path);
    const m = /^(\d+)_(.*)$/.exec(entry.tag);
    migrations.push({
      id: entry.tag,
      version: m ? m[1] : String(entry.idx),
      name: m ? m[2] : entry.tag,
      files: [path],
      up: {
        mode: 'transaction',
        why: 'Drizzle Kit runs all pending migrations in one transaction, each `--> statement-breakpoint` chunk as one query.',
        statements: chunks(file),
        wayOut:
          "Drizzle Kit has none: run the statement outside Drizzle's migrator (for example a script run after `migrate`)",
      },
    });
  }
  return {
    path: dir,
    tool,
    evidence: [],
    migrations,
    pendingInOneTransaction:
      'Drizzle Kit runs all pending migrations inside one transaction; a statement that cannot run in a transaction (CREATE INDEX CONCURRENTLY) fails in any of them.',
  };
}

/** The chunks between `--> statement-breakpoint` markers, each one query as Drizzle sends it. */
function chunks(file: SqlFileText): MigrationStatement[] {
  const result: MigrationStatement[] = [];
  let from = 0;
  while (from <= file.text.length) {
    const marker = file.text.indexOf(BREAKPOINT, from);
    const to = marker < 0 ? file.text.length : marker;
    let found;
    try {
      found = scanSql(file.text, { from, to });
    } catch (e) {
      throw errorAt(file, from, `this chunk cannot be split (${(e as Error).message}).`);
    }
    const parts = found.statements;
    if (parts.length > 0) {
      const start = parts[0].from;
      const end = parts[parts.length - 1].to;
      result.push({
        text: file.text.slice(start, end),
        file: file.path,
        start: file.positions.at(start),
        end: file.positions.at(end),
        keywords: parts[0].keywords,
      });
    }
    if (marker < 0) break;
    from = marker + BREAKPOINT.length;
  }
  return result;
}
