import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../src/core/log';

/** One figure a section measured. `key` is the flat JSON key without the section prefix. */
export interface Metric {
  key: string;
  /** Row label in the human table; metrics without one only appear in --json. */
  label?: string;
  /** Absent only when `error` says why the figure could not be measured. */
  value?: number | string | number[];
  /**
   * Why this figure could not be measured (one sentence). It is then reported as
   * `<key>.error`, never as a zero, and the run fails like a failed section.
   */
  error?: string;
  unit?: 'rows/s' | 'ms' | 'ratio' | 'rows' | 'MB';
  /** The JSON key as is, for figures whose key is documented outside the section (e.g. `vsix.bytes`). */
  fullKey?: string;
  /** A target from the issue; pass/miss is printed beside the figure (never changes the exit code). */
  target?: { op: '>=' | '<=' | '<'; value: number };
}

export interface BenchContext {
  /** Rows to seed (--rows). */
  rows: number;
  /** For core code (EmbeddedPostgres, seedTables): warnings always, info with --verbose; all on stderr. */
  logger: Logger;
  /** One line of progress on stderr. */
  progress(message: string): void;
  /** Registers cleanup that runs when the section ends, even on error (last registered runs first). */
  defer(fn: () => unknown): void;
  /** A fresh temp folder (mode 0755, so the unprivileged PostgreSQL account can reach it), removed at the end. */
  tempDir(prefix: string): string;
  /** Facts about the machine or server for the report header and JSON (e.g. pg_version). */
  machine: Record<string, string | number>;
}

/** A named part of the benchmark; `--only NAME` runs a subset. */
export interface Section {
  name: string;
  description: string;
  run(ctx: BenchContext): Promise<Metric[]>;
}

/** Cleanups of one section, run in reverse order; also reachable from the signal handler. */
export class CleanupStack {
  private readonly fns: (() => unknown)[] = [];

  push(fn: () => unknown): void {
    this.fns.push(fn);
  }

  async run(onError: (e: unknown) => void): Promise<void> {
    for (let fn = this.fns.pop(); fn; fn = this.fns.pop()) {
      try {
        await fn();
      } catch (e) {
        onError(e);
      }
    }
  }
}

export function makeTempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dir, 0o755); // mkdtemp gives 0700; PostgreSQL runs as another user when we are root
  return dir;
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function elapsedMs(start: number): number {
  return performance.now() - start;
}

/** The p-th percentile (0–100) by nearest rank. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) throw new Error('percentile of no values');
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
