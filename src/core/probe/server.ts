import http from 'node:http';
import type { Socket } from 'node:net';
import type pg from 'pg';
import { APP_NAMES, clientConfig, createPool, pgDriver, quoteIdent, type ConnectionTarget } from '../db';
import { LabError, describeError, isPgError } from '../errors';
import type { Logger } from '../log';
import { DEMO_SCENARIO } from '../scenarios/demo';

export const DEFAULT_PROBE_PORT = 8001;
/**
 * Read connections. A read takes ~2 ms and is never blocked by CREATE INDEX, so 10/s needs one or
 * two; 10 leaves room for host-noise spikes and for the lock-queue trap (where reads DO wait behind
 * an ACCESS EXCLUSIVE request and should wait inside PostgreSQL, visible to the monitor).
 */
export const DEFAULT_READ_POOL_MAX = 10;
/**
 * Write connections. During a plain CREATE INDEX every INSERT waits for the build; each waiting one
 * holds a connection, so at 10 writes/s 20 connections keep the first 2 s of the pile-up inside
 * PostgreSQL (where pg_locks shows the waiting RowExclusiveLocks); later writes wait in this server's
 * own queue, still in flight for the sampler. 10 + 20 connections stay well under PostgreSQL's default
 * max_connections (100) next to the monitor, the migration and the admin sessions.
 */
export const DEFAULT_WRITE_POOL_MAX = 20;
/** /healthz answers within this, whatever the pools are doing ("database": false when its ping is slower). */
export const HEALTH_BUDGET_MS = 100;
/** While the health connection is down, it is reopened this often (so /healthz never waits to connect). */
const HEALTH_RECONNECT_MS = 500;
/** POST /insert_large/ rows have addresses `probe-<ms>-<n>@example.com`, which no seed row has. */
export const PROBE_EMAIL_PREFIX = 'probe-';
export const PROBE_EMAIL_DOMAIN = 'example.com';
/** A LIKE pattern matching exactly the probe's addresses. */
export const PROBE_EMAIL_LIKE = `${PROBE_EMAIL_PREFIX}%@${PROBE_EMAIL_DOMAIN}`;

/** The only Origin (besides none) the endpoint serves: VS Code webviews. */
const WEBVIEW_ORIGIN_PREFIX = 'vscode-webview://';

/** Host header values that name this server: what curl, fetch and the sampler send. */
function allowedHosts(port: number | undefined): string[] {
  return port === undefined ? [] : [`127.0.0.1:${port}`, `localhost:${port}`];
}
const ROUTES: Record<string, { method: string; handler: 'list' | 'insert' | 'health' }> = {
  '/list_large/': { method: 'GET', handler: 'list' },
  '/insert_large/': { method: 'POST', handler: 'insert' },
  '/healthz': { method: 'GET', handler: 'health' },
};

export interface ProbeServerOptions {
  target: ConnectionTarget;
  /** The lab schema holding the demo's probed table. */
  schema: string;
  /** Default 8001; 0 picks a free port (tests). */
  port?: number;
  logger: Logger;
  readPoolMax?: number;
  writePoolMax?: number;
  /** The setting a user changes to pick another port (for the "port taken" sentence). */
  portSetting?: string;
}

/** A row of GET /list_large/. */
export interface LargeEmailRow {
  id: number;
  email: string;
  created_at: string;
}

/** Thrown when the HTTP client went away before its turn came. */
class ClientGone extends Error {}

/**
 * Lets at most `max` callers hold a pool connection at once, in arrival order, with no time limit
 * (pg-pool's own queue would fail a waiter after the connect timeout, turning a write that is merely
 * blocked behind an index build into an error) and dropping callers whose HTTP client left.
 */
class Gate {
  private active = 0;
  private readonly waiting: { resolve: () => void; signal: AbortSignal }[] = [];
  constructor(private readonly max: number) {}

