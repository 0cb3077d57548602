import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, type ConnectionTarget } from '../src/core/db';
import { loadSource } from '../src/core/migrations/detect';
import type { MigrationSource } from '../src/core/migrations/model';
import { replay, scratchDatabaseName } from '../src/core/migrations/replay';
import { EmbeddedPostgres } from '../src/core/postgres/embedded';
import { fillTables } from '../src/core/trace/fill';
import { traceMigrations } from '../src/core/trace/trace';
import { freePort } from '../test/integration/support';
import { median, type BenchContext, type Metric } from './common';

const OVERHEAD_ROWS = 2_000_000;
const OVERHEAD_ROUNDS = 4;
const TABLE = 'public.bench_orders';

/** A dbmate folder: the table, then the plain index the trace measures. */
function writeOverheadFolder(dir: string): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, '20240101000000_create_bench_orders.sql'),
    '-- migrate:up\nCREATE TABLE bench_orders (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, email text NOT NULL, amount integer NOT NULL);\n\n-- migrate:down\nDROP TABLE bench_orders;\n',
  );
  writeFileSync(
    join(dir, '20240102000000_index_bench_orders_email.sql'),
    '-- migrate:up\nCREATE INDEX bench_orders_email_idx ON bench_orders (email);\n\n-- migrate:down\nDROP INDEX bench_orders_email_idx;\n',
  );
}

/** The index build alone, as dbmate runs it (in a transaction), on its own connection; ms. */
async function untracedBuild(target: ConnectionTarget, ctx: BenchContext): Promise<number> {
  const client = await connect(target, 'migration-lab:bench-untraced', ctx.logger);
  try {
    await client.query('CHECKPOINT');
    await client.query('BEGIN');
    const t0 = performance.now();
    await client.query('CREATE INDEX bench_orders_email_idx ON bench_orders (email)');
    const ms = performance.now() - t0;
    await client.query('ROLLBACK'); // the traced build that follows creates it again
    return ms;
  } finally {
    await client.end();
  }
}

/**
 * trace.overhead_ratio: a plain CREATE INDEX on 2,000,000 rows traced (lock monitor on every
 * session, read and write probes, per-statement attribution) against the same statement untraced, on
 * the same server, the same rows, in the same round (alternating which goes first, each after a
 * CHECKPOINT); the median of the rounds' ratios.
 */
export async function traceOverheadMetrics(ctx: BenchContext): Promise<Metric[]> {
  const dir = join(ctx.tempDir('migration-lab-bench-trace-'), 'migrations');
  writeOverheadFolder(dir);
  const source: MigrationSource = await loadSource(dir, 'dbmate');
  const server = new EmbeddedPostgres({
    baseDir: ctx.tempDir('migration-lab-bench-trace-pg-'),
    port: await freePort(),
    logger: ctx.logger,
  });
  ctx.defer(() => server.stop());
  const target = await server.start();
  if (server.serverVersion) ctx.machine.pg_version = server.serverVersion;
  const scratch = { ...target, database: scratchDatabaseName(source) };
  const untraced: number[] = [];
  const traced: number[] = [];
  /** The scratch database at the table alone, filled and analysed (a trace resets it when it ends). */
  const prepare = async () => {
    const replayed = await replay(
      source,
      { server: target, logger: ctx.logger },
      { to: source.migrations[0]!.id },
    );
    if (replayed.failure)
      throw new Error(`the benchmark folder failed to replay: ${replayed.failure.sentence}`);
    await fillTables(scratch, { tables: [TABLE], rows: OVERHEAD_ROWS }, { logger: ctx.logger });
    const admin = await connect(scratch, 'migration-lab:bench-admin', ctx.logger);
    try {
      await admin.query(`VACUUM ANALYZE ${TABLE}`);
      await admin.query('CHECKPOINT');
    } finally {
      await admin.end();
    }
  };
  const runTraced = async () => {
    const admin = await connect(scratch, 'migration-lab:bench-admin', ctx.logger);
    await admin.query('CHECKPOINT').finally(() => admin.end());
    const report = await traceMigrations({
      target,
      source,
      migration: source.migrations[1]!.id,
      rows: OVERHEAD_ROWS,
      logger: ctx.logger,
    });
    const statement = report.migrations[0]?.statements[0];
    if (!statement?.locks.some((l) => l.mode === 'ShareLock'))
      throw new Error('the traced build was not observed holding its ShareLock');
    return statement.durationMs;
  };
  for (let round = 1; round <= OVERHEAD_ROUNDS; round++) {
    // Rounds alternate which build goes first, so neither always gets the warmer cache.
    const tracedFirst = round % 2 === 0;
    ctx.progress(
      `trace: round ${round}/${OVERHEAD_ROUNDS}: ${OVERHEAD_ROWS.toLocaleString('en-US')} rows, the build ${tracedFirst ? 'traced, then untraced' : 'untraced, then traced'}`,
    );
    await prepare();
    if (tracedFirst) {
      traced.push(await runTraced());
      await prepare();
      untraced.push(await untracedBuild(scratch, ctx));
    } else {
      untraced.push(await untracedBuild(scratch, ctx));
      traced.push(await runTraced());
    }
  }
  return [
    { key: 'overhead_rows', value: OVERHEAD_ROWS, unit: 'rows' },
    {
      key: 'untraced_ms',
      label: 'plain CREATE INDEX, untraced (median)',
      value: median(untraced),
      unit: 'ms',
    },
    {
      key: 'traced_ms',
      label: 'the same build traced: monitor, probes, attribution (median)',
      value: median(traced),
      unit: 'ms',
    },
    {
      key: 'overhead_ratio',
      label: 'traced / untraced (median of the rounds’ ratios)',
      value: median(traced.map((t, k) => t / untraced[k]!)),
      unit: 'ratio',
      target: { op: '<=', value: 1.1 },
    },
    { key: 'untraced_runs_ms', value: untraced },
    { key: 'traced_runs_ms', value: traced },
  ];
}
