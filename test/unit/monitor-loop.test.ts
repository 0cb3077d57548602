import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import { APP_NAMES, type ConnectionTarget } from '../../src/core/db';
import {
  LockMonitor,
  type LockSnapshot,
  type MonitorClient,
  type MonitorStatus,
  type PreparedQuery,
} from '../../src/core/monitor/lockMonitor';

const target: ConnectionTarget = { host: '127.0.0.1', port: 1, database: 'x', user: 'u' };

/** A stand-in for pg.Client that answers the monitor's queries from a script. */
class FakeClient extends EventEmitter implements MonitorClient {
  inFlight = 0;
  maxInFlight = 0;
  ended = false;
  lockQueries = 0;
  /** Poll queries sent as text (unnamed), which the server would parse and plan every time. */
  unnamedPollQueries: string[] = [];
  preparedNames = new Set<string>();
  constructor(
    private readonly behaviour: {
      delayMs?: number;
      failLockQuery?: () => Error | undefined;
    } = {},
  ) {
    super();
  }
  async query(query: string | PreparedQuery): Promise<{ rows: unknown[] }> {
    const text = typeof query === 'string' ? query : query.text;
    if (this.ended) throw new Error('Client was closed and is not queryable');
    if (text.startsWith('SET')) return { rows: [] };
    if (text.includes('server_version_num')) return { rows: [{ v: 180004 }] };
    if (typeof query === 'string') this.unnamedPollQueries.push(text);
    else this.preparedNames.add(query.name);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      if (this.behaviour.delayMs) await new Promise((r) => setTimeout(r, this.behaviour.delayMs));
      if (text.includes('FROM pg_locks')) {
        this.lockQueries++;
        const failure = this.behaviour.failLockQuery?.();
        if (failure) throw failure;
        // One row: the lock rows and the progress rows as JSON arrays (one round trip per poll).
        return {
          rows: [
            {
              progress: [],
              locks: [
                {
                  pid: 42,
                  application_name: APP_NAMES.migration,
                  backend_type: 'client backend',
                  leader_pid: null,
                  leader_application_name: null,
                  state: 'active',
                  wait_event: null,
                  locktype: 'relation',
                  mode: 'ShareLock',
                  granted: true,
                  relation: 'migration_lab.large_email',
                  target: 'migration_lab.large_email',
                  blocked_by: null,
                  waiting_ms: null,
                  query: 'CREATE INDEX',
                },
              ],
            },
          ],
        };
      }
      return { rows: [] };
    } finally {
      this.inFlight--;
    }
  }
  end(): Promise<void> {
    this.ended = true;
    return Promise.resolve();
  }
}

function until(what: string, check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const step = () => {
      if (check()) resolve();
      else if (Date.now() > deadline) reject(new Error(`Timed out waiting for ${what}.`));
      else setTimeout(step, 5);
    };
    step();
  });
}

