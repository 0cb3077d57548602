import { formatMs } from '../monitor/verdict';
import { LOCK_NOT_AVAILABLE } from './retry';
import { UNIQUE_EMAIL_INDEX } from '../scenarios/lessons';
import type {
  ConcurrentWaitsObserved,
  FailedConcurrentlyObserved,
  LockQueueObserved,
  LockTimeoutObserved,
} from './types';

/** Each lesson's verdict: one paragraph computed from the observed numbers only. */

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

function ms(v: number | null | undefined): string {
  return formatMs(v);
}

type LockQueueFacts = Pick<
  LockQueueObserved,
  | 'readsWaitedBehindDdl'
  | 'maxReadStallMs'
  | 'readsQueued'
  | 'ddlWaitedMs'
  | 'chain'
  | 'longTransactionPid'
  | 'maxReadersWaiting'
  | 'stalledThresholdMs'
>;

export function lockQueueVerdict(o: LockQueueFacts): string {
  const worst = o.maxReadStallMs;
  if (o.readsWaitedBehindDdl) {
    const stalled = worst !== null && worst > o.stalledThresholdMs;
    const head = stalled
      ? `Reads stalled up to ${ms(worst)}`
      : `Reads waited behind the ALTER (worst ${ms(worst)})`;
    const queued =
      o.readsQueued > 0
        ? `${plural(o.readsQueued, 'read')} queued behind ALTER TABLE`
        : `reads queued behind ALTER TABLE`;
    const ddlMode = o.chain?.ddlMode ?? 'AccessExclusiveLock';
    const waited = o.ddlWaitedMs !== null ? ` ${ms(o.ddlWaitedMs)}` : '';
    return (
      `${head}: ${queued} (waiting for ${ddlMode}), which waited${waited} for the open transaction of ` +
      `pid ${o.chain?.blockerPid ?? o.longTransactionPid}. A plain SELECT that never conflicts with the ` +
      `slow report was blocked because the lock queue is first come, first served.`
    );
  }
  if (worst !== null && worst > o.stalledThresholdMs) {
    return (
      `Reads stalled up to ${ms(worst)}, but no read was seen waiting behind the ALTER in pg_locks ` +
      `(the monitor may have missed it).`
    );
  }
  if (o.ddlWaitedMs !== null) {
    return (
      `The ALTER waited ${ms(o.ddlWaitedMs)} for the open transaction of pid ${o.longTransactionPid}, ` +
      `but no read was seen queued behind it (worst read ${ms(worst)}); was the probe running?`
    );
  }
  return (
    `No read was seen waiting behind the ALTER (worst read ${ms(worst)}): the ALTER was not seen waiting ` +
    `for the long transaction.`
  );
}

type LockTimeoutFacts = Pick<
  LockTimeoutObserved,
  | 'lockTimeoutMs'
  | 'attempts'
  | 'timeouts'
  | 'succeeded'
  | 'maxReadStallMs'
  | 'withoutTimeoutMaxReadStallMs'
  | 'longTransactionPid'
  | 'sqlstates'
>;

export function lockTimeoutVerdict(o: LockTimeoutFacts): string {
  const timeout = ms(o.lockTimeoutMs);
  const without = o.withoutTimeoutMaxReadStallMs;
  const worst = o.maxReadStallMs;
  let comparison: string;
  if (worst === null) comparison = 'Read latency is unknown (the probe measured nothing).';
  else if (without === null)
    comparison = `The worst read stall was ${ms(worst)} (run the lock-queue lesson for the figure without a timeout).`;
  else if (worst < without)
    comparison = `The worst read stall was ${ms(worst)} instead of ${ms(without)} without a timeout.`;
  else comparison = `The worst read stall was ${ms(worst)}, no better than ${ms(without)} without a timeout.`;

  const timedOut =
    o.timeouts > 0
      ? `${plural(o.timeouts, 'attempt')} gave up after ${timeout} with ${LOCK_NOT_AVAILABLE} while the transaction of pid ${o.longTransactionPid} stayed open`
      : '';
  if (o.succeeded) {
    const how = timedOut
      ? `${timedOut}, and attempt ${o.attempts} succeeded once it ended.`
      : `the first attempt got its lock and succeeded.`;
    return `With lock_timeout = ${timeout}: ${how} ${comparison}`;
  }
  const lastState = o.sqlstates.at(-1);
  if (lastState && lastState !== LOCK_NOT_AVAILABLE) {
    return (
      `With lock_timeout = ${timeout}: attempt ${o.attempts} failed with SQLSTATE ${lastState}` +
      `${timedOut ? ` after ${timedOut}` : ''}; the migration did not run. ${comparison}`
    );
  }
  return (
    `With lock_timeout = ${timeout}: all ${plural(o.attempts, 'attempt')} gave up with ${LOCK_NOT_AVAILABLE}; ` +
    `the migration did not run, but no read queued behind it for longer than one timeout. ${comparison}`
  );
}

