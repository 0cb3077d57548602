import * as vscode from 'vscode';
import type { Lab, LabSettings } from '../core/lab';
import type { PostgresVersionSetting } from '../core/postgres/majors';
import type { ProviderSetting } from '../core/postgres/provider';
import { DEFAULT_STALLED_THRESHOLD_MS } from '../core/probe/stats';

const SECTION = 'migrationLab';

/** One `migrationLab.*` setting, read fresh (settings can change while the extension runs). */
function setting<T>(key: string, fallback: T): T {
  return vscode.workspace.getConfiguration(SECTION).get<T>(key, fallback);
}

/** Typed access to the `migrationLab.*` settings, with the defaults package.json declares. */
export const config = {
  get provider(): ProviderSetting {
    return setting<ProviderSetting>('postgres.provider', 'auto');
  },
  get port(): number {
    return setting<number>('postgres.port', 5433);
  },
  /** Checked when PostgreSQL starts (parseVersionSetting), so a wrong value is one sentence there. */
  get postgresVersion(): PostgresVersionSetting {
    return setting<PostgresVersionSetting>('postgres.version', 'bundled');
  },
  get binDir(): string {
    return setting<string>('postgres.binDir', '');
  },
  get seedLargeCount(): number {
    return setting<number>('seed.largeCount', 5_000_000);
  },
  get probePort(): number {
    return setting<number>('probe.port', 8001);
  },
  get probeRate(): number {
    return setting<number>('probe.requestsPerSecond', 10);
  },
  get probeTimeoutMs(): number {
    return setting<number>('probe.timeoutMs', 30_000);
  },
  get stalledThresholdMs(): number {
    return setting<number>('probe.stalledThresholdMs', DEFAULT_STALLED_THRESHOLD_MS);
  },
  get monitorIntervalMs(): number {
    return setting<number>('monitor.intervalMs', 200);
  },
  get lessonLockTimeoutMs(): number {
    return setting<number>('lessons.lockTimeoutMs', 1_000);
  },
  get lessonMaxAttempts(): number {
    return setting<number>('lessons.maxAttempts', 10);
  },
  get lessonRetryDelayMs(): number {
    return setting<number>('lessons.retryDelayMs', 1_000);
  },
  get slowReportSeconds(): number {
    return setting<number>('lessons.slowReportSeconds', 120);
  },
  /** Rows for the largest table a traced migration touches (the others in proportion). */
  get traceRows(): number {
    return setting<number>('trace.rows', 1_000_000);
  },
  /** Rows for named tables, overriding the proportional sizing (the CLI's --rows-per-table); bad entries are ignored. */
  get traceRowsPerTable(): Record<string, number> {
    const raw = setting<Record<string, unknown>>('trace.rowsPerTable', {});
    const out: Record<string, number> = {};
    for (const [table, n] of Object.entries(raw ?? {}))
      if (typeof n === 'number' && Number.isInteger(n) && n >= 1) out[table] = n;
    return out;
  },
  /** Reads and writes per second, each, per touched table, during a trace. */
  get traceRate(): number {
    return setting<number>('trace.rate', 10);
  },
  /** A transaction that read the touched tables, held open this long during the trace; 0 = none. */
  get traceLongTransactionSeconds(): number {
    return setting<number>('trace.longTransactionSeconds', 0);
  },
  /** Roles created NOLOGIN before a replay or a trace (for GRANT / OWNER TO). */
  get replayRoles(): string[] {
    return setting<string[]>('replay.roles', []);
  },
  get openWalkthroughOnFirstStart(): boolean {
    return setting<boolean>('walkthrough.openOnFirstStart', true);
  },
  labSettings(): LabSettings {
    // The only read of migrationLab.schema: the Lab keeps it from its start, and everything else asks labSchema().
    return {
      provider: this.provider,
      port: this.port,
      schema: setting<string>('schema', 'migration_lab'),
      postgresVersion: this.postgresVersion,
      binDir: this.binDir,
    };
  },
  /** Settings that only take effect on the next start of PostgreSQL. */
  restartSettings: [
    'postgres.provider',
    'postgres.port',
    'postgres.version',
    'postgres.binDir',
    'schema',
  ].map((s) => `${SECTION}.${s}`),
};

/**
 * The lab's schema: the running Lab's own (a changed setting only applies at the next start, see
 * restartSettings), or what the next start will use while PostgreSQL is stopped.
 */
export function labSchema(lab: Pick<Lab, 'schema'>): string {
  return lab.schema ?? config.labSettings().schema;
}
