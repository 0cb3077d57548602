import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { lintSource } from '../src/core/lint/lint';
import { loadParser, parseEach } from '../src/core/lint/parser';
import { loadSource } from '../src/core/migrations/detect';
import { bundledMajor } from '../src/core/postgres/binaries';
import { median, type Metric, type Section } from './common';
import { writeLintCorpus } from './lintCorpus';

const ROOT = join(__dirname, '../..');
/** The issue's corpus: files of 1,000 statements each. */
const FILES = 5;
const STATEMENTS_PER_FILE = 1_000;
/** Unmeasured warm-up lints before the measured ones (the parser's WebAssembly tiers up while hot). */
const WARM_UPS = 3;
const IN_PROCESS_RUNS = 9;
/** Rounds of (our CLI, squawk-cli) on the same files; each round alternates which runs first. */
const CLI_ROUNDS = 5;
const WASM_LOADS = 5;

const tenths = (ms: number) => Math.round(ms * 10) / 10;

/** Runs a command to completion; its wall time in ms, or the one sentence saying why it failed. */
function timed(
  command: string,
  args: string[],
  accept: (status: number | null, stdout: string) => string | undefined,
): number {
  const t0 = performance.now();
  const r = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 512 * 2 ** 20 });
  const ms = performance.now() - t0;
  if (r.error) throw r.error;
  const problem = accept(r.status, r.stdout);
  if (problem) throw new Error(`${problem}${r.stderr ? ` (stderr: ${r.stderr.trim().slice(0, 300)})` : ''}`);
  return ms;
}

/** squawk-cli's own launcher (package.json `bin`), run with this Node as `npx squawk` would. */
function squawkLauncher(): string {
  let pkgJson: string;
  try {
    pkgJson = require.resolve('squawk-cli/package.json', { paths: [ROOT] });
  } catch {
    throw new Error('squawk-cli is not installed (npm install: it is a devDependency)');
  }
  const pkg = JSON.parse(readFileSync(pkgJson, 'utf8')) as { bin: Record<string, string> };
  const launcher = join(dirname(pkgJson), pkg.bin.squawk!);
  if (!existsSync(launcher)) throw new Error(`squawk-cli's launcher ${launcher} is missing`);
  return launcher;
}

/**
 * The linter on a generated corpus of 1,000-statement migration files (tables, every index form,
 * ALTER TABLE subforms, constraints, dollar-quoted functions, triggers, views, comments): the warm
 * in-process lint (median), the CLI against squawk-cli on the same files in the same rounds, and the
 * parser's WebAssembly load in a fresh process.
 */
