/**
 * `detect [DIR] [--json]`: lists the migration sources under DIR (default: the working folder) with
 * each one's tool, the evidence for it, and its migrations as that tool would run them.
 * `runDetect` is what the entry point (main.ts) calls.
 */
import { relative, resolve } from 'node:path';
import { LabError } from '../core/errors';
import { findSources, loadFound, loadSource } from '../core/migrations/detect';
import {
  isToolId,
  MigrationFolderError,
  TOOL_IDS,
  TOOL_NAMES,
  type MigrationSource,
  type SectionMode,
  type ToolId,
} from '../core/migrations/model';
import type { PostgresVersionSetting } from '../core/postgres/majors';
import { parsePgFlag, pgHelp } from './pgFlag';
import { DETECT_USAGE } from './usage';

export const DETECT_HELP = `${DETECT_USAGE}

Finds the migration folders under DIR (default: the current folder), names each one's tool with the
evidence, and lists its migrations as that tool runs them: in a transaction, as one string, or
statement by statement (autocommit). Nothing connects to a database.

Options:
  --tool T    read DIR itself as tool T instead of searching (one of: ${TOOL_IDS.join(', ')})
${pgHelp(14, { more: 'Checked as by every command; how a tool runs a migration does not depend on it.' })}
  --json      print { "sources": [ { "path", "tool", "evidence", "migrations" } ] } on stdout
  -h, --help  show this help

Exit codes: 0 every folder found was read, 1 a folder could not be read (the error says which file
and line), 2 bad arguments.`;

export interface DetectArgs {
  dir: string;
  tool?: ToolId;
  /** PostgreSQL major (--pg): accepted like every command's; nothing detect finds depends on it. */
  pg: PostgresVersionSetting;
  json: boolean;
  help: boolean;
}

export class DetectUsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DetectUsageError';
  }
}

export function parseDetectArgs(argv: readonly string[]): DetectArgs {
  const args: DetectArgs = { dir: '.', pg: 'bundled', json: false, help: false };
  let dirSeen = false;
  for (let k = 0; k < argv.length; k++) {
    const arg = argv[k];
    if (arg === '--json') args.json = true;
    else if (arg === '-h' || arg === '--help') args.help = true;
    else if (arg === '--tool') {
      const value = argv[++k];
      if (!value || !isToolId(value)) {
        throw new DetectUsageError(`--tool needs one of: ${TOOL_IDS.join(', ')}.`);
      }
      args.tool = value;
    } else if (arg === '--pg' || arg.startsWith('--pg=')) {
      const value = arg === '--pg' ? argv[++k] : arg.slice('--pg='.length);
      if (value === undefined || value.startsWith('--')) throw new DetectUsageError('--pg needs a value.');
      args.pg = parsePgFlag(value, (m) => new DetectUsageError(m));
    } else if (arg.startsWith('-')) throw new DetectUsageError(`Unknown option ${arg}.`);
    else if (dirSeen) throw new DetectUsageError(`Only one folder, please (got ${args.dir} and ${arg}).`);
    else {
      args.dir = arg;
      dirSeen = true;
    }
  }
  return args;
}

/** One migration in the JSON output. */
export interface DetectedMigration {
  id: string;
  version: string;
  name: string;
  /** Paths relative to DIR. */
  files: string[];
  mode: SectionMode;
  /** Why the tool runs it that way. */
  why: string;
  statements: number;
  down?: { mode: SectionMode; statements: number };
  /** Set when the tool itself refuses to run it (Flyway's mixed transactional statements). */
  toolRefusal?: string;
}

export interface DetectedSource {
  /** Relative to DIR ("." for DIR itself). */
  path: string;
  tool: ToolId;
  evidence: string[];
  migrations: DetectedMigration[];
  pendingInOneTransaction?: string;
  /** Set when the folder could not be read: the sentence, and where. */
  error?: { message: string; file?: string; line?: number };
}

