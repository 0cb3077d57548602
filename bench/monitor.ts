import { join } from 'node:path';
import type pg from 'pg';
import { connect, quoteIdent, type ConnectionTarget } from '../src/core/db';
import type { Logger } from '../src/core/log';
import { MigrationRunner } from '../src/core/migrations/runner';
import {
  DEFAULT_MONITOR_INTERVAL_MS,
  PROGRESS_QUERY,
  labRelations,
  lockQuery,
  type LockSnapshot,
} from '../src/core/monitor/lockMonitor';
import { MonitorSession } from '../src/core/monitorSession';
import { EmbeddedPostgres } from '../src/core/postgres/embedded';
import { LatencySampler } from '../src/core/probe/sampler';
import { seedTables } from '../src/core/seeder';
import { freePort } from '../test/integration/support';
import { elapsedMs, median, percentile, type BenchContext, type Metric, type Section } from './common';

const SCHEMA = 'migration_lab';
/** At 5 Hz: at least 100 polls, as the lock monitor issue asks. */
const IDLE_MS = 21_000;
const IDLE_SESSIONS = 20;
const DRIFT_MS = 10_000;
const DRIFT_RATE = 20;
const BASELINE_SAMPLES = 50;
const PROVOKED_WAITS = 24;
/** Enough rows that the plain index build takes seconds; capped so the section stays quick. */
const MAX_ROWS = 2_000_000;

function enough(what: string, values: readonly number[], atLeast: number): void {
  if (values.length < atLeast)
    throw new Error(`only ${values.length} ${what} were measured; at least ${atLeast} are needed`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function cpuPercent(since: NodeJS.CpuUsage, wallMs: number): number {
  const used = process.cpuUsage(since);
  return ((used.user + used.system) / 1000 / wallMs) * 100;
}

/** Median time of `work` over `count` runs spaced like the monitor's polls (one connection, one at a time). */
async function timeQueries(count: number, work: () => Promise<unknown>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    await work();
    times.push(elapsedMs(t0));
    await sleep(200);
  }
  return median(times);
}

/**
 * How late a bare timer chain on a fixed schedule fires in this process while `ms` passes: the
 * floor under the sampler's own lateness (timer granularity, event-loop work of everything else).
 */
async function timerLateness(ratePerSecond: number, ms: number): Promise<number[]> {
  const period = 1000 / ratePerSecond;
  const late: number[] = [];
  const end = performance.now() + ms;
  let next = performance.now() + period;
  while (next < end) {
    await new Promise((r) => setTimeout(r, Math.max(0, next - performance.now())));
    late.push(performance.now() - next);
    next += period;
  }
  return late;
}

/**
 * Provokes `count` lock waits on small_email (one session holds ACCESS EXCLUSIVE, another reads) and
 * returns, for each, the time from the waiter's pg_locks.waitstart to the first snapshot that
 * showed it waiting.
 */
async function detectionLatencies(
  target: ConnectionTarget,
  session: MonitorSession,
  count: number,
  logger: Logger,
): Promise<number[]> {
  const holder = await connect(target, 'migration-lab:bench-holder', logger);
  const waiter = await connect(target, 'migration-lab:bench-waiter', logger);
  const watcher = await connect(target, 'migration-lab:bench-watcher', logger);
  const table = `${quoteIdent(SCHEMA)}.small_email`;
  const latencies: number[] = [];
  try {
    const waiterPid = Number(
      (await waiter.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid,
    );
    for (let i = 0; i < count; i++) {
      await sleep(Math.random() * 200); // a random phase against the monitor's ticks
      await holder.query('BEGIN');
      await holder.query(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
      let detectedAt: number | undefined;
      const seen = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          session.off('locks', listener);
          reject(new Error('the monitor did not show a provoked lock wait within 5 s'));
        }, 5_000);
        const listener = (s: LockSnapshot) => {
          if (!s.locks.some((l) => l.pid === waiterPid && !l.granted)) return;
          detectedAt = Date.now();
          clearTimeout(timer);
          session.off('locks', listener);
          resolve();
        };
        session.on('locks', listener);
      });
      const read = waiter.query(`SELECT count(*) FROM ${table}`);
      try {
        await seen;
        // Still waiting (the holder has not let go), so its waitstart is there to read.
        const { rows } = await watcher.query<{ ms: number }>(
          `SELECT extract(epoch FROM waitstart)::float8 * 1000 AS ms
             FROM pg_locks WHERE pid = $1 AND NOT granted AND waitstart IS NOT NULL`,
          [waiterPid],
        );
        if (!rows[0]) throw new Error('the provoked wait has no pg_locks.waitstart');
        latencies.push(detectedAt! - Number(rows[0].ms));
      } finally {
        await holder.query('ROLLBACK');
        await read;
      }
    }
  } finally {
    for (const c of [holder, waiter, watcher]) await c.end().catch(() => undefined);
  }
  return latencies;
}

