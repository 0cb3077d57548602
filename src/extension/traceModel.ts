/**
 * The trace's pure parts on the extension's side (no `vscode`, unit-tested under plain node): the
 * progress line of each phase, the statement marks the panel draws, the entry the Runs view keeps, and
 * the choices asked before a trace of an external database.
 */
import type { StoredTrace } from '../core/monitor/runStore';
import { formatMs } from '../core/monitor/verdict';
import type { TraceProgress, TraceReport, TraceStatementEvent } from '../core/trace/types';
import type { StatementMarkDto } from '../shared/protocol';

/** Where each phase sits in the notification's bar (percent at its start), so the bar only moves forward. */
const PHASES: readonly TraceProgress['phase'][] = ['replay', 'fill', 'trace', 'cleanup'];
const PHASE_START: Record<TraceProgress['phase'], number> = { replay: 0, fill: 10, trace: 60, cleanup: 95 };
const PHASE_END: Record<TraceProgress['phase'], number> = { replay: 10, fill: 60, trace: 95, cleanup: 100 };

/**
 * The notification's line for a progress event ("2 of 4, fill: filling public.orders (12,000 / 20,000
 * rows)"), and how far along the whole trace is (0–100).
 */
export function traceProgressLine(p: TraceProgress): { message: string; percent: number } {
  const fraction =
    p.total && p.total > 0 && p.done !== undefined ? Math.min(1, Math.max(0, p.done / p.total)) : 0;
  const percent = PHASE_START[p.phase] + (PHASE_END[p.phase] - PHASE_START[p.phase]) * fraction;
  const counts =
    p.phase === 'fill' && p.total !== undefined && p.done !== undefined
      ? ` (${p.done.toLocaleString('en-US')} / ${p.total.toLocaleString('en-US')} rows)`
      : '';
  const what = p.message.trim().replace(/\.$/, '');
  const message = `${PHASES.indexOf(p.phase) + 1} of 4, ${p.phase}${what ? `: ${what}` : ''}${counts}`;
  return { message, percent };
}

/** "0003_orders.sql:12"; the migration's id first when the file name does not carry it (Prisma's migration.sql). */
function statementLabel(s: TraceStatementEvent): string {
  const file = s.file.split(/[\\/]/).pop() ?? s.file;
  return file.startsWith(s.migration) ? `${file}:${s.line}` : `${s.migration} · ${file}:${s.line}`;
}

/**
 * The panel's statement marks after one more event: a start adds a mark (open until its end), an end
 * closes the mark of the same statement. Oldest first; the list given is not changed.
 */
export function withStatementEvent(
  marks: readonly StatementMarkDto[],
  s: TraceStatementEvent,
): StatementMarkDto[] {
  const key = `${s.migration}:${s.file}:${s.line}:${s.startedAt}`;
  const mark: StatementMarkDto = {
    key,
    label: statementLabel(s),
    sql: s.sql,
    startedAt: s.startedAt,
    endedAt: s.endedAt ?? null,
  };
  const i = marks.findIndex((m) => m.key === key);
  if (i < 0) return [...marks, mark];
  return marks.map((m, k) => (k === i ? mark : m));
}

/** The Runs view's entry for a finished trace. */
export function storedTraceOf(
  report: TraceReport,
  sourcePath: string,
  startedAt: number,
  endedAt: number,
): StoredTrace {
  const migrations = report.migrations.map((m) => m.id);
  const last = report.migrations.at(-1);
  return {
    kind: 'trace',
    sourcePath,
    migration: migrations[0] ?? '(none)',
    migrations,
    outcome: 'succeeded',
    verdict: last?.verdict ?? 'Nothing was traced.',
    startedAt,
    endedAt,
    durationMs: Math.max(0, endedAt - startedAt),
    report,
  };
}

/** The Runs view's row of a trace (as runListRow words a run): its migration(s), tool, time, verdict. */
export function traceListRow(
  t: StoredTrace,
  time = (ms: number) => new Date(ms).toLocaleTimeString(),
): { label: string; description: string; tooltip: string } {
  const ids = t.migrations.length > 1 ? `${t.migrations[0]} … ${t.migrations.at(-1)}` : t.migration;
  return {
    label: `Trace: ${ids}`,
    description: `${t.report.tool} · ${formatMs(t.durationMs)} · ${time(t.startedAt)}`,
    tooltip: `${t.report.source}\n${t.verdict}`,
  };
}

/** A file name for an exported report: the migration's id, safe in any file system. */
export function traceFileName(t: Pick<StoredTrace, 'migration'>, format: 'markdown' | 'json'): string {
  const base = t.migration.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[._]+/, '') || 'migration';
  return `trace-${base}.${format === 'json' ? 'json' : 'md'}`;
}

/** What a trace on a database the user owns may do (issue 12 §3); everything off unless chosen. */
export interface ExternalChoices {
  commit: boolean;
  allowNonTransactional: boolean;
  allowWrites: boolean;
}

export const EXTERNAL_OPTIONS: readonly { key: keyof ExternalChoices; label: string; detail: string }[] = [
  {
    key: 'commit',
    label: 'Commit the transactional sections',
    detail: 'Keep their effects on that database. Off: each one runs, is measured, and is rolled back.',
  },
  {
    key: 'allowNonTransactional',
    label: 'Run sections outside a transaction',
    detail:
      'CREATE INDEX CONCURRENTLY and the like cannot be rolled back: their effects stay. Off: such a migration is refused.',
  },
  {
    key: 'allowWrites',
    label: 'Let the write probes insert or update rows',
    detail: "Off: the probes only read that database's tables.",
  },
];

/** The choices a set of picked option keys stands for (what `options.external` gets). */
export function externalChoices(picked: Iterable<keyof ExternalChoices>): ExternalChoices {
  const set = new Set(picked);
  return {
    commit: set.has('commit'),
    allowNonTransactional: set.has('allowNonTransactional'),
    allowWrites: set.has('allowWrites'),
  };
}

/** The question's one sentence, naming the database (and never a URL or a user). */
export function externalQuestion(migration: string, where: string): string {
  return `Trace ${migration} on ${where}? The lab generates no data there; transactional sections are rolled back, sections outside a transaction are refused, and the probes only read, unless you choose otherwise.`;
}
