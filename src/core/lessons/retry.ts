import { CancelledError, LabError } from '../errors';
import type { Logger } from '../log';

/**
 * Retrying a migration that gives up on its lock (SET lock_timeout) with backoff: the remedy for the
 * lock-queue trap. Pure scheduling and bookkeeping; the attempt itself is a callback, so a fake can
 * stand in for the database in unit tests.
 */

/** SQLSTATE lock_not_available: a statement gave up waiting for a lock (lock_timeout). */
export const LOCK_NOT_AVAILABLE = '55P03';
/** SQLSTATE query_canceled (pg_cancel_backend, statement_timeout). */
export const QUERY_CANCELED = '57014';

export interface LockRetryPolicy {
  /** lock_timeout of each attempt, ms. */
  lockTimeoutMs: number;
  /** Attempts in all (the first included). */
  maxAttempts: number;
  /** Wait after the first timed-out attempt, ms. */
  initialDelayMs: number;
  /** Each further wait is the previous one times this. */
  backoffFactor: number;
  /** No wait is longer than this, ms. */
  maxDelayMs: number;
}

export const DEFAULT_LOCK_RETRY_POLICY: Readonly<LockRetryPolicy> = Object.freeze({
  lockTimeoutMs: 1000,
  maxAttempts: 10,
  initialDelayMs: 1000,
  backoffFactor: 2,
  maxDelayMs: 30_000,
});

/** Longest lock_timeout the lessons accept (a longer one is no remedy for a queue of reads). */
export const MAX_LOCK_TIMEOUT_MS = 600_000;

function checkNumber(name: string, value: number, min: number, max: number, integer = true): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw new LabError(`${name} must be a number from ${min} to ${max} (got ${String(value)}).`);
  }
  if (integer && !Number.isInteger(value)) throw new LabError(`${name} must be a whole number.`);
}

/** The default policy with `overrides` applied; throws LabError for a value out of range. */
export function resolveRetryPolicy(overrides: Partial<LockRetryPolicy> = {}): LockRetryPolicy {
  const defined = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined));
  const p: LockRetryPolicy = { ...DEFAULT_LOCK_RETRY_POLICY, ...defined };
  checkNumber('The lock timeout (ms)', p.lockTimeoutMs, 1, MAX_LOCK_TIMEOUT_MS);
  checkNumber('The number of attempts', p.maxAttempts, 1, 100);
  checkNumber('The first retry delay (ms)', p.initialDelayMs, 0, 3_600_000);
  checkNumber('The backoff factor', p.backoffFactor, 1, 10, false);
  checkNumber('The longest retry delay (ms)', p.maxDelayMs, 0, 3_600_000);
  return p;
}

/** The wait after attempt `n` (1-based) timed out: initial × factor^(n-1), capped, whole ms. */
export function backoffDelayMs(policy: LockRetryPolicy, n: number): number {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`attempt number must be >= 1, got ${n}`);
  const raw = policy.initialDelayMs * policy.backoffFactor ** (n - 1);
  return Math.round(Math.min(policy.maxDelayMs, raw));
}

/** Every wait between attempts, in order (maxAttempts - 1 of them). */
export function retrySchedule(policy: LockRetryPolicy): number[] {
  return Array.from({ length: policy.maxAttempts - 1 }, (_, i) => backoffDelayMs(policy, i + 1));
}

/** The longest a run can take when every attempt times out: all timeouts plus all waits. */
export function worstCaseMs(policy: LockRetryPolicy): number {
  return policy.maxAttempts * policy.lockTimeoutMs + retrySchedule(policy).reduce((a, b) => a + b, 0);
}

/** The SQLSTATE of an error or of any error in its `cause` chain (the runner wraps pg errors). */
export function sqlstateOf(e: unknown): string | undefined {
  const seen = new Set<unknown>();
  for (let cur: unknown = e; cur && typeof cur === 'object' && !seen.has(cur);) {
    seen.add(cur);
    const code = (cur as { code?: unknown }).code;
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code;
    cur = (cur as { cause?: unknown }).cause;
  }
  return undefined;
}

export type AttemptOutcome = 'timeout' | 'succeeded' | 'failed';

/** One try of the migration. */
export interface LockAttempt {
  /** 1-based. */
  n: number;
  /** Epoch ms. */
  startedAt: number;
  endedAt: number;
  durationMs: number;
  outcome: AttemptOutcome;
  /** SQLSTATE of the failure ('55P03' for a lock timeout). */
  sqlstate?: string;
  /** One line, for a failure. */
  error?: string;
  /** Backend pid of the attempt, when it got that far. */
  pid?: number;
  /** The wait before the next attempt (set when one follows). */
  delayAfterMs?: number;
}

