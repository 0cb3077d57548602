import type { LessonName } from '../core/lessons/types';
import type { PanelAction } from '../shared/protocol';

/**
 * Each lesson scenario's panel action (its button, and through PANEL_ACTIONS its command): the one place
 * a lesson is paired with its command. Titles and everything else come from the scenario.
 */
export const LESSON_ACTIONS: Readonly<Record<LessonName, PanelAction>> = {
  'lock-queue': 'lessonLockQueue',
  'lock-timeout': 'lessonLockTimeout',
  'concurrent-waits': 'lessonConcurrentWaits',
  'failed-concurrently': 'lessonFailedConcurrently',
};