function pgError(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

void describe('LockMonitor poll loop (fake connection)', () => {
  void it('opens one monitor connection, emits labelled snapshots, and never overlaps polls', async () => {
    const clients: FakeClient[] = [];
    const names: string[] = [];
    const monitor = new LockMonitor({
      target,
      relations: ['migration_lab.large_email'],
      intervalMs: 10,
      connect: (_t, name) => {
        names.push(name);
        const c = new FakeClient({ delayMs: 35 });
        clients.push(c);
        return Promise.resolve(c);
      },
    });
    const snapshots: LockSnapshot[] = [];
    monitor.onSnapshot((s) => snapshots.push(s));
    monitor.start();
    monitor.start(); // idempotent
    await until('three snapshots', () => snapshots.length >= 3);
    await monitor.stop();
    assert.deepEqual(names, [APP_NAMES.monitor]);
    assert.equal(clients[0]!.maxInFlight, 1, 'polls never overlap');
    assert.ok(monitor.stats.skippedTicks > 0, 'slow polls make ticks skip');
    assert.equal(snapshots[0]!.locks[0]!.role, 'migration');
    assert.ok(snapshots[0]!.pollMs >= 30, `poll duration is measured (${snapshots[0]!.pollMs} ms)`);
    assert.ok(monitor.stats.meanPollMs! >= 30);
    assert.equal(monitor.stats.polls, snapshots.length);
    assert.equal(monitor.latest, snapshots.at(-1));
    assert.equal(clients[0]!.ended, true, 'stop closes the connection');
    assert.deepEqual(clients[0]!.unnamedPollQueries, [], 'every poll query is a prepared statement');
    assert.deepEqual([...clients[0]!.preparedNames], ['migration-lab:poll'], 'one prepared query per poll');
    assert.equal(monitor.status.state, 'stopped');
    const count = snapshots.length;
    await new Promise((r) => setTimeout(r, 60));
    assert.equal(snapshots.length, count, 'nothing is emitted after stop');
    await monitor.stop(); // idempotent
  });

  void it('retries a refused connection with backoff, then reconnects after losing it', async () => {
    let attempts = 0;
    let current: FakeClient | undefined;
    let dropNext = false;
    const monitor = new LockMonitor({
      target,
      relations: [],
      intervalMs: 10,
      maxBackoffMs: 100,
      connect: () => {
        attempts++;
        if (attempts <= 2)
          return Promise.reject(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }));
        const client = new FakeClient({
          failLockQuery: () => {
            if (!dropNext) return undefined;
            dropNext = false;
            client.emit('error', new Error('terminating connection due to administrator command'));
            return pgError('terminating connection due to administrator command', '57P01');
          },
        });
        current = client;
        return Promise.resolve(client);
      },
    });
    const statuses: MonitorStatus[] = [];
    let snapshots = 0;
    monitor.onStatus((s) => statuses.push(s));
    monitor.onSnapshot(() => snapshots++);
    monitor.start();
    await until('a first snapshot', () => snapshots > 0);
    assert.equal(attempts, 3);
    assert.deepEqual(
      statuses.map((s) => s.state),
      ['connecting', 'connecting', 'reconnecting', 'running'],
    );
    assert.equal(statuses[1]!.attempt, 1);
    assert.equal(statuses[1]!.retryInMs, 100, 'the first wait, capped by maxBackoffMs');
    assert.match(statuses[1]!.error!, /ECONNREFUSED/);
    assert.equal(statuses.at(-1)!.serverVersion, 180004);

    const first = current!;
    dropNext = true;
    await until('a second connection', () => current !== first);
    const before = snapshots;
    await until('snapshots to resume', () => snapshots > before + 2);
    assert.equal(first.ended, true, 'the lost connection is closed');
    assert.ok(statuses.some((s, i) => i > 3 && s.state === 'reconnecting'));
    assert.equal(monitor.status.state, 'running');
    assert.equal(monitor.stats.reconnects, 1);
    await monitor.stop();
  });

  void it('keeps its connection after a query error and survives a throwing listener', async () => {
    const clients: FakeClient[] = [];
    let failures = 1;
    const monitor = new LockMonitor({
      target,
      relations: [],
      intervalMs: 10,
      connect: () => {
        const c = new FakeClient({
          failLockQuery: () =>
            failures-- > 0 ? pgError('canceling statement due to statement timeout', '57014') : undefined,
        });
        clients.push(c);
        return Promise.resolve(c);
      },
    });
    const statuses: MonitorStatus[] = [];
    monitor.onStatus((s) => statuses.push(s));
    const bad = monitor.onSnapshot(() => {
      throw new Error('listener bug');
    });
    let good = 0;
    monitor.onSnapshot(() => good++);
    monitor.start();
    await until('snapshots despite the error', () => good >= 3);
    bad.dispose();
    await monitor.stop();
    assert.equal(clients.length, 1, 'a statement timeout does not reconnect');
    assert.ok(statuses.some((s) => s.state === 'running' && /statement timeout/.test(s.error ?? '')));
    assert.equal(monitor.stats.errors, 1);
  });

  void it('can be started again after stop', async () => {
    let opened = 0;
    const monitor = new LockMonitor({
      target,
      relations: [],
      intervalMs: 10,
      connect: () => {
        opened++;
        return Promise.resolve(new FakeClient());
      },
    });
    let n = 0;
    monitor.onSnapshot(() => n++);
    monitor.start();
    await until('a snapshot', () => n > 0);
    await monitor.stop();
    const afterFirst = n;
    monitor.start();
    await until('a snapshot after restart', () => n > afterFirst);
    await monitor.stop();
    assert.equal(opened, 2);
  });
});