  async acquire(signal: AbortSignal): Promise<() => void> {
    if (signal.aborted) throw new ClientGone();
    if (this.active < this.max) {
      this.active++;
      return this.releaser();
    }
    await new Promise<void>((resolve, reject) => {
      const entry = { resolve, signal };
      this.waiting.push(entry);
      signal.addEventListener(
        'abort',
        () => {
          const i = this.waiting.indexOf(entry);
          if (i >= 0) {
            this.waiting.splice(i, 1);
            reject(new ClientGone());
          }
        },
        { once: true },
      );
    });
    const release = this.releaser(); // the releasing caller handed its slot over: `active` is unchanged
    if (signal.aborted) {
      release();
      throw new ClientGone();
    }
    return release;
  }

  get queued(): number {
    return this.waiting.length;
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) next.resolve();
      else this.active--;
    };
  }
}

interface Lane {
  pool: pg.Pool;
  gate: Gate;
  /** Clients checked out right now (stop() cuts them off: a write blocked by a build would hold stop() up). */
  busy: Set<pg.PoolClient>;
}

/** Errors that mean "the database is not reachable" rather than "this query is wrong". */
export function isDatabaseUnavailable(e: unknown): boolean {
  if (!(e instanceof Error)) return false;
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (/^(ECONN|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN)/.test(code)) return true;
    // 08: connection exception; 57P01-57P03: shutdown / cannot connect now; 53300: too many connections
    if (/^08/.test(code) || ['57P01', '57P02', '57P03', '53300'].includes(code)) return true;
  }
  return /Connection terminated|timeout exceeded when trying to connect|connection timeout|Client has encountered a connection error|not queryable/i.test(
    e.message,
  );
}

/**
 * Closes a checked-out client's socket at once. client.end() would wait for the server, and a
 * backend waiting for a lock does not read its socket until the lock is granted. (pg has no public
 * destroy(); pg-pool itself does this on a connect timeout.) The pending query fails, and the
 * failed client is discarded on release.
 */
function destroyConnection(client: pg.PoolClient): void {
  (client as unknown as { connection?: { stream?: Socket } }).connection?.stream?.destroy();
}

/**
 * The demo's HTTP endpoint, on 127.0.0.1 only: GET /list_large/ (the newest 20 rows),
 * POST /insert_large/ (one new row), GET /healthz. Reads and writes use separate pools, so writes
 * blocked by a migration never take the connections reads need.
 */
export class ProbeServer {
  private server: http.Server | undefined;
  private readonly sockets = new Set<Socket>();
  private read: Lane | undefined;
  private write: Lane | undefined;
  private boundPort: number | undefined;
  private starting: Promise<number> | undefined;
  private stopping: Promise<void> | undefined;
  private databaseUp: boolean | undefined;
  private insertCounter = 0;
  private lastQueryErrorLog = 0;
  private readonly table: string;
  /** /healthz's own connection: a read pool full of blocked reads must not make it say the database is down. */
  private healthConnection: { client: pg.Client; ready: Promise<void> } | undefined;
  private healthReconnect: NodeJS.Timeout | undefined;
  private healthPinging = false;

  constructor(private readonly options: ProbeServerOptions) {
    this.table = `${quoteIdent(options.schema)}.${quoteIdent(DEMO_SCENARIO.probe.table)}`;
  }

  /** The port it listens on, while it runs. */
  get port(): number | undefined {
    return this.boundPort;
  }

  /** e.g. http://127.0.0.1:8001, while it runs. */
  get url(): string | undefined {
    return this.boundPort === undefined ? undefined : `http://127.0.0.1:${this.boundPort}`;
  }

  /** Connections of the read and write pools: more requests than this wait in the endpoint's own queue. */
  get poolSizes(): { read: number; write: number } {
    return {
      read: this.options.readPoolMax ?? DEFAULT_READ_POOL_MAX,
      write: this.options.writePoolMax ?? DEFAULT_WRITE_POOL_MAX,
    };
  }

  get running(): boolean {
    return this.server !== undefined && this.boundPort !== undefined;
  }

