import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { APP_NAMES } from '../../src/core/db';
import { memoryLogger, silentLogger } from '../../src/core/log';
import { MigrationRunner } from '../../src/core/migrations/runner';
import { LatencySampler } from '../../src/core/probe/sampler';
import {
  DEFAULT_READ_POOL_MAX,
  HEALTH_BUDGET_MS,
  ProbeServer,
  type LargeEmailRow,
} from '../../src/core/probe/server';
import { pollUntil, startSeededLab, type TestPostgres } from './support';

const SCHEMA = 'probe_test';
// Enough rows that a plain CREATE INDEX lasts over a second, so writes visibly pile up behind it.
const ROWS = 2_000_000;

async function getJson(url: string, init?: RequestInit): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url, init);
  return { status: res.status, body: await res.json() };
}

/** A request with exactly the headers given (fetch would not let a test set Host). */
function rawRequest(
  port: number,
  method: string,
  path: string,
  headers: Record<string, string>,
): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers, setHost: false }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body: text ? (JSON.parse(text) as unknown) : text }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

describe('probe endpoint and sampler on a real PostgreSQL', () => {
  let db: TestPostgres;
  let server: ProbeServer;
  let runner: MigrationRunner;
  let observer: pg.Client;
  let base: string;
  const logger = memoryLogger();

  before(async () => {
    ({ db, runner } = await startSeededLab(SCHEMA, ROWS));
    server = new ProbeServer({ target: db.target, schema: SCHEMA, port: 0, logger });
    const port = await server.start();
    base = `http://127.0.0.1:${port}`;
    assert.equal(server.url, base);
    observer = new pg.Client({ ...db.target, application_name: 'test-observer' });
    observer.on('error', () => undefined); // the database is stopped on purpose below
    await observer.connect();
  });
  after(async () => {
    await observer?.end().catch(() => undefined);
    await server?.stop();
    await db?.stop();
  });

  it('GET /list_large/ returns the newest 20 rows, newest first, as JSON', async () => {
    const res = await fetch(`${base}/list_large/`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    const rows = (await res.json()) as LargeEmailRow[];
    assert.equal(rows.length, 20);
    assert.equal(rows[0]!.id, ROWS, 'the seed numbers ids 1..ROWS; the newest comes first');
    for (let i = 1; i < rows.length; i++) assert.ok(rows[i - 1]!.id > rows[i]!.id, 'ids descend');
    for (const row of rows) {
      assert.deepEqual(Object.keys(row).sort(), ['created_at', 'email', 'id']);
      assert.equal(typeof row.id, 'number');
      assert.match(row.email, /^[^@\s]+@[^@\s]+\.[a-z]+$/);
      assert.ok(!Number.isNaN(Date.parse(row.created_at)), `created_at ${row.created_at} is a date`);
    }
  });

  it('serves only Host 127.0.0.1 or localhost with its own port (no DNS rebinding)', async () => {
    const port = server.port!;
    for (const host of [
      'evil.example',
      `evil.example:${port}`,
      `127.0.0.1:${port + 1}`,
      '127.0.0.1',
      'localhost',
    ]) {
      const res = await rawRequest(port, 'GET', '/list_large/', { host });
      assert.equal(res.status, 403, `Host: ${host}`);
      assert.deepEqual(res.body, { error: 'host not allowed' }, 'no rows are served');
    }
    const none = await rawRequest(port, 'GET', '/list_large/', {});
    // Node's HTTP server itself answers 400 to an HTTP/1.1 request without Host.
    assert.ok(none.status === 400 || none.status === 403, `no Host at all: ${none.status}`);
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `LocalHost:${port}`]) {
      const res = await rawRequest(port, 'GET', '/list_large/', { host });
      assert.equal(res.status, 200, `Host: ${host}`);
      assert.equal((res.body as unknown[]).length, 20);
    }
  });

  it("refuses a request carrying a web page's Origin (no cross-site POST), serves the webview's and none", async () => {
    const port = server.port!;
    const probeRows = async () =>
      Number(
        (
          await observer.query<{ n: string }>(
            `SELECT count(*) AS n FROM ${SCHEMA}.large_email WHERE id > $1`,
            [ROWS],
          )
        ).rows[0]!.n,
      );
    const before = await probeRows();
    for (const origin of [
      'https://evil.example',
      'http://127.0.0.1:8080',
      'null',
      `http://localhost:${port}`,
    ]) {
      const res = await rawRequest(port, 'POST', '/insert_large/', { host: `127.0.0.1:${port}`, origin });
      assert.equal(res.status, 403, `Origin: ${origin}`);
      assert.deepEqual(res.body, { error: 'origin not allowed' });
    }
    assert.equal(await probeRows(), before, 'no row was inserted for a foreign origin');
    assert.ok(
      logger.lines.some((l) => /refused a request from the web origin "https:\/\/evil\.example"/.test(l)),
    );
    const webview = await rawRequest(port, 'POST', '/insert_large/', {
      host: `127.0.0.1:${port}`,
      origin: 'vscode-webview://1a2b3c4d',
    });
    assert.equal(webview.status, 201);
    const plain = await rawRequest(port, 'POST', '/insert_large/', { host: `127.0.0.1:${port}` });
    assert.equal(plain.status, 201);
    assert.equal(await probeRows(), before + 2);
  });

  it('POST /insert_large/ returns 201 and an id that then comes first in GET /list_large/', async () => {
    const first = await getJson(`${base}/insert_large/`, { method: 'POST' });
    const second = await getJson(`${base}/insert_large/`, { method: 'POST' });
    assert.equal(first.status, 201);
    const id = (second.body as { id: number }).id;
    assert.equal(typeof id, 'number');
    assert.ok(id > (first.body as { id: number }).id && id > ROWS);
    const rows = (await getJson(`${base}/list_large/`)).body as LargeEmailRow[];
    assert.equal(rows[0]!.id, id);
    assert.match(rows[0]!.email, /^probe-\d+-\d+@example\.com$/);
    assert.notEqual(rows[0]!.email, rows[1]!.email, 'each insert has its own address');

    // Reads and writes came from two separate pools (and /healthz has its own connection), each labelled.
    const apps = await observer.query<{ application_name: string }>(
      `SELECT DISTINCT application_name FROM pg_stat_activity WHERE application_name LIKE 'migration-lab:probe-%'`,
    );
    assert.deepEqual(apps.rows.map((r) => r.application_name).sort(), [
      APP_NAMES.probeHealth,
      APP_NAMES.probeRead,
      APP_NAMES.probeWrite,
    ]);
  });

  it('answers /healthz, 404 for unknown routes and 405 for a wrong method', async () => {
    assert.deepEqual(await getJson(`${base}/healthz`), { status: 200, body: { ok: true, database: true } });
    assert.deepEqual(await getJson(`${base}/nope`), { status: 404, body: { error: 'not found' } });
    const wrong = await fetch(`${base}/insert_large/`);
    assert.equal(wrong.status, 405);
    assert.equal(wrong.headers.get('allow'), 'POST');
    assert.deepEqual(await wrong.json(), { error: 'method not allowed' });
    assert.equal((await fetch(`${base}/list_large/`, { method: 'DELETE' })).status, 405);
  });

  it('a taken port gives one clear sentence', async () => {
    const port = server.port!;
    const second = new ProbeServer({ target: db.target, schema: SCHEMA, port, logger: silentLogger });
    await assert.rejects(second.start(), {
      name: 'LabError',
      message: `Port ${port} is already in use, so the probe endpoint cannot start; stop what uses it or change the setting migrationLab.probe.port.`,
    });
    await second.stop(); // nothing to stop, and no error
    assert.equal((await fetch(`${base}/list_large/`)).status, 200, 'the first server still answers');
  });

  it('during a plain CREATE INDEX, writes pile up in flight while reads keep completing', async (t) => {
    const sampler = new LatencySampler({ baseUrl: base, readsPerSecond: 10, writesPerSecond: 10 });
    sampler.start();
    try {
      await pollUntil('the sampler to warm up', () => {
        const s = sampler.snapshot();
        return s.read.count >= 3 && s.write.count >= 3 ? true : undefined;
      });

      let migrationStart: number | undefined;
      let settled = false;
      const run = runner.migrateTo('0002_add_email_index', { onStart: () => (migrationStart = Date.now()) });
      void run.then(
        () => (settled = true),
        () => (settled = true),
      );
      // Watch the build as the Lock Monitor would: sampler snapshots and pg_locks, until it ends.
      let mostWritesInFlight = 0;
      let oldestInFlightWriteMs = 0;
      let mostProbeWritesWaitingInPostgres = 0;
      await pollUntil(
        'the migration to end',
        async () => {
          const snap = sampler.snapshot();
          mostWritesInFlight = Math.max(mostWritesInFlight, snap.write.inFlight);
          for (const p of snap.points) {
            if (p.kind === 'write' && p.inFlight)
              oldestInFlightWriteMs = Math.max(oldestInFlightWriteMs, p.latencyMs);
          }
          const waiting = await observer.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
              WHERE NOT l.granted AND a.application_name = $1 AND l.relation = to_regclass($2)`,
            [APP_NAMES.probeWrite, `${SCHEMA}.large_email`],
          );
          mostProbeWritesWaitingInPostgres = Math.max(mostProbeWritesWaitingInPostgres, waiting.rows[0]!.n);
          return settled ? true : undefined;
        },
        30_000,
      );
      await run;
      const migrationEnd = Date.now();
      assert.ok(migrationStart !== undefined);
      // Let the writes that were blocked complete, so their final latency is known.
      await pollUntil(
        'the blocked writes to complete',
        () => (sampler.statsBetween(migrationStart!, migrationEnd).write.inFlight === 0 ? true : undefined),
        15_000,
      );
      const stats = sampler.statsBetween(migrationStart, migrationEnd);
      const samples = sampler.samplesBetween(migrationStart, migrationEnd);
      const duration = migrationEnd - migrationStart;

      t.diagnostic(
        `build ${duration} ms; reads p50/p95/max ${stats.read.p50Ms}/${stats.read.p95Ms}/${stats.read.maxMs} ms; ` +
          `writes p50/p95/max ${stats.write.p50Ms}/${stats.write.p95Ms}/${stats.write.maxMs} ms, stalled ${stats.write.stalled}; ` +
          `most writes in flight ${mostWritesInFlight}, waiting in PostgreSQL ${mostProbeWritesWaitingInPostgres}`,
      );
      const readsDuringBuild = samples.filter(
        (s) => s.kind === 'read' && s.outcome === 'ok' && s.endedAt! <= migrationEnd,
      );
      assert.ok(
        readsDuringBuild.length >= 2,
        `reads completed while the migration ran (${readsDuringBuild.length} in ${duration} ms)`,
      );
      assert.ok(
        mostWritesInFlight >= 2,
        `writes were seen in flight during the build (${mostWritesInFlight})`,
      );
      assert.ok(
        mostProbeWritesWaitingInPostgres >= 1,
        'probe writes waited for a lock on large_email inside PostgreSQL',
      );
      assert.ok(stats.read.maxMs !== null && stats.write.maxMs !== null);
      assert.ok(
        oldestInFlightWriteMs > stats.read.maxMs,
        `a write was in flight (${oldestInFlightWriteMs} ms) longer than the slowest read (${stats.read.maxMs} ms)`,
      );
      assert.ok(
        stats.write.maxMs > stats.read.maxMs,
        `write max ${stats.write.maxMs} ms > read max ${stats.read.maxMs} ms`,
      );
      assert.equal(stats.read.errors + stats.read.timeouts + stats.write.errors + stats.write.timeouts, 0);
      assert.equal(stats.read.inFlight, 0);
    } finally {
      sampler.stop();
      await runner.rollbackTo('0001_initial');
    }
  });

  it('answers /healthz from its own connection while every read connection is blocked', async () => {
    const port = server.port!;
    // An ACCESS EXCLUSIVE lock makes every read of large_email wait: the read pool fills up.
    const locker = new pg.Client({ ...db.target, application_name: 'test-locker' });
    await locker.connect();
    const reads: Promise<number>[] = [];
    try {
      await locker.query('BEGIN');
      await locker.query(`LOCK TABLE ${SCHEMA}.large_email IN ACCESS EXCLUSIVE MODE`);
      for (let i = 0; i < DEFAULT_READ_POOL_MAX + 2; i++) {
        reads.push(fetch(`http://127.0.0.1:${port}/list_large/`).then((r) => r.status));
      }
      const waiting = await pollUntil('every read connection to wait for the lock', async () => {
        const r = await observer.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
            WHERE NOT l.granted AND a.application_name = $1`,
          [APP_NAMES.probeRead],
        );
        return r.rows[0]!.n >= DEFAULT_READ_POOL_MAX ? r.rows[0]!.n : undefined;
      });
      assert.equal(waiting, DEFAULT_READ_POOL_MAX, 'the read pool is full of blocked reads');

      const started = performance.now();
      const health = await getJson(`${base}/healthz`);
      const tookMs = performance.now() - started;
      // Before, /healthz queued behind the blocked reads and said "database": false after 2 s.
      assert.deepEqual(health, { status: 200, body: { ok: true, database: true } });
      assert.ok(
        tookMs < 1_000,
        `answered in ${Math.round(tookMs)} ms (its own budget is ${HEALTH_BUDGET_MS} ms)`,
      );
    } finally {
      await locker.query('ROLLBACK').catch(() => undefined);
      await locker.end();
    }
    assert.deepEqual(
      await Promise.all(reads),
      reads.map(() => 200),
      'the blocked reads complete once the lock is gone',
    );
  });

  it('answers 503 while the database is down and recovers by itself when it is back', async () => {
    await db.server.stop();
    const read = await getJson(`${base}/list_large/`);
    assert.deepEqual(read, { status: 503, body: { error: 'database unavailable' } });
    const write = await getJson(`${base}/insert_large/`, { method: 'POST' });
    assert.deepEqual(write, { status: 503, body: { error: 'database unavailable' } });
    assert.deepEqual(await getJson(`${base}/healthz`), { status: 200, body: { ok: true, database: false } });

    await db.server.start(); // same data folder and port
    await pollUntil(
      'the endpoint to answer again',
      async () => ((await fetch(`${base}/list_large/`)).status === 200 ? true : undefined),
      15_000,
      100,
    );
    const inserted = await getJson(`${base}/insert_large/`, { method: 'POST' });
    assert.equal(inserted.status, 201);
    // /healthz reconnects its own connection in the background (each answer keeps its 100 ms budget).
    const health = await pollUntil(
      '/healthz to see the database again',
      async () => {
        const h = await getJson(`${base}/healthz`);
        return (h.body as { database?: boolean }).database ? h : undefined;
      },
      15_000,
      100,
    );
    assert.deepEqual(health, { status: 200, body: { ok: true, database: true } });

    const lines = logger.lines.join('\n');
    assert.equal(
      logger.lines.filter((l) => /database is unavailable/.test(l)).length,
      1,
      'logged once, not per request',
    );
    assert.match(lines, /database is reachable again/);
    assert.ok(!lines.includes(db.target.password!), 'the password is never logged');
  });

  it('stop() returns promptly even with writes blocked in PostgreSQL, closes its sessions, and can be called twice', async () => {
    await observer.end().catch(() => undefined); // it lost its server in the test above
    observer = new pg.Client({ ...db.target, application_name: 'test-observer' });
    observer.on('error', () => undefined);
    await observer.connect();
    // Block writes the way a plain CREATE INDEX does (SHARE lock), without the build's timing. A client
    // of its own: inside a transaction, pg_stat_activity would stay the snapshot of its first read.
    const locker = new pg.Client({ ...db.target, application_name: 'test-locker' });
    await locker.connect();
    await locker.query('BEGIN');
    await locker.query(`LOCK TABLE ${SCHEMA}.large_email IN SHARE MODE`);
    const blocked = [1, 2, 3].map(() =>
      fetch(`${base}/insert_large/`, { method: 'POST' }).then((r) => r.status),
    );
    const settled = Promise.allSettled(blocked);
    await pollUntil('three probe writes to wait for the lock', async () => {
      const r = await observer.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
          WHERE NOT l.granted AND a.application_name = $1`,
        [APP_NAMES.probeWrite],
      );
      return r.rows[0]!.n === 3 ? true : undefined;
    });

    const t0 = Date.now();
    await server.stop();
    const stopMs = Date.now() - t0;
    assert.ok(stopMs < 3_000, `stop() took ${stopMs} ms with writes blocked`);
    await server.stop();
    assert.equal(server.port, undefined);
    assert.equal(server.running, false);
    assert.ok(
      (await settled).every((r) => r.status === 'rejected'),
      'the blocked requests were cut off, not answered',
    );
    await assert.rejects(fetch(`${base}/list_large/`));

    await locker.query('ROLLBACK');
    await locker.end();
    await pollUntil('the probe sessions to close', async () => {
      const r = await observer.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name LIKE 'migration-lab:probe-%'`,
      );
      return r.rows[0]!.n === 0 ? true : undefined;
    });
  });
});
