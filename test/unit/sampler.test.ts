import assert from 'node:assert/strict';
import http from 'node:http';
import type { Socket } from 'node:net';
import { after, afterEach, before, describe, it } from 'node:test';
import { LabError } from '../../src/core/errors';
import { LatencySampler } from '../../src/core/probe/sampler';
import type { ProbeSample } from '../../src/core/probe/stats';

type Behaviour = 'ok' | 'hang' | 'fail';

/** A tiny real HTTP server standing in for the probe endpoint; each route does what the test says. */
class FakeEndpoint {
  behaviour: { read: Behaviour; write: Behaviour } = { read: 'ok', write: 'ok' };
  received = { read: 0, write: 0 };
  private readonly held = new Set<http.ServerResponse>();
  private readonly sockets = new Set<Socket>();
  private readonly server = http.createServer((req, res) => {
    req.resume();
    const kind = req.url === '/list_large/' && req.method === 'GET' ? 'read' : 'write';
    if (kind === 'write' && (req.url !== '/insert_large/' || req.method !== 'POST')) {
      res.writeHead(404).end();
      return;
    }
    this.received[kind]++;
    const behaviour = this.behaviour[kind];
    if (behaviour === 'hang') {
      this.held.add(res);
      res.once('close', () => this.held.delete(res));
    } else if (behaviour === 'fail') {
      res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":"database unavailable"}');
    } else {
      res.writeHead(kind === 'read' ? 200 : 201, { 'content-type': 'application/json' }).end('[]');
    }
  });
  url = '';

