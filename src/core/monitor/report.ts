import { DEFAULT_STALLED_THRESHOLD_MS } from '../probe/stats';
import type { LatencySummary, RecordedAttempt, RecordedRun } from './recorder';
import {
  comparisonLine,
  formatMs,
  formatThreshold,
  runLabel,
  type ComparableRun,
  type ProbeConcurrency,
} from './verdict';

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
  /** The exact PostgreSQL the run ran on (see runServerVersion). */
  serverVersion: string;
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
  /** Slower than this counted as stalled, ms. */
  stalledThresholdMs?: number;
  /** Most probe requests in flight at once and the probe pools' sizes (absent when the probe was off). */
  probeConcurrency?: ProbeConcurrency;
  /** kind "lesson": the lesson's name and title, and its migration's attempts. */
  lesson?: string;
  title?: string;
  attempts?: {
    n: number;
    outcome: string;
    sqlstate?: string;
    durationMs: number;
    startedAt: string;
    delayAfterMs?: number;
  }[];
}

export interface RunReport {
  runs: ReportRun[];
  /** Present with two runs or more: the two compared and the one-line conclusion. */
  comparison?: { runs: [string, string]; conclusion: string };
  generatedAt?: string;
  /**
   * PostgreSQL's own version string of the server the runs were recorded on (e.g. "14.23"): present
   * when every run says the same one (or, with no runs, the server given); each run has its own.
   */
  serverVersion?: string;
}

/**
 * The exact PostgreSQL a run ran on, as reports say it: the version recorded with the run; for a run
 * saved before versions were recorded, `current` (the server running when the report is made), the
 * best there is; else "unknown" rather than a wrong one.
 */
export function runServerVersion(run: Pick<RecordedRun, 'serverVersion'>, current?: string): string {
  return run.serverVersion ?? current ?? 'unknown';
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
  const runs = all.filter(isComparable);
  if (runs.length < 2) return undefined;
  const lastOf = (kind: string) => [...runs].reverse().find((r) => r.kind === kind);
  const locking = lastOf('locking');
  const concurrent = lastOf('concurrent');
  if (locking && concurrent) return [locking, concurrent];
  return [runs[runs.length - 2]!, runs[runs.length - 1]!];
}

/** A demo run that completed: lessons (their scenes keep a build waiting on purpose) are no fair pair. */
function isComparable(r: RecordedRun): boolean {
  return r.kind !== 'lesson' && !r.lesson && r.outcome === 'succeeded';
}

/** A run as the comparison sees it, with the durations of every comparable run of the same build. */
function comparable(run: RecordedRun, all: readonly RecordedRun[]): ComparableRun {
  const same = all.filter((r) => isComparable(r) && r.kind === run.kind && r.migration === run.migration);
  return {
    label: runLabel(run.kind, run.migration),
    durationMs: run.durationMs,
    reads: run.reads,
    writes: run.writes,
    durationsMs: same.map((r) => r.durationMs),
  };
}

/** The conclusion line for the compared pair, if there are two runs or more. */
export function comparisonConclusion(runs: readonly RecordedRun[]): string | undefined {
  const pair = comparedPair(runs);
  if (!pair) return undefined;
  const [a, b] = pair;
  const ca = comparable(a, runs);
  const cb = comparable(b, runs);
  if (a.kind === b.kind && a.migration === b.migration) {
    // Two runs of the same build: each its own sample.
    ca.durationsMs = [a.durationMs];
    cb.durationsMs = [b.durationMs];
  }
  if (ca.label === cb.label) {
    ca.label = `run ${runs.indexOf(a) + 1}`;
    cb.label = `run ${runs.indexOf(b) + 1}`;
  }
  return comparisonLine(ca, cb);
}

