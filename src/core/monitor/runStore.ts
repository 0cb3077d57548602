import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { describeError } from '../errors';
import type { Logger } from '../log';
import type { LessonResult } from '../lessons/types';
import type { TraceReport } from '../trace/types';
import type { RecordedRun } from './recorder';

/**
 * The format of the saved runs. Another version is never half-read: it is set aside (logged) and the
 * lab starts with no runs rather than drawing entries of a shape it does not know. Lists added since
 * (`traces`) are optional keys of the same version: a file written before them still loads whole, and
 * a lab that predates them reads its runs and lessons and ignores the rest.
 */
export const RUN_STORE_VERSION = 1;
/** Newest entries kept: a day of experiments, a few MB at most. */
export const RUN_STORE_LIMIT = 200;

/**
 * A finished trace of a workspace migration (issue 12), kept with the demo's runs. Its envelope is the
 * runs' (kind, migration, outcome, verdict, start, duration), so a list of entries reads alike; the
 * measured content is the trace's own report, exactly as `trace --json` prints it.
 */
export interface StoredTrace {
  kind: 'trace';
  /** The traced source's folder (absolute): the walkthrough and "trace again" find it by this. */
  sourcePath: string;
  /** The traced migration's id (the first one when a range was traced). */
  migration: string;
  /** Every migration the trace covered, in order. */
  migrations: string[];
  /** Only finished traces are kept: a failed or cancelled one has no report. */
  outcome: 'succeeded';
  /** The migration's verdict (the last migration's, for a range). */
  verdict: string;
  /** Epoch ms. */
  startedAt: number;
  endedAt: number;
  /** Wall time of the whole trace (replay, fill, trace, cleanup). */
  durationMs: number;
  report: TraceReport;
}

/** What is saved: the run store's entries as they are (every run kind), the lessons' results and the traces. */
export interface StoredEntries {
  runs: RecordedRun[];
  lessons: LessonResult[];
  /** Absent in files written before traces existed. */
  traces?: StoredTrace[];
}

interface StoredFileShape {
  version: number;
  savedAt: string;
  runs: unknown[];
  lessons: unknown[];
  traces: unknown[];
}

const isObject = (x: unknown): x is Record<string, unknown> =>
  typeof x === 'object' && x !== null && !Array.isArray(x);

/**
 * The envelope every run entry has whatever its kind (what the Runs view, the panel and the reports
 * read first); a kind's own fields are its type's business, so a new kind needs no change here.
 */
export function isStoredRun(x: unknown): x is RecordedRun {
  return isObject(x) && hasEnvelope(x);
}

function hasEnvelope(x: Record<string, unknown>): boolean {
  return (
    typeof x.kind === 'string' &&
    typeof x.migration === 'string' &&
    typeof x.outcome === 'string' &&
    typeof x.verdict === 'string' &&
    Number.isFinite(x.startedAt) &&
    Number.isFinite(x.durationMs) &&
    (x.serverVersion === undefined || typeof x.serverVersion === 'string')
  );
}

export function isStoredLesson(x: unknown): x is LessonResult {
  return isObject(x) && typeof x.name === 'string' && isObject(x.observed) && typeof x.verdict === 'string';
}

/** The trace envelope, and a report whose migrations and statements have the shape the views read. */
export function isStoredTrace(x: unknown): x is StoredTrace {
  if (!isObject(x) || x.kind !== 'trace' || !hasEnvelope(x) || !Number.isFinite(x.endedAt)) return false;
  if (typeof x.sourcePath !== 'string') return false;
  if (!Array.isArray(x.migrations) || !x.migrations.every((m) => typeof m === 'string')) return false;
  const report = x.report;
  return (
    isObject(report) &&
    typeof report.source === 'string' &&
    typeof report.tool === 'string' &&
    Array.isArray(report.migrations) &&
    report.migrations.every(
      (m) =>
        isObject(m) &&
        typeof m.id === 'string' &&
        typeof m.verdict === 'string' &&
        Array.isArray(m.statements),
    )
  );
}

