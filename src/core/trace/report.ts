/**
 * The trace report for a pull request (issue 12 §2), as Markdown: what was traced and on what, the
 * rows, a table per migration (statement, locks, what they block, rewrite, duration, worst read and
 * write, verdict), and the linter's prediction and findings next to what was measured, mismatches
 * called out. The JSON export is the TraceReport itself.
 */
import { basename } from 'node:path';
import { blocksInWords, isLockMode } from '../lint/lockModes';
import { formatMs } from '../monitor/verdict';
import type { TraceFinding, TraceLatency, TraceReport, TraceStatement } from './types';
import { oneLine, strongestLocks, worstLatency } from './verdict';

/** Escapes text for a Markdown table cell. */
function cell(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

function code(text: string): string {
  const flat = cell(text);
  return flat.includes('`') ? `\`\` ${flat} \`\`` : `\`${flat}\``;
}

function worst(byTable: Record<string, TraceLatency>): string {
  const w = worstLatency(byTable);
  if (!w) return 'not probed';
  const stalled = w.latency.stalled > 0 ? ` (${w.latency.stalled} stalled)` : '';
  return `${formatMs(w.latency.maxMs)} on ${w.table}${stalled}`;
}

/** Locks, tables the trace filled first (then indexes and other relations), strongest first. */
function locksCell(s: TraceStatement, rows: Record<string, number>): string {
  if (s.locks.length === 0) return 'none seen';
  const strongest = strongestLocks(s.locks);
  return [
    ...strongest.filter((l) => rows[l.relation] !== undefined),
    ...strongest.filter((l) => rows[l.relation] === undefined),
  ]
    .map((l) => `${l.mode} on ${l.relation}${l.waitedMs > 0 ? ` (waited ${formatMs(l.waitedMs)})` : ''}`)
    .join('<br>');
}

function blocksCell(s: TraceStatement): string {
  const main = strongestLocks(s.locks)[0];
  return main && isLockMode(main.mode) ? blocksInWords(main.mode) : '—';
}

function predictedCell(s: TraceStatement): string {
  if (!s.predicted) return 'not linted';
  if (s.predicted.length === 0) return 'no lock on an existing relation';
  return s.predicted.map((l) => `${l.mode} on ${l.relation}`).join('<br>');
}

export interface TraceMarkdownOptions {
  /** The linter's findings (default: the report's own); those on the traced statements are listed next to the measurements. */
  findings?: readonly TraceFinding[];
}

export function traceMarkdown(report: TraceReport, options: TraceMarkdownOptions = {}): string {
  const out: string[] = [];
  const ids = report.migrations.map((m) => m.id);
  out.push(`# Migration trace: ${ids.length === 1 ? ids[0] : `${ids[0]} … ${ids[ids.length - 1]}`}`, '');
  out.push(
    `Traced with Migration Lab ${report.labVersion} on ${report.postgres}: ${report.source} (${report.tool}).`,
    '',
  );
  const rows = report.migrations[0]?.rows ?? {};
  const stats = report.statistics;
  const estimates = stats?.estimates ?? {};
  const sized = stats && !stats.note && Object.keys(estimates).length > 0;
  if (stats)
    out.push(
      sized
        ? `Row counts sized from production statistics: the row estimates (reltuples) of database ${code(stats.database)} on ${code(stats.host)}, read from its catalog only; the largest table gets the trace's row count and the others their share.`
        : `Production statistics: ${stats.note ?? 'none were used.'}`,
      '',
    );
  if (Object.keys(rows).length > 0) {
    const probe = (p: { kind: string; reason: string } | undefined) =>
      p ? cell(`${p.kind}: ${p.reason}`) : '—';
    out.push(
      `| Table | Rows |${sized ? ' Production estimate |' : ''} Read probe | Write probe |`,
      `| --- | ---: |${sized ? ' ---: |' : ''} --- | --- |`,
    );
    for (const [table, n] of Object.entries(rows)) {
      const estimate = sized ? ` ${estimates[table]?.toLocaleString('en-US') ?? 'none'} |` : '';
      out.push(
        `| ${cell(table)} | ${n.toLocaleString('en-US')} |${estimate} ${probe(report.readProbes?.[table])} | ${probe(report.writeProbes[table])} |`,
      );
    }
    out.push('');
  }
  for (const limit of report.fillLimits) out.push(`- Fill: ${cell(limit)}`);
  if (report.fillLimits.length > 0) out.push('');

  const mismatches: string[] = [];
  for (const m of report.migrations) {
    out.push(`## ${m.id}`, '', `**Verdict:** ${m.verdict}`, '');
    out.push(
      '| Statement | Locks | Blocks | Rewrite | Duration | Worst read | Worst write | Verdict |',
      '| --- | --- | --- | --- | ---: | --- | --- | --- |',
    );
    for (const s of m.statements) {
      const where = `${basename(s.file)}:${s.line}`;
      out.push(
        `| ${code(oneLine(s.sql, 70))}<br>${cell(where)} | ${locksCell(s, m.rows)} | ${cell(blocksCell(s))} | ${s.rewrites.length > 0 ? cell(s.rewrites.join(', ')) : 'no'} | ${formatMs(s.durationMs)} | ${cell(worst(s.reads))} | ${cell(worst(s.writes))} | ${cell(s.verdict)} |`,
      );
      if (s.progressPhases.length > 0)
        out.push(`| ↳ index build phases | ${cell(s.progressPhases.join(' → '))} | | | | | | |`);
    }
    out.push('', `### The linter next to the trace`, '');
    out.push(
      '| Statement | Linter predicted | Trace observed | Linter findings |',
      '| --- | --- | --- | --- |',
    );
    for (const s of m.statements) {
      const findings = (options.findings ?? report.findings ?? []).filter(
        (f) => f.file === s.file && f.line === s.line,
      );
      const flagged =
        findings.length > 0
          ? findings.map((f) => `${f.severity} ${f.rule}: ${f.message}`).join('<br>')
          : 'none';
      const observed = s.predictionMismatch ? `**Mismatch:** ${s.predictionMismatch}` : locksCell(s, m.rows);
      out.push(
        `| ${code(oneLine(s.sql, 50))} | ${predictedCell(s)} | ${cell(observed)} | ${cell(flagged)} |`,
      );
      if (s.predictionMismatch) mismatches.push(`- ${basename(s.file)}:${s.line}: ${s.predictionMismatch}`);
    }
    out.push('');
  }
  if (mismatches.length > 0)
    out.push(
      '## Where the linter and the trace disagree',
      '',
      'The trace is what PostgreSQL did; a difference is a bug in the linter (it was logged as one).',
      '',
      ...mismatches,
      '',
    );
  else out.push('The linter predicted every observed lock of these statements.', '');
  return out.join('\n');
}
