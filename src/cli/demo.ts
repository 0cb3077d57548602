/**
 * `npm run demo`: the Migration Lab journey headless, without VS Code. Starts the embedded
 * PostgreSQL, seeds, records the plain and the CONCURRENTLY index migrations under live probes,
 * rolls both back and prints the comparison (or, with --json, only the JSON run report).
 * `npm run demo -- --lessons` runs the four lessons instead and prints their observations and verdicts
 * (or, with --json, only `{ "lessons": [...] }`).
 */
import { dirname, join } from 'node:path';
import { LabError, describeError } from '../core/errors';
import { Lab } from '../core/lab';
import { DEMO_SCENARIO, LESSON_SOURCE, scenarioFolder } from '../core/scenarios';
import { toReportJson, validateRunReport } from '../core/monitor/report';
import { processIsAlive } from '../core/postgres/liveness';
import { HELP, USAGE, UsageError, parseDemoArgs, type DemoOptions } from './args';
import { Progress, fileLogger, type FileLogger } from './console';
import { humanReport } from './format';
import { acquireRunLock } from './housekeeping';
import { demoStorageDir } from './storage';
import { demoSteps, lessonsSteps, runSteps, type JourneyContext, type StepResult } from './journey';
import { lessonsFailure, lessonsJson, lessonsReport } from './lessons';

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;
const SIGNAL_EXIT: Partial<Record<NodeJS.Signals, number>> = { SIGINT: 130, SIGTERM: 143 };

/** The lab schema of the demo's own cluster. */
const SCHEMA = 'migration_lab';

export { demoStorageDir } from './storage';

/** The project root: dist/demo.js sits one level below it (as does out/src/cli/demo.js, two). */
function projectRoot(): string {
  return __dirname.endsWith(join('out', 'src', 'cli'))
    ? join(__dirname, '..', '..', '..')
    : join(__dirname, '..');
}

function writeOut(text: string): Promise<void> {
  return new Promise((resolve) => process.stdout.write(text, () => resolve()));
}

/** One sentence for stderr: a LabError's own message, else the error's text. */
function sentence(e: unknown): string {
  if (e instanceof LabError) return e.message;
  const text = e instanceof Error ? e.message : String(e);
  return /[.!?]$/.test(text) ? text : `${text}.`;
}

/** Stops what runs, in order: probes and monitor, then PostgreSQL. Never throws. */
async function cleanUp(ctx: JourneyContext): Promise<void> {
  const { lab, logger, progress } = ctx;
  if (!ctx.session && lab.state.database === 'stopped') return;
  progress.line('Stopping the probes, the lock monitor and PostgreSQL…');
  await ctx.session
    ?.dispose()
    .catch((e: unknown) => logger.warn(`Stopping the session: ${describeError(e)}`));
  ctx.session = undefined;
  await lab.stop().catch((e: unknown) => logger.warn(`Stopping PostgreSQL: ${describeError(e)}`));
  progress.detail('stopped');
}

/**
 * On a second Ctrl-C the demo exits without stopping PostgreSQL: which server is left, and what the
 * next run does about it (it stops a server of its cluster left running, then undoes this run's leftovers).
 */
function stillRunning(lab: Lab): string {
  const server = lab.serverProcess;
  if (!server && lab.state.database === 'starting') {
    return 'PostgreSQL was still starting; if it is left running, the next run stops it before starting its own.';
  }
  if (!server || !processIsAlive(server.pid)) return 'PostgreSQL is not running.';
  return (
    `PostgreSQL is still running (pid ${server.pid}, port ${server.port}, data folder ${server.dataDir}); ` +
    `the next run stops it before starting its own, then rolls back or drops what this run left behind.`
  );
}

