import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { LabError, describeError } from '../errors';
import { silentLogger, type Logger } from '../log';
import {
  DEFAULT_STALLED_THRESHOLD_MS,
  chartPoints,
  firstStartedAfter,
  isInFlight,
  maxInFlight,
  probeStats,
  startedBetween,
  type ProbeKind,
  type ProbeOutcome,
  type ProbePoint,
  type ProbeSample,
  type ProbeStats,
} from './stats';

export interface LatencySamplerOptions {
  /** Where the probe endpoint listens, e.g. http://127.0.0.1:8001 (a path prefix is kept). */
  baseUrl: string;
  /** Reads (GET /list_large/) started per second; 0 turns reads off. Default 10. */
  readsPerSecond?: number;
  /** Writes (POST /insert_large/) started per second; 0 turns writes off. Default 10. */
  writesPerSecond?: number;
  /** A request that has no complete response after this long counts as a timeout. Default 30 s. */
  timeoutMs?: number;
  /** Rolling window of `snapshot()`. Default 60 s. */
  windowMs?: number;
  /** A request slower than this (or in flight longer) is "stalled". Default 1 s. */
  stalledThresholdMs?: number;
  /** How long completed samples are kept for `statsBetween` (at least the window). Default 30 min. */
  retentionMs?: number;
  /** At most this many chart points in a snapshot (split between reads and writes). Default 1200. */
  maxPoints?: number;
  /** Called once for each completed request (not for requests aborted by stop()). */
  onSample?: (sample: ProbeSample) => void;
  /**
   * Called as each request starts with how late it starts against its fixed schedule, in ms
   * (the benchmark's drift figure).
   */
  onStart?: (kind: ProbeKind, lateMs: number) => void;
  logger?: Logger;
}

/** What the Lock Monitor draws: stats over the rolling window plus chart points. */
export interface ProbeSnapshot extends ProbeStats {
  /** Epoch ms the snapshot is for (in-flight ages are measured up to it). */
  at: number;
  windowMs: number;
  stalledThresholdMs: number;
  running: boolean;
  points: ProbePoint[];
}

export const DEFAULT_PROBE_RATE = 10;
export const DEFAULT_PROBE_TIMEOUT_MS = 30_000;
export const DEFAULT_PROBE_WINDOW_MS = 60_000;
const DEFAULT_RETENTION_MS = 30 * 60_000;
const DEFAULT_MAX_POINTS = 1_200;
/** Behind schedule by more than this (a suspended laptop, a blocked event loop): skip, do not burst. */
const MAX_CATCH_UP_MS = 1_000;

const PATHS: Record<ProbeKind, { method: string; path: string }> = {
  read: { method: 'GET', path: '/list_large/' },
  write: { method: 'POST', path: '/insert_large/' },
};

interface Pending {
  sample: ProbeSample;
  req: http.ClientRequest;
  timer: NodeJS.Timeout;
  settled: boolean;
}

function checkRate(name: string, value: number): number {
  if (!Number.isFinite(value) || value < 0 || value > 1_000) {
    throw new LabError(`The probe rate ${name} must be a number from 0 to 1000 requests per second.`);
  }
  return value;
}

/**
 * Open-loop latency sampler: fires reads and writes at a fixed rate on a fixed schedule whether or
 * not earlier requests have returned, so a blocked write never delays the next one (the blocked
 * ones simply pile up as in-flight requests whose age grows in every snapshot).
 */
export class LatencySampler {
  private readonly baseUrl: URL;
  private readonly rates: Record<ProbeKind, number>;
  private readonly timeoutMs: number;
  private readonly windowMs: number;
  private readonly stalledThresholdMs: number;
  private readonly retentionMs: number;
  private readonly maxPoints: number;
  private readonly logger: Logger;
  private readonly onStart: LatencySamplerOptions['onStart'];
  private readonly listeners = new Set<(sample: ProbeSample) => void>();
  /** Every kept request, in start order (so windows are binary searches). */
  private samples: ProbeSample[] = [];
  private readonly pending = new Set<Pending>();
  private agent: http.Agent | undefined;
  private timer: NodeJS.Timeout | undefined;
  private next: Record<ProbeKind, number> = { read: 0, write: 0 };
  private lastErrorLog = 0;

