/**
 * `trace DIR [--migration ID] [--rows N] [--rows-per-table t=N,…] [--with-long-transaction SECONDS]
 * [--rate N] [--stats-url-env NAME] [--json] [--markdown FILE] [--port N] [--pg MAJOR] [--fail-on-stall MS]`: traces a
 * migration of a folder on the lab's embedded server (issue 12 §4) and prints what each statement
 * locked, rewrote and did to reads and writes of the tables it touches.
 */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { ConnectionTarget } from '../core/db';
import { LabError } from '../core/errors';
import { loadSource } from '../core/migrations/detect';
import { isToolId, TOOL_IDS, TOOL_NAMES, type MigrationSource, type ToolId } from '../core/migrations/model';
import { migrationIndex, UnknownMigrationError } from '../core/migrations/replay';
import { formatMs } from '../core/monitor/verdict';
import type { PostgresVersionSetting } from '../core/postgres/majors';
import { traceMarkdown } from '../core/trace/report';
import { statisticsTarget } from '../core/trace/statistics';
import { DEFAULT_TRACE_RATE, DEFAULT_TRACE_ROWS, traceMigrations } from '../core/trace/trace';
import type { TraceReport } from '../core/trace/types';
import { oneLine, stalledLongerThan, strongestLocks } from '../core/trace/verdict';
import { DEFAULTS } from './args';
import { PG_RUNS, parsePgFlag, pgHelp } from './pgFlag';
import { onLabServer } from './replay';
import { TRACE_USAGE } from './usage';

export const TRACE_HELP = `${TRACE_USAGE}

Traces one migration of the folder DIR on the lab's embedded PostgreSQL: replays every migration
before it onto the folder's scratch database, fills the tables it touches with synthetic rows, then
runs it exactly as its tool would while a lock monitor watches every session and a read and a write
probe per touched table run. Per statement: the locks taken or waited for (CONCURRENTLY included),
rewrites, duration, sessions that waited on it, read and write latency, and a verdict, next to what
the linter predicted. The scratch database is reset afterwards. Nothing connects to any other database,
except the statistics database of --stats-url-env, whose catalog alone is read, read-only.

Options:
  --migration ID            the migration to trace, by id or version (default: the newest)
  --through ID              trace every migration from --migration through this one
  --tool T                  read DIR as tool T instead of detecting it (one of: ${TOOL_IDS.join(', ')})
  --rows N                  rows for the largest touched table (default ${DEFAULT_TRACE_ROWS.toLocaleString('en-US')})
  --rows-per-table t=N,...  rows for given tables (schema-qualified or bare names)
  --with-long-transaction S hold a transaction that read the touched tables open S seconds, from just
                            before the migration (which statement would queue reads behind it?)
  --rate N                  read and write probe requests per second, each, per table (default ${DEFAULT_TRACE_RATE})
  --stats-url-env NAME      size the tables like production: the environment variable NAME holds the
                            postgres:// URL of a database with the same tables (production or a replica);
                            their row estimates (reltuples) are read from its catalog, read-only; the
                            largest table gets --rows and the others their share
  --json                    print the trace as JSON on stdout (README "Trace JSON")
  --markdown FILE           write the pull-request report (Markdown) to FILE
  --port N                  port of the embedded PostgreSQL on 127.0.0.1 (default ${DEFAULTS.port}); a lab
                            server already running there is reused and left running
${pgHelp(28, PG_RUNS)}
  --role NAME               create this role (NOLOGIN) before replaying (repeatable)
  --fail-on-stall MS        exit 3 when any statement stalled reads or writes longer than MS
  -h, --help                show this help

Exit codes: 0 traced (whatever the verdict), 1 the trace could not be done, 2 bad arguments,
3 with --fail-on-stall when a statement stalled reads or writes longer than MS, 130 interrupted.`;

export interface TraceArgs {
  dir: string;
  tool?: ToolId;
  migration?: string;
  through?: string;
  rows?: number;
  rowsPerTable?: Record<string, number>;
  longTransactionSeconds?: number;
  rate?: number;
  /** The environment variable holding the statistics database's URL (never the URL itself). */
  statsUrlEnv?: string;
  json: boolean;
  markdown?: string;
  port: number;
  pg: PostgresVersionSetting;
  roles: string[];
  failOnStallMs?: number;
  help: boolean;
}

export class TraceUsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TraceUsageError';
  }
}

function positiveInteger(text: string, flag: string, max = Number.MAX_SAFE_INTEGER): number {
  const n = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!(n >= 1 && n <= max))
    throw new TraceUsageError(`${flag} needs a whole number from 1 to ${max}, not "${text}".`);
  return n;
}

function positiveNumber(text: string, flag: string, max: number): number {
  const n = /^\d+(\.\d+)?$/.test(text) ? Number(text) : NaN;
  if (!(n > 0 && n <= max))
    throw new TraceUsageError(`${flag} needs a number above 0 and at most ${max}, not "${text}".`);
  return n;
}

