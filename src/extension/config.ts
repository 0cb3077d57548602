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
  labSettings(): LabSettings {
    return { provider: this.provider, port: this.port, schema: this.schema };
  },
  /** Settings that only take effect on the next start of PostgreSQL. */
  restartSettings: ['postgres.provider', 'postgres.port', 'schema'].map((s) => `${SECTION}.${s}`),
};
