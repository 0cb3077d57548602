import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { APP_NAMES } from '../../src/core/db';
import { silentLogger } from '../../src/core/log';
import { MigrationRunner } from '../../src/core/migrations/runner';
import {
  LockMonitor,
  labRelations,
  type LockSnapshot,
  type MonitorStatus,
} from '../../src/core/monitor/lockMonitor';
import { RunRecorder } from '../../src/core/monitor/recorder';
import { toReportJson, validateRunReport } from '../../src/core/monitor/report';
import { pollUntil, startSeededLab, type TestPostgres } from './support';

const SCHEMA = 'monitor_test';
const LARGE = `${SCHEMA}.large_email`;
// Enough rows that each index build outlasts the few polls a test needs (~1-3 s), yet seeds in seconds.
const ROWS = 2_000_000;

describe('lock monitor and run recorder on a real PostgreSQL', () => {
  let db: TestPostgres;
  let runner: MigrationRunner;
  let monitor: LockMonitor;
  let writer: pg.Client;
  let writerPid: number;
  let recorder: RunRecorder | undefined;
  const snapshots: LockSnapshot[] = [];

  /** Starts a migration with a recorder attached; `settled` turns true when it ends. */
  function startRun(migrationId: string, kind: 'locking' | 'concurrent') {
    const rec = new RunRecorder();
    const state: { pid?: number; settled: boolean } = { settled: false };
    rec.begin({ migrationId, kind, startedAt: Date.now() });
    recorder = rec;
    const run = runner.migrateTo(migrationId, {
      onStart: (pid) => {
        state.pid = pid;
        rec.setPid(pid);
      },
    });
    void run.then(
      () => (state.settled = true),
      () => (state.settled = true),
    );
    return { rec, run, state };
  }

  function notSettled(state: { settled: boolean }): void {
    assert.equal(state.settled, false, 'the build ended before it was observed: seed more rows');
  }

  before(async () => {
    ({ db, runner } = await startSeededLab(SCHEMA, ROWS));
    writer = new pg.Client({ ...db.target, application_name: APP_NAMES.probeWrite });
    writer.on('error', () => undefined); // the restart test ends it from the server side
    await writer.connect();
    writerPid = (await writer.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
    monitor = new LockMonitor({ target: db.target, relations: labRelations(SCHEMA), logger: silentLogger });
    monitor.onSnapshot((s) => {
      snapshots.push(s);
      recorder?.observe(s);
    });
    monitor.start();
    await pollUntil('a first snapshot', () => monitor.latest, 10_000);
  });

  after(async () => {
    await monitor?.stop();
    await writer?.end().catch(() => undefined);
    await db?.stop();
  });

  it('plain CREATE INDEX: the ShareLock, the blocked INSERT, its blocker, the build phases, and the recorded run', async () => {
    assert.equal(monitor.intervalMs, 200, '5 Hz by default');
    const { rec, run, state } = startRun('0002_add_email_index', 'locking');
    const pid = await pollUntil('the migration to start', () => state.pid);
    const from = snapshots.length;

    const shareSnapshot = await pollUntil('a snapshot with the migration holding ShareLock', () => {
      notSettled(state);
      return snapshots
        .slice(from)
        .find((s) =>
          s.locks.some((l) => l.pid === pid && l.mode === 'ShareLock' && l.granted && l.relation === LARGE),
        );
    });
    const share = shareSnapshot.locks.find((l) => l.pid === pid && l.mode === 'ShareLock')!;
    assert.equal(share.role, 'migration');
    assert.equal(share.locktype, 'relation');
    assert.equal(share.target, LARGE);
    assert.match(share.query, /CREATE INDEX/);
    assert.ok(
      shareSnapshot.locks.every((l) => l.applicationName !== APP_NAMES.monitor),
      "the monitor's own session is left out",
    );

    const insert = writer.query(`INSERT INTO ${LARGE} (email) VALUES ('blocked@example.com')`);
    const waitingSnapshot = await pollUntil('a snapshot with the INSERT waiting', () => {
      notSettled(state);
      return snapshots.slice(from).find((s) => s.locks.some((l) => l.pid === writerPid && !l.granted));
    });
    const waiting = waitingSnapshot.locks.find((l) => l.pid === writerPid && !l.granted)!;
    assert.equal(waiting.role, 'probe-write');
    assert.equal(waiting.mode, 'RowExclusiveLock');
    assert.equal(waiting.relation, LARGE);
    assert.equal(waiting.waitEvent, 'Lock:relation');
    assert.deepEqual(
      waiting.blockedBy,
      [pid],
      'blocked by the migration, listed once despite parallel workers',
    );
    assert.ok(waiting.waitingMs !== null && waiting.waitingMs >= 0);
    const chain = waitingSnapshot.blockingChains.find((c) => c.waiterPid === writerPid);
    assert.deepEqual(chain && { ...chain, waitingMs: 0 }, {
      waiterPid: writerPid,
      waiterRole: 'probe-write',
      blockerPids: [pid],
      blockerRoles: ['migration'],
      waitingMs: 0,
      mode: 'RowExclusiveLock',
      locktype: 'relation',
      target: LARGE,
    });
    // Parallel workers of the build (if the server used any) are labelled as the migration.
    for (const s of snapshots.slice(from))
      for (const l of s.locks.filter((x) => x.leaderPid === pid)) assert.equal(l.role, 'migration');

    const building = await pollUntil('a progress row of the build', () => {
      return snapshots
        .slice(from)
        .flatMap((s) => s.progress)
        .find((p) => p.pid === pid && p.phase.startsWith('building index'));
    });
    assert.equal(building.role, 'migration');
    assert.equal(building.relation, LARGE);
    assert.match(building.command, /^CREATE INDEX/);

    const result = await run;
    await insert; // released when the migration committed
    const recorded = rec.end({ result, endedAt: Date.now() });
    recorder = undefined;

    assert.equal(recorded.pid, pid);
    assert.ok(recorded.locksHeld.includes(`ShareLock on ${LARGE}`), recorded.locksHeld.join(', '));
    const w = recorded.waiters.find((x) => x.pid === writerPid);
    assert.ok(w, `the INSERT is a waiter (${JSON.stringify(recorded.waiters)})`);
    assert.equal(w.role, 'probe-write');
    assert.equal(w.mode, 'RowExclusiveLock');
    assert.equal(w.direct, true);
    assert.ok(recorded.maxWaiters >= 1);
    assert.ok(
      recorded.phases.some((p) => p.startsWith('building index')),
      recorded.phases.join(' → '),
    );
    assert.equal(new Set(recorded.phases).size, recorded.phases.length, 'each phase once');
    assert.equal(recorded.statements.length, 1);
    assert.match(
      recorded.verdict,
      /^The probe was off, so read and write latency is unknown\. Held ShareLock on large_email for /,
    );
    assert.deepEqual(validateRunReport(toReportJson([recorded])), { ok: true, errors: [] });
    assert.ok(monitor.stats.polls > 0 && monitor.stats.meanPollMs! > 0);

    await runner.rollbackTo('0001_initial');
  });

  it('CREATE INDEX CONCURRENTLY: ShareUpdateExclusiveLock, and the INSERT does not wait', async () => {
    const { rec, run, state } = startRun('0002_add_email_index_concurrently', 'concurrent');
    const pid = await pollUntil('the migration to start', () => state.pid);
    const from = snapshots.length;
    await pollUntil('a snapshot with the migration holding ShareUpdateExclusiveLock', () => {
      notSettled(state);
      return snapshots
        .slice(from)
        .find((s) =>
          s.locks.some(
            (l) =>
              l.pid === pid && l.mode === 'ShareUpdateExclusiveLock' && l.granted && l.relation === LARGE,
          ),
        );
    });
    await writer.query(`INSERT INTO ${LARGE} (email) VALUES ('flows@example.com')`);
    notSettled(state); // the INSERT completed while the build still ran
    const seenAfterInsert = snapshots.length;
    await pollUntil('one more snapshot', () => (snapshots.length > seenAfterInsert ? true : undefined));

    const result = await run;
    const recorded = rec.end({ result, endedAt: Date.now() });
    recorder = undefined;
    assert.ok(
      recorded.locksHeld.includes(`ShareUpdateExclusiveLock on ${LARGE}`),
      recorded.locksHeld.join(', '),
    );
    assert.ok(!recorded.locksHeld.includes(`ShareLock on ${LARGE}`));
    assert.deepEqual(
      recorded.waiters.filter((x) => x.role === 'probe-write' && x.relation === LARGE),
      [],
      'no write waited on large_email',
    );
    const waitedOnLarge = snapshots
      .slice(from)
      .flatMap((s) => s.locks)
      .filter((l) => l.pid === writerPid && !l.granted && l.relation === LARGE);
    assert.deepEqual(waitedOnLarge, []);
    assert.ok(
      recorded.phases.some((p) => /^(building index|index validation|waiting)/.test(p)),
      recorded.phases.join(' → '),
    );
    assert.match(recorded.verdict, /Held ShareUpdateExclusiveLock on large_email for /);
    await runner.rollbackTo('0001_initial');
  });

  it('reconnects after the database restarts, and snapshots resume', async () => {
    const statuses: MonitorStatus[] = [];
    const sub = monitor.onStatus((s) => statuses.push(s));
    await pollUntil('a running monitor', () => (monitor.status.state === 'running' ? true : undefined));
    const port = db.target.port;

    await db.server.stop();
    await pollUntil('the monitor to notice the lost connection', () =>
      statuses.find((s) => s.state === 'reconnecting'),
    );
    const target = await db.server.start();
    assert.equal(target.port, port);
    const restartedAt = Date.now();

    const resumed = await pollUntil(
      'a snapshot after the restart',
      () => snapshots.find((s) => s.at >= restartedAt),
      15_000,
    );
    assert.ok(Array.isArray(resumed.locks));
    assert.equal(monitor.status.state, 'running');
    assert.ok(monitor.stats.reconnects >= 1);
    assert.ok(statuses.some((s) => s.state === 'reconnecting' && typeof s.error === 'string'));
    sub.dispose();
  });
});
