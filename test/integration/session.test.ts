import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '../../src/core/log';
import { MigrationRunner } from '../../src/core/migrations/runner';
import { MonitorSession } from '../../src/core/monitorSession';
import type { LockSnapshot } from '../../src/core/monitor/lockMonitor';
import type { RecordedRun } from '../../src/core/monitor/recorder';
import { toReportJson, validateRunReport } from '../../src/core/monitor/report';
import type { ProbeSample } from '../../src/core/probe/stats';
import { startMonitorSession, startSeededLab, type TestPostgres } from './support';

const SCHEMA = 'session_test';
// Enough rows that the plain build lasts over a second on CI, so blocked writes are seen.
const ROWS = 2_000_000;

/** What one observed run looked like from the outside: every lock snapshot and every probe request. */
interface Observed {
  recorded: RecordedRun;
  snapshots: LockSnapshot[];
  samples: ProbeSample[];
  pid: number;
}

describe('the Lock Monitor session on a real PostgreSQL: probes at 10/s, monitor at 5 Hz', () => {
  let db: TestPostgres;
  let runner: MigrationRunner;
  let session: MonitorSession;
  const runs: Observed[] = [];

  before(async () => {
    ({ db, runner } = await startSeededLab(SCHEMA, ROWS));
    session = await startMonitorSession(db, SCHEMA);
  });
  after(async () => {
    await session?.dispose();
    await db?.stop();
  });

  async function observe(id: string, kind: 'locking' | 'concurrent'): Promise<Observed> {
    const snapshots: LockSnapshot[] = [];
    const onLocks = (s: LockSnapshot) => snapshots.push(s);
    session.on('locks', onLocks);
    let pid = 0;
    const startedAt = Date.now();
    try {
      const { recorded, error } = await session.observe(
        id,
        kind,
        (options) => runner.migrateTo(id, options),
        {
          onStart: (p) => (pid = p),
        },
      );
      assert.equal(error, undefined);
      const samples = session.probeSamples(startedAt, recorded.endedAt);
      const observed = { recorded, snapshots, samples, pid };
      runs.push(observed);
      return observed;
    } finally {
      session.off('locks', onLocks);
    }
  }

  it('locking run: writes seen waiting on the migration, reads flowing, verdict says so', async () => {
    const { recorded, snapshots, samples, pid } = await observe('0002_add_email_index', 'locking');
    const table = `${SCHEMA}.large_email`;
    const locks = snapshots.flatMap((s) => s.locks);

    const heldShare = snapshots.filter((s) =>
      s.locks.some((l) => l.pid === pid && l.mode === 'ShareLock' && l.granted),
    );
    assert.ok(heldShare.length > 0, 'the migration was seen holding ShareLock');
    assert.ok(
      locks.some(
        (l) =>
          l.role === 'probe-write' &&
          l.mode === 'RowExclusiveLock' &&
          !l.granted &&
          l.relation === table &&
          l.blockedBy.includes(pid),
      ),
      'a probe-write session was seen waiting for RowExclusiveLock, blocked by the migration',
    );
    assert.ok(
      !locks.some((l) => l.role === 'probe-read' && !l.granted),
      'no read was ever seen waiting on a lock',
    );

    // Reads completed while the migration held ShareLock (between the first and last such snapshot).
    const from = heldShare[0]!.at;
    const to = heldShare.at(-1)!.at;
    assert.ok(
      samples.some(
        (s) =>
          s.kind === 'read' &&
          s.outcome === 'ok' &&
          s.endedAt !== undefined &&
          s.endedAt >= from &&
          s.endedAt <= to,
      ),
      'read requests completed while ShareLock was held',
    );

    assert.ok(recorded.locksHeld.includes(`ShareLock on ${table}`));
    assert.ok(recorded.maxWaiters >= 1);
    assert.ok(recorded.waiters.some((w) => w.role === 'probe-write' && w.mode === 'RowExclusiveLock'));
    assert.ok(recorded.writes && recorded.reads, 'both probes measured the run');
    assert.ok(
      recorded.writes.maxMs! > recorded.reads.maxMs!,
      'the slowest write was slower than the slowest read',
    );
    assert.match(recorded.verdict, /^Writes (stalled|slowed)/);
    assert.match(recorded.verdict, /reads unaffected/);
    // Sessions waiting in PostgreSQL vs. requests the probe had in flight (the pool caps the former).
    const pc = recorded.probeConcurrency;
    assert.ok(pc, 'the probe side of the queue is recorded');
    assert.equal(pc.writePoolSize, 20);
    assert.ok(pc.maxWritesInFlight >= 1, `writes in flight: ${pc.maxWritesInFlight}`);
    assert.ok(
      pc.maxWritesInFlight >= recorded.maxWaiters,
      `each session waiting in PostgreSQL serves a write in flight (${recorded.maxWaiters} > ${pc.maxWritesInFlight})`,
    );
    assert.equal(recorded.stalledThresholdMs, 1000);
    await runner.rollbackTo('0001_initial');
  });

  it('concurrent run: ShareUpdateExclusiveLock, nobody waits on large_email, writes complete during the build', async () => {
    const { recorded, snapshots, samples, pid } = await observe(
      '0002_add_email_index_concurrently',
      'concurrent',
    );
    const table = `${SCHEMA}.large_email`;
    const held = snapshots.filter((s) =>
      s.locks.some(
        (l) => l.pid === pid && l.mode === 'ShareUpdateExclusiveLock' && l.granted && l.relation === table,
      ),
    );
    assert.ok(held.length > 0, 'the migration was seen holding ShareUpdateExclusiveLock');
    const probeWaits = snapshots
      .flatMap((s) => s.locks)
      .filter(
        (l) => (l.role === 'probe-read' || l.role === 'probe-write') && !l.granted && l.relation === table,
      );
    assert.deepEqual(probeWaits, [], 'no probe session waited on large_email');
    const from = held[0]!.at;
    const to = held.at(-1)!.at;
    assert.ok(
      samples.some(
        (s) =>
          s.kind === 'write' &&
          s.outcome === 'ok' &&
          s.endedAt !== undefined &&
          s.endedAt >= from &&
          s.endedAt <= to,
      ),
      'writes completed during the build',
    );
    assert.ok(recorded.locksHeld.includes(`ShareUpdateExclusiveLock on ${table}`));
    // The verdict's latency words follow the probes, which a loaded machine can slow with nobody blocked;
    // what this run must never be called is a run that made anybody wait.
    assert.equal(recorded.maxWaiters, 0, 'no session waited on the concurrent build');
    assert.doesNotMatch(recorded.verdict, /waited|queued behind/);
  });

  it('a run still being recorded when the session is disposed is listed, not lost', async () => {
    const other = new MonitorSession({
      target: db.target,
      schema: SCHEMA,
      logger: silentLogger,
      probePort: 0,
    });
    const listed: string[] = [];
    other.on('runs', (runs) => listed.push(...runs.map((r) => r.migration)));
    other.startMonitor();
    const observed = other.observe('0009_slow', 'other', async () => {
      await new Promise((r) => setTimeout(r, 300));
      throw new Error('the server went away');
    });
    await other.dispose(); // as stopping PostgreSQL does while a migration runs
    const { recorded } = await observed;
    assert.equal(recorded.outcome, 'failed');
    assert.deepEqual(listed, ['0009_slow']);
    assert.throws(() => other.startMonitor(), /session has ended/);
  });

  it('exports both runs as JSON that matches the documented schema', () => {
    const report = toReportJson(runs.map((r) => r.recorded));
    const check = validateRunReport(JSON.parse(JSON.stringify(report)));
    assert.deepEqual(check.errors, []);
    assert.equal(check.ok, true);
    assert.deepEqual(
      report.runs.map((r) => r.migration),
      ['0002_add_email_index', '0002_add_email_index_concurrently'],
    );
    // Each run says the exact server it ran on, as the session was told it.
    assert.match(db.server.serverVersion ?? '', /^\d+\.\d+/);
    assert.deepEqual(
      report.runs.map((r) => r.serverVersion),
      [db.server.serverVersion, db.server.serverVersion],
    );
    assert.equal(report.serverVersion, db.server.serverVersion);
    for (const run of report.runs) {
      for (const key of ['count', 'p50Ms', 'p95Ms', 'maxMs', 'stalled', 'errors']) {
        assert.ok(key in run.reads && key in run.writes, key);
      }
    }
  });
});