/** `count` sessions that connect and stay idle, as other applications' connections would. */
async function idleSessions(ctx: BenchContext, target: ConnectionTarget, count: number): Promise<void> {
  const clients: pg.Client[] = [];
  ctx.defer(async () => {
    for (const c of clients) await c.end().catch(() => undefined);
  });
  for (let i = 0; i < count; i++) clients.push(await connect(target, 'migration-lab:bench-idle', ctx.logger));
}

/**
 * The lock monitor at 5 Hz with the probes running and 20 extra idle sessions: the poll's own cost
 * (beside the unprepared queries it used to send and a bare round trip), the CPU of the extension-side
 * work, how late the sampler starts its requests at 20/s per probe (beside a bare timer), how soon a
 * lock wait shows, and the same monitor during a plain `CREATE INDEX`.
 */
export const monitorSection: Section = {
  name: 'monitor',
  description: 'lock monitor poll cost, detection latency, sampler drift, CPU, and a CREATE INDEX',
  async run(ctx) {
    const rows = Math.min(ctx.rows, MAX_ROWS);
    const baseDir = ctx.tempDir('migration-lab-bench-monitor-');
    const server = new EmbeddedPostgres({ baseDir, port: await freePort(), logger: ctx.logger });
    ctx.defer(() => server.stop());
    const target = await server.start();
    const runner = new MigrationRunner({
      target,
      schema: SCHEMA,
      migrations: join(__dirname, '../../migrations'),
      logger: ctx.logger,
    });
    await runner.migrateTo('0001_initial');
    ctx.progress(`monitor: seeding ${rows.toLocaleString('en-US')} rows`);
    await seedTables(target, { schema: SCHEMA, largeCount: rows, logger: ctx.logger });
    await idleSessions(ctx, target, IDLE_SESSIONS);

    const session = new MonitorSession({
      target,
      schema: SCHEMA,
      logger: ctx.logger,
      probePort: 0,
      probeRate: 10,
    });
    ctx.defer(() => session.dispose());
    const pollMs: number[] = [];
    session.on('locks', (s) => pollMs.push(s.pollMs));
    session.startMonitor();
    await session.startProbe();
    await sleep(1_000); // connections opened, statements prepared

    ctx.progress(
      `monitor: ${IDLE_MS / 1000} s at 5 Hz, probes at 10 + 10 requests/s, ${IDLE_SESSIONS} idle sessions`,
    );
    pollMs.length = 0;
    const cpu0 = process.cpuUsage();
    const t0 = Date.now();
    const polls0 = session.monitorStats.polls;
    await sleep(IDLE_MS);
    const idleWallMs = Date.now() - t0;
    const idleCpu = cpuPercent(cpu0, idleWallMs);
    const idlePolls = [...pollMs];
    const idle = session.latencySnapshot()!;
    const idleStats = session.monitorStats;
    const sent = session.probeSamples(t0, t0 + idleWallMs).length;

    ctx.progress('monitor: baselines on another connection (the unprepared poll, SELECT 1)');
    const baseline = await connect(target, 'migration-lab:bench-baseline', ctx.logger);
    ctx.defer(() => baseline.end());
    const serverVersion = Number(
      (await baseline.query<{ v: number }>("SELECT current_setting('server_version_num')::int AS v")).rows[0]!
        .v,
    );
    const relations = labRelations(SCHEMA);
    const unpreparedMs = await timeQueries(BASELINE_SAMPLES, async () => {
      await baseline.query(lockQuery(serverVersion), [relations, false]);
      await baseline.query(PROGRESS_QUERY);
    });
    const select1Ms = await timeQueries(BASELINE_SAMPLES, () => baseline.query('SELECT 1'));

    ctx.progress(`monitor: sampler at ${DRIFT_RATE} + ${DRIFT_RATE} requests/s for ${DRIFT_MS / 1000} s`);
    await session.stopProbe();
    const lateMs: number[] = [];
    const sampler = new LatencySampler({
      baseUrl: session.probeUrl!,
      readsPerSecond: DRIFT_RATE,
      writesPerSecond: DRIFT_RATE,
      logger: ctx.logger,
      onStart: (_kind, late) => lateMs.push(late),
    });
    ctx.defer(() => sampler.stop());
    const cpu1 = process.cpuUsage();
    const t1 = Date.now();
    sampler.start();
    const timerLate = await timerLateness(DRIFT_RATE, DRIFT_MS);
    sampler.stop();
    const driftCpu = cpuPercent(cpu1, Date.now() - t1);
    await session.startProbe();

    ctx.progress(`monitor: ${PROVOKED_WAITS} provoked lock waits on small_email`);
    const detection = await detectionLatencies(target, session, PROVOKED_WAITS, ctx.logger);

    ctx.progress('monitor: recording 0002_add_email_index (plain CREATE INDEX)');
    const { recorded } = await session.observe('0002_add_email_index', 'locking', (o) =>
      runner.migrateTo('0002_add_email_index', o),
    );
    const after = session.monitorStats;
    // Too few samples is a failed measurement, never a figure.
    enough('polls in the idle window', idlePolls, 100);
    enough('provoked lock waits', detection, 20);
    enough('probe requests at 20/s', lateMs, DRIFT_RATE * 2 * (DRIFT_MS / 1000) * 0.9);

    const metrics: Metric[] = [
      {
        key: 'poll_p50_ms',
        label: `lock monitor poll, median of ${idlePolls.length}`,
        value: median(idlePolls),
        unit: 'ms',
        target: { op: '<=', value: 3 },
      },
      { key: 'poll_p95_ms', label: 'lock monitor poll, p95', value: percentile(idlePolls, 95), unit: 'ms' },
      { key: 'polls_measured', value: idlePolls.length },
      {
        key: 'baseline_unprepared_poll_p50_ms',
        label: 'baseline: the same queries unprepared, median',
        value: unpreparedMs,
        unit: 'ms',
      },
      {
        key: 'baseline_select1_p50_ms',
        label: 'baseline: SELECT 1 round trip, median',
        value: select1Ms,
        unit: 'ms',
      },
      {
        key: 'detection_latency_ms',
        label: `lock wait to first snapshot showing it, median of ${detection.length}`,
        value: median(detection),
        unit: 'ms',
        target: { op: '<=', value: DEFAULT_MONITOR_INTERVAL_MS + 100 },
      },
      {
        key: 'detection_latency_max_ms',
        label: 'lock wait to first snapshot, worst',
        value: Math.max(...detection),
        unit: 'ms',
      },
      {
        key: 'drift_p99_ms',
        fullKey: 'sampler.drift_p99_ms',
        label: `probe request start vs schedule at ${DRIFT_RATE}/s each, p99 of ${lateMs.length}`,
        value: percentile(lateMs, 99),
        unit: 'ms',
        target: { op: '<=', value: 5 },
      },
      {
        key: 'drift_p50_ms',
        fullKey: 'sampler.drift_p50_ms',
        label: 'probe request start vs schedule, median',
        value: median(lateMs),
        unit: 'ms',
      },
      {
        key: 'baseline_timer_drift_p99_ms',
        fullKey: 'sampler.baseline_timer_drift_p99_ms',
        label: 'baseline: a bare timer on the same schedule, p99',
        value: percentile(timerLate, 99),
        unit: 'ms',
      },
      {
        key: 'cpu_percent',
        label: 'CPU of monitor + sampler + endpoint, % of a core',
        value: idleCpu,
        unit: 'ratio',
        target: { op: '<', value: 5 },
      },
      {
        key: 'cpu_percent_20rps',
        label: `the same with the probes at ${DRIFT_RATE} + ${DRIFT_RATE} requests/s`,
        value: driftCpu,
        unit: 'ratio',
      },
      {
        key: 'poll_mean_ms',
        label: 'lock monitor poll, mean (whole section)',
        value: after.meanPollMs ?? 0,
        unit: 'ms',
      },
      {
        key: 'poll_max_ms',
        label: 'lock monitor poll, max (whole section)',
        value: after.maxPollMs ?? 0,
        unit: 'ms',
      },
      { key: 'polls_idle', value: idleStats.polls - polls0 },
      {
        key: 'polls_per_s_idle',
        label: 'polls per second (target 5)',
        value: ((idleStats.polls - polls0) * 1000) / idleWallMs,
        unit: 'ratio',
      },
      { key: 'skipped_ticks', label: 'ticks skipped (poll still running)', value: after.skippedTicks },
      {
        key: 'requests_sent_idle',
        label: `probe requests in ${IDLE_MS / 1000} s (schedule: ${(IDLE_MS / 1000) * 20})`,
        value: sent,
      },
      { key: 'read_p50_idle_ms', label: 'reads p50, idle', value: idle.read.p50Ms ?? 0, unit: 'ms' },
      { key: 'write_p50_idle_ms', label: 'writes p50, idle', value: idle.write.p50Ms ?? 0, unit: 'ms' },
      { key: 'build_ms', label: 'CREATE INDEX under observation', value: recorded.durationMs, unit: 'ms' },
      {
        key: 'build_write_max_ms',
        label: 'worst write during the build',
        value: recorded.writes?.maxMs ?? 0,
        unit: 'ms',
      },
      {
        key: 'build_read_max_ms',
        label: 'worst read during the build',
        value: recorded.reads?.maxMs ?? 0,
        unit: 'ms',
      },
      { key: 'build_snapshots', value: recorded.snapshots },
    ];
    return metrics;
  },
};
