import type { LatencySummary, RecordedRun } from './recorder';
import { comparisonLine, formatMs, runLabel, type ComparableRun } from './verdict';

/** Latency of one probe kind in the JSON report; the ms fields are null when nothing was measured. */
export interface ReportLatency {
  count: number;
  p50Ms: number | null;
  p95Ms: number | null;
  maxMs: number | null;
  stalled: number;
  errors: number;
  /** False when that probe did not run during the migration (the other fields are then 0/null). */
  probed: boolean;
}

/** One run in the JSON report (the documented keys first, then extras). */
export interface ReportRun {
  migration: string;
  durationMs: number;
  reads: ReportLatency;
  writes: ReportLatency;
  locksHeld: string[];
  maxWaiters: number;
  verdict: string;
  kind: string;
  outcome: string;
  /** ISO 8601. */
  startedAt: string;
  endedAt: string;
  pid: number | null;
  statements: { migration: string; sql: string; durationMs: number }[];
  locks: { lock: string; heldMs: number; firstSeenAt: string; lastSeenAt: string }[];
  waiters: { pid: number; role: string; mode: string; relation: string | null; maxWaitingMs: number }[];
  phases: string[];
  error?: string;
}

export interface RunReport {
  runs: ReportRun[];
  /** Present with two runs or more: the two compared and the one-line conclusion. */
  comparison?: { runs: [string, string]; conclusion: string };
  generatedAt?: string;
}

function latency(s: LatencySummary | null): ReportLatency {
  if (!s) return { count: 0, p50Ms: null, p95Ms: null, maxMs: null, stalled: 0, errors: 0, probed: false };
  return {
    count: s.count,
    p50Ms: s.p50Ms,
    p95Ms: s.p95Ms,
    maxMs: s.maxMs,
    stalled: s.stalled,
    errors: s.errors,
    probed: true,
  };
}

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * The two runs a comparison is about: the newest locking run and the newest concurrent run when both
 * exist, else the last two runs (older first).
 */
export function comparedPair(all: readonly RecordedRun[]): [RecordedRun, RecordedRun] | undefined {
  // The demo's own runs that completed: a lesson's scene (e.g. a build kept waiting on purpose) is no
  // fair comparison.
  const runs = all.filter((r) => !r.lesson && r.outcome === 'succeeded');
  if (runs.length < 2) return undefined;
  const lastOf = (kind: string) => [...runs].reverse().find((r) => r.kind === kind);
  const locking = lastOf('locking');
  const concurrent = lastOf('concurrent');
  if (locking && concurrent) return [locking, concurrent];
  return [runs[runs.length - 2]!, runs[runs.length - 1]!];
}

function comparable(run: RecordedRun): ComparableRun {
  return {
    label: runLabel(run.kind, run.migration),
    durationMs: run.durationMs,
    reads: run.reads,
    writes: run.writes,
  };
}

/** The conclusion line for the compared pair, if there are two runs or more. */
export function comparisonConclusion(runs: readonly RecordedRun[]): string | undefined {
  const pair = comparedPair(runs);
  if (!pair) return undefined;
  const [a, b] = pair;
  const ca = comparable(a);
  const cb = comparable(b);
  if (ca.label === cb.label) {
    ca.label = `run ${runs.indexOf(a) + 1}`;
    cb.label = `run ${runs.indexOf(b) + 1}`;
  }
  return comparisonLine(ca, cb);
}

/** The JSON report: `{ runs: [...] }` with the documented keys (see validateRunReport). */
export function toReportJson(runs: readonly RecordedRun[], now = Date.now()): RunReport {
  const report: RunReport = {
    runs: runs.map((r) => {
      const run: ReportRun = {
        migration: r.migration,
        durationMs: r.durationMs,
        reads: latency(r.reads),
        writes: latency(r.writes),
        locksHeld: [...r.locksHeld],
        maxWaiters: r.maxWaiters,
        verdict: r.verdict,
        kind: r.kind,
        outcome: r.outcome,
        startedAt: iso(r.startedAt),
        endedAt: iso(r.endedAt),
        pid: r.pid,
        statements: r.statements.map((s) => ({ ...s })),
        locks: r.locks.map((l) => ({
          lock: l.lock,
          heldMs: l.heldMs,
          firstSeenAt: iso(l.firstSeenAt),
          lastSeenAt: iso(l.lastSeenAt),
        })),
        waiters: r.waiters.map((w) => ({
          pid: w.pid,
          role: w.role,
          mode: w.mode,
          relation: w.relation,
          maxWaitingMs: w.maxWaitingMs,
        })),
        phases: [...r.phases],
      };
      if (r.error !== undefined) run.error = r.error;
      return run;
    }),
    generatedAt: iso(now),
  };
  const pair = comparedPair(runs);
  const conclusion = comparisonConclusion(runs);
  if (pair && conclusion) report.comparison = { runs: [pair[0].migration, pair[1].migration], conclusion };
  return report;
}