type ConcurrentFacts = Pick<
  ConcurrentWaitsObserved,
  | 'waitingPhaseSeen'
  | 'lockerPidMatched'
  | 'readsAndWritesFlowed'
  | 'phasesSeen'
  | 'longTransactionPid'
  | 'waitMs'
  | 'maxReadMsDuringWait'
  | 'maxWriteMsDuringWait'
  | 'buildCompleted'
  | 'finishedAfterReleaseMs'
>;

export function concurrentWaitsVerdict(o: ConcurrentFacts): string {
  if (!o.lockerPidMatched || o.waitingPhaseSeen === null) {
    const phases = o.phasesSeen.length > 0 ? o.phasesSeen.join(', ') : 'none';
    return (
      `CREATE INDEX CONCURRENTLY was not seen waiting for the open transaction of pid ${o.longTransactionPid} ` +
      `(phases seen: ${phases}).`
    );
  }
  const waited = o.waitMs !== null ? ` ${ms(o.waitMs)}` : '';
  const flow = o.readsAndWritesFlowed
    ? `while reads (worst ${ms(o.maxReadMsDuringWait)}) and writes (worst ${ms(o.maxWriteMsDuringWait)}) kept flowing`
    : `and no read and write were both seen completing meanwhile`;
  const end = o.buildCompleted
    ? `; it finished${o.finishedAfterReleaseMs !== null ? ` ${ms(o.finishedAfterReleaseMs)}` : ''} after that transaction ended.`
    : '; it did not complete.';
  return (
    `CREATE INDEX CONCURRENTLY waited${waited} in phase "${o.waitingPhaseSeen}" for the open transaction of ` +
    `pid ${o.longTransactionPid}, ${flow}${end} CONCURRENTLY trades blocking for waiting: ` +
    `one old transaction delays the whole build.`
  );
}

type FailedFacts = Pick<
  FailedConcurrentlyObserved,
  | 'duplicatesInserted'
  | 'failedWith'
  | 'invalidIndexDetected'
  | 'invalidIndex'
  | 'ifNotExistsSucceeded'
  | 'ifNotExistsKeptInvalid'
  | 'plainRetryFailedWith'
  | 'droppedConcurrently'
  | 'duplicatesRemoved'
  | 'cleanedUp'
>;

export function failedConcurrentlyVerdict(o: FailedFacts, indexName = UNIQUE_EMAIL_INDEX): string {
  const name = o.invalidIndex?.index ?? indexName;
  const parts: string[] = [];
  if (o.failedWith === null) {
    parts.push(
      `CREATE UNIQUE INDEX CONCURRENTLY did not fail (${plural(o.duplicatesInserted, 'duplicate')} inserted).`,
    );
  } else {
    parts.push(
      `CREATE UNIQUE INDEX CONCURRENTLY failed with ${o.failedWith}` +
        `${o.failedWith === '23505' ? ` on ${plural(o.duplicatesInserted, 'duplicate email')}` : ''}` +
        (o.invalidIndexDetected
          ? ` and left the INVALID index ${name} behind` +
            (o.invalidIndex?.indisready
              ? ` (indisready = true): the planner never uses it, yet every write still maintains it.`
              : ` (indisready = false: it failed before writes began to maintain it): the planner never uses it, and it holds the name.`)
          : `, and no invalid index was found.`),
    );
  }
  if (o.invalidIndexDetected) {
    if (o.ifNotExistsSucceeded && o.ifNotExistsKeptInvalid)
      parts.push(`CREATE … IF NOT EXISTS then "succeeded" without doing anything: the index stayed invalid.`);
    else if (o.ifNotExistsSucceeded)
      parts.push(`CREATE … IF NOT EXISTS succeeded and the index became valid.`);
    else parts.push(`CREATE … IF NOT EXISTS failed.`);
    if (o.plainRetryFailedWith)
      parts.push(`Retrying under the same name failed with ${o.plainRetryFailedWith}.`);
  }
  if (o.cleanedUp) {
    const steps = [
      o.droppedConcurrently ? `DROP INDEX CONCURRENTLY removed it` : '',
      o.duplicatesRemoved > 0
        ? `${o.duplicatesRemoved === 1 ? 'the duplicate row was' : `the ${o.duplicatesRemoved} duplicate rows were`} deleted`
        : '',
    ].filter(Boolean);
    parts.push(steps.length > 0 ? `${capitalize(steps.join(' and '))}.` : 'Nothing was left to clean up.');
  } else {
    parts.push(`The cleanup did not complete: check for invalid indexes and duplicate emails.`);
  }
  return parts.join(' ');
}

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