/** What an interrupted run left in the lab schema (a cancelled CONCURRENTLY build's INVALID index), or undefined. */
function leftBehindSentence(lab: Lab): string | undefined {
  const invalid = lab.state.invalidIndexes;
  if (invalid.length === 0) return undefined;
  const names = invalid.map((i) => `${i.schema}.${i.index}`).join(', ');
  const next = invalid.every((i) => i.index === DEMO_SCENARIO.index)
    ? 'the next run drops it (DROP INDEX CONCURRENTLY) before it runs the migrations again'
    : 'drop it with DROP INDEX CONCURRENTLY';
  return `The interrupted CONCURRENTLY build left the INVALID index ${names} behind; ${next}.`;
}

/** What to run: the index-migration journey, or the four lessons (--lessons). */
type Mode = 'run' | 'lessons';

async function run(options: DemoOptions, mode: Mode): Promise<number> {
  // A closed pipe (\`npm run demo | head\`) must not kill the demo before it stops PostgreSQL.
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);
  const progress = new Progress();
  const storageDir = demoStorageDir();
  // First the lock: a second demo must not even truncate the first one's log.
  let releaseLock: () => void;
  try {
    releaseLock = acquireRunLock(join(storageDir, 'demo.lock'));
  } catch (e) {
    progress.line(`error: ${sentence(e)}`);
    return EXIT_FAILED;
  }
  let stopping = false;
  const logger: FileLogger = fileLogger(join(storageDir, 'demo.log'), (level, message) => {
    // While stopping (or interrupted: Ctrl-C reaches PostgreSQL too), connections dropping is
    // expected: the log keeps those warnings, the terminal need not.
    // The lessons' migrations fail on purpose (55P03 lock timeouts, the 23505 unique build): the
    // lessons step reports those itself.
    const expected =
      (stopping && /connect|terminat|unavailable|shutting down/i.test(message)) ||
      (mode === 'lessons' && /^\S+\.sql failed at [^]*\((?:55P03|23505)\)/.test(message));
    if (options.verbose || (level === 'warn' && !expected))
      progress.detail(`${level === 'warn' ? 'warning' : level}: ${message}`);
  });
  const finish = (code: number): number => {
    logger.close();
    releaseLock();
    return code;
  };
  const root = projectRoot();
  const migrationsDir = scenarioFolder(root, DEMO_SCENARIO);
  const lab = new Lab({
    storageDir,
    composeFile: join(root, 'docker-compose.yml'),
    migrationsDir,
    logger,
    getExternalUrl: async () => undefined,
    // Beside the demo's folder, so majors installed from npm are shared with the tests' cache.
    binariesDir: join(dirname(storageDir), 'binaries'),
    onInstallProgress: (message) => progress.line(message),
  });

  const controller = new AbortController();
  const ctx: JourneyContext = {
    options,
    lab,
    schema: SCHEMA,
    logger,
    progress,
    signal: controller.signal,
    runs: [],
    migrationsDir,
    lessonsDir: scenarioFolder(root, { source: LESSON_SOURCE }),
    lessons: [],
  };
  let interruptedBy: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (interruptedBy) {
      const left = stillRunning(lab);
      progress.line(`${signal} again: exiting without waiting for the cleanup. ${left}`);
      logger.warn(`${signal} again: exiting without the cleanup. ${left}`);
      process.exit(finish(SIGNAL_EXIT[signal] ?? EXIT_FAILED));
    }
    interruptedBy = signal;
    stopping = true;
    progress.line(`${signal === 'SIGINT' ? 'Interrupted' : `Got ${signal}`}: cancelling and cleaning up…`);
    logger.info(`${signal}: cancelling.`);
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // A stray rejection must not end the process with PostgreSQL still running; log it and go on.
  process.on('unhandledRejection', (e) => logger.error(`Unhandled rejection: ${describeError(e)}`));
  // A bug thrown from a timer: still stop PostgreSQL before exiting.
  process.on('uncaughtException', (e) => {
    logger.error(e);
    progress.line(`error: unexpected failure: ${sentence(e)}`);
    stopping = true;
    controller.abort();
    void cleanUp(ctx).finally(() => process.exit(finish(EXIT_FAILED)));
  });

  progress.line(
    `Migration Lab ${mode === 'lessons' ? 'lessons' : 'demo'}: ${options.rows.toLocaleString('en-US')} rows, PostgreSQL on 127.0.0.1:${options.port}, probes on 127.0.0.1:${options.probePort}; log in ${logger.path}`,
  );
  const steps: StepResult[] = [];
  let failure: unknown;
  try {
    await runSteps(mode === 'lessons' ? lessonsSteps() : demoSteps(), ctx, steps);
  } catch (e) {
    failure = e;
  }
  stopping = true;
  // Read before PostgreSQL stops: the lab refreshed its state when the cancelled migration ended.
  const leftBehind = interruptedBy ? leftBehindSentence(lab) : undefined;
  await cleanUp(ctx);

  if (interruptedBy) {
    if (leftBehind) {
      progress.line(leftBehind);
      logger.warn(leftBehind);
    }
    progress.line('Interrupted; nothing is left running. The next run resumes where this one stopped.');
    return finish(SIGNAL_EXIT[interruptedBy] ?? EXIT_FAILED);
  }
  if (mode === 'lessons') return finish(await reportLessons(ctx, logger, failure));
  if (failure === undefined && (ctx.runs.length !== 2 || ctx.runs.some((r) => r.outcome !== 'succeeded'))) {
    failure = new LabError(`Expected two successful runs, got ${ctx.runs.map((r) => r.outcome).join(', ')}.`);
  }

  // What was recorded is printed even after a failure (a failed run's verdict says why).
  let report = '';
  if (options.json) {
    if (ctx.runs.length > 0) {
      const json = toReportJson(ctx.runs, Date.now(), ctx.serverVersion);
      const check = validateRunReport(JSON.parse(JSON.stringify(json)));
      if (check.ok) report = `${JSON.stringify(json, null, 2)}\n`;
      else {
        logger.error(`The JSON report does not match its schema: ${check.errors.join('; ')}`);
        failure ??= new LabError(`The JSON report does not match its schema: ${check.errors[0]}.`);
      }
    }
  } else if (ctx.runs.length > 0) {
    report = `\n${humanReport(ctx.runs)}`;
  }
  if (report) await writeOut(report);

  if (failure !== undefined) {
    logger.error(failure instanceof Error ? failure : String(failure));
    progress.line(`error: ${sentence(failure)}`);
    progress.line(`The log is in ${logger.path}.`);
    return finish(EXIT_FAILED);
  }
  return finish(EXIT_OK);
}

