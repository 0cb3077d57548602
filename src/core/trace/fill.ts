// The trace's synthetic fill (issue 12 §1 step 2): rows generated on the server, table by table,
// parents before children, inside what the schema demands (types, NOT NULL, keys, FKs, CHECKs).
import type { ConnectionTarget } from '../db';
import { LabError } from '../errors';
import type { Logger } from '../log';

export interface FillRequest {
  /** Schema-qualified tables the migration touches. */
  tables: string[];
  /** Rows for the largest touched table (default 1_000_000). */
  rows: number;
  /** Explicit counts, keys schema-qualified or bare. */
  rowsPerTable?: Record<string, number>;
  /** reltuples read from a stats database (catalog only). */
  productionRowEstimates?: Record<string, number>;
}

export interface FillTableResult {
  /** Schema-qualified. */
  table: string;
  requested: number;
  /** Rows the table holds after the fill. */
  inserted: number;
  /** One sentence naming the constraint that stopped the fill short. */
  limitedBy?: string;
}

export interface FillResult {
  tables: FillTableResult[];
  durationMs: number;
}

export interface FillProgress {
  table: string;
  inserted: number;
  total: number;
}

export interface FillOptions {
  logger: Logger;
  signal?: AbortSignal;
  onProgress?: (p: FillProgress) => void;
}

export const DEFAULT_FILL_ROWS = 1_000_000;

/** Fills the touched tables (and the tables their foreign keys reference, parents first). */
export async function fillTables(
  target: ConnectionTarget,
  request: FillRequest,
  options: FillOptions,
): Promise<FillResult> {
  void target;
  void request;
  void options;
  throw new LabError('The synthetic fill is not implemented yet.');
}

/**
 * reltuples of `tables` on a statistics database the user configured, read-only and from the
 * catalog only (no table is read). Tables it does not know, or never analysed, are left out.
 */
export async function readRowEstimates(
  target: ConnectionTarget,
  tables: readonly string[],
  logger: Logger,
): Promise<Record<string, number>> {
  void target;
  void tables;
  void logger;
  throw new LabError('Reading row estimates is not implemented yet.');
}
