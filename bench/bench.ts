// `npm run bench [-- --rows N] [--only NAME] [--json] [--verbose]`: figures measured in this one run.
// Each section is one row of SECTIONS below; add a row (and a file beside this one) for a new one.
import { cpus, loadavg, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { describeError } from '../src/core/errors';
import type { Logger } from '../src/core/log';
import { validateRowCount } from '../src/core/seeder';
import { CleanupStack, makeTempDir, removeDir, type BenchContext, type Metric, type Section } from './common';
import { embeddedSection } from './embedded';
import { seedSection } from './seed';
import { extensionSection } from './extension';
import { monitorSection } from './monitor';
import { parseSection } from './parse';
import { replaySection } from './replay';
import { lintSection } from './lint';
import { traceSection } from './trace';

/** In run order: the short embedded timings first, before seeding leaves the disk busy. */
const SECTIONS: Section[] = [
  parseSection,
  embeddedSection,
  seedSection,
  monitorSection,
  extensionSection,
  replaySection,
  lintSection,
  traceSection,
];

const DEFAULT_ROWS = 5_000_000;

const USAGE = `Usage: npm run bench -- [options]
  --rows N        rows to seed (default ${DEFAULT_ROWS.toLocaleString('en-US')})
  --only NAME     run only these sections (repeat or comma-separate): ${SECTIONS.map((s) => s.name).join(', ')}
  --json          print one JSON object on stdout (progress stays on stderr)
  --verbose       also print the launcher's and seeder's info logs on stderr
  --help          this text`;

class UsageError extends Error {}

interface Options {
  rows: number;
  json: boolean;
  verbose: boolean;
  sections: Section[];
}

function parseOptions(argv: string[]): Options | 'help' {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        rows: { type: 'string' },
        only: { type: 'string', multiple: true },
        json: { type: 'boolean' },
        verbose: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message : String(e));
  }
  if (values.help) return 'help';
  let rows = DEFAULT_ROWS;
  if (values.rows !== undefined) {
    try {
      rows = validateRowCount(values.rows);
    } catch (e) {
      throw new UsageError(`--rows ${values.rows}: ${describeError(e).replace(/^LabError: /, '')}`);
    }
  }
  let sections = SECTIONS;
  if (values.only) {
    const names = values.only.flatMap((v) => v.split(',')).map((v) => v.trim());
    for (const name of names) {
      if (!SECTIONS.some((s) => s.name === name))
        throw new UsageError(
          `--only ${name}: no such section; known: ${SECTIONS.map((s) => s.name).join(', ')}.`,
        );
    }
    sections = SECTIONS.filter((s) => names.includes(s.name));
  }
  return { rows, json: values.json ?? false, verbose: values.verbose ?? false, sections };
}

function stderrLine(text: string): void {
  process.stderr.write(`${text}\n`);
}

function benchLogger(verbose: boolean): Logger {
  const line = (level: string) => (m: string | Error) =>
    stderrLine(`  [${level}] ${m instanceof Error ? (m.stack ?? m.message) : m}`);
  const drop = () => undefined;
  return {
    trace: drop,
    debug: verbose ? line('debug') : drop,
    info: verbose ? line('info') : drop,
    warn: line('warn'),
    error: line('error'),
  };
}

function passes(m: Metric): boolean | undefined {
  if (m.error !== undefined && m.target) return false;
  if (!m.target || typeof m.value !== 'number') return undefined;
  const { op, value } = m.target;
  return op === '>=' ? m.value >= value : op === '<' ? m.value < value : m.value <= value;
}

function formatValue(m: Metric): string {
  if (m.error !== undefined) return `ERROR: ${m.error}`;
  if (typeof m.value !== 'number') return String(m.value);
  switch (m.unit) {
    case 'rows/s':
      return `${Math.round(m.value).toLocaleString('en-US')} rows/s`;
    case 'ms':
      // Sub-10 ms figures (a poll, a timer's lateness) need their tenths.
      return m.value < 10 ? `${m.value.toFixed(1)} ms` : `${Math.round(m.value).toLocaleString('en-US')} ms`;
    case 'ratio':
      return m.value.toFixed(2);
    case 'MB':
      return `${m.value.toFixed(0)} MB`;
    default:
      return m.value.toLocaleString('en-US');
  }
}

function jsonValue(m: Metric): number | string | number[] | undefined {
  if (typeof m.value !== 'number') return m.value;
  if (m.unit === 'ratio') return Math.round(m.value * 1000) / 1000;
  if (m.unit === 'MB' || m.unit === 'ms') return Math.round(m.value * 10) / 10;
  return Math.round(m.value);
}

