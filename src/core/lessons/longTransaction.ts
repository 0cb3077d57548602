import type pg from 'pg';
import { APP_NAMES, connect, type ConnectionTarget } from '../db';
import { CancelledError, describeError, throwIfAborted } from '../errors';
import type { Logger } from '../log';
import { DEMO_SCENARIO } from '../scenarios/demo';
import { quotedTable } from '../scenarios/types';

/** The table the long transaction reads: the demo's seeded one. */
const TABLE = DEMO_SCENARIO.seed.large;

export interface LongTransactionOptions {
  target: ConnectionTarget;
  /** The lab schema holding the seeded table. */
  schema: string;
  logger: Logger;
  /**
   * The transaction ends by itself after this many ms (default 5 min). The server also ends it
   * (idle_in_transaction_session_timeout) a little later, should this process hang.
   */
  timeoutMs?: number;
  /** Aborting ends the transaction (and a start in progress). */
  signal?: AbortSignal;
  /** How long the report's own read may wait for its lock, ms (default 5000). */
  lockTimeoutMs?: number;
}

export type LongTransactionEndReason = 'ended' | 'timeout' | 'aborted' | 'lost';

export interface LongTransactionEnd {
  reason: LongTransactionEndReason;
  /** Epoch ms. */
  endedAt: number;
  heldMs: number;
  /** Why the connection was lost, when it was. */
  error?: string;
}

export const DEFAULT_LONG_TRANSACTION_TIMEOUT_MS = 300_000;
/** Extra time the server-side timeout gives before it cuts the session off. */
const SERVER_GRACE_MS = 10_000;
const CLOSE_TIMEOUT_MS = 3_000;

/**
 * A "slow report": a session (application_name migration-lab:long-transaction) that opens a
 * REPEATABLE READ transaction, reads the demo's seeded table (taking ACCESS SHARE on it and keeping its snapshot),
 * and stays idle in that transaction until end(), a timeout, or an abort.
 */
export class LongTransaction {
  /** Resolves once the transaction is over and its connection closed (never rejects). */
  readonly ended: Promise<LongTransactionEnd>;
  private resolveEnded!: (end: LongTransactionEnd) => void;
  private ending: Promise<LongTransactionEnd> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly onAbort = () => void this.finish('aborted');

  private constructor(
    private readonly client: pg.Client,
    /** Backend pid of the transaction's session. */
    readonly pid: number,
    /** Epoch ms the transaction began. */
    readonly startedAt: number,
    /** Rows the report's read counted. */
    readonly rowsRead: number,
    private readonly options: LongTransactionOptions,
  ) {
    this.ended = new Promise((resolve) => (this.resolveEnded = resolve));
  }

  /** Opens the transaction and reads the seeded table; resolves once the read holds its lock. */
  static async start(options: LongTransactionOptions): Promise<LongTransaction> {
    const { target, schema, logger, signal } = options;
    throwIfAborted(signal);
    const timeoutMs = options.timeoutMs ?? DEFAULT_LONG_TRANSACTION_TIMEOUT_MS;
    const lockTimeoutMs = Math.round(options.lockTimeoutMs ?? 5_000);
    const client = await connect(target, APP_NAMES.longTransaction, logger);
    let tx: LongTransaction;
    try {
      const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      const pid = rows[0]!.pid;
      const serverTimeout = Number.isFinite(timeoutMs) ? Math.round(timeoutMs + SERVER_GRACE_MS) : 0;
      await client.query(
        `SET lock_timeout = ${lockTimeoutMs}; SET idle_in_transaction_session_timeout = ${serverTimeout}`,
      );
      throwIfAborted(signal);
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
      const startedAt = Date.now();
      const read = await client.query<{ n: string }>(
        `SELECT count(*) AS n FROM ${quotedTable(schema, TABLE)} WHERE id < 1000`,
      );
      tx = new LongTransaction(client, pid, startedAt, Number(read.rows[0]?.n ?? 0), options);
    } catch (e) {
      await client.end().catch(() => undefined);
      throw e;
    }
    tx.arm(timeoutMs);
    logger.info(
      `Long transaction open (pid ${tx.pid}): it read ${TABLE} and holds ACCESS SHARE on it` +
        `${Number.isFinite(timeoutMs) ? ` for at most ${Math.round(timeoutMs / 1000)} s` : ''}.`,
    );
    return tx;
  }

  /** True until the transaction ends. */
  get open(): boolean {
    return this.ending === undefined;
  }

  /** How long it has been (or was) open, ms. */
  get heldMs(): number {
    return Date.now() - this.startedAt;
  }

  /** Rolls the transaction back and closes the session. Idempotent: every call gets the same end. */
  end(): Promise<LongTransactionEnd> {
    return this.finish('ended');
  }

  private arm(timeoutMs: number): void {
    if (Number.isFinite(timeoutMs)) {
      this.timer = setTimeout(() => void this.finish('timeout'), Math.max(0, timeoutMs));
      this.timer.unref?.();
    }
    this.client.on('end', () => void this.finish('lost'));
    this.client.on('error', (e) => void this.finish('lost', e));
    const { signal } = this.options;
    if (signal?.aborted) void this.finish('aborted');
    else signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  private finish(reason: LongTransactionEndReason, error?: unknown): Promise<LongTransactionEnd> {
    if (this.ending) return this.ending;
    this.ending = (async () => {
      clearTimeout(this.timer);
      this.options.signal?.removeEventListener('abort', this.onAbort);
      if (reason !== 'lost') {
        await withTimeout(this.client.query('ROLLBACK'), CLOSE_TIMEOUT_MS).catch((e: unknown) =>
          this.options.logger.warn(
            `Long transaction (pid ${this.pid}): ROLLBACK failed: ${describeError(e)}`,
          ),
        );
      }
      await withTimeout(this.client.end(), CLOSE_TIMEOUT_MS).catch(() => undefined);
      const endedAt = Date.now();
      const end: LongTransactionEnd = { reason, endedAt, heldMs: endedAt - this.startedAt };
      if (error !== undefined) end.error = describeError(error);
      this.options.logger.info(
        `Long transaction (pid ${this.pid}) ${describeReason(reason)} after ${end.heldMs} ms.`,
      );
      this.resolveEnded(end);
      return end;
    })();
    return this.ending;
  }
}

function describeReason(reason: LongTransactionEndReason): string {
  switch (reason) {
    case 'ended':
      return 'ended';
    case 'timeout':
      return 'reached its time limit and ended';
    case 'aborted':
      return 'ended (cancelled)';
    default:
      return 'lost its connection';
  }
}

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    work,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new CancelledError(`No answer within ${ms} ms.`)), ms);
      timer.unref?.();
    }),
  ]).finally(() => clearTimeout(timer));
}
