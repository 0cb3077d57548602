/** The lessons beyond the demo: the lock-queue trap, lock_timeout with retries, CONCURRENTLY's waits and failures. */
export * from './types';
export {
  LESSON_NAMES,
  LESSON_TITLES,
  LESSON_SCENARIOS,
  lessonContextKeys,
  lessonFacts,
  lessonScenario,
  lessonShortfall,
} from '../scenarios/lessons';
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
