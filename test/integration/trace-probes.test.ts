// The trace's per-table probes on a real server: reads and writes recorded per table, the write
// falls back to an update where inserts are impossible (and says why), an ACCESS EXCLUSIVE lock
// makes both stall while the requests are still waiting, and stop() ends every probe session.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { APP_NAMES } from '../../src/core/db';
import { silentLogger } from '../../src/core/log';
import { kindStats } from '../../src/core/probe/stats';
import { fillTables } from '../../src/core/trace/fill';
import { TableProbes } from '../../src/core/trace/tableProbes';
import { pollUntil, startTestDatabase, type TestPostgres } from './support';

const SCHEMA_SQL = `
CREATE SCHEMA probe;
CREATE TABLE probe.items (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name text NOT NULL,
  price integer NOT NULL CHECK (price > 0)
);
CREATE TABLE probe.authors (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE probe.notes (id int PRIMARY KEY, author_id int NOT NULL, body text NOT NULL);
INSERT INTO probe.notes SELECT g, g, 'note ' || g FROM generate_series(1, 50) AS g;
-- Added after the rows, NOT VALID: the notes stay, and no new note can reference an author.
ALTER TABLE probe.notes ADD CONSTRAINT notes_author_fk FOREIGN KEY (author_id) REFERENCES probe.authors (id) NOT VALID;
CREATE TABLE probe.log (at timestamptz NOT NULL, line text NOT NULL);
`;

const PROBE_APPS = [APP_NAMES.probeRead, APP_NAMES.probeWrite];

async function probeSessions(client: pg.Client): Promise<number> {
  const r = await client.query(
    `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = ANY ($1)`,
    [PROBE_APPS],
  );
  return r.rows[0].n as number;
}