  async start(): Promise<void> {
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as { port: number }).port}`;
  }

  /** Answers every held request now. */
  releaseHeld(): number {
    const n = this.held.size;
    for (const res of this.held) res.writeHead(201).end('{"id":1}');
    this.held.clear();
    return n;
  }

  get heldCount(): number {
    return this.held.size;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

async function waitFor<T>(what: string, check: () => T | undefined, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}.`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('LatencySampler against a real local HTTP server', () => {
  const endpoint = new FakeEndpoint();
  let sampler: LatencySampler | undefined;
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown) => unhandled.push(e);

  before(async () => {
    process.on('unhandledRejection', onUnhandled);
    await endpoint.start();
  });
  afterEach(() => {
    sampler?.stop();
    sampler = undefined;
    endpoint.releaseHeld();
    endpoint.behaviour = { read: 'ok', write: 'ok' };
    assert.deepEqual(unhandled, [], 'no unhandled rejections');
  });
  after(async () => {
    process.off('unhandledRejection', onUnhandled);
    await endpoint.stop();
  });

  it('reports how late each request starts against its schedule', async () => {
    const late: { kind: string; ms: number }[] = [];
    sampler = new LatencySampler({
      baseUrl: endpoint.url,
      readsPerSecond: 50,
      writesPerSecond: 0,
      onStart: (kind, ms) => late.push({ kind, ms }),
    });
    sampler.start();
    await waitFor('5 reads started', () => (late.length >= 5 ? true : undefined));
    // Block the event loop for 150 ms: the requests due meanwhile start that much late.
    const blockedUntil = performance.now() + 150;
    while (performance.now() < blockedUntil);
    const before = late.length;
    await waitFor('reads after the block', () => (late.length >= before + 10 ? true : undefined));
    sampler.stop();
    assert.ok(
      late.every((l) => l.kind === 'read' && l.ms >= 0),
      'a request never starts before its slot',
    );
    const worst = Math.max(...late.slice(before).map((l) => l.ms));
    assert.ok(worst >= 100, `the requests due during the block started ${worst} ms late`);
  });

  it('fires reads and writes at the configured rate and records each completed one', async () => {
    const seen: ProbeSample[] = [];
    sampler = new LatencySampler({
      baseUrl: endpoint.url,
      readsPerSecond: 50,
      writesPerSecond: 50,
      onSample: (s) => seen.push(s),
    });
    const t0 = Date.now();
    sampler.start();
    await waitFor('20 reads and 20 writes', () =>
      seen.filter((s) => s.kind === 'read').length >= 20 &&
      seen.filter((s) => s.kind === 'write').length >= 20
        ? true
        : undefined,
    );
    const elapsed = Date.now() - t0;
    // 20 of each at 50/s take ~400 ms; firing much faster or much slower means the schedule is wrong.
    assert.ok(elapsed >= 300, `20 requests at 50/s took ${elapsed} ms`);
    const snap = sampler.snapshot();
    assert.ok(snap.read.count >= 20 && snap.write.count >= 20);
    assert.equal(snap.read.errors + snap.write.errors, 0);
    assert.ok(snap.read.p50Ms !== null && snap.read.p50Ms < 1_000);
    const read = seen.find((s) => s.kind === 'read')!;
    assert.equal(read.outcome, 'ok');
    assert.equal(read.status, 200);
    assert.equal(seen.find((s) => s.kind === 'write')!.status, 201);
    assert.ok(read.latencyMs !== undefined && read.endedAt === read.startedAt + read.latencyMs);
    // Chart points for completed requests of both kinds (one just fired may still be in flight: that is fine).
    for (const kind of ['read', 'write'] as const) {
      assert.ok(
        snap.points.some((p) => p.kind === kind && !p.inFlight),
        `a completed ${kind} point`,
      );
    }
  });

  it('keeps firing on schedule while earlier writes hang (open loop), their latency growing in every snapshot', async () => {
    endpoint.behaviour.write = 'hang';
    sampler = new LatencySampler({ baseUrl: endpoint.url, readsPerSecond: 20, writesPerSecond: 20 });
    sampler.start();
    // Writes never return, yet new ones keep arriving at the server: nothing queues client-side.
    await waitFor('10 hanging writes at the server', () => (endpoint.heldCount >= 10 ? true : undefined));
    const now = Date.now();
    const snap = sampler.snapshot(now);
    assert.ok(snap.write.inFlight >= 10, `${snap.write.inFlight} writes in flight`);
    assert.equal(snap.write.count, 0, 'none completed');
    assert.ok(snap.read.count > 0, 'reads keep completing meanwhile');
    const later = sampler.snapshot(now + 2_000);
    assert.ok(snap.write.maxMs !== null && later.write.maxMs !== null);
    assert.equal(later.write.maxMs - snap.write.maxMs, 2_000, 'in-flight age grows with the clock');
    assert.ok(later.write.stalled >= 10, 'in-flight requests older than 1 s count as stalled');
    assert.ok(
      snap.points.some((p) => p.kind === 'write' && p.inFlight),
      'the chart shows the in-flight writes',
    );

    const released = endpoint.releaseHeld();
    assert.ok(released >= 10);
    await waitFor('the released writes to complete', () =>
      sampler!.snapshot().write.count >= 10 ? true : undefined,
    );
  });

  it('counts a request with no answer within the timeout as a timeout', async () => {
    endpoint.behaviour.write = 'hang';
    const timeouts: ProbeSample[] = [];
    sampler = new LatencySampler({
      baseUrl: endpoint.url,
      readsPerSecond: 0,
      writesPerSecond: 20,
      timeoutMs: 150,
      onSample: (s) => timeouts.push(s),
    });
    sampler.start();
    await waitFor('three timeouts', () => (timeouts.length >= 3 ? true : undefined));
    assert.ok(timeouts.every((s) => s.outcome === 'timeout' && s.status === 0));
    assert.ok(
      timeouts.every((s) => s.latencyMs! >= 150 && s.latencyMs! < 1_000),
      timeouts.map((s) => s.latencyMs).join(),
    );
    const snap = sampler.snapshot();
    assert.ok(snap.write.timeouts >= 3);
    assert.equal(snap.write.errors, 0);
    assert.equal(snap.read.count + snap.read.inFlight, 0, 'reads were turned off');
    await waitFor('the server to see the aborted requests close', () =>
      endpoint.heldCount <= 5 ? true : undefined,
    );
  });

  it('counts non-2xx answers and refused connections as errors', async () => {
    endpoint.behaviour.read = 'fail';
    sampler = new LatencySampler({ baseUrl: endpoint.url, readsPerSecond: 50, writesPerSecond: 50 });
    sampler.start();
    await waitFor('five failed reads', () => (sampler!.snapshot().read.errors >= 5 ? true : undefined));
    const snap = sampler.snapshot();
    assert.equal(snap.read.errors, snap.read.count, 'every completed read failed');
    assert.equal(snap.write.errors, 0, 'writes were fine');
    sampler.stop();

    // Nothing listens on this port any more.
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as { port: number }).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const refused: ProbeSample[] = [];
    sampler = new LatencySampler({
      baseUrl: `http://127.0.0.1:${port}`,
      readsPerSecond: 50,
      writesPerSecond: 50,
      onSample: (s) => refused.push(s),
    });
    sampler.start();
    await waitFor('refused requests', () => (refused.length >= 6 ? true : undefined));
    assert.ok(refused.every((s) => s.outcome === 'error' && s.status === 0));
    const s2 = sampler.snapshot();
    assert.ok(s2.read.errors >= 1 && s2.write.errors >= 1);
  });

  it('drops the requests in flight on stop, without counting them as errors', async () => {
    endpoint.behaviour.write = 'hang';
    const completed: ProbeSample[] = [];
    sampler = new LatencySampler({
      baseUrl: endpoint.url,
      readsPerSecond: 20,
      writesPerSecond: 20,
      onSample: (s) => completed.push(s),
    });
    sampler.start();
    await waitFor('hanging writes', () => (endpoint.heldCount >= 3 ? true : undefined));
    sampler.stop();
    assert.equal(sampler.running, false);
    assert.equal(sampler.inFlight, 0);
    const snap = sampler.snapshot();
    assert.equal(snap.write.inFlight, 0);
    assert.equal(snap.write.errors + snap.write.timeouts, 0);
    assert.equal(snap.write.count, 0);
    assert.ok(snap.read.count > 0, 'completed reads are kept');
    assert.equal(
      completed.filter((s) => s.kind === 'write').length,
      0,
      'no sample event for aborted requests',
    );
    await waitFor('the server to see the aborted requests close', () =>
      endpoint.heldCount === 0 ? true : undefined,
    );
    const readsBefore = endpoint.received.read;
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(endpoint.received.read, readsBefore, 'nothing is fired after stop');
    sampler.stop(); // idempotent
  });

  it('gives statsBetween for the requests started within a window', async () => {
    sampler = new LatencySampler({ baseUrl: endpoint.url, readsPerSecond: 50, writesPerSecond: 50 });
    sampler.start();
    // Flip to hanging writes at a moment no write is in flight (checked and flipped in one tick), so every
    // write started before `from` was answered and every write started after it hangs, however loaded the
    // machine is.
    let from = 0;
    await waitFor('answered reads and writes, none in flight', () => {
      const snap = sampler!.snapshot();
      if (snap.read.count < 5 || snap.write.count < 3 || snap.write.inFlight > 0) return undefined;
      endpoint.behaviour.write = 'hang';
      from = Date.now();
      return true;
    });
    await waitFor('hanging writes', () => (endpoint.heldCount >= 3 ? true : undefined));
    const to = Date.now();
    const inWindow = sampler.samplesBetween(from, to);
    assert.ok(inWindow.length > 0);
    assert.ok(inWindow.every((s) => s.startedAt >= from && s.startedAt <= to));
    const stats = sampler.statsBetween(from, to, to + 5_000);
    assert.equal(stats.write.count, 0, 'the writes started in the window are all hanging');
    assert.ok(stats.write.inFlight >= 3);
    assert.ok(stats.write.stalled >= 3, 'aged 5 s at the given time');
    const earlier = sampler.statsBetween(0, from - 1);
    assert.ok(earlier.write.count >= 3 && earlier.write.inFlight === 0);
  });

  it('rejects a bad base URL or rate with a clear sentence', () => {
    assert.throws(() => new LatencySampler({ baseUrl: 'not a url' }), LabError);
    assert.throws(
      () => new LatencySampler({ baseUrl: 'https://127.0.0.1:8001' }),
      /must start with http:\/\//,
    );
    assert.throws(() => new LatencySampler({ baseUrl: endpoint.url, readsPerSecond: -1 }), /from 0 to 1000/);
  });
});
