// Per-table latency probes for a trace (issue 12 §1 step 3): a read (a key lookup of an existing
// row) and a write (an insert of a synthetic row, or an update where inserts are impossible) per
// table, fired open-loop at a fixed rate on their own connections, recorded as ProbeSamples so the
// probe stats (kindStats…) compute p50/p95/max/stalled. Reads and writes of each table have their
// own small pools: blocked writes must never take the connections reads need.
import { performance } from 'node:perf_hooks';
import type pg from 'pg';
import { APP_NAMES, clientConfig, connect, pgDriver, quoteIdent, type ConnectionTarget } from '../db';
import { LabError, describeError, isPgError } from '../errors';
import type { Logger } from '../log';
import {
  DEFAULT_STALLED_THRESHOLD_MS,
  type ProbeKind,
  type ProbeOutcome,
  type ProbeSample,
} from '../probe/stats';
import { readTableShape, resolveTable, type TableShape } from './fillCatalog';
import { planWithKeys, readParentKeys } from './fill';
import { insertParams, insertSql, type ParentKeys, type RowPlan } from './rowPlan';

export interface TableProbeOptions {
  target: ConnectionTarget;
  tables: string[];
  /** Reads per second per table, and as many writes. */
  ratePerSecond: number;
  /** No write probes (an external database the user did not allow writes to). */
  readOnly?: boolean;
  logger: Logger;
  stalledThresholdMs?: number;
  /** A request still unanswered after this long counts as a timeout (statement_timeout). Default 30 s. */
  timeoutMs?: number;
  /** Connections per table and kind. Default 3. */
  poolSize?: number;
}

export type WriteProbeKind = 'insert' | 'update' | 'none';
export type ReadProbeKind = 'primary key' | 'unique key' | 'ctid' | 'first row';

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_POOL_SIZE = 3;
/** Existing keys the read (and update) probe cycles through. */
const SAMPLED_KEYS = 200;
/** Behind schedule by more than this (a blocked event loop): skip ahead, do not burst. */
const MAX_CATCH_UP_MS = 1_000;
/** How long stop() waits for the server to drop the probe sessions. */
const STOP_WAIT_MS = 5_000;

interface Statement {
  sql: string;
  params: () => unknown[];
}

interface Waiter {
  resolve: (client: pg.Client | undefined) => void;
}

/** A small pool of one table's probe connections of one kind, whose busy backends stop() can end. */
class Lane {
  private readonly idle: pg.Client[] = [];
  private readonly all = new Set<pg.Client>();
  private readonly waiting: Waiter[] = [];
  private readonly opening = new Set<Promise<unknown>>();
  closed = false;

  constructor(
    private readonly config: pg.ClientConfig,
    private readonly size: number,
    private readonly logger: Logger,
  ) {}

  pids(): number[] {
    return [...this.all]
      .map((c) => (c as unknown as { processID: number }).processID)
      .filter(Number.isInteger);
  }

  open(): Promise<pg.Client> {
    const opened = (async () => {
      const client = new (pgDriver().Client)(this.config);
      client.on('error', (e) => {
        if (!this.closed) this.logger.warn(`${this.config.application_name}: connection error: ${e.message}`);
      });
      await client.connect();
      if (this.closed) {
        await client.end().catch(() => undefined);
        throw new LabError('The probes were stopped.');
      }
      this.all.add(client);
      return client;
    })();
    this.opening.add(opened);
    const forget = () => this.opening.delete(opened);
    opened.then(forget, forget);
    return opened;
  }

  /** Connections being opened right now (each ends itself when it finds the lane closed). */
  pendingOpens(): Promise<unknown>[] {
    return [...this.opening];
  }

  /** A free connection (opened when the pool is not full); undefined when the lane closed meanwhile. */
  async acquire(): Promise<pg.Client | undefined> {
    if (this.closed) return undefined;
    const free = this.idle.pop();
    if (free) return free;
    if (this.all.size + this.opening.size < this.size) return this.open();
    return new Promise((resolve) => this.waiting.push({ resolve }));
  }

  release(client: pg.Client, broken: boolean): void {
    if (broken || this.closed) {
      this.all.delete(client);
      void client.end().catch(() => undefined);
      if (broken && !this.closed && this.waiting.length > 0) {
        const w = this.waiting.shift()!;
        this.open().then(w.resolve, () => w.resolve(undefined));
      }
      return;
    }
    const w = this.waiting.shift();
    if (w) w.resolve(client);
    else this.idle.push(client);
  }

