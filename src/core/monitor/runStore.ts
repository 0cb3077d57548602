import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { describeError } from '../errors';
import type { Logger } from '../log';
import type { LessonResult } from '../lessons/types';
import type { RecordedRun } from './recorder';

/**
 * The format of the saved runs. Another version is never half-read: it is set aside (logged) and the
 * lab starts with no runs rather than drawing entries of a shape it does not know.
 */
export const RUN_STORE_VERSION = 1;
/** Newest entries kept: a day of experiments, a few MB at most. */
export const RUN_STORE_LIMIT = 200;

/** What is saved: the run store's entries as they are (every run kind), and the lessons' results. */
export interface StoredEntries {
  runs: RecordedRun[];
  lessons: LessonResult[];
}

interface StoredFileShape {
  version: number;
  savedAt: string;
  runs: unknown[];
  lessons: unknown[];
}

const isObject = (x: unknown): x is Record<string, unknown> =>
  typeof x === 'object' && x !== null && !Array.isArray(x);

/**
 * The envelope every run entry has whatever its kind (what the Runs view, the panel and the reports
 * read first); a kind's own fields are its type's business, so a new kind needs no change here.
 */
export function isStoredRun(x: unknown): x is RecordedRun {
  return (
    isObject(x) &&
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

/** Keeps the newest `limit` entries: runs are in the order they were recorded, oldest first. */
export function boundEntries(entries: StoredEntries, limit = RUN_STORE_LIMIT): StoredEntries {
  const runs = entries.runs.slice(Math.max(0, entries.runs.length - limit));
  const lessons = entries.lessons.slice(Math.max(0, entries.lessons.length - limit));
  return { runs, lessons };
}

/** Versioned JSON of the newest `limit` entries. */
export function serializeEntries(entries: StoredEntries, limit = RUN_STORE_LIMIT, now = new Date()): string {
  const bounded = boundEntries(entries, limit);
  const file: StoredFileShape = { version: RUN_STORE_VERSION, savedAt: now.toISOString(), ...bounded };
  return `${JSON.stringify(file)}\n`;
}

export interface ParsedEntries extends StoredEntries {
  /** Why the file (or some of its entries) was not used; empty when everything was read. */
  problems: string[];
}

/** Reads what serializeEntries wrote; a wrong version or a broken file gives no entries and says why. */
export function parseEntries(text: string, limit = RUN_STORE_LIMIT): ParsedEntries {
  let file: unknown;
  try {
    file = JSON.parse(text);
  } catch (e) {
    return { runs: [], lessons: [], problems: [`it is not JSON (${describeError(e)})`] };
  }
  if (!isObject(file)) return { runs: [], lessons: [], problems: ['it is not a JSON object'] };
  if (file.version !== RUN_STORE_VERSION) {
    return {
      runs: [],
      lessons: [],
      problems: [`it has version ${JSON.stringify(file.version)}, this lab reads ${RUN_STORE_VERSION}`],
    };
  }
  const problems: string[] = [];
  const pick = <T>(key: 'runs' | 'lessons', valid: (x: unknown) => x is T): T[] => {
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
    { runs: pick('runs', isStoredRun), lessons: pick('lessons', isStoredLesson) },
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
      return { runs: [], lessons: [] };
    }
    const parsed = parseEntries(text, this.limit);
    if (parsed.problems.length > 0) {
      this.logger.warn(`Saved runs in ${this.path}: ${parsed.problems.join('; ')}; those were not restored.`);
    }
    if (parsed.runs.length + parsed.lessons.length > 0) {
      this.logger.info(
        `Restored ${parsed.runs.length} recorded run(s) and ${parsed.lessons.length} lesson result(s) from ${this.path}.`,
      );
    }
    return { runs: parsed.runs, lessons: parsed.lessons };
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
