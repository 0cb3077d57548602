import { EventEmitter } from 'node:events';
import type { ConnectionTarget } from './db';
import { LabError, describeError } from './errors';
import type { Logger } from './log';
import type { RunOptions, RunResult } from './migrations/runner';
import {
  LockMonitor,
  labRelations,
  type LockSnapshot,
  type MonitorStats,
  type MonitorStatus,
} from './monitor/lockMonitor';
import { RunRecorder, type MigrationRunKind, type RecordedRun } from './monitor/recorder';
import { LatencySampler, type ProbeSnapshot } from './probe/sampler';
import type { ProbeSample } from './probe/stats';
import { ProbeServer } from './probe/server';

export interface MonitorSessionOptions {
  target: ConnectionTarget;
  schema: string;
  logger: Logger;
  probePort: number;
  /** Reads and writes per second, each. */
  probeRate?: number;
  probeTimeoutMs?: number;
  stalledThresholdMs?: number;
  monitorIntervalMs?: number;
  /** How often the latency snapshot is pushed to listeners while the probe runs. */
  latencyIntervalMs?: number;
  /** The exact version of the server watched (`server_version`), recorded on every run. */
  serverVersion?: string;
}

/** A migration in progress, for the panel's "live" marker. */
export interface LiveRun {
  migration: string;
  kind: MigrationRunKind;
  startedAt: number;
  pid?: number;
}

export interface SessionEvents {
  locks: [LockSnapshot];
  monitorStatus: [MonitorStatus];
  latency: [ProbeSnapshot];
  probe: [{ running: boolean; url?: string }];
  live: [LiveRun | undefined];
  runs: [RecordedRun[]];
}

/** How long to wait after a run for the requests it blocked to finish, so their real latency counts. */
const SETTLE_MS = 5_000;
/** How long dispose() waits for a run being recorded to end (its migration was cancelled by then). */
const DISPOSE_WAIT_MS = 10_000;

/**
 * Everything the Lock Monitor panel shows, without VS Code: the probe endpoint and its latency sampler,
 * the lock monitor, and the recorder that turns each observed migration run into numbers and a verdict.
 */
export class MonitorSession extends EventEmitter<SessionEvents> {
  private readonly monitor: LockMonitor;
  private server: ProbeServer | undefined;
  private sampler: LatencySampler | undefined;
  private latencyTimer: NodeJS.Timeout | undefined;
  private live: LiveRun | undefined;
  private recorder: RunRecorder | undefined;
  readonly runs: RecordedRun[] = [];
  private disposed = false;
  private endpointStarting: Promise<string> | undefined;
  private observing: Promise<unknown> | undefined;

  constructor(private readonly options: MonitorSessionOptions) {
    super();
    this.monitor = new LockMonitor({
      target: options.target,
      relations: labRelations(options.schema),
      intervalMs: options.monitorIntervalMs,
      logger: options.logger,
    });
    this.monitor.onSnapshot((s) => {
      this.recorder?.observe(s);
      this.emit('locks', s);
    });
    this.monitor.onStatus((s) => this.emit('monitorStatus', s));
  }

  /** The exact version of the server watched, as its runs record it. */
  get serverVersion(): string | undefined {
    return this.options.serverVersion;
  }

  get latestLocks(): LockSnapshot | undefined {
    return this.monitor.latest;
  }

  /** Poll counts and durations of the lock monitor (for the benchmark). */
  get monitorStats(): MonitorStats {
    return this.monitor.stats;
  }

  get monitorStatus(): MonitorStatus {
    return this.monitor.status;
  }

  get probeRunning(): boolean {
    return this.sampler?.running ?? false;
  }

  get probeUrl(): string | undefined {
    return this.server?.url;
  }

  get liveRun(): LiveRun | undefined {
    return this.live;
  }

  /** Probe requests that started in [from, to] (empty when the probe never ran). */
  probeSamples(from: number, to: number): ProbeSample[] {
    return this.sampler?.samplesBetween(from, to) ?? [];
  }

  latencySnapshot(): ProbeSnapshot | undefined {
    return this.sampler?.snapshot();
  }

  private assertAlive(): void {
    if (this.disposed) throw new LabError('The Lock Monitor session has ended (PostgreSQL was stopped).');
  }

  startMonitor(): void {
    this.assertAlive();
    this.monitor.start();
  }

  /** Starts the probe endpoint alone (the probe terminal's curl loop needs nothing more). */
  async startEndpoint(): Promise<string> {
    this.assertAlive();
    if (this.server?.running) return this.server.url!;
    // One start at a time: two racing starts would make the second fail with "port in use".
    this.endpointStarting ??= (async () => {
      const { target, schema, logger, probePort } = this.options;
      const server = new ProbeServer({ target, schema, port: probePort, logger });
      await server.start();
      this.server = server;
      return server.url!;
    })().finally(() => (this.endpointStarting = undefined));
    return this.endpointStarting;
  }

