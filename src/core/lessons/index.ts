/** The lessons beyond the demo: the lock-queue trap, lock_timeout with retries, CONCURRENTLY's waits and failures. */
export * from './types';
export * from './retry';
export * from './observe';
export * from './verdicts';
export * from './longTransaction';
export * from './indexes';
export * from './migrations';
export * from './lessons';
export * from './record';
