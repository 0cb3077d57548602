import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type pg from 'pg';
import { connect, quoteIdent, type ConnectionTarget } from '../src/core/db';
import { silentLogger } from '../src/core/log';
import { loadSource } from '../src/core/migrations/detect';
import type { MigrationSection, MigrationSource } from '../src/core/migrations/model';
import { replay } from '../src/core/migrations/replay';
import { EmbeddedPostgres } from '../src/core/postgres/embedded';
import { freePort } from '../test/integration/support';
import { median, type Section } from './common';

const MIGRATIONS = 300;
/** Measured rounds of each (after one unmeasured warm-up of each); the medians are compared. */
const ROUNDS = 7;

/**
 * Writes a dbmate folder of `count` migrations, about 11 statements each (tables, indexes, rows, checks,
 * comments, trigger functions, triggers, views, updates, foreign keys), every 25th a lone
 * CREATE INDEX CONCURRENTLY in a `transaction:false` section.
 */
export function writeFolder(dir: string, count: number): void {
  mkdirSync(dir, { recursive: true });
  for (let k = 1; k <= count; k++) {
    const t = `t${k}`;
    const file = join(dir, `${String(k).padStart(4, '0')}_step_${k}.sql`);
    if (k % 25 === 0) {
      writeFileSync(
        file,
        `-- migrate:up transaction:false\nCREATE INDEX CONCURRENTLY t${k - 1}_note_idx ON t${k - 1} (note);\n\n-- migrate:down transaction:false\nDROP INDEX CONCURRENTLY t${k - 1}_note_idx;\n`,
      );
      continue;
    }
    const up = [
      `CREATE TABLE ${t} (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text NOT NULL, note text, created_at timestamptz NOT NULL DEFAULT now())`,
      `CREATE INDEX ${t}_name_idx ON ${t} (name)`,
      `INSERT INTO ${t} (name, note) SELECT 'name ' || g, 'note ' || g FROM generate_series(1, 100) AS g`,
      `ALTER TABLE ${t} ADD COLUMN status text NOT NULL DEFAULT 'new'`,
      `ALTER TABLE ${t} ADD CONSTRAINT ${t}_name_length CHECK (length(name) < 100)`,
      `COMMENT ON TABLE ${t} IS 'Step ${k}: rows with a name, a note and a status'`,
      `CREATE FUNCTION ${t}_touch() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n  NEW.note := coalesce(NEW.note, '');\n  RETURN NEW;\nEND;\n$$`,
      `CREATE TRIGGER ${t}_touch BEFORE INSERT ON ${t} FOR EACH ROW EXECUTE FUNCTION ${t}_touch()`,
      `CREATE VIEW ${t}_new AS SELECT id, name FROM ${t} WHERE status = 'new'`,
      `UPDATE ${t} SET status = 'old' WHERE id % 2 = 0`,
      ...(k > 1 && (k - 1) % 25 !== 0
        ? [`ALTER TABLE ${t} ADD COLUMN previous_id bigint REFERENCES t${k - 1} (id)`]
        : []),
    ];
    writeFileSync(
      file,
      `-- migrate:up\n${up.join(';\n')};\n\n-- migrate:down\nDROP TABLE ${t} CASCADE;\nDROP FUNCTION ${t}_touch();\n`,
    );
  }
}

/** How the tool sends one section, and nothing else: the floor the replay is compared with. */
async function sendSection(client: pg.Client, section: MigrationSection): Promise<void> {
  const pieces = section.script ? [section.script.text] : section.statements.map((s) => s.text);
  if (section.mode === 'single-string') await client.query(section.script!.text);
  else if (section.mode === 'autocommit') for (const text of pieces) await client.query(text);
  else {
    await client.query('BEGIN');
    for (const text of pieces) await client.query(text);
    await client.query('COMMIT');
  }
}

/** One client: a fresh database from nothing, then every section as its tool sends it. */
async function floor(
  server: ConnectionTarget,
  admin: pg.Client,
  source: MigrationSource,
  database: string,
): Promise<number> {
  const t0 = performance.now();
  await admin.query(`CREATE DATABASE ${quoteIdent(database)} TEMPLATE template0 ENCODING 'UTF8'`);
  const client = await connect({ ...server, database }, 'migration-lab:bench-floor', silentLogger);
  try {
    for (const m of source.migrations) await sendSection(client, m.up);
  } finally {
    await client.end();
  }
  return performance.now() - t0;
}

