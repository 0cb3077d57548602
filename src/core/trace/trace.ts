/**
 * Traces a migration of a source (issue 12 §1, §3): replays what comes before it onto the source's
 * scratch database, fills the tables it touches, then runs it as its tool would while the lock
 * monitor, per-table probes and an optional long transaction watch, and attributes to each
 * statement what was observed.
 */
import type { ConnectionTarget } from '../db';
import { LabError } from '../errors';
import type { Logger } from '../log';
import type { MigrationSource } from '../migrations/model';
import type { TraceLiveEvents, TraceProgress, TraceReport } from './types';

export interface TraceOptions {
  /** The lab server, maintenance database. */
  target: ConnectionTarget;
  source: MigrationSource;
  /** Migration id (or version); default: the first pending. */
  migration?: string;
  /** Trace a range: from `migration` through this one. */
  through?: string;
  rows?: number;
  rowsPerTable?: Record<string, number>;
  longTransactionSeconds?: number;
  ratePerSecond?: number;
  external?: { commit: boolean; allowNonTransactional: boolean; allowWrites: boolean };
  logger: Logger;
  signal?: AbortSignal;
  onProgress?: (p: TraceProgress) => void;
  live?: TraceLiveEvents;
}

export async function traceMigrations(options: TraceOptions): Promise<TraceReport> {
  await Promise.resolve();
  throw new LabError(`Tracing ${options.source.path} is not available yet.`);
}
