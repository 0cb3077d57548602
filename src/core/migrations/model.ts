/**
 * The format-neutral migration model (issue 10 §1). No tool owns it: each adapter under `tools/`
 * reads its tool's folder into these shapes, and replay, lint and trace only ever see these.
 *
 *   source (a folder, its tool, the evidence for that tool, migrations in order)
 *     → migration (id, version, name, files, up, down where the tool has one)
 *       → section (how the tool sends it to PostgreSQL: `mode` and why)
 *         → statements (text and exact place in the file)
 */
import { LabError } from '../errors';

/** Every tool the lab reads, as it is named in settings, the CLI (`--tool`) and JSON output. */
export const TOOL_IDS = [
  'dbmate',
  'golang-migrate',
  'goose',
  'flyway',
  'liquibase',
  'sqitch',
  'prisma',
  'drizzle',
  'diesel',
  'sqlx',
  'node-pg-migrate',
  'atlas',
  'plain',
] as const;
export type ToolId = (typeof TOOL_IDS)[number];

/** Human names, for evidence sentences, views and errors. */
export const TOOL_NAMES: Record<ToolId, string> = {
  dbmate: 'dbmate',
  'golang-migrate': 'golang-migrate',
  goose: 'goose',
  flyway: 'Flyway',
  liquibase: 'Liquibase (formatted SQL)',
  sqitch: 'Sqitch',
  prisma: 'Prisma Migrate',
  drizzle: 'Drizzle Kit',
  diesel: 'Diesel',
  sqlx: 'SQLx',
  'node-pg-migrate': 'node-pg-migrate',
  atlas: 'Atlas',
  plain: 'plain SQL files',
};

/**
 * Whether a file of the folder the tool cannot read stops the lint of its other files, which would
 * otherwise be linted as plain SQL (downs as ups, no tool rules): for every tool but plain SQL, whose
 * bare folder of .sql files psql runs file by file.
 */
export function folderErrorStopsLint(tool: ToolId): boolean {
  return tool !== 'plain';
}

export function isToolId(value: string): value is ToolId {
  return (TOOL_IDS as readonly string[]).includes(value);
}

/**
 * How a tool runs a section. These are the exact strings of the replay JSON contract:
 * - `transaction`: inside one transaction (BEGIN … COMMIT), whether the tool sends the statements
 *   one by one or as one string;
 * - `single-string`: the section is sent as ONE multi-statement string with no BEGIN around it;
 *   PostgreSQL runs such a string as one implicit transaction, so CREATE INDEX CONCURRENTLY next to
 *   another statement fails with 25001;
 * - `autocommit`: statement by statement, each committed on its own.
 */
export type SectionMode = 'transaction' | 'single-string' | 'autocommit';

/** A place in a file. */
export interface SourcePosition {
  /** 1-based line. */
  line: number;
  /** 1-based column in UTF-16 code units of that line (what VS Code and JavaScript count). */
  column: number;
  /** 0-based index in the decoded file text (UTF-16 code units, BOM excluded). */
  offset: number;
  /** 0-based byte offset in the file as stored (UTF-8, BOM included). */
  byte: number;
}

/** One statement as the tool sends it (or as it appears inside a string the tool sends whole). */
export interface MigrationStatement {
  /** The SQL without its trailing delimiter and without leading/trailing comments and blanks. */
  text: string;
  /** Absolute path of the file the statement is in. */
  file: string;
  /** Where the statement starts (its first character). */
  start: SourcePosition;
  /** Just after its last character (exclusive, as editor ranges are). */
  end: SourcePosition;
  /** The first few bare words, upper-cased (keywords and unquoted identifiers), for classification. */
  keywords: string[];
}

/** The exact string a tool sends in one round trip, for tools that send a section whole. */
export interface SectionScript {
  text: string;
  file: string;
  /** Where `text` starts in `file`; PostgreSQL's error position (1-based in `text`) maps from here. */
  start: SourcePosition;
}