/** The lab's replay from nothing onto a scratch database of its own (named after `path`). */
async function labReplay(server: ConnectionTarget, source: MigrationSource, path: string): Promise<number> {
  const t0 = performance.now();
  const report = await replay({ ...source, path }, { server, logger: silentLogger });
  const ms = performance.now() - t0;
  if (report.failure) throw new Error(`the benchmark folder failed to replay: ${report.failure.sentence}`);
  return ms;
}

/**
 * Replays a generated folder of 300 dbmate migrations (about 3,000 statements) onto a fresh scratch
 * database, and on the same server the floor: one client creating a database and sending the same
 * sections with the same semantics, nothing else. Rounds alternate which goes first; each uses a
 * fresh database, so no DROP DATABASE (and its checkpoint) falls inside a measurement.
 */
export const replaySection: Section = {
  name: 'replay',
  description: `replay of ${MIGRATIONS} migrations vs one client sending the same sections`,
  // Issue 10 reports the parser's speed (parse.ms_per_mb) with the replay's figures.
  implies: ['parse'],
  async run(ctx) {
    const dir = join(ctx.tempDir('migration-lab-bench-replay-'), 'migrations');
    writeFolder(dir, MIGRATIONS);
    const source = await loadSource(dir, 'dbmate');
    const statements = source.migrations.reduce((n, m) => n + m.up.statements.length, 0);

    const server = new EmbeddedPostgres({
      baseDir: ctx.tempDir('migration-lab-bench-replay-pg-'),
      port: await freePort(),
      logger: ctx.logger,
    });
    ctx.defer(() => server.stop());
    const target = await server.start();
    if (server.serverVersion) ctx.machine.pg_version = server.serverVersion;
    const admin = await connect(target, 'migration-lab:bench-admin', ctx.logger);
    ctx.defer(() => admin.end());
    // Autovacuum would analyse the previous run's 300 fresh tables during the next measurement.
    await admin.query('ALTER SYSTEM SET autovacuum = off');
    await admin.query('SELECT pg_reload_conf()');

    const replays: number[] = [];
    const floors: number[] = [];
    for (let round = 0; round <= ROUNDS; round++) {
      ctx.progress(
        `replay: round ${round === 0 ? 'warm-up' : `${round}/${ROUNDS}`} (${source.migrations.length} migrations, ${statements} statements)`,
      );
      // Each measurement starts after a CHECKPOINT, so none pays for the other's dirty buffers.
      const runFloor = async () => {
        await admin.query('CHECKPOINT');
        return floor(target, admin, source, `bench_floor_${round}`);
      };
      const runReplay = async () => {
        await admin.query('CHECKPOINT');
        return labReplay(target, source, `${dir}#round${round}`);
      };
      let f: number;
      let r: number;
      if (round % 2 === 0) {
        f = await runFloor();
        r = await runReplay();
      } else {
        r = await runReplay();
        f = await runFloor();
      }
      if (round > 0) {
        floors.push(f);
        replays.push(r);
      }
    }
    const replayMs = median(replays);
    const floorMs = median(floors);
    // Each round's two runs are neighbours in time, so their ratio cancels most of the drift in
    // machine load (other work on a 2-core machine moves both by ±20 %); the median of those ratios.
    const ratio = median(replays.map((r, k) => r / floors[k]));
    return [
      { key: 'migrations', value: source.migrations.length },
      { key: 'statements', value: statements },
      {
        key: 'ms',
        label: `replay of ${MIGRATIONS} migrations (${statements} statements)`,
        value: replayMs,
        unit: 'ms',
      },
      { key: 'floor_ms', label: 'one client sending the same sections', value: floorMs, unit: 'ms' },
      {
        key: 'ratio_vs_floor',
        label: 'replay / floor (median of the rounds’ ratios)',
        value: ratio,
        unit: 'ratio',
        target: { op: '<=', value: 1.2 },
      },
      { key: 'runs_ms', value: replays },
      { key: 'floor_runs_ms', value: floors },
    ];
  },
};