/** Keeps the newest `limit` entries: runs are in the order they were recorded, oldest first. */
export function boundEntries(entries: StoredEntries, limit = RUN_STORE_LIMIT): Required<StoredEntries> {
  const newest = <T>(list: readonly T[]) => list.slice(Math.max(0, list.length - limit));
  return {
    runs: newest(entries.runs),
    lessons: newest(entries.lessons),
    traces: newest(entries.traces ?? []),
  };
}

/** Versioned JSON of the newest `limit` entries. */
export function serializeEntries(entries: StoredEntries, limit = RUN_STORE_LIMIT, now = new Date()): string {
  const bounded = boundEntries(entries, limit);
  const file: StoredFileShape = { version: RUN_STORE_VERSION, savedAt: now.toISOString(), ...bounded };
  return `${JSON.stringify(file)}\n`;
}

export interface ParsedEntries extends Required<StoredEntries> {
  /** Why the file (or some of its entries) was not used; empty when everything was read. */
  problems: string[];
}

/** Reads what serializeEntries wrote; a wrong version or a broken file gives no entries and says why. */
export function parseEntries(text: string, limit = RUN_STORE_LIMIT): ParsedEntries {
  let file: unknown;
  try {
    file = JSON.parse(text);
  } catch (e) {
    return { runs: [], lessons: [], traces: [], problems: [`it is not JSON (${describeError(e)})`] };
  }
  if (!isObject(file)) return { runs: [], lessons: [], traces: [], problems: ['it is not a JSON object'] };
  if (file.version !== RUN_STORE_VERSION) {
    return {
      runs: [],
      lessons: [],
      traces: [],
      problems: [`it has version ${JSON.stringify(file.version)}, this lab reads ${RUN_STORE_VERSION}`],
    };
  }
  const problems: string[] = [];
  const pick = <T>(key: 'runs' | 'lessons' | 'traces', valid: (x: unknown) => x is T): T[] => {
    const list = file[key];
    if (list === undefined) return [];
    if (!Array.isArray(list)) {
      problems.push(`its "${key}" is not a list`);
      return [];
    }
    const kept = list.filter(valid);
    if (kept.length < list.length) {
      problems.push(`${list.length - kept.length} of its ${list.length} ${key} have an unknown shape`);
    }
    return kept;
  };
  const entries = boundEntries(
    {
      runs: pick('runs', isStoredRun),
      lessons: pick('lessons', isStoredLesson),
      traces: pick('traces', isStoredTrace),
    },
    limit,
  );
  return { ...entries, problems };
}

/**
 * The entries' file (the extension keeps it in its global storage). Writes go to a temporary file
 * that is renamed over the old one, so a crash mid-write never leaves half a file.
 */
export class RunStoreFile {
  constructor(
    private readonly path: string,
    private readonly logger: Logger,
    private readonly limit = RUN_STORE_LIMIT,
  ) {}

  /** The saved entries; none (logged) when the file is missing, broken or of another version. */
  load(): StoredEntries {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
        this.logger.warn(`Could not read the saved runs (${this.path}): ${describeError(e)}`);
      }
      return { runs: [], lessons: [], traces: [] };
    }
    const parsed = parseEntries(text, this.limit);
    if (parsed.problems.length > 0) {
      this.logger.warn(`Saved runs in ${this.path}: ${parsed.problems.join('; ')}; those were not restored.`);
    }
    if (parsed.runs.length + parsed.lessons.length + parsed.traces.length > 0) {
      this.logger.info(
        `Restored ${parsed.runs.length} recorded run(s), ${parsed.lessons.length} lesson result(s) and ${parsed.traces.length} trace(s) from ${this.path}.`,
      );
    }
    return { runs: parsed.runs, lessons: parsed.lessons, traces: parsed.traces };
  }

  /** Replaces the file with these entries (the newest `limit`). Failures are logged, not thrown. */
  save(entries: StoredEntries): void {
    const tmp = `${this.path}.${process.pid}.tmp`;
    try {
      mkdirSync(dirname(this.path), { recursive: true });
      writeFileSync(tmp, serializeEntries(entries, this.limit));
      renameSync(tmp, this.path);
    } catch (e) {
      rmSync(tmp, { force: true });
      this.logger.warn(`Could not save the recorded runs to ${this.path}: ${describeError(e)}`);
    }
  }
}