export interface RunReportValidation {
  ok: boolean;
  errors: string[];
}

const LATENCY_KEYS = ['count', 'p50Ms', 'p95Ms', 'maxMs', 'stalled', 'errors'] as const;

/**
 * Checks that `value` (e.g. parsed JSON) has the documented report shape:
 * `{ runs: [{ migration, durationMs, reads: {count,p50Ms,p95Ms,maxMs,stalled,errors}, writes: {…},
 * locksHeld: string[], maxWaiters, verdict }] }`. Extra keys are allowed.
 */
export function validateRunReport(value: unknown): RunReportValidation {
  const errors: string[] = [];
  const isObject = (v: unknown): v is Record<string, unknown> =>
    typeof v === 'object' && v !== null && !Array.isArray(v);
  const isCount = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v >= 0;
  const isMs = (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v >= 0;
  if (!isObject(value)) return { ok: false, errors: ['the report is not an object'] };
  if (!Array.isArray(value.runs)) return { ok: false, errors: ['"runs" is not an array'] };
  value.runs.forEach((run: unknown, i: number) => {
    const at = `runs[${i}]`;
    if (!isObject(run)) {
      errors.push(`${at} is not an object`);
      return;
    }
    if (typeof run.migration !== 'string' || run.migration === '')
      errors.push(`${at}.migration is not a non-empty string`);
    if (!isMs(run.durationMs)) errors.push(`${at}.durationMs is not a duration in ms`);
    for (const kind of ['reads', 'writes'] as const) {
      const s = run[kind];
      if (!isObject(s)) {
        errors.push(`${at}.${kind} is not an object`);
        continue;
      }
      for (const key of LATENCY_KEYS) {
        if (!(key in s)) errors.push(`${at}.${kind}.${key} is missing`);
        else if (key === 'count' || key === 'stalled' || key === 'errors') {
          if (!isCount(s[key])) errors.push(`${at}.${kind}.${key} is not a whole number`);
        } else if (!(s[key] === null || isMs(s[key]))) {
          errors.push(`${at}.${kind}.${key} is neither a duration in ms nor null`);
        }
      }
      if (isCount(s.count) && (s.count as number) > 0 && s.p95Ms === null)
        errors.push(`${at}.${kind}.p95Ms is null although requests were counted`);
    }
    if (!Array.isArray(run.locksHeld) || !run.locksHeld.every((l) => typeof l === 'string'))
      errors.push(`${at}.locksHeld is not an array of strings`);
    if (!isCount(run.maxWaiters)) errors.push(`${at}.maxWaiters is not a whole number`);
    if (typeof run.verdict !== 'string' || run.verdict === '')
      errors.push(`${at}.verdict is not a non-empty string`);
  });
  if ('comparison' in value && value.comparison !== undefined) {
    const c = value.comparison;
    if (!isObject(c) || typeof c.conclusion !== 'string')
      errors.push('comparison.conclusion is not a string');
  }
  return { ok: errors.length === 0, errors };
}

/** Text for a Markdown table cell: no line breaks, pipes escaped. */
function cell(text: string): string {
  return text.replace(/\r?\n/g, ' ').replace(/\|/g, '\\|');
}

function statsRow(name: string, s: LatencySummary | null): string {
  if (!s) return `| ${name} | not probed | | | | | |`;
  return `| ${name} | ${s.count} | ${formatMs(s.p50Ms)} | ${formatMs(s.p95Ms)} | ${formatMs(s.maxMs)} | ${s.stalled} | ${s.errors} |`;
}

function shortSql(sql: string, max = 120): string {
  const one = sql.replace(/\s+/g, ' ').trim();
  return one.length > max ? `${one.slice(0, max - 1)}…` : one;
}

/** A Markdown report: one section per run, then a comparison table when there are two runs or more. */
export function toMarkdown(runs: readonly RecordedRun[]): string {
  const out: string[] = ['# Migration Lab run report', ''];
  if (runs.length === 0) out.push('No runs recorded yet.', '');
  runs.forEach((r, i) => {
    out.push(`## ${i + 1}. ${r.migration} (${r.kind}, ${r.outcome})`, '');
    out.push(
      `Started ${iso(r.startedAt)}, took ${formatMs(r.durationMs)}${r.pid ? ` (pid ${r.pid})` : ''}.`,
      '',
    );
    out.push(`> **Verdict:** ${r.verdict}`, '');
    out.push('| probe | requests | p50 | p95 | max | stalled > 1 s | errors |');
    out.push('|---|---:|---:|---:|---:|---:|---:|');
    out.push(statsRow('reads', r.reads), statsRow('writes', r.writes), '');
    out.push('**Locks held**', '');
    if (r.locks.length === 0) out.push('- none observed on the watched tables');
    for (const l of r.locks) out.push(`- ${l.lock}: seen held for ${formatMs(l.heldMs)}`);
    out.push('');
    out.push(`**Waiters**${r.maxWaiters > 0 ? ` (at most ${r.maxWaiters} at once)` : ''}`, '');
    if (r.waiters.length === 0) out.push('- nobody waited on the migration');
    for (const w of r.waiters.slice(0, 20)) {
      const on = w.relation ?? `${w.locktype} ${w.target ?? ''}`.trim();
      out.push(
        `- pid ${w.pid} (${w.role}) waited up to ${formatMs(w.maxWaitingMs)} for ${w.mode} on ${on}${w.direct ? '' : ' (queued behind another waiter)'}`,
      );
    }
    if (r.waiters.length > 20) out.push(`- … and ${r.waiters.length - 20} more`);
    out.push('');
    if (r.waitedFor.length > 0) {
      out.push('**The migration waited for**', '');
      for (const w of r.waitedFor) {
        const by = w.blockerPids.map((p, j) => `${p} (${w.blockerRoles[j] ?? 'other'})`).join(', ');
        out.push(
          `- ${w.mode} on ${w.locktype} ${w.target ?? ''} for up to ${formatMs(w.maxWaitingMs)}, blocked by ${by}`,
        );
      }
      out.push('');
    }
    if (r.phases.length > 0) out.push(`**Index build phases:** ${r.phases.join(' → ')}`, '');
    if (r.statements.length > 0) {
      out.push('**Statements**', '');
      for (const s of r.statements)
        out.push(`- \`${shortSql(s.sql).replace(/`/g, "'")}\` — ${formatMs(s.durationMs)}`);
      out.push('');
    }
    if (r.error) out.push(`**Error:** ${r.error}`, '');
  });

  if (runs.length >= 2) {
    out.push('## Comparison', '');
    out.push(`| | ${runs.map((r, i) => cell(`${i + 1}. ${r.migration}`)).join(' | ')} |`);
    out.push(`|---|${runs.map(() => '---:').join('|')}|`);
    const row = (name: string, f: (r: RecordedRun) => string) =>
      out.push(`| ${name} | ${runs.map((r) => cell(f(r))).join(' | ')} |`);
    const lat = (s: LatencySummary | null, key: 'p50Ms' | 'p95Ms' | 'maxMs') =>
      s ? formatMs(s[key]) : 'not probed';
    row('Duration', (r) => formatMs(r.durationMs));
    row('Reads p50 / p95 / max', (r) =>
      r.reads
        ? `${lat(r.reads, 'p50Ms')} / ${lat(r.reads, 'p95Ms')} / ${lat(r.reads, 'maxMs')}`
        : 'not probed',
    );
    row('Writes p50 / p95 / max', (r) =>
      r.writes
        ? `${lat(r.writes, 'p50Ms')} / ${lat(r.writes, 'p95Ms')} / ${lat(r.writes, 'maxMs')}`
        : 'not probed',
    );
    row(
      'Requests stalled > 1 s (reads / writes)',
      (r) => `${r.reads ? r.reads.stalled : '–'} / ${r.writes ? r.writes.stalled : '–'}`,
    );
    row('Lock modes held', (r) => [...new Set(r.locks.map((l) => l.mode))].join(', ') || 'none seen');
    row('Max waiters', (r) => String(r.maxWaiters));
    out.push('');
    const conclusion = comparisonConclusion(runs);
    if (conclusion) out.push(`**Conclusion:** ${conclusion}`, '');
  }
  return out.join('\n');
}