  /** Stops handing out connections; returns every client, to be ended once their backends are gone. */
  close(): pg.Client[] {
    this.closed = true;
    for (const w of this.waiting.splice(0)) w.resolve(undefined);
    this.idle.length = 0;
    const clients = [...this.all];
    this.all.clear();
    return clients;
  }
}

interface TableProbe {
  /** The name as the caller gave it. */
  name: string;
  shape: TableShape;
  samples: ProbeSample[];
  read: { kind: ReadProbeKind; reason: string; statement: Statement };
  write: { kind: WriteProbeKind; reason: string; statement?: Statement };
  lanes: Record<ProbeKind, Lane | undefined>;
  next: Record<ProbeKind, number>;
}

interface InFlight {
  sample: ProbeSample;
  table: TableProbe;
}

/** The rows of keys (as text) of an existing sample of rows. */
async function sampleKeys(client: pg.ClientBase, shape: TableShape, columns: string[]): Promise<string[][]> {
  const select = columns.map((c, j) => `${c === 'ctid' ? 'ctid' : quoteIdent(c)}::text AS k${j}`).join(', ');
  const notNull = columns.map((c) => `${c === 'ctid' ? 'ctid' : quoteIdent(c)} IS NOT NULL`).join(' AND ');
  const est = await client.query<{ n: number }>(
    `SELECT reltuples::float8 AS n FROM pg_class WHERE oid = $1`,
    [shape.oid],
  );
  const estimate = Number(est.rows[0]?.n ?? 0);
  // Spread over the table where it is large (a page sample), the first rows where it is small.
  const percent =
    estimate > 10 * SAMPLED_KEYS ? Math.max(0.01, Math.min(100, (100 * 10 * SAMPLED_KEYS) / estimate)) : 0;
  const toRows = (r: pg.QueryResult<Record<string, string>>) =>
    r.rows.map((row) => columns.map((_, j) => row[`k${j}`]!));
  if (percent > 0) {
    const sampled = toRows(
      await client.query(
        `SELECT ${select} FROM ${shape.sqlName} TABLESAMPLE SYSTEM (${percent.toFixed(4)}) WHERE ${notNull} LIMIT ${SAMPLED_KEYS}`,
      ),
    );
    if (sampled.length > 0) return sampled;
  }
  return toRows(
    await client.query(`SELECT ${select} FROM ${shape.sqlName} WHERE ${notNull} LIMIT ${SAMPLED_KEYS}`),
  );
}

/** The columns a read probe looks a row up by: the primary key, else the first unique key of NOT NULL columns. */
function lookupKey(shape: TableShape): { kind: ReadProbeKind; columns: string[] } {
  const notNull = new Set(shape.columns.filter((c) => c.notNull).map((c) => c.name));
  const pk = shape.uniques.find((u) => u.primary);
  if (pk) return { kind: 'primary key', columns: pk.columns };
  const unique = shape.uniques.find((u) => u.columns.every((c) => notNull.has(c)));
  if (unique) return { kind: 'unique key', columns: unique.columns };
  return { kind: 'ctid', columns: ['ctid'] };
}

function whereKey(columns: string[]): string {
  return columns
    .map((c, j) => (c === 'ctid' ? `ctid = $${j + 1}::tid` : `${quoteIdent(c)} = $${j + 1}`))
    .join(' AND ');
}

function cycling<T>(values: readonly T[]): () => T {
  let i = 0;
  return () => values[i++ % values.length]!;
}

/** A read (PK lookup of an existing row) and a write probe per table. */
export class TableProbes {
  private readonly logger: Logger;
  private readonly timeoutMs: number;
  private readonly poolSize: number;
  private readonly tables = new Map<string, TableProbe>();
  private readonly inFlight = new Set<InFlight>();
  private control: pg.Client | undefined;
  private timer: NodeJS.Timeout | undefined;
  private started = false;
  private stopped = false;
  private stopping: Promise<void> | undefined;
  private lastErrorLog = 0;

  constructor(private readonly options: TableProbeOptions) {
    if (
      !Number.isFinite(options.ratePerSecond) ||
      options.ratePerSecond <= 0 ||
      options.ratePerSecond > 1_000
    )
      throw new LabError('The probe rate must be a number above 0 and at most 1000 requests per second.');
    this.logger = options.logger;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.poolSize = Math.max(1, options.poolSize ?? DEFAULT_POOL_SIZE);
  }

