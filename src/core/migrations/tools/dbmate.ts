/**
 * dbmate: `NNN_name.sql` files with `-- migrate:up` and `-- migrate:down` sections.
 * Documented rule (dbmate README, "Creating Migrations" / "Options"): each section runs inside a
 * transaction unless its marker says `transaction:false`; dbmate sends a section as ONE string
 * (a single Exec), so a `transaction:false` section with several statements is still one implicit
 * transaction in PostgreSQL.
 */
import { join } from 'node:path';
import { compareVersions, type Detection, type MigrationSection, type MigrationSource } from '../model';
import type { SqlFileText } from '../sqlScanner';
import {
  errorAt,
  errorIn,
  fileNames,
  lines,
  loadSingleFileMigrations,
  readHead,
  scanFile,
  scriptSection,
} from './common';

export const tool = 'dbmate' as const;
const FILE = /^(\d+)_?(.*)\.sql$/;
const MARKER = /^--\s*migrate:(\S*)(.*)$/;

export async function detect(dir: string): Promise<Detection | undefined> {
  const names = (await fileNames(dir).catch(() => [])).filter((n) => FILE.test(n)).sort();
  for (const name of names.slice(0, 20)) {
    const head = await readHead(join(dir, name));
    if (/^--\s*migrate:up\b/m.test(head)) {
      return {
        tool,
        confidence: 90,
        evidence: [`${name} has a \`-- migrate:up\` line (dbmate's section marker).`],
      };
    }
  }
  return undefined;
}

export async function load(dir: string): Promise<MigrationSource> {
  const migrations = await loadSingleFileMigrations(dir, FILE, parseSections);
  migrations.sort((a, b) => compareVersions(a.version, b.version) || (a.id < b.id ? -1 : 1));
  return { path: dir, tool, evidence: [], migrations };
}

function parseSections(file: SqlFileText): { up: MigrationSection; down?: MigrationSection } {
  type Found = { kind: 'up' | 'down'; transaction: boolean; bodyStart: number; line: number };
  const markers: Found[] = [];
  const all = lines(file.text);
  for (const line of all) {
    const m = MARKER.exec(line.text.trim());
    if (!m) continue;
    const kind = m[1];
    if (kind !== 'up' && kind !== 'down') {
      throw errorAt(
        file,
        line.start,
        `\`-- migrate:${kind}\` is not a dbmate section; use \`-- migrate:up\` or \`-- migrate:down\`.`,
      );
    }
    if (markers.some((f) => f.kind === kind)) {
      throw errorAt(file, line.start, `a second \`-- migrate:${kind}\` line; dbmate allows one per file.`);
    }
    let transaction = true;
    for (const option of m[2].trim().split(/\s+/).filter(Boolean)) {
      if (option === 'transaction:false') transaction = false;
      else if (option === 'transaction:true') transaction = true;
      else
        throw errorAt(file, line.start, `unknown option \`${option}\`; dbmate knows \`transaction:false\`.`);
    }
    markers.push({ kind, transaction, bodyStart: line.next, line: line.number });
  }
  const up = markers.find((f) => f.kind === 'up');
  if (!up) throw errorIn(file.path, 'it has no `-- migrate:up` line, which dbmate requires.', 1);
  const firstMarker = Math.min(...markers.map((f) => f.bodyStart));
  const stray = scanFile(file, { from: 0, to: firstMarker }).statements[0];
  if (stray)
    throw errorAt(
      file,
      stray.start.offset,
      'SQL before the first `-- migrate:` line, which dbmate ignores; move it into a section.',
    );

  const section = (found: Found): MigrationSection => {
    const following = markers
      .filter((f) => f.bodyStart > found.bodyStart)
      .map((f) => file.positions.lineStart(f.line));
    const to = following.length ? Math.min(...following) : file.text.length;
    return found.transaction
      ? scriptSection(
          file,
          found.bodyStart,
          to,
          'transaction',
          `dbmate runs each section in a transaction (no \`transaction:false\` on its \`-- migrate:${found.kind}\` line).`,
          `add \`transaction:false\` to its \`-- migrate:${found.kind}\` line and keep the statement alone in that section`,
        )
      : scriptSection(
          file,
          found.bodyStart,
          to,
          'single-string',
          `\`-- migrate:${found.kind} transaction:false\`: dbmate sends the section as one string without a transaction; PostgreSQL runs a multi-statement string as one implicit transaction.`,
          'keep the statement alone in its `transaction:false` section (move the others to another migration)',
        );
  };
  const down = markers.find((f) => f.kind === 'down');
  return { up: section(up), ...(down ? { down: section(down) } : {}) };
}