/** The JSON report: `{ runs: [...] }` with the documented keys (see validateRunReport). */
export function toReportJson(
  runs: readonly RecordedRun[],
  now = Date.now(),
  currentServerVersion?: string,
): RunReport {
  const report: RunReport = {
    runs: runs.map((r) => {
      const run: ReportRun = {
        migration: r.migration,
        serverVersion: runServerVersion(r, currentServerVersion),
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
      if (r.stalledThresholdMs !== undefined) run.stalledThresholdMs = r.stalledThresholdMs;
      if (r.probeConcurrency) run.probeConcurrency = { ...r.probeConcurrency };
      if (r.kind === 'lesson') {
        if (r.lesson !== undefined) run.lesson = r.lesson;
        if (r.title !== undefined) run.title = r.title;
        run.attempts = (r.attempts ?? []).map((a) => {
          const out: NonNullable<ReportRun['attempts']>[number] = {
            n: a.n,
            outcome: a.outcome,
            durationMs: a.durationMs,
            startedAt: iso(a.startedAt),
          };
          if (a.sqlstate !== undefined) out.sqlstate = a.sqlstate;
          if (a.delayAfterMs !== undefined) out.delayAfterMs = a.delayAfterMs;
          return out;
        });
      }
      return run;
    }),
    generatedAt: iso(now),
  };
  const pair = comparedPair(runs);
  const conclusion = comparisonConclusion(runs);
  if (pair && conclusion) report.comparison = { runs: [pair[0].migration, pair[1].migration], conclusion };
  const versions = new Set(report.runs.map((r) => r.serverVersion));
  const common =
    runs.length === 0 ? currentServerVersion : versions.size === 1 ? [...versions][0] : undefined;
  if (common && common !== 'unknown') report.serverVersion = common;
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

/** How a run or a lesson is listed (the Runs view): label, description and tooltip. */
export function runListRow(
  run: RecordedRun,
  time = (ms: number) => new Date(ms).toLocaleTimeString(),
): { label: string; description: string; tooltip: string } {
  const at = time(run.startedAt);
  // The short form ("15.18" of "15.18 (Debian 15.18-0+deb12u1)") fits the row; the tooltip has it all.
  const pg = run.serverVersion ? ` · PostgreSQL ${run.serverVersion.split(' ')[0]}` : '';
  const tooltip = `${run.verdict}\nRan on PostgreSQL ${run.serverVersion ?? '(version not recorded)'}.`;
  if (run.kind === 'lesson') {
    const n = run.attempts?.length ?? 0;
    const over = n > 1 ? ` over ${n} attempts` : '';
    return {
      label: `Lesson: ${run.title ?? run.lesson ?? run.migration}`,
      description: `${run.outcome} · ${formatMs(run.durationMs)}${over} · ${at}${pg}`,
      tooltip,
    };
  }
  return {
    label: run.migration,
    description: `${run.kind} · ${run.outcome} · ${formatMs(run.durationMs)} · ${at}${pg}`,
    tooltip,
  };
}

/** One attempt of a lesson's migration, as a child row of its entry. */
export function attemptListRow(a: RecordedAttempt): { label: string; description: string } {
  const wait = a.delayAfterMs !== undefined ? ` · then waited ${formatMs(a.delayAfterMs)}` : '';
  return {
    label: `Attempt ${a.n}: ${a.outcome}${a.sqlstate ? ` (${a.sqlstate})` : ''}`,
    description: `${formatMs(a.durationMs)}${wait}`,
  };
}

function attemptRow(a: RecordedAttempt): string {
  const wait = a.delayAfterMs !== undefined ? `, then waited ${formatMs(a.delayAfterMs)}` : '';
  return `- attempt ${a.n}: ${a.outcome}${a.sqlstate ? ` (SQLSTATE ${a.sqlstate})` : ''} after ${formatMs(a.durationMs)}${wait}`;
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
export function toMarkdown(runs: readonly RecordedRun[], currentServerVersion?: string): string {
  const out: string[] = ['# Migration Lab run report', ''];
  if (runs.length === 0) out.push('No runs recorded yet.', '');
  runs.forEach((r, i) => {
    const lesson = r.kind === 'lesson';
    const attempts = r.attempts ?? [];
    const on = `on PostgreSQL ${runServerVersion(r, currentServerVersion)}`;
    if (lesson) {
      out.push(`## ${i + 1}. Lesson: ${r.title ?? r.lesson ?? r.migration} (${r.outcome})`, '');
      out.push(
        `Started ${iso(r.startedAt)} ${on}, took ${formatMs(r.durationMs)} over ` +
          `${attempts.length === 1 ? '1 attempt' : `${attempts.length} attempts`} of ${r.migration}.`,
        '',
      );
    } else {
      out.push(`## ${i + 1}. ${r.migration} (${r.kind}, ${r.outcome})`, '');
      out.push(
        `Started ${iso(r.startedAt)} ${on}, took ${formatMs(r.durationMs)}${r.pid ? ` (pid ${r.pid})` : ''}.`,
        '',
      );
    }
    out.push(`> **Verdict:** ${r.verdict}`, '');
    if (lesson && attempts.length > 0) {
      out.push('**Attempts**', '');
      for (const a of attempts) out.push(attemptRow(a));
      out.push('');
    }
    out.push(
      `| probe | requests | p50 | p95 | max | stalled > ${formatThreshold(r.stalledThresholdMs ?? DEFAULT_STALLED_THRESHOLD_MS)} | errors |`,
    );
    out.push('|---|---:|---:|---:|---:|---:|---:|');
    out.push(statsRow('reads', r.reads), statsRow('writes', r.writes), '');
    out.push('**Locks held**', '');
    if (r.locks.length === 0) out.push('- none observed on the watched tables');
    for (const l of r.locks) out.push(`- ${l.lock}: seen held for ${formatMs(l.heldMs)}`);
    out.push('');
    out.push(`**Waiters**${r.maxWaiters > 0 ? ` (at most ${r.maxWaiters} at once in PostgreSQL)` : ''}`, '');
    const pc = r.probeConcurrency;
    if (pc)
      out.push(
        `Probe requests in flight at most: ${pc.maxWritesInFlight} writes (write pool ${pc.writePoolSize ?? '?'} connections), ` +
          `${pc.maxReadsInFlight} reads (read pool ${pc.readPoolSize ?? '?'}); beyond its pool a request waits in the endpoint, not in PostgreSQL.`,
        '',
      );
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

  // The comparison table is for the demo's runs; a lesson's numbers belong to its own scene.
  const demo = runs.filter((r) => r.kind !== 'lesson');
  if (demo.length >= 2) {
    out.push('## Comparison', '');
    out.push(`| | ${demo.map((r) => cell(`${runs.indexOf(r) + 1}. ${r.migration}`)).join(' | ')} |`);
    out.push(`|---|${demo.map(() => '---:').join('|')}|`);
    const row = (name: string, f: (r: RecordedRun) => string) =>
      out.push(`| ${name} | ${demo.map((r) => cell(f(r))).join(' | ')} |`);
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
      `Requests stalled > ${formatThreshold(demo[0]!.stalledThresholdMs ?? DEFAULT_STALLED_THRESHOLD_MS)} (reads / writes)`,
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