/**
 * Prints the lessons that finished (even after a failure: their verdicts say what was seen) and
 * returns the exit code: 0 only when all four ran and each observed what it teaches.
 */
async function reportLessons(ctx: JourneyContext, logger: FileLogger, failure: unknown): Promise<number> {
  const { options, progress, lessons } = ctx;
  if (failure === undefined) {
    const reason = lessonsFailure(lessons);
    if (reason) failure = new LabError(reason);
  }
  if (options.json) {
    if (lessons.length > 0) await writeOut(`${JSON.stringify(lessonsJson(lessons), null, 2)}\n`);
  } else if (lessons.length > 0) {
    await writeOut(`\n${lessonsReport(lessons)}`);
  }
  if (failure !== undefined) {
    logger.error(failure instanceof Error ? failure : String(failure));
    progress.line(`error: ${sentence(failure)}`);
    progress.line(`The log is in ${logger.path}.`);
    return EXIT_FAILED;
  }
  return EXIT_OK;
}

export async function main(argv: readonly string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseDemoArgs(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`error: ${e.message}\n${USAGE}\n`);
    return EXIT_USAGE;
  }
  if (parsed.command === 'help') {
    await writeOut(`${HELP}\n`);
    return EXIT_OK;
  }
  return run(parsed.options, parsed.command);
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      process.stderr.write(`error: ${sentence(e)}\n`);
      process.exit(EXIT_FAILED);
    },
  );
}