export function parseTraceArgs(argv: readonly string[]): TraceArgs {
  const args: TraceArgs = {
    dir: '',
    json: false,
    port: DEFAULTS.port,
    pg: 'bundled',
    roles: [],
    help: false,
  };
  const value = (k: number, flag: string): string => {
    const v = argv[k];
    if (v === undefined || v.startsWith('--')) throw new TraceUsageError(`${flag} needs a value.`);
    return v;
  };
  for (let k = 0; k < argv.length; k++) {
    const arg = argv[k]!;
    switch (arg) {
      case '-h':
      case '--help':
        args.help = true;
        break;
      case '--json':
        args.json = true;
        break;
      case '--migration':
        args.migration = value(++k, arg);
        break;
      case '--through':
        args.through = value(++k, arg);
        break;
      case '--tool': {
        const tool = value(++k, arg);
        if (!isToolId(tool))
          throw new TraceUsageError(`--tool needs one of: ${TOOL_IDS.join(', ')} (not "${tool}").`);
        args.tool = tool;
        break;
      }
      case '--rows':
        args.rows = positiveInteger(value(++k, arg), arg, 100_000_000);
        break;
      case '--rows-per-table': {
        const counts: Record<string, number> = {};
        for (const pair of value(++k, arg).split(',')) {
          const m = /^\s*([^=\s]+)\s*=\s*(\S+)\s*$/.exec(pair);
          if (!m)
            throw new TraceUsageError(
              `--rows-per-table needs table=N pairs separated by commas, not "${pair}".`,
            );
          counts[m[1]!] = positiveInteger(m[2]!, `--rows-per-table (${m[1]})`, 100_000_000);
        }
        args.rowsPerTable = counts;
        break;
      }
      case '--with-long-transaction':
        args.longTransactionSeconds = positiveNumber(value(++k, arg), arg, 3600);
        break;
      case '--rate':
        args.rate = positiveNumber(value(++k, arg), arg, 200);
        break;
      case '--markdown':
        args.markdown = value(++k, arg);
        break;
      case '--stats-url-env': {
        const name = value(++k, arg);
        if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
          throw new TraceUsageError(
            `--stats-url-env needs the name of an environment variable (letters, digits, _), not "${name.includes('://') ? 'a URL' : name}": put the URL in a variable so that its password stays out of the command line.`,
          );
        args.statsUrlEnv = name;
        break;
      }
      case '--port': {
        const text = value(++k, arg);
        const port = /^\d+$/.test(text) ? Number(text) : NaN;
        if (!(port >= 1 && port <= 65535))
          throw new TraceUsageError(`--port must be a port number from 1 to 65535, not "${text}".`);
        args.port = port;
        break;
      }
      case '--pg':
        args.pg = parsePgFlag(value(++k, arg), (m) => new TraceUsageError(m));
        break;
      case '--role':
        args.roles.push(value(++k, arg));
        break;
      case '--fail-on-stall':
        args.failOnStallMs = positiveInteger(value(++k, arg), arg);
        break;
      default:
        if (arg.startsWith('-')) throw new TraceUsageError(`Unknown option ${arg}.`);
        if (args.dir) throw new TraceUsageError(`Only one folder, please (got ${args.dir} and ${arg}).`);
        args.dir = arg;
    }
  }
  if (!args.dir && !args.help) throw new TraceUsageError('Name the migration folder to trace.');
  if (args.through !== undefined && args.migration === undefined)
    throw new TraceUsageError('--through needs --migration (where the range starts).');
  return args;
}

/**
 * The statistics database named by `--stats-url-env NAME`: the URL in the environment variable NAME.
 * A missing or unusable one is a usage error (exit 2) whose sentence never repeats the URL.
 */
export function statisticsTargetFromEnv(
  name: string,
  env: Readonly<Record<string, string | undefined>>,
): ConnectionTarget {
  const url = env[name]?.trim();
  if (!url)
    throw new TraceUsageError(
      `The environment variable ${name} (--stats-url-env) is not set; it should hold the statistics database's postgres:// URL.`,
    );
  try {
    return statisticsTarget(url);
  } catch (e) {
    const why = e instanceof LabError && e.detail ? ` (${e.detail})` : '';
    throw new TraceUsageError(
      `The environment variable ${name} (--stats-url-env) does not hold a usable postgres://user:password@host:5432/database URL${why}.`,
    );
  }
}