  /** Starts the probe endpoint (if needed) and the read + write sampler against it. */
  async startProbe(): Promise<string> {
    const { logger } = this.options;
    const url = await this.startEndpoint();
    if (!this.sampler?.running) {
      this.sampler = new LatencySampler({
        baseUrl: url,
        readsPerSecond: this.options.probeRate,
        writesPerSecond: this.options.probeRate,
        timeoutMs: this.options.probeTimeoutMs,
        stalledThresholdMs: this.options.stalledThresholdMs,
        logger,
      });
      this.sampler.start();
      const every = this.options.latencyIntervalMs ?? 250;
      this.latencyTimer = setInterval(() => {
        const snapshot = this.sampler?.snapshot();
        if (snapshot) this.emit('latency', snapshot);
      }, every);
      logger.info(`Probe started: reads and writes against ${url} (${this.options.probeRate ?? 10}/s each).`);
    }
    this.emit('probe', { running: true, url });
    return url;
  }

  /** Stops the sampler; the endpoint stays up (the probe terminal may still use it) unless `endpoint` is set. */
  async stopProbe(endpoint = false): Promise<void> {
    this.sampler?.stop();
    clearInterval(this.latencyTimer);
    this.latencyTimer = undefined;
    if (endpoint) {
      await this.server?.stop();
      this.server = undefined;
    }
    this.emit('probe', { running: false, url: this.server?.url });
  }

  /**
   * Runs one migration while recording it: the locks its pid held, who waited on it, the probe's
   * latency inside its window and the progress phases. The recorded run (also on failure) is kept.
   */
  async observe(
    migrationId: string,
    kind: MigrationRunKind,
    run: (options: RunOptions) => Promise<RunResult>,
    options: RunOptions = {},
    meta: { lesson?: string } = {},
  ): Promise<{ result?: RunResult; recorded: RecordedRun; error?: unknown }> {
    this.assertAlive();
    if (this.recorder) throw new LabError('A migration run is already being recorded; wait for it to end.');
    const observing = this.record(migrationId, kind, run, options, meta);
    // dispose() waits for it, so a run cut short by stopping PostgreSQL is still listed (as failed).
    this.observing = observing.catch(() => undefined);
    return observing;
  }

  private async record(
    migrationId: string,
    kind: MigrationRunKind,
    run: (options: RunOptions) => Promise<RunResult>,
    options: RunOptions,
    meta: { lesson?: string },
  ): Promise<{ result?: RunResult; recorded: RecordedRun; error?: unknown }> {
    const recorder = new RunRecorder();
    const startedAt = Date.now();
    const sampler = this.sampler?.running ? this.sampler : undefined;
    recorder.begin({ migrationId, kind, startedAt });
    this.recorder = recorder;
    this.live = { migration: migrationId, kind, startedAt };
    this.emit('live', this.live);
    this.monitor.start();
    let result: RunResult | undefined;
    let error: unknown;
    try {
      result = await run({
        ...options,
        onStart: (pid) => {
          recorder.setPid(pid);
          this.live = { ...this.live!, pid };
          this.emit('live', this.live);
          options.onStart?.(pid);
        },
      });
    } catch (e) {
      error = e;
    }
    const endedAt = Date.now();
    // Latency counts only if the same sampler measured the whole run (not started or stopped midway).
    const probed = sampler !== undefined && sampler === this.sampler && sampler.running;
    if (probed) await this.settle(startedAt, endedAt);
    this.recorder = undefined;
    this.live = undefined;
    const inFlight = probed ? sampler.maxInFlightBetween(startedAt, endedAt) : undefined;
    const pools = this.server?.poolSizes;
    const recorded = recorder.end({
      result,
      error,
      endedAt,
      probeStats: probed ? sampler.statsBetween(startedAt, endedAt) : undefined,
      probeConcurrency: inFlight && {
        maxReadsInFlight: inFlight.read,
        maxWritesInFlight: inFlight.write,
        readPoolSize: pools?.read ?? null,
        writePoolSize: pools?.write ?? null,
      },
      stalledThresholdMs: sampler?.stallThresholdMs ?? this.options.stalledThresholdMs,
      serverVersion: this.options.serverVersion,
    });
    this.emit('live', undefined);
    if (meta.lesson) {
      // A lesson records itself as one entry (its attempts inside) once it knows what it observed.
      this.options.logger.debug(`Lesson scene ${migrationId} ended (${recorded.outcome}).`);
    } else {
      this.addRun(recorded);
      this.options.logger.info(`Run ${migrationId}: ${recorded.verdict}`);
    }
    return { result, recorded, error };
  }

  /** Adds a finished entry (a run, or a lesson's own entry) to the runs list. */
  addRun(run: RecordedRun): void {
    this.runs.push(run);
    this.emit('runs', this.runs);
  }

  /** Waits (bounded) until the requests that started inside the window have completed. */
  private async settle(from: number, to: number): Promise<void> {
    const deadline = Date.now() + SETTLE_MS;
    while (
      Date.now() < deadline &&
      this.sampler?.samplesBetween(from, to).some((s) => s.endedAt === undefined)
    ) {
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  clearRuns(): void {
    this.runs.length = 0;
    this.emit('runs', this.runs);
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    if (this.observing) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.observing, new Promise((r) => (timer = setTimeout(r, DISPOSE_WAIT_MS)))]);
      clearTimeout(timer);
    }
    await this.stopProbe(true).catch((e: unknown) =>
      this.options.logger.warn(`Stopping the probe: ${describeError(e)}`),
    );
    await this.monitor.stop();
    this.removeAllListeners();
  }
}
