import type { LatencySummary, RecordedRun } from '../core/monitor/recorder';
import { comparisonConclusion } from '../core/monitor/report';
import { formatMs, formatThreshold, tableName } from '../core/monitor/verdict';
import { DEFAULT_STALLED_THRESHOLD_MS } from '../core/probe/stats';

/** "5,000,000". */
export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

/** Greedy word wrap into lines of at most `width` characters (longer words stay whole). */
export function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}

/**
 * A plain-text table: the first column left-aligned, the others too (values are short and mixed).
 * A cell may hold several lines (e.g. several locks); its row grows to fit.
 */
export function textTable(header: string[], rows: string[][]): string {
  const all = [header, ...rows];
  const columns = header.length;
  const widths = Array.from({ length: columns }, (_, c) =>
    Math.max(...all.map((r) => Math.max(...(r[c] ?? '').split('\n').map((l) => l.length)))),
  );
  const render = (row: string[]) => {
    const cells = row.map((c) => c.split('\n'));
    const height = Math.max(...cells.map((c) => c.length));
    const out: string[] = [];
    for (let i = 0; i < height; i++) {
      out.push(
        cells
          .map((c, j) => (j === columns - 1 ? (c[i] ?? '') : (c[i] ?? '').padEnd(widths[j]!)))
          .join('   ')
          .trimEnd(),
      );
    }
    return out;
  };
  const rule = widths.map((w) => '-'.repeat(w)).join('   ');
  return [...render(header), rule, ...rows.flatMap(render)].join('\n');
}

function latency(s: LatencySummary | null, key: 'p50Ms' | 'p95Ms' | 'maxMs'): string {
  return s ? formatMs(s[key]) : 'not probed';
}

/** The locks a run held, short: "ShareLock on <table>" (the lab schema is implied). */
export function locksHeld(run: RecordedRun): string {
  const labels = [
    ...new Set(run.locks.map((l) => (l.relation ? `${l.mode} on ${tableName(l.relation)}` : l.lock))),
  ];
  return labels.length > 0 ? labels.join('\n') : 'none seen';
}

/** Column title of a run: its kind (locking / concurrent) or, for other runs, its migration. */
export function runTitle(run: RecordedRun): string {
  return run.kind === 'other' ? run.migration : run.kind;
}

/** The comparison table: one column per run, rows as the design's Compare step lists them. */
export function comparisonTable(runs: readonly RecordedRun[]): string {
  const header = ['', ...runs.map(runTitle)];
  const row = (name: string, f: (r: RecordedRun) => string) => [name, ...runs.map(f)];
  const rows = [
    row('migration', (r) => r.migration),
    row('outcome', (r) => r.outcome),
    row('duration', (r) => formatMs(r.durationMs)),
    row('reads p50', (r) => latency(r.reads, 'p50Ms')),
    row('reads p95', (r) => latency(r.reads, 'p95Ms')),
    row('reads max', (r) => latency(r.reads, 'maxMs')),
    row('writes p50', (r) => latency(r.writes, 'p50Ms')),
    row('writes p95', (r) => latency(r.writes, 'p95Ms')),
    row('writes max', (r) => latency(r.writes, 'maxMs')),
    row(
      `requests stalled > ${formatThreshold(runs[0]?.stalledThresholdMs ?? DEFAULT_STALLED_THRESHOLD_MS)}`,
      (r) => `${r.reads ? r.reads.stalled : '–'} reads, ${r.writes ? r.writes.stalled : '–'} writes`,
    ),
    row('locks held', locksHeld),
    row('max waiters', (r) => String(r.maxWaiters)),
    row('probe writes in flight at most', (r) =>
      r.probeConcurrency
        ? `${r.probeConcurrency.maxWritesInFlight} (pool ${r.probeConcurrency.writePoolSize ?? '?'})`
        : '–',
    ),
  ];
  return textTable(header, rows);
}

/** The human report: the table, each run's verdict, and the one-line conclusion. */
export function humanReport(runs: readonly RecordedRun[], width = 100): string {
  if (runs.length === 0) return 'No migration run was recorded.\n';
  const out = ['Comparison', '', comparisonTable(runs), '', 'Verdicts', ''];
  const labelWidth = Math.max(...runs.map((r) => runTitle(r).length)) + 2;
  for (const r of runs) {
    const indent = ' '.repeat(2 + labelWidth);
    const lines = wrap(r.verdict, width - indent.length);
    out.push(`  ${runTitle(r).padEnd(labelWidth)}${lines.join(`\n${indent}`)}`);
  }
  const conclusion = comparisonConclusion(runs);
  // One line, unwrapped: it is the sentence a reader (or a script) looks for.
  if (conclusion) out.push('', `Conclusion: ${conclusion}`);
  return `${out.join('\n')}\n`;
}