  /** Slower than this (or in flight longer) counts as stalled. */
  get stalledThresholdMs(): number {
    return this.options.stalledThresholdMs ?? DEFAULT_STALLED_THRESHOLD_MS;
  }

  /** Plans each table's read/write statements, then runs at the rate. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    try {
      this.control = await connect(this.options.target, APP_NAMES.admin, this.logger);
      // Planning samples each table: a table someone holds locked must fail the start, not hang it.
      await this.control.query(`SET statement_timeout = ${Math.round(this.timeoutMs)}`);
      for (const name of this.options.tables) await this.plan(name);
    } catch (e) {
      await this.stop();
      throw e instanceof LabError ? e : new LabError('The table probes could not start.', { cause: e });
    }
    if (this.stopped) return;
    const now = performance.now();
    const period = 1000 / this.options.ratePerSecond;
    for (const t of this.tables.values()) t.next = { read: now, write: now + period / 2 }; // interleave the two
    this.logger.info(
      `Table probes: ${this.options.ratePerSecond} reads/s and writes/s on ${[...this.tables.values()]
        .map((t) => `${t.shape.name} (read by ${t.read.kind}, write ${t.write.kind})`)
        .join(', ')}.`,
    );
    this.tick();
  }

  private laneConfig(kind: ProbeKind): pg.ClientConfig {
    const config: pg.ClientConfig = {
      ...clientConfig(this.options.target, kind === 'read' ? APP_NAMES.probeRead : APP_NAMES.probeWrite),
      statement_timeout: this.timeoutMs,
    };
    // On a database we must not write to, the server itself refuses writes from the read probe.
    if (this.options.readOnly) config.options = '-c default_transaction_read_only=on';
    return config;
  }

  private async plan(name: string): Promise<void> {
    const control = this.control!;
    const found = await resolveTable(control, name);
    if (!found) throw new LabError(`The table ${name} does not exist, so it cannot be probed.`);
    const shape = await readTableShape(control, found.oid);
    const key = lookupKey(shape);
    const keys = await sampleKeys(control, shape, key.columns);
    const how =
      key.kind === 'ctid'
        ? 'its ctid (the table has no primary or unique key)'
        : `its ${key.kind} (${key.columns.join(', ')})`;
    const read =
      keys.length > 0
        ? {
            kind: key.kind,
            reason: `Looks up one of ${keys.length} sampled rows by ${how}.`,
            statement: {
              sql: `SELECT * FROM ${shape.sqlName} WHERE ${whereKey(key.columns)}`,
              params: cycling(keys),
            },
          }
        : {
            kind: 'first row' as const,
            reason: 'Reads the first row: the table had no row to look up when the probes started.',
            statement: { sql: `SELECT * FROM ${shape.sqlName} LIMIT 1`, params: () => [] },
          };
    const readLane = new Lane(this.laneConfig('read'), this.poolSize, this.logger);
    const probe: TableProbe = {
      name,
      shape,
      samples: [],
      read,
      write: { kind: 'none', reason: 'Probes on this database are read-only.' },
      lanes: { read: readLane, write: undefined },
      next: { read: 0, write: 0 },
    };
    this.tables.set(name, probe);
    readLane.release(await readLane.open(), false); // connect now, so the first sample does not pay for it
    if (this.options.readOnly) return;
    const writeLane = new Lane(this.laneConfig('write'), this.poolSize, this.logger);
    probe.lanes.write = writeLane;
    const client = await writeLane.open();
    try {
      probe.write = await this.planWrite(client, shape, key, keys);
    } finally {
      writeLane.release(client, false);
    }
  }

  /** An insert of a generated row when one goes in (tried in a rolled-back transaction), else an update. */
  private async planWrite(
    client: pg.Client,
    shape: TableShape,
    key: { kind: ReadProbeKind; columns: string[] },
    keys: string[][],
  ): Promise<TableProbe['write']> {
    // The planner's estimate, not count(*): on a large external table a count would take minutes.
    const existing = Number(
      (
        await client.query<{ n: string }>(
          `SELECT CASE WHEN c.relkind = 'p' THEN
                    (SELECT coalesce(sum(greatest(pc.reltuples, 0)), 0) FROM pg_partition_tree(c.oid) AS t
                       JOIN pg_class pc ON pc.oid = t.relid WHERE t.isleaf)
                  ELSE greatest(c.reltuples, 0) END::bigint AS n
             FROM pg_class c WHERE c.oid = $1`,
          [shape.oid],
        )
      ).rows[0]?.n ?? 0,
    );
    const parentKeys = await readParentKeys(client, shape, SAMPLED_KEYS);
    const { plan, keys: slotKeys } = planWithKeys(shape, parentKeys, existing + 1_000_000);
    let whyNot = plan.blockers[0];
    if (!whyNot) {
      // Rows the fill did not make: counting on from the rows there; a collision is skipped, not an error.
      let row = existing + 1;
      const statement = this.insertStatement(plan, slotKeys, () => row++);
      try {
        await client.query('BEGIN');
        await client.query(statement.sql, insertParams(plan, slotKeys, existing + 1, existing + 1));
        await client.query('ROLLBACK');
        return {
          kind: 'insert',
          reason: "Inserts a synthetic row made by the fill's row generator.",
          statement,
        };
      } catch (e) {
        await client.query('ROLLBACK').catch(() => undefined);
        whyNot = `inserting a synthetic row failed (${(e as Error).message})`;
      }
    }
    whyNot = whyNot.replace(/\.$/, '');
    // A plain column if there is one: neither the lookup key nor a foreign key (whose checks would run).
    const writable = shape.columns.filter((c) => !c.generated && c.identity !== 'a');
    const fkColumns = new Set(shape.foreignKeys.flatMap((fk) => fk.columns));
    const settable =
      writable.find((c) => !key.columns.includes(c.name) && !fkColumns.has(c.name)) ??
      writable.find((c) => !key.columns.includes(c.name)) ??
      writable[0];
    if (!settable || keys.length === 0) {
      return {
        kind: 'none',
        reason: `No write probe: ${lowerFirst(whyNot)}, and ${keys.length === 0 ? 'the table has no row to update' : 'no column can be updated'}.`,
      };
    }
    const col = quoteIdent(settable.name);
    return {
      kind: 'update',
      reason: `Updates an existing row (SET ${settable.name} = ${settable.name}) because ${lowerFirst(whyNot)}.`,
      statement: {
        sql: `UPDATE ${shape.sqlName} SET ${col} = ${col} WHERE ${whereKey(key.columns)}`,
        params: cycling(keys),
      },
    };
  }