describe('the trace table probes', () => {
  let db: TestPostgres;
  let client: pg.Client;
  let stop: () => Promise<void>;
  before(async () => {
    ({ db, client, stop } = await startTestDatabase(SCHEMA_SQL));
    await fillTables(
      db.target,
      { tables: ['probe.items', 'probe.log'], rows: 5_000 },
      { logger: silentLogger },
    );
  });
  after(() => stop?.());

  it('records reads and writes of each table, and says how each writes', async () => {
    const probes = new TableProbes({
      target: db.target,
      tables: ['probe.items', 'probe.notes', 'probe.log'],
      ratePerSecond: 20,
      logger: silentLogger,
    });
    try {
      await probes.start();
      assert.deepEqual(probes.writeKind('probe.items'), {
        kind: 'insert',
        reason: "Inserts a synthetic row made by the fill's row generator.",
      });
      const notes = probes.writeKind('probe.notes');
      assert.equal(notes.kind, 'update');
      assert.equal(
        notes.reason,
        'Updates an existing row (SET body = body) because the foreign key "notes_author_fk" of probe.notes requires a row of probe.authors, which has none to reference.',
      );
      assert.deepEqual(probes.readKind('probe.items'), {
        kind: 'primary key',
        reason: 'Looks up one of 200 sampled rows by its primary key (id).',
      });
      assert.deepEqual(probes.readKind('probe.log'), {
        kind: 'ctid',
        reason: 'Looks up one of 200 sampled rows by its ctid (the table has no primary or unique key).',
      });
      for (const table of ['probe.items', 'probe.notes', 'probe.log']) {
        await pollUntil(`ok reads and writes of ${table}`, () => {
          const s = probes.samples(table);
          const ok = (kind: string) => s.filter((x) => x.kind === kind && x.outcome === 'ok').length;
          return ok('read') >= 5 && ok('write') >= 5 ? true : undefined;
        });
        const s = probes.samples(table);
        assert.equal(s.filter((x) => x.outcome === 'error').length, 0, `no failed probe on ${table}`);
      }
      // The inserts went in (and were not rolled back); the updates touched existing notes only.
      assert.ok(Number((await client.query('SELECT count(*) AS n FROM probe.items')).rows[0].n) > 5_000);
      assert.equal(Number((await client.query('SELECT count(*) AS n FROM probe.notes')).rows[0].n), 50);
      // Each update wrote a new version of a note (a new xmin); the 50 notes came from one INSERT.
      const versions = await client.query('SELECT count(DISTINCT xmin::text)::int AS n FROM probe.notes');
      assert.ok(versions.rows[0].n > 1, 'the updates wrote new row versions');
    } finally {
      await probes.stop();
    }
    assert.equal(await probeSessions(client), 0, 'stop() waited for the sessions to end');
  });

  it('shows both probes stalled while ACCESS EXCLUSIVE is held, and stop() ends the waiting sessions', async () => {
    const probes = new TableProbes({
      target: db.target,
      tables: ['probe.items'],
      ratePerSecond: 10,
      stalledThresholdMs: 300,
      logger: silentLogger,
    });
    const locker = new pg.Client(db.target);
    await locker.connect();
    try {
      await probes.start();
      await pollUntil('a first ok read and write', () => {
        const s = probes.samples('probe.items');
        return s.some((x) => x.kind === 'read' && x.outcome === 'ok') &&
          s.some((x) => x.kind === 'write' && x.outcome === 'ok')
          ? true
          : undefined;
      });
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE probe.items IN ACCESS EXCLUSIVE MODE');
      // Stalled while still in flight: nothing has completed, their age counts.
      const stalled = await pollUntil('reads and writes stalled behind the lock', () => {
        const now = Date.now();
        const s = probes.samples('probe.items');
        const read = kindStats(s, 'read', now, probes.stalledThresholdMs);
        const write = kindStats(s, 'write', now, probes.stalledThresholdMs);
        return read.stalled > 0 && write.stalled > 0 && read.inFlight > 0 && write.inFlight > 0
          ? { read, write }
          : undefined;
      });
      assert.ok(stalled.read.maxMs! > 300 && stalled.write.maxMs! > 300);
      // The probes' sessions wait on the lock in pg_locks.
      const waiting = await client.query(
        `SELECT DISTINCT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
          WHERE NOT l.granted AND l.relation = 'probe.items'::regclass ORDER BY 1`,
      );
      assert.deepEqual(
        waiting.rows.map((r) => r.application_name),
        [APP_NAMES.probeRead, APP_NAMES.probeWrite],
      );
      // stop() while they wait: every probe session ends although the lock is still held.
      await probes.stop();
      assert.equal(await probeSessions(client), 0);
      await probes.stop(); // idempotent
    } finally {
      await probes.stop();
      await locker.query('ROLLBACK').catch(() => undefined);
      await locker.end();
    }
  });

  it('gives up on a request at the timeout and counts it as one', async () => {
    const probes = new TableProbes({
      target: db.target,
      tables: ['probe.log'],
      ratePerSecond: 10,
      timeoutMs: 400,
      logger: silentLogger,
    });
    const locker = new pg.Client(db.target);
    await locker.connect();
    try {
      await probes.start();
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE probe.log IN ACCESS EXCLUSIVE MODE');
      const timedOut = await pollUntil('timed-out reads and writes', () => {
        const s = probes.samples('probe.log').filter((x) => x.outcome === 'timeout');
        return s.some((x) => x.kind === 'read') && s.some((x) => x.kind === 'write') ? s : undefined;
      });
      assert.ok(timedOut.every((x) => x.latencyMs! >= 400));
      const stats = kindStats(probes.samples('probe.log'), 'read', Date.now(), 300);
      assert.ok(stats.timeouts > 0 && stats.stalled >= stats.timeouts);
    } finally {
      await probes.stop();
      await locker.query('ROLLBACK').catch(() => undefined);
      await locker.end();
    }
  });

  it('never writes when read-only', async () => {
    const probes = new TableProbes({
      target: db.target,
      tables: ['probe.items'],
      ratePerSecond: 20,
      readOnly: true,
      logger: silentLogger,
    });
    const before = Number((await client.query('SELECT count(*) AS n FROM probe.items')).rows[0].n);
    try {
      await probes.start();
      assert.equal(probes.writeKind('probe.items').kind, 'none');
      await pollUntil('ok reads', () =>
        probes.samples('probe.items').filter((x) => x.outcome === 'ok').length >= 5 ? true : undefined,
      );
      assert.ok(probes.samples('probe.items').every((x) => x.kind === 'read'));
      const ro = await client.query(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1`,
        [APP_NAMES.probeWrite],
      );
      assert.equal(ro.rows[0].n, 0, 'no write connection was opened');
    } finally {
      await probes.stop();
    }
    assert.equal(Number((await client.query('SELECT count(*) AS n FROM probe.items')).rows[0].n), before);
  });
});