export interface MigrationSection {
  mode: SectionMode;
  /** One sentence: the tool's rule that gives this mode, e.g. "dbmate runs each section in a transaction". */
  why: string;
  statements: MigrationStatement[];
  /** Set when the tool sends the section as one string (dbmate, golang-migrate, Prisma, Diesel, …). */
  script?: SectionScript;
  /**
   * Set when the tool itself refuses to run this section (e.g. Flyway with transactional and
   * non-transactional statements mixed): the sentence the tool's refusal amounts to, with its way out.
   */
  toolRefusal?: string;
  /**
   * The tool's documented way to run a statement that cannot run inside a transaction block (such
   * as CREATE INDEX CONCURRENTLY) when this section would run it inside one (a transaction, or a
   * multi-statement string). One sentence fragment, e.g. "add `transaction:false` to its
   * `-- migrate:up` line"; absent where the section already runs statements on their own.
   */
  wayOut?: string;
}

export interface Migration {
  /** Unique in its source, e.g. "0002_add_email_index", "V2__add_index", "alice:create-users". */
  id: string;
  /** The tool's version, as a string (numeric for most tools; the plan position for Sqitch/Liquibase). */
  version: string;
  /** The human part of the name. */
  name: string;
  /** Absolute paths of the files this migration comes from. */
  files: string[];
  up: MigrationSection;
  /** Absent when the tool has no down for this migration. */
  down?: MigrationSection;
  /** Sqitch's verify script, when there is one. */
  verify?: MigrationSection;
}

export interface MigrationSource {
  /** Absolute path of the folder. */
  path: string;
  tool: ToolId;
  /** Sentences saying why this folder is this tool's (or that the tool was set by an override). */
  evidence: string[];
  migrations: Migration[];
  /**
   * Set when the tool runs all pending migrations inside ONE transaction (Drizzle Kit): the sentence
   * saying so. A non-transactional statement then fails in any of them.
   */
  pendingInOneTransaction?: string;
}

/** What an adapter exports. */
export interface ToolAdapter {
  tool: ToolId;
  /**
   * Evidence sentences when `dir` looks like this tool's folder, with a confidence (higher wins);
   * undefined when it does not. Never throws for unreadable files: it only looks.
   */
  detect(dir: string): Promise<Detection | undefined>;
  /** Reads the folder as the tool would. Throws MigrationFolderError for anything it cannot read. */
  load(dir: string): Promise<MigrationSource>;
}

export interface Detection {
  tool: ToolId;
  evidence: string[];
  /** 0–100; the detector picks the highest. */
  confidence: number;
}

/**
 * A migration folder the lab cannot read as its tool would: one sentence naming the file and line.
 * Typed so that the editor can put a diagnostic there and the CLI can print `file:line`.
 */
export class MigrationFolderError extends LabError {
  constructor(
    message: string,
    readonly file: string,
    readonly line?: number,
    readonly column?: number,
    options?: { cause?: unknown; detail?: string },
  ) {
    super(message, options);
    this.name = 'MigrationFolderError';
  }
}

/** A file that is not valid UTF-8; `byte` is the 0-based offset of the first bad sequence. */
export class InvalidEncodingError extends MigrationFolderError {
  constructor(
    file: string,
    readonly byte: number,
    line: number,
  ) {
    super(
      `${file}:${line}: the file is not UTF-8 (invalid byte sequence at byte offset ${byte}); save it as UTF-8.`,
      file,
      line,
    );
    this.name = 'InvalidEncodingError';
  }
}

/** Compares version strings: numerically part by part (digits runs), then as text. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(/[._]/);
  const pb = b.split(/[._]/);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i];
    const y = pb[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    const c = compareNumericText(x, y);
    if (c !== 0) return c;
  }
  return 0;
}

function compareNumericText(x: string, y: string): number {
  if (/^\d+$/.test(x) && /^\d+$/.test(y)) {
    const nx = x.replace(/^0+(?=\d)/, '');
    const ny = y.replace(/^0+(?=\d)/, '');
    if (nx.length !== ny.length) return nx.length - ny.length;
    return nx < ny ? -1 : nx > ny ? 1 : 0;
  }
  return x < y ? -1 : x > y ? 1 : 0;
}