  private insertStatement(plan: RowPlan, keys: ParentKeys, nextRow: () => number): Statement {
    return {
      sql: insertSql(plan, { onConflictDoNothing: true }),
      params: () => {
        const g = nextRow();
        return insertParams(plan, keys, g, g);
      },
    };
  }

  private probe(table: string): TableProbe | undefined {
    return this.tables.get(table) ?? [...this.tables.values()].find((t) => t.shape.name === table);
  }

  writeKind(table: string): { kind: WriteProbeKind; reason: string } {
    const t = this.probe(table);
    if (!t) return { kind: 'none', reason: `${table} is not probed.` };
    return { kind: t.write.kind, reason: t.write.reason };
  }

  /** How the read probe finds its row (primary key, a unique key, ctid, or the first row of an empty table), and why. */
  readKind(table: string): { kind: ReadProbeKind; reason: string } | undefined {
    const t = this.probe(table);
    return t && { kind: t.read.kind, reason: t.read.reason };
  }

  /** Reads and writes of the table in start order; in-flight ones have no outcome yet (their age counts). */
  samples(table: string): readonly ProbeSample[] {
    return this.probe(table)?.samples ?? [];
  }

  private tick(): void {
    if (this.stopped) return;
    const now = performance.now();
    const period = 1000 / this.options.ratePerSecond;
    let due = Infinity;
    for (const t of this.tables.values()) {
      for (const kind of ['read', 'write'] as const) {
        const statement = kind === 'read' ? t.read.statement : t.write.statement;
        if (!statement || !t.lanes[kind]) continue;
        if (now - t.next[kind] > MAX_CATCH_UP_MS) t.next[kind] = now;
        while (t.next[kind] <= now) {
          this.fire(t, kind, statement);
          t.next[kind] += period;
        }
        due = Math.min(due, t.next[kind]);
      }
    }
    if (due !== Infinity) this.timer = setTimeout(() => this.tick(), Math.max(0, due - performance.now()));
  }