export const lintSection: Section = {
  name: 'lint',
  description: `lint of ${FILES} × ${STATEMENTS_PER_FILE.toLocaleString('en-US')}-statement files, CLI vs squawk-cli`,
  async run(ctx) {
    const dir = join(ctx.tempDir('migration-lab-bench-lint-'), 'migrations');
    const files = writeLintCorpus(dir, FILES, STATEMENTS_PER_FILE);
    const pgMajor = bundledMajor();

    // Warm, in process: the source is read once; what is measured is lintSource over all of it.
    const source = await loadSource(dir);
    const statements = source.migrations.reduce((n, m) => n + m.up.statements.length, 0);
    if (statements !== FILES * STATEMENTS_PER_FILE)
      throw new Error(`the corpus read as ${statements} statements, not ${FILES * STATEMENTS_PER_FILE}`);
    const runs: number[] = [];
    const parseRuns: number[] = [];
    const parser = await loadParser();
    const slices = source.migrations.map((m) =>
      m.up.statements.map((s) => ({ text: s.text, offset: s.start.offset })),
    );
    let findings = 0;
    for (let i = 0; i < WARM_UPS + IN_PROCESS_RUNS; i++) {
      // The floor in the same rounds: only PostgreSQL's parser on the same statements, as the lint calls it.
      const p0 = performance.now();
      for (const section of slices) parseEach(parser, section);
      if (i >= WARM_UPS) parseRuns.push(performance.now() - p0);
      ctx.progress(
        `lint: in process, ${i < WARM_UPS ? 'warm-up' : `run ${i - WARM_UPS + 1}/${IN_PROCESS_RUNS}`}`,
      );
      const t0 = performance.now();
      const result = await lintSource(source, { pgMajor });
      const ms = performance.now() - t0;
      const syntax = result.findings.find((f) => f.rule === 'syntax-error');
      // A syntax error would measure the recovery path, not the linter: the corpus must parse.
      if (syntax)
        throw new Error(
          `the generated corpus has a syntax error: ${syntax.file}:${syntax.line}: ${syntax.message}`,
        );
      if (result.statements.length !== statements)
        throw new Error(`the lint reported ${result.statements.length} of ${statements} statements`);
      findings = result.findings.length;
      if (i >= WARM_UPS) runs.push(ms);
    }
    const inProcessMs = median(runs);

    // The parser's WebAssembly, loaded in a fresh process each time (what the first lint of a session pays).
    const wasmLoads: number[] = [];
    const parserModule = join(ROOT, 'out/src/core/lint/parser.js');
    const loadScript = `const { loadParser } = require(${JSON.stringify(parserModule)});
const t0 = performance.now();
loadParser().then(() => process.stdout.write(String(performance.now() - t0)));`;
    for (let i = 0; i < WASM_LOADS; i++) {
      ctx.progress(`lint: parser load in a fresh process ${i + 1}/${WASM_LOADS}`);
      const r = spawnSync(process.execPath, ['-e', loadScript], { encoding: 'utf8' });
      const ms = Number(r.stdout);
      if (r.status !== 0 || !Number.isFinite(ms) || r.stdout === '')
        throw new Error(`loading the parser failed: ${r.stderr.trim().slice(0, 300)}`);
      wasmLoads.push(ms);
    }

    // The CLIs, each a fresh process on the same files, JSON out (what CI reads) and nothing failing the run.
    const cli = join(ROOT, 'dist/cli.js');
    const runLab = () =>
      timed(process.execPath, [cli, 'lint', dir, '--format', 'json', '--fail-on', 'never'], (status, out) => {
        if (status !== 0) return `migration-lab lint exited with ${status}`;
        const n = (JSON.parse(out) as { statements: unknown[] }).statements.length;
        return n === statements ? undefined : `migration-lab lint reported ${n} of ${statements} statements`;
      });
    let squawkProblem: string | undefined;
    let launcher: string | undefined;
    try {
      launcher = squawkLauncher();
    } catch (e) {
      squawkProblem = (e as Error).message;
    }
    // squawk exits 1 when it found something, which on this corpus it does.
    const runSquawk = () =>
      timed(process.execPath, [launcher!, '--reporter', 'json', ...files], (status, out) => {
        if ((status !== 0 && status !== 1) || out.trim() === '') return `squawk exited with ${status}`;
        return Array.isArray(JSON.parse(out)) ? undefined : 'squawk printed no JSON list';
      });
    // The floor of any linter built like ours, in the same rounds: a fresh Node process that only loads
    // PostgreSQL's parser (as the CLI does: Liftoff only), splits the same files and parses them.
    const floorScript = `require('node:v8').setFlagsFromString('--liftoff-only');
const { readFileSync } = require('node:fs');
const { loadParser, parseEach, splitStatements } = require(${JSON.stringify(parserModule)});
loadParser().then((parser) => {
  let n = 0;
  for (const file of ${JSON.stringify(files)}) n += parseEach(parser, splitStatements(readFileSync(file, 'utf8'))).length;
  process.stdout.write(String(n));
});`;
    const runFloor = () =>
      timed(process.execPath, ['-e', floorScript], (status, out) =>
        status === 0 && Number(out) === statements
          ? undefined
          : `the parser-only process parsed ${out || 'nothing'} of ${statements} statements`,
      );
    const runNode = () =>
      timed(process.execPath, ['-e', '0'], (status) => (status === 0 ? undefined : 'node failed'));
    const labRuns: number[] = [];
    const squawkRuns: number[] = [];
    const floorRuns: number[] = [];
    const nodeRuns: number[] = [];
    let squawkFindings = 0;
    for (let round = 0; round <= CLI_ROUNDS; round++) {
      ctx.progress(
        `lint: CLI round ${round === 0 ? 'warm-up' : `${round}/${CLI_ROUNDS}`} (ours and squawk-cli)`,
      );
      let lab: number;
      let squawk: number | undefined;
      const trySquawk = () => {
        if (squawkProblem) return undefined;
        try {
          return runSquawk();
        } catch (e) {
          squawkProblem = `squawk-cli could not be run: ${(e as Error).message}`;
          return undefined;
        }
      };
      if (round % 2 === 0) {
        lab = runLab();
        squawk = trySquawk();
      } else {
        squawk = trySquawk();
        lab = runLab();
      }
      const floor = runFloor();
      const node = runNode();
      if (round === 0) continue; // the first run of each reads the files and Node's code from disk
      labRuns.push(lab);
      floorRuns.push(floor);
      nodeRuns.push(node);
      if (squawk !== undefined) squawkRuns.push(squawk);
    }
    if (launcher && !squawkProblem) {
      const r = spawnSync(process.execPath, [launcher, '--reporter', 'json', ...files], {
        encoding: 'utf8',
        maxBuffer: 512 * 2 ** 20,
      });
      squawkFindings = (JSON.parse(r.stdout) as unknown[]).length;
    }

    const metrics: Metric[] = [
      { key: 'files', value: FILES },
      { key: 'statements', value: statements },
      { key: 'findings', value: findings },
      {
        key: 'ms_per_1000_statements',
        label: `warm in-process lint, per 1,000 statements (median of ${IN_PROCESS_RUNS})`,
        value: inProcessMs / (statements / 1000),
        unit: 'ms',
        target: { op: '<=', value: 20 },
      },
      { key: 'in_process_runs_ms', value: runs.map(tenths) },
      {
        key: 'baseline_parse_ms_per_1000_statements',
        label: 'baseline: only the parser on the same statements, per 1,000',
        value: median(parseRuns) / (statements / 1000),
        unit: 'ms',
      },
      {
        key: 'cli_ms',
        label: `CLI on ${statements.toLocaleString('en-US')} statements (lint --format json), median of ${CLI_ROUNDS}`,
        value: median(labRuns),
        unit: 'ms',
      },
      { key: 'cli_runs_ms', value: labRuns.map(tenths) },
      {
        key: 'parser_only_process_ms',
        label: `baseline: a fresh Node process that only loads the parser and splits and parses the same files, median of ${CLI_ROUNDS}`,
        value: median(floorRuns),
        unit: 'ms',
      },
      {
        key: 'node_start_ms',
        label: `baseline: a fresh Node process doing nothing (node -e 0; squawk-cli's launcher pays it too), median of ${CLI_ROUNDS}`,
        value: median(nodeRuns),
        unit: 'ms',
      },
      {
        key: 'wasm_load_ms',
        label: `parser WebAssembly load in a fresh process, median of ${WASM_LOADS}`,
        value: median(wasmLoads),
        unit: 'ms',
      },
    ];
    const squawkLabel = `squawk-cli on the same files (--reporter json), median of ${CLI_ROUNDS}`;
    const ratioLabel = 'our CLI / squawk-cli (median of the rounds’ ratios)';
    if (squawkProblem) {
      // Never a zero: the figures that could not be measured say why, and the section fails.
      metrics.push(
        { key: 'squawk_cli_ms', label: squawkLabel, error: squawkProblem, unit: 'ms' },
        {
          key: 'ratio_vs_squawk',
          label: ratioLabel,
          error: squawkProblem,
          unit: 'ratio',
          target: { op: '<=', value: 1 },
        },
      );
    } else {
      metrics.push(
        { key: 'squawk_cli_ms', label: squawkLabel, value: median(squawkRuns), unit: 'ms' },
        { key: 'squawk_cli_runs_ms', value: squawkRuns.map(tenths) },
        { key: 'squawk_findings', value: squawkFindings },
        {
          key: 'parser_only_ratio_vs_squawk',
          label: 'the parser-only process / squawk-cli (median of the rounds’ ratios)',
          value: median(floorRuns.map((f, k) => f / squawkRuns[k]!)),
          unit: 'ratio',
        },
        {
          key: 'ratio_vs_squawk',
          label: ratioLabel,
          value: median(labRuns.map((l, k) => l / squawkRuns[k]!)),
          unit: 'ratio',
          target: { op: '<=', value: 1 },
        },
      );
    }
    return metrics;
  },
};