  /** Listens on 127.0.0.1; resolves with the bound port. Calling it while running returns the same port. */
  start(): Promise<number> {
    if (this.boundPort !== undefined) return Promise.resolve(this.boundPort);
    this.starting ??= this.doStart().finally(() => (this.starting = undefined));
    return this.starting;
  }

  /** Closes the server, its open connections and both pools. Safe to call twice, or when not started. */
  stop(): Promise<void> {
    this.stopping ??= this.doStop().finally(() => (this.stopping = undefined));
    return this.stopping;
  }

  private async doStart(): Promise<number> {
    if (this.stopping) await this.stopping;
    const { target, logger } = this.options;
    const requested = this.options.port ?? DEFAULT_PROBE_PORT;
    const server = http.createServer((req, res) => this.handle(req, res));
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    server.on('clientError', (_e, socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      else socket.destroy();
    });
    await new Promise<void>((resolve, reject) => {
      const onError = (e: NodeJS.ErrnoException) => {
        server.off('listening', onListening);
        const setting = this.options.portSetting ?? 'migrationLab.probe.port';
        const message =
          e.code === 'EADDRINUSE'
            ? `Port ${requested} is already in use, so the probe endpoint cannot start; stop what uses it or change the setting ${setting}.`
            : `The probe endpoint cannot listen on 127.0.0.1:${requested} (${e.code ?? e.message}); change the setting ${setting}.`;
        reject(new LabError(message, { cause: e }));
      };
      const onListening = () => {
        server.off('error', onError);
        resolve();
      };
      server.once('error', onError);
      server.once('listening', onListening);
      server.listen(requested, '127.0.0.1');
    });
    server.on('error', (e) => logger.warn(`Probe endpoint: server error: ${describeError(e)}`));
    this.server = server;
    this.read = this.lane(APP_NAMES.probeRead, this.options.readPoolMax ?? DEFAULT_READ_POOL_MAX);
    this.write = this.lane(APP_NAMES.probeWrite, this.options.writePoolMax ?? DEFAULT_WRITE_POOL_MAX);
    this.databaseUp = undefined;
    this.openHealthConnection();
    this.boundPort = (server.address() as { port: number }).port;
    logger.info(
      `Probe endpoint listening on http://127.0.0.1:${this.boundPort} (database ${target.connectionString ? 'from URL' : `${target.host}:${target.port}/${target.database}`}).`,
    );
    return this.boundPort;
  }

  private lane(applicationName: string, max: number): Lane {
    return {
      pool: createPool(this.options.target, applicationName, this.options.logger, { max }),
      gate: new Gate(max),
      busy: new Set(),
    };
  }