export interface RetryRun<T> {
  attempts: LockAttempt[];
  succeeded: boolean;
  /** Attempts that ended with 55P03. */
  timeouts: number;
  /** What the successful attempt returned. */
  value?: T;
  /** The last failure when it did not succeed (a lock timeout when every attempt timed out). */
  error?: unknown;
}

export interface RetryOptions {
  policy?: Partial<LockRetryPolicy>;
  /** Aborting cancels the wait between attempts and is passed to the attempt; the call then throws CancelledError. */
  signal?: AbortSignal;
  /** Called once per attempt when it ended (awaited: e.g. the lesson ends its long transaction here). */
  onAttempt?: (attempt: LockAttempt, policy: LockRetryPolicy) => void | Promise<void>;
  logger?: Logger;
  /** Test seams. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  now?: () => number;
}

/** An attempt callback: `n` is 1-based; report the backend pid through `setPid` when known. */
export type AttemptFn<T> = (n: number, setPid: (pid: number) => void) => Promise<T>;

/** Sleeps `ms`, or rejects with CancelledError as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(new CancelledError());
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(new CancelledError());
    };
    const timer = setTimeout(
      () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      },
      Math.max(0, ms),
    );
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function oneLine(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  return text.split('\n')[0]!.slice(0, 300);
}

/**
 * Runs `attempt` until it succeeds, retrying only on a lock timeout (55P03) with the policy's
 * backoff. Any other failure ends the run at once. Never throws for a failed attempt: the result
 * says what happened; only an abort throws (CancelledError), after `onAttempt` saw the last attempt.
 */
export async function retryOnLockTimeout<T>(
  attempt: AttemptFn<T>,
  options: RetryOptions = {},
): Promise<RetryRun<T>> {
  const policy = resolveRetryPolicy(options.policy);
  const now = options.now ?? Date.now;
  const wait = options.sleep ?? sleep;
  const { signal, logger } = options;
  const attempts: LockAttempt[] = [];
  let timeouts = 0;

  for (let n = 1; n <= policy.maxAttempts; n++) {
    if (signal?.aborted) throw new CancelledError('Migration cancelled between attempts.');
    const startedAt = now();
    let pid: number | undefined;
    const setPid = (p: number) => (pid = p);
    let value: T;
    try {
      value = await attempt(n, setPid);
    } catch (e) {
      const endedAt = now();
      const sqlstate = sqlstateOf(e);
      const cancelled = signal?.aborted === true || (e instanceof Error && e.name === 'CancelledError');
      const outcome: AttemptOutcome = !cancelled && sqlstate === LOCK_NOT_AVAILABLE ? 'timeout' : 'failed';
      const record: LockAttempt = { n, startedAt, endedAt, durationMs: endedAt - startedAt, outcome };
      if (sqlstate) record.sqlstate = sqlstate;
      record.error = oneLine(e);
      if (pid !== undefined) record.pid = pid;
      const retry = outcome === 'timeout' && n < policy.maxAttempts;
      if (retry) record.delayAfterMs = backoffDelayMs(policy, n);
      attempts.push(record);
      if (outcome === 'timeout') timeouts++;
      logger?.info(
        outcome === 'timeout'
          ? `Attempt ${n} of ${policy.maxAttempts} gave up after ${record.durationMs} ms (lock_timeout ${policy.lockTimeoutMs} ms, ${LOCK_NOT_AVAILABLE})` +
              (retry ? `; next attempt in ${record.delayAfterMs} ms.` : '; no attempts left.')
          : `Attempt ${n} failed${sqlstate ? ` (${sqlstate})` : ''}: ${record.error}`,
      );
      await options.onAttempt?.(record, policy);
      if (cancelled) throw e instanceof CancelledError ? e : new CancelledError('Migration cancelled.');
      if (!retry) return { attempts, succeeded: false, timeouts, error: e };
      await wait(record.delayAfterMs!, signal);
      continue;
    }
    const endedAt = now();
    const record: LockAttempt = {
      n,
      startedAt,
      endedAt,
      durationMs: endedAt - startedAt,
      outcome: 'succeeded',
    };
    if (pid !== undefined) record.pid = pid;
    attempts.push(record);
    logger?.info(`Attempt ${n} succeeded in ${record.durationMs} ms.`);
    await options.onAttempt?.(record, policy);
    return { attempts, succeeded: true, timeouts, value };
  }
  // Unreachable: the loop returns on its last attempt.
  return { attempts, succeeded: false, timeouts };
}
