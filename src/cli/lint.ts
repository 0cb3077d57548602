/**
 * `lint PATH... [--tool T] [--pg MAJOR] [--format text|json|sarif|github] [--fail-on error|warning|never]`:
 * the linter for CI. A PATH is a migration folder (its tool detected, or --tool) or one .sql file
 * (linted as part of its folder's source when one is detected there, so the earlier migrations build
 * its schema and the tool's transaction rules apply; else as plain SQL run statement by statement).
 * Nothing connects to a database. `runLint` is what the entry point (main.ts) calls.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { LabError } from '../core/errors';
import { fixCollector, type Fix } from '../core/lint/fixes';
import { lintSource, lintSql, type Finding, type LintResult } from '../core/lint/lint';
import { sqlModeName, type LockMode } from '../core/lint/lockModes';
import { loadParser } from '../core/lint/parser';
import { RULES, type Severity } from '../core/lint/rules';
import { readWorkspaceRuleSettings, shownSeverity, type RuleSetting } from '../core/lint/ruleSettings';
import { detectFolder, loadSource } from '../core/migrations/detect';
import {
  folderErrorStopsLint,
  isToolId,
  TOOL_IDS,
  type MigrationSource,
  type ToolId,
} from '../core/migrations/model';
import type { PostgresVersionSetting } from '../core/postgres/majors';
import { bundledMajor } from '../core/postgres/binaries';
import { parsePgFlag, pgHelp } from './pgFlag';
import { LINT_USAGE } from './usage';

export const LINT_FORMATS = ['text', 'json', 'sarif', 'github'] as const;
export type LintFormat = (typeof LINT_FORMATS)[number];
export const FAIL_ON = ['error', 'warning', 'never'] as const;
export type FailOn = (typeof FAIL_ON)[number];

export const LINT_HELP = `${LINT_USAGE}

Lints migrations with PostgreSQL's own parser: every statement's locks (relation, mode), what the
mode blocks, whether it rewrites the table, and the rules in docs/rules.md, knowing how the folder's
tool runs each migration. PATH is a migration folder or a .sql file (linted with its folder's
earlier migrations when the folder is a migration source, else as plain SQL). Nothing connects to a
database.

Options:
  --tool T          read each folder PATH (or a file's folder) as tool T (one of: ${TOOL_IDS.join(', ')})
${pgHelp(20, { what: 'the migrations will run on', more: 'Lock facts and rules that changed across majors follow it.' })}
  --format F        text (default), json, sarif (SARIF 2.1.0) or github (workflow annotations)
  --fail-on LEVEL   exit 1 when a finding at LEVEL or above is found: error (default), warning
                    (warnings and errors) or never
  -h, --help        show this help

A finding the editor can fix lists its quick fixes' titles (json "fixes", text "fix:" lines).
Severities and rules turned off come from "migrationLab.lint.rules" in the nearest
.vscode/settings.json at or above each PATH (the workspace setting the editor uses too).

Exit codes: 0 nothing at the --fail-on level, 1 something at that level (or a PATH could not be
read), 2 bad arguments.`;

export interface LintArgs {
  paths: string[];
  tool?: ToolId;
  /** PostgreSQL major (--pg), as migrationLab.postgres.version. */
  pg: PostgresVersionSetting;
  format: LintFormat;
  failOn: FailOn;
  help: boolean;
}

export class LintUsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LintUsageError';
  }
}

function isOneOf<T extends string>(list: readonly T[], value: string | undefined): value is T {
  return value !== undefined && (list as readonly string[]).includes(value);
}