  private async doStop(): Promise<void> {
    if (this.starting) await this.starting.catch(() => undefined);
    const server = this.server;
    const lanes = [this.read, this.write].filter((l): l is Lane => l !== undefined);
    this.server = undefined;
    this.read = undefined;
    this.write = undefined;
    this.boundPort = undefined;
    this.closeHealthConnection();
    if (!server) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy(); // keep-alive and in-flight requests
    this.sockets.clear();
    for (const lane of lanes) {
      // A write blocked by an index build would hold pool.end() until the build ends: cut it off.
      for (const client of lane.busy) destroyConnection(client);
    }
    await Promise.all(lanes.map((l) => l.pool.end().catch(() => undefined)));
    await closed;
    this.options.logger.info('Probe endpoint stopped.');
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    req.resume(); // no route reads a body; drain it so keep-alive works
    const refusal = this.refusal(req);
    if (refusal) return this.send(res, 403, { error: refusal });
    const path = (req.url ?? '/').split('?')[0]!;
    const route = ROUTES[path] ?? ROUTES[`${path}/`];
    if (!route) return this.send(res, 404, { error: 'not found' });
    if (req.method !== route.method && !(route.method === 'GET' && req.method === 'HEAD')) {
      res.setHeader('Allow', route.method === 'GET' ? 'GET, HEAD' : route.method);
      return this.send(res, 405, { error: 'method not allowed' });
    }
    const gone = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) gone.abort();
    });
    const work =
      route.handler === 'list'
        ? this.list(gone.signal)
        : route.handler === 'insert'
          ? this.insert(gone.signal)
          : this.health();
    work.then(
      ({ status, body }) => this.send(res, status, body),
      (e: unknown) => {
        if (e instanceof ClientGone || res.destroyed) return; // nobody to answer (client left, or stopping)
        this.send(res, ...this.failure(e));
      },
    );
  }

  /**
   * Why a request is not served, or undefined. Listening on 127.0.0.1 is not enough: a web page in
   * the user's browser can POST here (cross-site request forgery), and a DNS-rebinding page reaches us
   * with its own name in Host. So Host must name this server (127.0.0.1 or localhost, this port), and
   * a request that carries an Origin must come from a VS Code webview.
   */
  private refusal(req: http.IncomingMessage): string | undefined {
    const host = (req.headers.host ?? '').toLowerCase();
    if (!allowedHosts(this.boundPort).includes(host)) return 'host not allowed';
    const origin = req.headers.origin;
    if (origin !== undefined && !origin.startsWith(WEBVIEW_ORIGIN_PREFIX)) {
      this.logRefusedOrigin(origin);
      return 'origin not allowed';
    }
    return undefined;
  }

  private lastOriginLog = 0;
  private logRefusedOrigin(origin: string): void {
    const now = Date.now();
    if (now - this.lastOriginLog < 5_000) return;
    this.lastOriginLog = now;
    this.options.logger.warn(
      `Probe endpoint: refused a request from the web origin ${JSON.stringify(origin.slice(0, 100))} (only the editor's own requests are served).`,
    );
  }

  private async list(signal: AbortSignal): Promise<{ status: number; body: unknown }> {
    const r = await this.query<{ id: string; email: string; created_at: Date }>(
      this.read,
      signal,
      `SELECT id, email, created_at FROM ${this.table} ORDER BY id DESC LIMIT 20`,
    );
    const rows: LargeEmailRow[] = r.rows.map((row) => ({
      id: Number(row.id),
      email: row.email,
      created_at: row.created_at.toISOString(),
    }));
    return { status: 200, body: rows };
  }

  private async insert(signal: AbortSignal): Promise<{ status: number; body: unknown }> {
    const email = `${PROBE_EMAIL_PREFIX}${Date.now()}-${++this.insertCounter}@${PROBE_EMAIL_DOMAIN}`;
    const r = await this.query<{ id: string }>(
      this.write,
      signal,
      `INSERT INTO ${this.table} (email) VALUES ($1) RETURNING id`,
      [email],
    );
    return { status: 201, body: { id: Number(r.rows[0]!.id) } };
  }

  private async health(): Promise<{ status: number; body: unknown }> {
    let timer: NodeJS.Timeout | undefined;
    const database = await Promise.race([
      this.pingDatabase(),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), HEALTH_BUDGET_MS))),
    ]).finally(() => clearTimeout(timer));
    return { status: 200, body: { ok: true, database } };
  }

  /** SELECT 1 on the health connection; false when it cannot connect or its previous ping has not come back. */
  private async pingDatabase(): Promise<boolean> {
    if (this.healthPinging) return false;
    if (!this.healthConnection) {
      // Down since the last attempt: try again now rather than at the next reconnect tick.
      clearTimeout(this.healthReconnect);
      this.healthReconnect = undefined;
      this.openHealthConnection();
    }
    const health = this.healthConnection;
    if (!health) return false;
    this.healthPinging = true;
    try {
      await health.ready;
      await health.client.query('SELECT 1');
      return true;
    } catch (e) {
      this.options.logger.debug(`Probe endpoint: health ping failed: ${describeError(e)}`);
      this.dropHealthConnection(health.client);
      return false;
    } finally {
      this.healthPinging = false;
    }
  }

  /** Opens the health connection now, and again every HEALTH_RECONNECT_MS while it cannot. */
  private openHealthConnection(): void {
    if (this.healthConnection || !this.server) return;
    const config = { ...clientConfig(this.options.target, APP_NAMES.probeHealth), query_timeout: 5_000 };
    const client = new (pgDriver().Client)(config);
    client.on('error', (e) => {
      this.options.logger.debug(`Probe endpoint: health connection error: ${e.message}`);
      this.dropHealthConnection(client);
    });
    client.on('end', () => this.dropHealthConnection(client));
    const ready = client.connect().then(() => undefined);
    ready.catch((e: unknown) => {
      this.options.logger.debug(`Probe endpoint: health connection failed: ${describeError(e)}`);
      this.dropHealthConnection(client);
    });
    this.healthConnection = { client, ready };
  }

  private dropHealthConnection(client: pg.Client): void {
    if (this.healthConnection?.client !== client) return;
    this.healthConnection = undefined;
    void client.end().catch(() => undefined);
    if (this.server && !this.healthReconnect) {
      this.healthReconnect = setTimeout(() => {
        this.healthReconnect = undefined;
        this.openHealthConnection();
      }, HEALTH_RECONNECT_MS);
    }
  }

  private closeHealthConnection(): void {
    clearTimeout(this.healthReconnect);
    this.healthReconnect = undefined;
    const client = this.healthConnection?.client;
    this.healthConnection = undefined;
    void client?.end().catch(() => undefined);
  }

  /** One query on one lane: wait for a slot, check out a client, discard it if the query broke it. */
  private async query<R extends pg.QueryResultRow>(
    lane: Lane | undefined,
    signal: AbortSignal,
    sql: string,
    params?: unknown[],
  ): Promise<pg.QueryResult<R>> {
    if (!lane) throw new ClientGone(); // stopping
    const release = await lane.gate.acquire(signal);
    try {
      const client = await lane.pool.connect();
      const onError = (e: Error) => this.options.logger.debug(`Probe connection error: ${e.message}`);
      client.on('error', onError); // a checked-out client that loses its server emits 'error'
      lane.busy.add(client);
      let failure: Error | undefined;
      try {
        const result = await client.query<R>(sql, params);
        this.markDatabase(true);
        return result;
      } catch (e) {
        failure = e instanceof Error ? e : new Error(String(e));
        throw e;
      } finally {
        lane.busy.delete(client);
        client.off('error', onError);
        // Any failure discards the client: a broken connection must never go back to the pool.
        client.release(failure);
      }
    } finally {
      release();
    }
  }

  private failure(e: unknown): [number, unknown] {
    const { logger } = this.options;
    if (isDatabaseUnavailable(e)) {
      this.markDatabase(false, e);
      return [503, { error: 'database unavailable' }];
    }
    const now = Date.now();
    if (now - this.lastQueryErrorLog > 5_000) {
      this.lastQueryErrorLog = now;
      logger.warn(`Probe endpoint: a query failed: ${describeError(e)}`);
    }
    if (isPgError(e) && (e.code === '42P01' || e.code === '3F000')) {
      return [
        500,
        { error: `table ${DEMO_SCENARIO.probe.table} not found in schema ${this.options.schema}` },
      ];
    }
    return [500, { error: 'query failed' }];
  }

  /** Logs only the changes (down, back up), not every one of 20 failures a second. */
  private markDatabase(up: boolean, e?: unknown): void {
    if (this.databaseUp === up) return;
    const before = this.databaseUp;
    this.databaseUp = up;
    if (!up) {
      this.options.logger.warn(
        `Probe endpoint: the database is unavailable (${describeError(e)}); answering 503 until it is back.`,
      );
    } else if (before === false) {
      this.options.logger.info('Probe endpoint: the database is reachable again.');
    }
  }

  private send(res: http.ServerResponse, status: number, body: unknown): void {
    if (res.headersSent || res.destroyed) return;
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Length': Buffer.byteLength(text),
      'Cache-Control': 'no-store',
    });
    res.end(res.req.method === 'HEAD' ? undefined : text);
  }
}