  constructor(options: LatencySamplerOptions) {
    let url: URL;
    try {
      url = new URL(options.baseUrl);
    } catch (e) {
      throw new LabError(`The probe URL "${options.baseUrl}" is not a valid URL.`, { cause: e });
    }
    if (url.protocol !== 'http:') {
      throw new LabError(`The probe URL must start with http:// (got ${url.protocol}//).`);
    }
    this.baseUrl = url;
    this.rates = {
      read: checkRate('for reads', options.readsPerSecond ?? DEFAULT_PROBE_RATE),
      write: checkRate('for writes', options.writesPerSecond ?? DEFAULT_PROBE_RATE),
    };
    this.timeoutMs = options.timeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS;
    this.windowMs = options.windowMs ?? DEFAULT_PROBE_WINDOW_MS;
    this.stalledThresholdMs = options.stalledThresholdMs ?? DEFAULT_STALLED_THRESHOLD_MS;
    this.retentionMs = Math.max(options.retentionMs ?? DEFAULT_RETENTION_MS, this.windowMs, this.timeoutMs);
    this.maxPoints = options.maxPoints ?? DEFAULT_MAX_POINTS;
    this.logger = options.logger ?? silentLogger;
    this.onStart = options.onStart;
    if (options.onSample) this.listeners.add(options.onSample);
  }

  get running(): boolean {
    return this.agent !== undefined;
  }

  /** Requests sent and not yet answered. */
  get inFlight(): number {
    return this.pending.size;
  }