export function parseLintArgs(argv: readonly string[]): LintArgs {
  const args: LintArgs = { paths: [], pg: 'bundled', format: 'text', failOn: 'error', help: false };
  let onlyPaths = false;
  for (let k = 0; k < argv.length; k++) {
    const arg = argv[k];
    // After `--` every argument is a PATH, even one starting with `-`.
    if (onlyPaths) {
      args.paths.push(arg);
      continue;
    }
    if (arg === '--') {
      onlyPaths = true;
      continue;
    }
    // --option=value is the same as --option value
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    const value = () => (eq > 0 ? arg.slice(eq + 1) : argv[++k]);
    if (name === '-h' || name === '--help') args.help = true;
    else if (name === '--tool') {
      const v = value();
      if (!isToolId(v ?? '')) throw new LintUsageError(`--tool needs one of: ${TOOL_IDS.join(', ')}.`);
      args.tool = v as ToolId;
    } else if (name === '--pg') {
      const v = value();
      if (v === undefined || v.startsWith('--')) throw new LintUsageError('--pg needs a value.');
      args.pg = parsePgFlag(v, (m) => new LintUsageError(m));
    } else if (name === '--format') {
      const v = value();
      if (!isOneOf(LINT_FORMATS, v))
        throw new LintUsageError(`--format needs one of: ${LINT_FORMATS.join(', ')}.`);
      args.format = v;
    } else if (name === '--fail-on') {
      const v = value();
      if (!isOneOf(FAIL_ON, v)) throw new LintUsageError(`--fail-on needs one of: ${FAIL_ON.join(', ')}.`);
      args.failOn = v;
    } else if (arg.startsWith('-')) throw new LintUsageError(`Unknown option ${arg}.`);
    else args.paths.push(arg);
  }
  if (!args.help && args.paths.length === 0)
    throw new LintUsageError('Name at least one migration folder or .sql file.');
  return args;
}

/** One finding as the JSON (and every other format) shows it. */
export interface LintJsonFinding {
  rule: string;
  severity: Severity;
  file: string;
  line: number;
  column: number;
  endLine: number;
  endColumn: number;
  message: string;
  lock?: { relation: string; mode: LockMode; blocks: string };
  fixes?: { title: string }[];
}

export interface LintJsonStatement {
  file: string;
  line: number;
  column: number;
  endLine: number;
  endColumn: number;
  locks: { relation: string; mode: LockMode }[];
  rewrites: boolean;
  transactional: boolean;
}

export interface LintReport {
  findings: LintJsonFinding[];
  statements: LintJsonStatement[];
}

/** A path as the report shows it: relative to the working folder when inside it, with `/`. */
function pathAsShown(file: string, cwd: string): string {
  const rel = relative(cwd, file);
  const shown = rel && !rel.startsWith('..') ? rel : file;
  return shown.split(sep).join('/');
}

/**
 * The core's result in the CLI's JSON shape (exactly the documented keys, in their order).
 * `fixesOf` gives a finding's quick fixes, when computed.
 */
export function toReport(
  results: readonly LintedPath[],
  cwd: string,
  fixesOf?: (finding: Finding) => readonly { title: string }[],
): LintReport {
  const findings: LintJsonFinding[] = [];
  const statements: LintJsonStatement[] = [];
  // Thousands of statements share a few files: work each file's shown path out once.
  const shown = new Map<string, string>();
  const shownPath = (file: string) => {
    let path = shown.get(file);
    if (path === undefined) shown.set(file, (path = pathAsShown(file, cwd)));
    return path;
  };
  // PATHs may overlap (a folder and a file in it, a file named twice): what an earlier PATH
  // reported is not reported again (one PATH's own findings may repeat: two constraints in one ALTER).
  const earlier = new Set<string>();
  for (const result of results) {
    const keys: string[] = [];
    const once = (key: string) => {
      keys.push(key);
      return !earlier.has(key);
    };
    for (const f of result.findings) {
      if (!once(`f ${f.file}:${f.line}:${f.column}:${f.rule}:${f.message}`)) continue;
      const severity = shownSeverity(f, result.ruleSettings);
      if (severity === undefined) continue; // the workspace turned the rule off
      const titles = fixesOf?.(f) ?? [];
      findings.push({
        rule: f.rule,
        severity,
        file: shownPath(f.file),
        line: f.line,
        column: f.column,
        endLine: f.endLine,
        endColumn: f.endColumn,
        message: f.message,
        ...(f.lock ? { lock: { relation: f.lock.relation, mode: f.lock.mode, blocks: f.lock.blocks } } : {}),
        ...(titles.length ? { fixes: titles.map((x) => ({ title: x.title })) } : {}),
      });
    }
    for (const s of result.statements) {
      if (!once(`s ${s.file}:${s.line}:${s.column}`)) continue;
      statements.push({
        file: shownPath(s.file),
        line: s.line,
        column: s.column,
        endLine: s.endLine,
        endColumn: s.endColumn,
        locks: s.locks.map((l) => ({ relation: l.relation, mode: l.mode })),
        rewrites: s.rewrites,
        transactional: s.transactional,
      });
    }
    for (const k of keys) earlier.add(k);
  }
  return { findings, statements };
}

