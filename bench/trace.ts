import type { Section } from './common';
import { traceFillMetrics } from './traceFill';
import { traceOverheadMetrics } from './traceOverhead';

/** The trace's figures: the synthetic fill's rate (bench/traceFill.ts), the tracer's overhead (bench/traceOverhead.ts). */
export const traceSection: Section = {
  name: 'trace',
  description: 'the trace: synthetic fill rate against the seeder; a plain CREATE INDEX traced vs untraced',
  async run(ctx) {
    return [...(await traceFillMetrics(ctx)), ...(await traceOverheadMetrics(ctx))];
  },
};