export interface DetectReport {
  sources: DetectedSource[];
  /** True when the bounded search stopped before looking everywhere. */
  truncated?: boolean;
}

function describe(root: string, source: MigrationSource): DetectedSource {
  const rel = (p: string) => relative(root, p) || '.';
  return {
    path: rel(source.path),
    tool: source.tool,
    evidence: source.evidence,
    migrations: source.migrations.map((m) => ({
      id: m.id,
      version: m.version,
      name: m.name,
      files: m.files.map(rel),
      mode: m.up.mode,
      why: m.up.why,
      statements: m.up.statements.length,
      ...(m.down ? { down: { mode: m.down.mode, statements: m.down.statements.length } } : {}),
      ...(m.up.toolRefusal ? { toolRefusal: m.up.toolRefusal } : {}),
    })),
    ...(source.pendingInOneTransaction ? { pendingInOneTransaction: source.pendingInOneTransaction } : {}),
  };
}

/** Detects and loads; a folder that cannot be read is reported in its entry, never thrown. */
export async function detectReport(args: DetectArgs, signal?: AbortSignal): Promise<DetectReport> {
  const root = resolve(args.dir);
  const found = args.tool
    ? { sources: [{ path: root, tool: args.tool, evidence: [] as string[] }], truncated: false }
    : await findSources(root, { signal });
  const sources: DetectedSource[] = [];
  for (const entry of found.sources) {
    try {
      sources.push(
        describe(root, args.tool ? await loadSource(entry.path, args.tool) : await loadFound(entry)),
      );
    } catch (e) {
      if (!(e instanceof LabError)) throw e;
      sources.push({
        path: relative(root, entry.path) || '.',
        tool: entry.tool,
        evidence: entry.evidence,
        migrations: [],
        error: {
          message: e.message,
          ...(e instanceof MigrationFolderError ? { file: relative(root, e.file) || '.', line: e.line } : {}),
        },
      });
    }
  }
  return { sources, ...(found.truncated ? { truncated: true } : {}) };
}

/** The report for a person. */
export function formatDetectReport(report: DetectReport): string {
  if (report.sources.length === 0) return 'No migration folders found.';
  const out: string[] = [];
  for (const source of report.sources) {
    out.push(`${source.path}  ${TOOL_NAMES[source.tool]}`);
    for (const evidence of source.evidence) out.push(`  because ${evidence}`);
    if (source.error) {
      out.push(`  ERROR ${source.error.message}`);
      continue;
    }
    if (source.pendingInOneTransaction) out.push(`  note: ${source.pendingInOneTransaction}`);
    for (const m of source.migrations) {
      const down = m.down ? `, down ${m.down.mode}` : '';
      out.push(`  ${m.id}  ${m.mode}, ${m.statements} statement(s)${down}`);
      if (m.toolRefusal) out.push(`    refused by the tool: ${m.toolRefusal}`);
    }
  }
  if (report.truncated)
    out.push('(the search stopped at its folder limit; name a deeper folder to see more)');
  return out.join('\n');
}

export interface DetectIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

/** Runs `detect` and returns the exit code. */
export async function runDetect(
  argv: readonly string[],
  io: DetectIo,
  signal?: AbortSignal,
): Promise<number> {
  let args: DetectArgs;
  try {
    args = parseDetectArgs(argv);
  } catch (e) {
    if (!(e instanceof DetectUsageError)) throw e;
    io.stderr(`${e.message}\n${DETECT_USAGE}\n`);
    return 2;
  }
  if (args.help) {
    io.stdout(`${DETECT_HELP}\n`);
    return 0;
  }
  let report: DetectReport;
  try {
    report = await detectReport(args, signal);
  } catch (e) {
    if (!(e instanceof LabError)) throw e;
    io.stderr(`${e.message}\n`);
    return 1;
  }
  io.stdout(args.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatDetectReport(report)}\n`);
  return report.sources.some((s) => s.error) ? 1 : 0;
}