const SEVERITY_RANK: Record<Severity, number> = { info: 0, warning: 1, error: 2 };

/** True when the report holds a finding at the --fail-on level or above. */
export function failsAt(report: LintReport, failOn: FailOn): boolean {
  if (failOn === 'never') return false;
  const threshold = SEVERITY_RANK[failOn];
  return report.findings.some((f) => SEVERITY_RANK[f.severity] >= threshold);
}

/** The report for a person in a terminal: one block per finding, then a count. */
export function formatText(report: LintReport): string {
  const out: string[] = [];
  for (const f of report.findings) {
    out.push(`${f.file}:${f.line}:${f.column}: ${f.severity} [${f.rule}] ${f.message}`);
    if (f.lock) out.push(`  lock: ${sqlModeName(f.lock.mode)} on ${f.lock.relation} · ${f.lock.blocks}`);
    for (const fix of f.fixes ?? []) out.push(`  fix: ${fix.title}`);
  }
  const count = (s: Severity) => report.findings.filter((f) => f.severity === s).length;
  const files = new Set(report.statements.map((s) => s.file)).size;
  out.push(
    `${report.findings.length === 0 ? 'No findings' : `${count('error')} error(s), ${count('warning')} warning(s), ${count('info')} note(s)`} in ${report.statements.length} statement(s) of ${files} file(s).`,
  );
  return out.join('\n');
}

// GitHub workflow commands: data escapes % \r \n; properties also , and :
// (https://docs.github.com/actions/reference/workflow-commands-for-github-actions).
const escapeData = (s: string) => s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
const escapeProperty = (s: string) => escapeData(s).replace(/:/g, '%3A').replace(/,/g, '%2C');

const GITHUB_COMMAND: Record<Severity, string> = { error: 'error', warning: 'warning', info: 'notice' };

/** One workflow annotation per finding. */
export function formatGithub(report: LintReport): string {
  return report.findings
    .map((f) => {
      const props = [
        `file=${escapeProperty(f.file)}`,
        `line=${f.line}`,
        `col=${f.column}`,
        `endLine=${f.endLine}`,
        `endColumn=${f.endColumn}`,
        `title=${escapeProperty(f.rule)}`,
      ].join(',');
      const lock = f.lock ? `\n${sqlModeName(f.lock.mode)} on ${f.lock.relation}: ${f.lock.blocks}` : '';
      return `::${GITHUB_COMMAND[f.severity]} ${props}::${escapeData(f.message + lock)}`;
    })
    .join('\n');
}

const SARIF_LEVEL: Record<Severity, 'error' | 'warning' | 'note'> = {
  error: 'error',
  warning: 'warning',
  info: 'note',
};

/** The package's own folder (package.json named migration-lab), from dist/ or out/src/cli/. */
function packageRoot(): string | undefined {
  for (let dir = __dirname; ; dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      try {
        if ((JSON.parse(readFileSync(file, 'utf8')) as { name?: string }).name === 'migration-lab')
          return dir;
      } catch {
        // not ours; keep looking upwards
      }
    }
    if (dirname(dir) === dir) return undefined;
  }
}

export interface SarifLog {
  $schema: string;
  version: '2.1.0';
  runs: {
    tool: {
      driver: {
        name: string;
        version?: string;
        rules: { id: string; shortDescription: { text: string }; help: { text: string } }[];
      };
    };
    results: {
      ruleId: string;
      ruleIndex: number;
      level: 'error' | 'warning' | 'note';
      message: { text: string };
      locations: {
        physicalLocation: {
          artifactLocation: { uri: string };
          region: { startLine: number; startColumn: number; endLine: number; endColumn: number };
        };
      }[];
    }[];
  }[];
}

/**
 * A SARIF artifact URI: a relative path with each segment percent-encoded (`#`, `?` and a `:` that
 * would read as a scheme included), or a file: URI for an absolute path.
 */
