import type { Section } from './common';
import { embeddedSection } from './embedded';
import { extensionSection } from './extension';
import { lintSection } from './lint';
import { monitorSection } from './monitor';
import { parseSection } from './parse';
import { replaySection } from './replay';
import { seedSection } from './seed';
import { traceSection } from './trace';

/** In run order: the short embedded timings first, before seeding leaves the disk busy. */
export const SECTIONS: readonly Section[] = [
  parseSection,
  embeddedSection,
  seedSection,
  monitorSection,
  extensionSection,
  replaySection,
  lintSection,
  traceSection,
];