function printTable(
  results: { section: Section; metrics: Metric[]; error?: string }[],
  header: string[],
): void {
  const rows: string[][] = [];
  for (const { section, metrics, error } of results) {
    for (const m of metrics) {
      if (!m.label) continue;
      const pass = passes(m);
      const target = m.target
        ? `${m.target.op} ${m.unit === 'ms' ? `${m.target.value} ms` : m.target.value}`
        : '';
      rows.push([
        section.name,
        m.label,
        formatValue(m),
        target,
        pass === undefined ? '' : pass ? 'pass' : 'MISS',
      ]);
    }
    if (error) rows.push([section.name, 'ERROR', error, '', '']);
  }
  const titles = ['section', 'measure', 'value', 'target', ''];
  const widths = titles.map((t, i) => Math.max(t.length, ...rows.map((r) => r[i]!.length)));
  const rightAligned = new Set([2]);
  const fmt = (r: string[]) =>
    r
      .map((c, i) => (rightAligned.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  const out = [...header, '', fmt(titles), fmt(widths.map((w) => '-'.repeat(w))), ...rows.map(fmt)];
  process.stdout.write(`${out.join('\n')}\n`);
}

/** Cleanups of the section now running, so that Ctrl-C still stops servers and removes folders. */
let activeCleanup: CleanupStack | undefined;
let interrupted = false;

function onSignal(signal: NodeJS.Signals): void {
  interrupted = true;
  stderrLine(`\n${signal}: cleaning up…`);
  const stack = activeCleanup;
  activeCleanup = undefined;
  void (stack ?? new CleanupStack())
    .run((e) => stderrLine(`cleanup failed: ${describeError(e)}`))
    .finally(() => process.exit(130));
}

async function main(): Promise<number> {
  let options: Options | 'help';
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    stderrLine(`bench: ${e.message}\n\n${USAGE}`);
    return 2;
  }
  if (options === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const { rows, json, verbose, sections } = options;
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const cpuList = cpus();
  const machine: Record<string, string | number> = {
    cpus: cpuList.length,
    cpu_model: cpuList[0]?.model.trim() ?? 'unknown',
    mem_gb: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    loadavg_1m_at_start: Math.round(loadavg()[0]! * 100) / 100,
  };
  const logger = benchLogger(verbose);
  const started = Date.now();
  const results: { section: Section; metrics: Metric[]; error?: string }[] = [];
  for (const section of sections) {
    const cleanup = new CleanupStack();
    activeCleanup = cleanup;
    const ctx: BenchContext = {
      rows,
      logger,
      machine,
      progress: (m) => stderrLine(`[${((Date.now() - started) / 1000).toFixed(1)}s] ${m}`),
      defer: (fn) => cleanup.push(fn),
      tempDir: (prefix) => {
        const dir = makeTempDir(prefix);
        cleanup.push(() => removeDir(dir));
        return dir;
      },
    };
    let metrics: Metric[] = [];
    let error: string | undefined;
    try {
      metrics = await section.run(ctx);
    } catch (e) {
      error = describeError(e);
      if (!interrupted)
        stderrLine(
          `bench: section ${section.name} failed: ${e instanceof Error ? (e.stack ?? error) : error}`,
        );
    } finally {
      activeCleanup = undefined;
      await cleanup.run((e) => {
        error ??= `cleanup: ${describeError(e)}`;
        stderrLine(`bench: cleanup of ${section.name} failed: ${describeError(e)}`);
      });
    }
    results.push({ section, metrics, error });
  }
  const failed = results.some((r) => r.error !== undefined || r.metrics.some((m) => m.error !== undefined));
  machine.loadavg_1m_at_end = Math.round(loadavg()[0]! * 100) / 100;

  if (json) {
    const out: Record<string, unknown> = { rows };
    for (const [k, v] of Object.entries(machine)) out[`machine.${k}`] = v;
    for (const { section, metrics, error } of results) {
      for (const m of metrics) {
        const key = m.fullKey ?? `${section.name}.${m.key}`;
        if (m.error !== undefined) out[`${key}.error`] = m.error;
        else out[key] = jsonValue(m);
        if (m.target) {
          out[`${key}.target`] = `${m.target.op} ${m.target.value}`;
          out[`${key}.pass`] = passes(m);
        }
      }
      if (error) out[`${section.name}.error`] = error;
    }
    out['ok'] = !failed;
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  } else {
    printTable(results, [
      `Migration Lab benchmark: ${rows.toLocaleString('en-US')} rows; ${machine.cpus} CPUs (${machine.cpu_model}), ` +
        `Node ${machine.node}, PostgreSQL ${machine.pg_version ?? '?'}; ` +
        `load ${machine.loadavg_1m_at_start} at start, ${machine.loadavg_1m_at_end} at end.`,
      'One run on this machine: figures are noisy when other work shares the CPU.',
    ]);
  }
  return failed ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    stderrLine(`bench: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    process.exitCode = 1;
  },
);