export function artifactUri(path: string): string {
  if (isAbsolute(path)) return pathToFileURL(path).href;
  return path.split(sep).map(encodeURIComponent).join('/');
}

/** SARIF 2.1.0: every rule the linter has (so code scanning can show the rule's help), the findings. */
export function toSarif(report: LintReport): SarifLog {
  const root = packageRoot();
  let version: string | undefined;
  if (root)
    version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;
  // No helpUri: the rule pages are docs/rules.md of the installed package, and a file:// URI of the
  // CI runner's disk means nothing where code scanning shows the result. The help text names the page.
  const rules = [...RULES.values()];
  const index = new Map(rules.map((r, k) => [r.id, k]));
  return {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: {
            name: 'Migration Lab',
            ...(version ? { version } : {}),
            rules: rules.map((r) => ({
              id: r.id,
              shortDescription: { text: r.title },
              help: { text: `${r.title}. Migration Lab's docs/rules.md explains ${r.id} and its safe way.` },
            })),
          },
        },
        results: report.findings.map((f) => ({
          ruleId: f.rule,
          ruleIndex: index.get(f.rule as Finding['rule']) ?? -1,
          level: SARIF_LEVEL[f.severity],
          message: {
            text: f.lock
              ? `${f.message} (${sqlModeName(f.lock.mode)} on ${f.lock.relation}: ${f.lock.blocks})`
              : f.message,
          },
          locations: [
            {
              physicalLocation: {
                artifactLocation: { uri: artifactUri(f.file) },
                region: {
                  startLine: f.line,
                  startColumn: f.column,
                  endLine: f.endLine,
                  endColumn: f.endColumn,
                },
              },
            },
          ],
        })),
      },
    ],
  };
}

/**
 * The JSON report with one finding or statement per line: as readable and greppable as indented JSON
 * for what people look at, and a third of the time and size on thousands of statements.
 */
export function formatJson(report: LintReport): string {
  const list = (items: readonly object[]) =>
    items.length === 0 ? '[]' : `[\n    ${items.map((x) => JSON.stringify(x)).join(',\n    ')}\n  ]`;
  return `{\n  "findings": ${list(report.findings)},\n  "statements": ${list(report.statements)}\n}`;
}

export function formatReport(report: LintReport, format: LintFormat): string {
  switch (format) {
    case 'json':
      return formatJson(report);
    case 'sarif':
      return JSON.stringify(toSarif(report), null, 2);
    case 'github':
      return formatGithub(report);
    case 'text':
      return formatText(report);
  }
}

/**
 * What one run has read and linted, by folder: several PATHs in one folder (`lint db/migrations/*.sql`
 * in CI) detect the folder once and lint its source once, instead of once per file.
 */
export class LintRunCache {
  private readonly detections = new Map<string, ReturnType<typeof detectFolder>>();
  private readonly sources = new Map<string, Promise<{ source: MigrationSource; result: LintResult }>>();
  /** Each finding's quick fixes, computed in the lint's own pass when `withFixes`. */
  private readonly fixes = new Map<Finding, Fix[]>();

  constructor(
    private readonly tool: ToolId | undefined,
    private readonly pgMajor: number,
    private readonly withFixes = false,
  ) {}

  /** The quick fixes of a finding of this run (none unless the cache was made `withFixes`). */
  fixesOf(finding: Finding): readonly Fix[] {
    return this.fixes.get(finding) ?? [];
  }

  detect(dir: string): ReturnType<typeof detectFolder> {
    let found = this.detections.get(dir);
    if (!found) this.detections.set(dir, (found = detectFolder(dir, this.tool)));
    return found;
  }

  /** The folder's source and its lint (a rejection, e.g. not a source after all, is kept too). */
  lint(dir: string): Promise<{ source: MigrationSource; result: LintResult }> {
    let linted = this.sources.get(dir);
    if (!linted) {
      linted = loadSource(dir, this.tool).then(async (source) => {
        const options = { pgMajor: this.pgMajor };
        const collector = this.withFixes ? await fixCollector(source, options) : undefined;
        const result = await lintSource(source, { ...options, onStatement: collector?.onStatement });
        if (collector) for (const f of result.findings) this.fixes.set(f, collector.fixesOf(f));
        return { source, result };
      });
      this.sources.set(dir, linted);
    }
    return linted;
  }
}

