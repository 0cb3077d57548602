import { EmbeddedPostgres } from '../src/core/postgres/embedded';
import { freePort } from '../test/integration/support';
import { elapsedMs, median, type Section } from './common';

const WARM_RUNS = 5;

/** Cold start (initdb + start on a fresh folder) and warm start (start of an existing, stopped cluster). */
export const embeddedSection: Section = {
  name: 'embedded',
  description: 'embedded PostgreSQL cold and warm start',
  async run(ctx) {
    const baseDir = ctx.tempDir('migration-lab-bench-embedded-');
    const port = await freePort();
    let server = new EmbeddedPostgres({ baseDir, port, logger: ctx.logger });
    ctx.defer(() => server.stop());

    ctx.progress('embedded: cold start (initdb + start on a fresh folder)');
    let t = performance.now();
    await server.start();
    const coldMs = elapsedMs(t);
    if (server.serverVersion) ctx.machine.pg_version = server.serverVersion;
    t = performance.now();
    await server.stop();
    const stops = [elapsedMs(t)];

    const warm: number[] = [];
    for (let i = 0; i < WARM_RUNS; i++) {
      // A new launcher each time, as a new editor session would have.
      server = new EmbeddedPostgres({ baseDir, port, logger: ctx.logger });
      t = performance.now();
      await server.start();
      warm.push(elapsedMs(t));
      t = performance.now();
      await server.stop();
      stops.push(elapsedMs(t));
    }
    ctx.progress(`embedded: warm starts ${warm.map((w) => w.toFixed(0)).join(', ')} ms`);

    return [
      {
        key: 'cold_start_ms',
        label: 'cold start (initdb + start)',
        value: coldMs,
        unit: 'ms',
        target: { op: '<=', value: 2000 },
      },
      {
        key: 'warm_start_ms',
        label: `warm start (median of ${WARM_RUNS})`,
        value: median(warm),
        unit: 'ms',
        target: { op: '<=', value: 500 },
      },
      { key: 'warm_start_runs_ms', value: warm.map((w) => Math.round(w)) },
      { key: 'stop_ms', label: 'stop (median)', value: median(stops), unit: 'ms' },
    ];
  },
};
