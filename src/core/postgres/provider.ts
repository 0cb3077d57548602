import type { ConnectionTarget } from '../db';

export type ProviderKind = 'docker' | 'embedded' | 'external';
export type ProviderSetting = 'auto' | ProviderKind;

/** A running (or startable) PostgreSQL the lab can use. */
export interface PostgresProvider {
  readonly kind: ProviderKind;
  /** Starts the server if this provider owns it; resolves when it accepts connections. */
  start(signal?: AbortSignal): Promise<ConnectionTarget>;
  /** Stops the server if this provider owns it (external: no-op). Safe to call twice. */
  stop(): Promise<void>;
  /** Host, port and database for display and for "are you sure" prompts; never the password. */
  describe(): { host: string; port: number; database: string };
}