  private fire(table: TableProbe, kind: ProbeKind, statement: Statement): void {
    // Recorded as it starts, so a request that waits shows its age (stalled) while still in flight.
    const sample: ProbeSample = { kind, startedAt: Date.now(), status: 0 };
    table.samples.push(sample);
    const entry: InFlight = { sample, table };
    this.inFlight.add(entry);
    const t0 = performance.now();
    const finish = (outcome: ProbeOutcome) => {
      if (!this.inFlight.delete(entry)) return;
      const measured = Math.round((performance.now() - t0) * 10) / 10;
      sample.latencyMs = outcome === 'timeout' ? Math.max(measured, this.timeoutMs) : measured;
      sample.endedAt = sample.startedAt + sample.latencyMs;
      sample.outcome = outcome;
    };
    const lane = table.lanes[kind]!;
    // Waiting for a connection counts too: the pool is part of the path, and a queue behind blocked
    // requests is what an application would see. It gives up at the same timeout.
    const queueTimer = setTimeout(() => finish('timeout'), this.timeoutMs);
    void (async () => {
      let client: pg.Client | undefined;
      try {
        client = await lane.acquire();
      } catch (e) {
        clearTimeout(queueTimer);
        this.logError(`The ${kind} probe of ${table.shape.name} could not connect: ${describeError(e)}`);
        finish('error');
        return;
      }
      clearTimeout(queueTimer);
      if (!client) return; // stopped while waiting
      if (!this.inFlight.has(entry)) {
        lane.release(client, false); // timed out while waiting
        return;
      }
      let broken = false;
      try {
        await client.query(statement.sql, statement.params());
        finish('ok');
      } catch (e) {
        if (this.stopped) return;
        broken = !isPgError(e) || e.code.startsWith('57P') || e.code.startsWith('08');
        const timeout = isPgError(e) && e.code === '57014';
        if (!timeout) this.logError(`The ${kind} probe of ${table.shape.name} failed: ${describeError(e)}`);
        finish(timeout ? 'timeout' : 'error');
      } finally {
        lane.release(client, broken);
      }
    })();
  }

  /** Ends every probe connection, also those waiting for a lock right now; idempotent. */
  stop(): Promise<void> {
    this.stopping ??= this.stopAll();
    return this.stopping;
  }

  private async stopAll(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    // Requests still in flight are dropped, as the HTTP sampler drops them: they have no outcome.
    for (const { sample, table } of this.inFlight) {
      const i = table.samples.lastIndexOf(sample);
      if (i >= 0) table.samples.splice(i, 1);
    }
    this.inFlight.clear();
    const lanes = [...this.tables.values()]
      .flatMap((t) => [t.lanes.read, t.lanes.write])
      .filter((l) => l !== undefined);
    const pids = lanes.flatMap((l) => l.pids());
    const opening = lanes.flatMap((l) => l.pendingOpens());
    const clients = lanes.flatMap((l) => l.close());
    const control = this.control;
    this.control = undefined;
    try {
      // A backend waiting for a lock does not read its socket, so closing ours would not end it: the
      // server ends it. Then wait until the sessions are gone from pg_stat_activity.
      if (control && pids.length > 0) {
        await control.query('SELECT pg_terminate_backend(p) FROM unnest($1::int[]) AS p', [pids]);
        const deadline = Date.now() + STOP_WAIT_MS;
        while (Date.now() < deadline) {
          const r = await control.query<{ n: number }>(
            'SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = ANY ($1::int[])',
            [pids],
          );
          if (r.rows[0]!.n === 0) break;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      }
    } catch (e) {
      this.logger.warn(`Ending the table probes' sessions failed: ${describeError(e)}`);
    } finally {
      await Promise.all(
        [...clients, ...(control ? [control] : [])].map((c) => c.end().catch(() => undefined)),
      );
      await Promise.allSettled(opening); // each ends itself on finding its lane closed
    }
  }

  /** At most one line every 5 s: a failing probe fails many times a second. */
  private logError(message: string): void {
    const now = Date.now();
    if (now - this.lastErrorLog < 5_000) return;
    this.lastErrorLog = now;
    this.logger.warn(message);
  }
}

function lowerFirst(text: string): string {
  return /^[A-Z][a-z]/.test(text) ? text[0]!.toLowerCase() + text.slice(1) : text;
}