  /** Subscribes to completed requests; returns the unsubscribe function. */
  onSample(listener: (sample: ProbeSample) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  start(): void {
    if (this.agent) return;
    // Own agent: keep-alive for cheap requests, and no socket limit, so a new request never queues
    // client-side behind blocked ones (each blocked write simply holds its own socket).
    this.agent = new http.Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: 64 });
    const now = performance.now();
    this.next = { read: now, write: now + this.periodMs('write') / 2 }; // interleave the two streams
    this.logger.debug(
      `Probe sampler started: ${this.rates.read} reads/s and ${this.rates.write} writes/s against ${this.baseUrl.origin}.`,
    );
    this.tick();
  }

  /** Stops firing and aborts the requests in flight; those are dropped, not counted as errors. */
  stop(): void {
    if (!this.agent) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    const aborted = new Set<ProbeSample>();
    for (const p of this.pending) {
      p.settled = true;
      clearTimeout(p.timer);
      aborted.add(p.sample);
      p.req.destroy();
    }
    this.pending.clear();
    if (aborted.size > 0) this.samples = this.samples.filter((s) => !aborted.has(s));
    this.agent.destroy();
    this.agent = undefined;
    this.logger.debug(`Probe sampler stopped (${aborted.size} requests in flight were dropped).`);
  }

  /** Stats over the rolling window ending at `now` (in-flight requests count with their age), plus chart points. */
  snapshot(now = Date.now()): ProbeSnapshot {
    const from = now - this.windowMs;
    const inWindow = this.samples.slice(
      firstStartedAfter(this.samples, from),
      firstStartedAfter(this.samples, now, true),
    );
    // Requests still in flight that started before the window (only with a timeout longer than it).
    const older = [...this.pending].map((p) => p.sample).filter((s) => s.startedAt < from);
    const samples = older.length > 0 ? [...older, ...inWindow] : inWindow;
    return {
      at: now,
      windowMs: this.windowMs,
      stalledThresholdMs: this.stalledThresholdMs,
      running: this.running,
      ...probeStats(samples, now, this.stalledThresholdMs),
      points: chartPoints(samples, now, this.maxPoints),
    };
  }

  /** Stats of the requests that STARTED within [from, to] (e.g. a migration's run), in-flight ones aged at `now`. */
  statsBetween(from: number, to: number, now = Date.now()): ProbeStats {
    return probeStats(startedBetween(this.samples, from, to), now, this.stalledThresholdMs);
  }

  /** The most reads and writes in flight at once among the requests that started within [from, to]. */
  maxInFlightBetween(from: number, to: number, now = Date.now()): { read: number; write: number } {
    const samples = startedBetween(this.samples, from, to);
    return { read: maxInFlight(samples, 'read', now), write: maxInFlight(samples, 'write', now) };
  }

  /** Slower than this (or in flight longer) counts as stalled. */
  get stallThresholdMs(): number {
    return this.stalledThresholdMs;
  }

  /** Copies of the requests that started within [from, to], in start order. */
  samplesBetween(from: number, to: number): ProbeSample[] {
    return startedBetween(this.samples, from, to).map((s) => ({ ...s }));
  }

  private periodMs(kind: ProbeKind): number {
    return 1000 / this.rates[kind];
  }

  private tick(): void {
    if (!this.agent) return;
    const now = performance.now();
    let due = Infinity;
    for (const kind of ['read', 'write'] as const) {
      if (this.rates[kind] <= 0) continue;
      const period = this.periodMs(kind);
      if (now - this.next[kind] > MAX_CATCH_UP_MS) {
        this.logger.debug(
          `Probe sampler fell ${Math.round(now - this.next[kind])} ms behind; skipping ahead.`,
        );
        this.next[kind] = now;
      }
      while (this.next[kind] <= now) {
        this.fire(kind, this.next[kind]);
        this.next[kind] += period;
      }
      due = Math.min(due, this.next[kind]);
    }
    this.prune();
    if (due !== Infinity) this.timer = setTimeout(() => this.tick(), Math.max(0, due - performance.now()));
  }

  /** Drops completed samples older than the retention (the oldest are at the front). */
  private prune(): void {
    const limit = Date.now() - this.retentionMs;
    let n = 0;
    while (n < this.samples.length && this.samples[n]!.startedAt < limit && !isInFlight(this.samples[n]!))
      n++;
    if (n > 0) this.samples.splice(0, n);
  }

  /** Starts one request; `scheduledAt` is its slot on the schedule (performance.now() time). */
  private fire(kind: ProbeKind, scheduledAt: number): void {
    const { method, path } = PATHS[kind];
    const base = this.baseUrl.pathname.replace(/\/+$/, '');
    const sample: ProbeSample = { kind, startedAt: Date.now(), status: 0 };
    const t0 = performance.now();
    this.onStart?.(kind, t0 - scheduledAt);
    let req: http.ClientRequest;
    try {
      req = http.request({
        host: this.baseUrl.hostname.replace(/^\[|\]$/g, ''), // [::1] -> ::1
        port: this.baseUrl.port || 80,
        path: base + path,
        method,
        agent: this.agent,
        headers: { accept: 'application/json', ...(method === 'POST' ? { 'content-length': '0' } : {}) },
      });
    } catch (e) {
      this.logError(`Probe ${kind} could not be sent: ${describeError(e)}`);
      return;
    }
    this.samples.push(sample);
    const pending: Pending = {
      sample,
      req,
      settled: false,
      timer: setTimeout(() => {
        finish('timeout', 0);
        req.destroy();
      }, this.timeoutMs),
    };
    this.pending.add(pending);

    const finish = (outcome: ProbeOutcome, status: number) => {
      if (pending.settled) return;
      pending.settled = true;
      clearTimeout(pending.timer);
      this.pending.delete(pending);
      const measured = Math.round((performance.now() - t0) * 10) / 10;
      // A timer may fire a fraction of a millisecond early; a timeout waited the whole timeout.
      const latency = outcome === 'timeout' ? Math.max(measured, this.timeoutMs) : measured;
      sample.latencyMs = latency;
      sample.endedAt = sample.startedAt + latency;
      sample.status = status;
      sample.outcome = outcome;
      this.emit(sample);
    };

    req.on('response', (res) => {
      const status = res.statusCode ?? 0;
      const outcome: ProbeOutcome = status >= 200 && status < 300 ? 'ok' : 'error';
      res.on('end', () => finish(outcome, status));
      res.on('error', () => finish('error', status));
      res.on('close', () => finish(res.complete ? outcome : 'error', status));
      res.resume(); // the body is not needed, only its arrival
    });
    req.on('error', (e) => {
      if (!pending.settled) this.logError(`Probe ${kind} failed: ${describeError(e)}`);
      finish('error', 0);
    });
    req.end();
  }

  private emit(sample: ProbeSample): void {
    for (const listener of this.listeners) {
      try {
        listener(sample);
      } catch (e) {
        this.logError(`A probe sample listener failed: ${describeError(e)}`);
      }
    }
  }

  /** At most one line every 5 s: a dead endpoint fails 20 times a second. */
  private logError(message: string): void {
    const now = Date.now();
    if (now - this.lastErrorLog < 5_000) return;
    this.lastErrorLog = now;
    this.logger.warn(message);
  }
}
