import * as vscode from 'vscode';
import type { LabSettings } from '../core/lab';
import type { ProviderSetting } from '../core/postgres/provider';

const SECTION = 'migrationLab';

/** Typed access to the `migrationLab.*` settings, with the defaults package.json declares. */
export const config = {
  get provider(): ProviderSetting {
    return vscode.workspace.getConfiguration(SECTION).get<ProviderSetting>('postgres.provider', 'auto');
  },
  get port(): number {
    return vscode.workspace.getConfiguration(SECTION).get<number>('postgres.port', 5433);
  },
  get schema(): string {
    return vscode.workspace.getConfiguration(SECTION).get<string>('schema', 'migration_lab');
  },
  get seedLargeCount(): number {
    return vscode.workspace.getConfiguration(SECTION).get<number>('seed.largeCount', 5_000_000);
  },
  get probePort(): number {
    return vscode.workspace.getConfiguration(SECTION).get<number>('probe.port', 8001);
  },
  get probeRate(): number {
    return vscode.workspace.getConfiguration(SECTION).get<number>('probe.requestsPerSecond', 10);
  },
  get probeTimeoutMs(): number {
    return vscode.workspace.getConfiguration(SECTION).get<number>('probe.timeoutMs', 30_000);
  },
  get stalledThresholdMs(): number {
    return vscode.workspace.getConfiguration(SECTION).get<number>('probe.stalledThresholdMs', 1_000);
  },
  get monitorIntervalMs(): number {
    return vscode.workspace.getConfiguration(SECTION).get<number>('monitor.intervalMs', 200);
  },
  get lessonLockTimeoutMs(): number {
    return vscode.workspace.getConfiguration(SECTION).get<number>('lessons.lockTimeoutMs', 1_000);
  },
  get lessonMaxAttempts(): number {
    return vscode.workspace.getConfiguration(SECTION).get<number>('lessons.maxAttempts', 10);
  },
  get lessonRetryDelayMs(): number {
    return vscode.workspace.getConfiguration(SECTION).get<number>('lessons.retryDelayMs', 1_000);
  },
  get slowReportSeconds(): number {
    return vscode.workspace.getConfiguration(SECTION).get<number>('lessons.slowReportSeconds', 120);
  },
  get openWalkthroughOnFirstStart(): boolean {
    return vscode.workspace.getConfiguration(SECTION).get<boolean>('walkthrough.openOnFirstStart', true);
  },
  labSettings(): LabSettings {
    return { provider: this.provider, port: this.port, schema: this.schema };
  },
  /** Settings that only take effect on the next start of PostgreSQL. */
  restartSettings: ['postgres.provider', 'postgres.port', 'schema'].map((s) => `${SECTION}.${s}`),
};
