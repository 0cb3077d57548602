/** The lessons beyond the demo: the lock-queue trap, lock_timeout with retries, CONCURRENTLY's waits and failures. */
export * from './types';
export * from './retry';
export * from './observe';
export * from './verdicts';
export * from './longTransaction';
export * from './indexes';
export * from './migrations';
export { lessonProblems, type LessonContext } from './scene';
export * from './lockQueue';
export * from './lockTimeout';
export * from './concurrentWaits';
export * from './failedConcurrently';
export * from './allLessons';
export * from './record';
