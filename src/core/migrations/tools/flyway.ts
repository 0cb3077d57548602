/**
 * Flyway: `V<version>__<description>.sql`, undo `U<version>__<description>.sql`, repeatable
 * `R__<description>.sql` (applied after all versioned ones, in description order).
 * Documented rules (Flyway docs, "Migrations", "Script Configuration", "Execute In Transaction"):
 * each migration runs in a transaction, statements sent one by one; a `<script>.sql.conf` with
 * `executeInTransaction=false` runs it outside one. Flyway's PostgreSQL parser
 * (PostgreSQLParser.detectCanExecuteInTransaction) also marks some statements non-transactional
 * by themselves: CREATE/DROP DATABASE|TABLESPACE|SUBSCRIPTION, ALTER SYSTEM, CREATE/DROP [UNIQUE]
 * INDEX CONCURRENTLY, REINDEX [VERBOSE] SCHEMA|DATABASE|SYSTEM, VACUUM, DISCARD ALL (and ALTER
 * TYPE … ADD VALUE before PostgreSQL 12, which the lab's server is not). A migration made only of
 * those runs outside a transaction; one that mixes them with others is refused unless `mixed`.
 */
import { join } from 'node:path';
import {
  compareVersions,
  type Detection,
  type Migration,
  type MigrationSection,
  type MigrationSource,
  type MigrationStatement,
} from '../model';
import { compareFileNames, errorIn, exists, fileNames, lines, readSqlFile, scanFile, shown } from './common';
import { readFile } from 'node:fs/promises';

export const tool = 'flyway' as const;
const VERSIONED = /^([VU])(\d+(?:[._]\d+)*)__(.+)\.sql$/;
const REPEATABLE = /^R__(.+)\.sql$/;

const NON_TRANSACTIONAL: readonly RegExp[] = [
  /^(CREATE|DROP) (DATABASE|TABLESPACE|SUBSCRIPTION)\b/,
  /^ALTER SYSTEM\b/,
  /^(CREATE|DROP)( UNIQUE)? INDEX CONCURRENTLY\b/,
  /^REINDEX( VERBOSE)? (SCHEMA|DATABASE|SYSTEM)\b/,
  /^VACUUM\b/,
  /^DISCARD ALL\b/,
];

/**
 * The words by which Flyway's PostgreSQL parser treats the statement as unable to run in a
 * transaction (e.g. "CREATE INDEX CONCURRENTLY"), or undefined.
 */
export function flywayNonTransactional(statement: MigrationStatement): string | undefined {
  const simplified = statement.keywords.join(' ');
  for (const re of NON_TRANSACTIONAL) {
    const m = re.exec(simplified);
    if (m) return m[0];
  }
  return undefined;
}

export async function detect(dir: string): Promise<Detection | undefined> {
  const all = await fileNames(dir).catch(() => []);
  const names = all.filter((n) => VERSIONED.test(n) || REPEATABLE.test(n)).sort(compareFileNames);
  if (names.length === 0) return undefined;
  const example = names.find((n) => n.startsWith('V')) ?? names[0];
  const evidence = [
    `${names.length} file(s) named the Flyway way (\`V<version>__<description>.sql\`), e.g. ${example}.`,
  ];
  const conf = all.find((n) => n.endsWith('.sql.conf'));
  if (conf) evidence.push(`it has a script configuration file (${conf}).`);
  return { tool, confidence: 85, evidence };
}

/** The project settings that change how migrations run (flyway.conf or flyway.toml near the folder). */
interface ProjectSettings {
  /** The file they come from, for the reasons given. */
  file?: string;
  executeInTransaction: boolean;
  mixed: boolean;
  group: boolean;
}

/**
 * Reads `flyway.conf` (`flyway.mixed=true`) or `flyway.toml` (`mixed = true` under [flyway]) in the
 * folder, its parent or grandparent, or their `conf/` folder: the usual places of a project's config.
 */
async function projectSettings(dir: string): Promise<ProjectSettings> {
  const settings: ProjectSettings = { executeInTransaction: true, mixed: false, group: false };
  const candidates: string[] = [];
  for (const base of [dir, join(dir, '..'), join(dir, '..', '..')]) {
    for (const name of [
      'flyway.conf',
      'flyway.toml',
      join('conf', 'flyway.conf'),
      join('conf', 'flyway.toml'),
    ]) {
      candidates.push(join(base, name));
    }
  }
  for (const path of candidates) {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch {
      continue;
    }
    const toml = path.endsWith('.toml');
    for (const line of lines(text)) {
      const m = toml
        ? /^\s*(mixed|executeInTransaction|group)\s*=\s*(true|false)\b/.exec(line.text)
        : /^\s*flyway\.(mixed|executeInTransaction|group)\s*=\s*(true|false)\s*$/.exec(line.text);
      if (m) settings[m[1] as 'mixed' | 'executeInTransaction' | 'group'] = m[2] === 'true';
    }
    settings.file = path;
    return settings;
  }
  return settings;
}

