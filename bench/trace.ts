import type { Section } from './common';
import { traceFillMetrics } from './traceFill';

/** The trace's figures: the synthetic fill's rate (bench/traceFill.ts). */
export const traceSection: Section = {
  name: 'trace',
  description: 'the trace: synthetic fill rate against the seeder',
  async run(ctx) {
    return [...(await traceFillMetrics(ctx))];
  },
};
