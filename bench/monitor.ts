import { join } from 'node:path';
import { MigrationRunner } from '../src/core/migrations/runner';
import { MonitorSession } from '../src/core/monitorSession';
import { EmbeddedPostgres } from '../src/core/postgres/embedded';
import { seedTables } from '../src/core/seeder';
import { freePort } from '../test/integration/support';
import type { Section } from './common';

const SCHEMA = 'migration_lab';
const IDLE_MS = 10_000;
/** Enough rows that the plain index build takes seconds; capped so the section stays quick. */
const MAX_ROWS = 2_000_000;

/**
 * The lock monitor at 5 Hz and the probes at 10 + 10 requests/s: the poll's own cost, what the
 * process spends on monitoring, and whether the sampler kept its schedule, idle and during a build.
 */
export const monitorSection: Section = {
  name: 'monitor',
  description: 'lock monitor poll cost and probe sampler, idle and during CREATE INDEX',
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

    const session = new MonitorSession({
      target,
      schema: SCHEMA,
      logger: ctx.logger,
      probePort: 0,
      probeRate: 10,
    });
    ctx.defer(() => session.dispose());
    session.startMonitor();
    await session.startProbe();

    ctx.progress(`monitor: ${IDLE_MS / 1000} s idle at 5 Hz with probes at 10 + 10 requests/s`);
    const cpu0 = process.cpuUsage();
    const t0 = Date.now();
    const polls0 = session.monitorStats.polls;
    await new Promise((r) => setTimeout(r, IDLE_MS));
    const cpu = process.cpuUsage(cpu0);
    const idleWallMs = Date.now() - t0;
    const idle = session.latencySnapshot()!;
    const idleStats = session.monitorStats;
    const sent = session.probeSamples(t0, t0 + idleWallMs).length;

    ctx.progress('monitor: recording 0002_add_email_index (plain CREATE INDEX)');
    const { recorded } = await session.observe('0002_add_email_index', 'locking', (o) =>
      runner.migrateTo('0002_add_email_index', o),
    );
    const after = session.monitorStats;

    return [
      { key: 'poll_mean_ms', label: 'lock monitor poll, mean', value: after.meanPollMs ?? 0, unit: 'ms' },
      { key: 'poll_max_ms', label: 'lock monitor poll, max', value: after.maxPollMs ?? 0, unit: 'ms' },
      { key: 'polls_idle', value: idleStats.polls - polls0 },
      {
        key: 'polls_per_s_idle',
        label: 'polls per second (target 5)',
        value: ((idleStats.polls - polls0) * 1000) / idleWallMs,
        unit: 'ratio',
      },
      { key: 'skipped_ticks', label: 'ticks skipped (poll still running)', value: after.skippedTicks },
      {
        key: 'host_cpu_percent_idle',
        label: 'CPU of this process (monitor + probe + endpoint), % of a core',
        value: ((cpu.user + cpu.system) / 1000 / idleWallMs) * 100,
        unit: 'ratio',
      },
      {
        key: 'requests_sent_idle',
        label: `probe requests in ${IDLE_MS / 1000} s (schedule: 200)`,
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
  },
};