export async function load(dir: string): Promise<MigrationSource> {
  const settings = await projectSettings(dir);
  const section = (path: string) => sectionOf(path, settings);
  const names = await fileNames(dir);
  const versioned = new Map<string, { up?: string; undo?: string; description: string }>();
  const repeatable: { name: string; description: string }[] = [];
  for (const name of names) {
    const v = VERSIONED.exec(name);
    if (v) {
      const version = v[2].replace(/_/g, '.');
      const entry = versioned.get(version) ?? { description: v[3] };
      const key = v[1] === 'V' ? 'up' : 'undo';
      if (entry[key])
        throw errorIn(
          join(dir, name),
          `version ${version} is used twice (also ${entry[key]}); Flyway refuses that.`,
        );
      entry[key] = name;
      versioned.set(version, entry);
      continue;
    }
    const r = REPEATABLE.exec(name);
    if (r) repeatable.push({ name, description: r[1] });
  }

  const migrations: Migration[] = [];
  for (const [version, entry] of [...versioned].sort((a, b) => compareVersions(a[0], b[0]))) {
    if (!entry.up)
      throw errorIn(
        join(dir, entry.undo!),
        `an undo migration for version ${version} without its V${version}__ file.`,
      );
    const upPath = join(dir, entry.up);
    const undoPath = entry.undo ? join(dir, entry.undo) : undefined;
    migrations.push({
      id: entry.up.slice(0, -4),
      version,
      name: entry.description.replace(/_/g, ' '),
      files: undoPath ? [upPath, undoPath] : [upPath],
      up: await section(upPath),
      ...(undoPath ? { down: await section(undoPath) } : {}),
    });
  }
  for (const r of repeatable.sort((a, b) => (a.description < b.description ? -1 : 1))) {
    const path = join(dir, r.name);
    migrations.push({
      id: r.name.slice(0, -4),
      version: '',
      name: r.description.replace(/_/g, ' '),
      files: [path],
      up: await section(path),
    });
  }
  return {
    path: dir,
    tool,
    evidence: [],
    migrations,
    ...(settings.group
      ? {
          pendingInOneTransaction: `${shown(settings.file!)} sets group=true: Flyway runs all pending migrations in one transaction.`,
        }
      : {}),
  };
}

/** `executeInTransaction` from `<script>.sql.conf`, when the file exists and sets it. */
async function executeInTransaction(path: string): Promise<boolean | undefined> {
  const conf = `${path}.conf`;
  if (!(await exists(conf))) return undefined;
  let text: string;
  try {
    text = await readFile(conf, 'utf8');
  } catch (e) {
    throw errorIn(conf, 'cannot read this script configuration file.', undefined, e);
  }
  for (const line of lines(text)) {
    const m = /^\s*executeInTransaction\s*=\s*(\S+)\s*$/.exec(line.text);
    if (!m) continue;
    const value = m[1].toLowerCase();
    if (value !== 'true' && value !== 'false') {
      throw errorIn(conf, `executeInTransaction must be true or false, not \`${m[1]}\`.`, line.number);
    }
    return value === 'true';
  }
  return undefined;
}

function wayOut(name: string): string {
  return `put the statement alone in its own migration (Flyway's parser then runs it outside a transaction), or add ${name}.conf with executeInTransaction=false`;
}

async function sectionOf(path: string, settings: ProjectSettings): Promise<MigrationSection> {
  const file = await readSqlFile(path);
  const { statements } = scanFile(file);
  const conf = await executeInTransaction(path);
  const name = path.slice(path.lastIndexOf('/') + 1);
  if (conf === false) {
    return {
      mode: 'autocommit',
      why: `${name}.conf sets executeInTransaction=false: Flyway runs each statement on its own.`,
      statements,
    };
  }
  if (conf === undefined && !settings.executeInTransaction) {
    return {
      mode: 'autocommit',
      why: `${shown(settings.file!)} sets executeInTransaction=false: Flyway runs each statement on its own.`,
      statements,
    };
  }
  const nonTx = statements.filter((st) => flywayNonTransactional(st) !== undefined);
  if (nonTx.length === 0) {
    return {
      mode: 'transaction',
      why: 'Flyway runs each migration in a transaction.',
      statements,
      wayOut: wayOut(name),
    };
  }
  if (nonTx.length === statements.length) {
    return {
      mode: 'autocommit',
      why: `Flyway's PostgreSQL parser treats ${flywayNonTransactional(nonTx[0])} as non-transactional, and every statement of this migration is, so Flyway runs it outside a transaction.`,
      statements,
    };
  }
  const first = nonTx[0];
  if (settings.mixed) {
    return {
      mode: 'autocommit',
      why: `${shown(settings.file!)} sets mixed=true and ${flywayNonTransactional(first)} cannot run in a transaction, so Flyway runs this whole migration without one.`,
      statements,
    };
  }
  return {
    mode: 'transaction',
    why: 'Flyway runs each migration in a transaction.',
    statements,
    wayOut: wayOut(name),
    toolRefusal:
      `Flyway refuses ${name}: line ${first.start.line} (${flywayNonTransactional(first)}) cannot run in a transaction but other statements can ` +
      `("Detected both transactional and non-transactional statements within the same migration"); ` +
      `move it to its own migration, or add ${name}.conf with executeInTransaction=false.`,
  };
}