/** The report for a person: per statement, its locks, rewrite, time and verdict. */
export function formatTraceReport(report: TraceReport): string {
  const out = [`${report.source}  ${report.tool}, ${report.postgres}, Migration Lab ${report.labVersion}`];
  const rows = report.migrations[0]?.rows ?? {};
  if (Object.keys(rows).length > 0)
    out.push(
      `  rows: ${Object.entries(rows)
        .map(([t, n]) => `${t} ${n.toLocaleString('en-US')}`)
        .join(', ')}`,
    );
  if (report.statistics)
    out.push(
      report.statistics.note
        ? `  statistics: ${report.statistics.note}`
        : `  rows sized from production statistics: database ${report.statistics.database} on ${report.statistics.host}`,
    );
  for (const limit of report.fillLimits) out.push(`  fill: ${limit}`);
  for (const m of report.migrations) {
    out.push('', `${m.id}`);
    for (const s of m.statements) {
      const locks = strongestLocks(s.locks).map((l) => `${l.mode} on ${l.relation}`);
      out.push(`  ${formatMs(s.durationMs).padStart(8)}  ${oneLine(s.sql, 90)}`);
      out.push(
        `            locks: ${locks.join(', ') || 'none seen'}${s.rewrites.length > 0 ? `; rewrote ${s.rewrites.join(', ')}` : ''}`,
      );
      out.push(`            ${s.verdict}`);
      if (s.predictionMismatch) out.push(`            linter mismatch: ${s.predictionMismatch}`);
    }
    out.push(`  verdict: ${m.verdict}`);
  }
  return out.join('\n');
}

export interface TraceIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

/** Runs `trace` and returns the exit code. */
export async function runTrace(argv: readonly string[], io: TraceIo, signal: AbortSignal): Promise<number> {
  let args: TraceArgs;
  try {
    args = parseTraceArgs(argv);
  } catch (e) {
    if (!(e instanceof TraceUsageError)) throw e;
    io.stderr(`error: ${e.message}\n${TRACE_USAGE}\n`);
    return 2;
  }
  if (args.help) {
    io.stdout(`${TRACE_HELP}\n`);
    return 0;
  }
  let statistics: ConnectionTarget | undefined;
  try {
    if (args.statsUrlEnv !== undefined) statistics = statisticsTargetFromEnv(args.statsUrlEnv, process.env);
  } catch (e) {
    if (!(e instanceof TraceUsageError)) throw e;
    io.stderr(`error: ${e.message}\n`);
    return 2;
  }
  let source: MigrationSource;
  try {
    source = await loadSource(args.dir, args.tool);
    if (source.migrations.length === 0) throw new LabError(`${source.path} has no migrations to trace.`);
    if (args.migration !== undefined) migrationIndex(source, args.migration);
    if (args.through !== undefined) migrationIndex(source, args.through);
  } catch (e) {
    if (e instanceof UnknownMigrationError) {
      io.stderr(`error: ${e.message}\n${TRACE_USAGE}\n`);
      return 2;
    }
    if (!(e instanceof LabError)) throw e;
    io.stderr(`error: ${e.message}\n`);
    return 1;
  }
  const migration = args.migration ?? source.migrations[source.migrations.length - 1]!.id;
  io.stderr(`Tracing ${migration} of ${source.path} (${TOOL_NAMES[source.tool]})…\n`);
  return onLabServer(
    'trace',
    {
      port: args.port,
      pg: args.pg,
      signal,
      interrupted:
        'Interrupted; the probes and the long transaction ended and the scratch database was reset.',
    },
    io,
    async (server, logger) => {
      let lastLine = '';
      let lastHead = '';
      const report = await traceMigrations({
        target: server.target,
        source,
        migration,
        through: args.through,
        rows: args.rows,
        rowsPerTable: args.rowsPerTable,
        statistics,
        longTransactionSeconds: args.longTransactionSeconds,
        ratePerSecond: args.rate,
        roles: args.roles,
        logger,
        signal,
        onProgress: (p) => {
          const line =
            p.done !== undefined && p.total !== undefined
              ? `[${p.phase}] ${p.message} ${p.done.toLocaleString('en-US')}/${p.total.toLocaleString('en-US')}`
              : `[${p.phase}] ${p.message}`;
          // Fill progress arrives per chunk: one line per table and phase is enough on a terminal.
          const head = line.replace(/ [\d,]+\/[\d,]+$/, '');
          if (line !== lastLine && (head !== lastHead || p.done === p.total)) io.stderr(`${line}\n`);
          lastLine = line;
          lastHead = head;
        },
      });
      if (args.markdown) {
        writeFileSync(resolve(args.markdown), traceMarkdown(report));
        io.stderr(`The report is in ${resolve(args.markdown)}.\n`);
      }
      io.stdout(args.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatTraceReport(report)}\n`);
      if (args.failOnStallMs !== undefined) {
        const limit = args.failOnStallMs;
        const stalled = report.migrations
          .flatMap((m) => m.statements)
          .filter((s) => stalledLongerThan(s, limit));
        if (stalled.length > 0) {
          io.stderr(
            `${stalled.length} statement(s) stalled reads or writes longer than ${limit} ms (--fail-on-stall), e.g. ${oneLine(stalled[0]!.sql, 60)}.\n`,
          );
          return 3;
        }
      }
      return 0;
    },
  );
}