/** A PATH's lint, with the workspace's `migrationLab.lint.rules` that apply to it. */
export type LintedPath = LintResult & { ruleSettings?: Record<string, RuleSetting> };

/**
 * Lints one PATH: a folder as its source, a file with its folder's source (only that file's results).
 * The rule settings are those of the workspace the PATH is in (its .vscode/settings.json), as the
 * editor has them.
 */
export async function lintPath(
  path: string,
  args: Pick<LintArgs, 'tool'>,
  pgMajor: number,
  cache = new LintRunCache(args.tool, pgMajor),
): Promise<LintedPath> {
  const absolute = resolve(path);
  let isFile: boolean;
  try {
    isFile = statSync(absolute).isFile();
  } catch {
    throw new LabError(`${path}: no such file or folder.`);
  }
  const ruleSettings = readWorkspaceRuleSettings(isFile ? dirname(absolute) : absolute)?.rules;
  if (!isFile) return { ...(await cache.lint(absolute)).result, ruleSettings };
  // A tool's migration may be a file in the source folder or in a folder per migration (Prisma, Diesel).
  // A bare folder of .sql files also reads as plain SQL, weakly: the surer detection wins (Prisma's
  // folder over its migration's own folder).
  const candidates: { dir: string; confidence: number; tool: ToolId }[] = [];
  for (const dir of [dirname(absolute), dirname(dirname(absolute))]) {
    const found = await cache.detect(dir);
    if (found) candidates.push({ dir, confidence: found.confidence, tool: found.tool });
  }
  candidates.sort((a, b) => b.confidence - a.confidence);
  let unreadable: LabError | undefined;
  for (const { dir, tool } of candidates) {
    let linted;
    try {
      linted = await cache.lint(dir);
    } catch (e) {
      if (!(e instanceof LabError)) throw e;
      // A file of the folder is not in the tool's format: try the next folder, then report it.
      if (folderErrorStopsLint(tool)) unreadable ??= e;
      continue;
    }
    if (!linted.source.migrations.some((m) => m.files.includes(absolute))) continue;
    return {
      findings: linted.result.findings.filter((f) => f.file === absolute),
      statements: linted.result.statements.filter((s) => s.file === absolute),
      ruleSettings,
    };
  }
  if (unreadable) throw unreadable;
  const text = await readFile(absolute, 'utf8');
  return { ...(await lintSql(text, { pgMajor, file: absolute })), ruleSettings };
}

export interface LintIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

/** Runs `lint` and returns the exit code. */
export async function runLint(argv: readonly string[], io: LintIo, cwd = process.cwd()): Promise<number> {
  let args: LintArgs;
  try {
    args = parseLintArgs(argv);
  } catch (e) {
    if (!(e instanceof LintUsageError)) throw e;
    io.stderr(`error: ${e.message}\n${LINT_USAGE}\n`);
    return 2;
  }
  if (args.help) {
    io.stdout(`${LINT_HELP}\n`);
    return 0;
  }
  // Start compiling the parser's WebAssembly now (V8 compiles it on another thread) while this one
  // reads and splits the files. A failure is not lost: the lint awaits the same promise and reports it.
  loadParser().catch(() => undefined);
  const pgMajor = args.pg === 'bundled' ? bundledMajor() : Number(args.pg);
  const results: LintedPath[] = [];
  let unreadable = false;
  // Fix titles only where a format shows them (text, json).
  const cache = new LintRunCache(args.tool, pgMajor, args.format === 'json' || args.format === 'text');
  for (const path of args.paths) {
    try {
      results.push(await lintPath(resolve(cwd, path), args, pgMajor, cache));
    } catch (e) {
      if (!(e instanceof LabError)) throw e;
      io.stderr(`error: ${e.message}\n`);
      unreadable = true;
    }
  }
  const report = toReport(results, cwd, (f) => cache.fixesOf(f));
  const shown = formatReport(report, args.format);
  if (shown) io.stdout(`${shown}\n`);
  return unreadable || failsAt(report, args.failOn) ? 1 : 0;
}
