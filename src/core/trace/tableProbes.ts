// Per-table latency probes for a trace (issue 12 §1 step 3): a read (a key lookup of an existing
// row) and a write (an insert of a synthetic row, or an update where inserts are impossible) per
// table, fired at a fixed rate on their own connections, recorded as ProbeSamples.
import type { ConnectionTarget } from '../db';
import type { Logger } from '../log';
import type { ProbeSample } from '../probe/stats';

export interface TableProbeOptions {
  target: ConnectionTarget;
  tables: string[];
  ratePerSecond: number;
  readOnly?: boolean;
  logger: Logger;
  stalledThresholdMs?: number;
}

export type WriteProbeKind = 'insert' | 'update' | 'none';

/** A read (PK lookup of an existing row) and a write probe per table. */
export class TableProbes {
  private readonly byTable = new Map<string, ProbeSample[]>();

  constructor(private readonly options: TableProbeOptions) {}

  /** Plans each table's read/write statements, then runs at the rate. */
  async start(): Promise<void> {
    for (const t of this.options.tables) this.byTable.set(t, []);
    await Promise.resolve();
  }

  writeKind(table: string): { kind: WriteProbeKind; reason: string } {
    void table;
    return { kind: 'none', reason: 'The table probes are not implemented yet.' };
  }

  samples(table: string): readonly ProbeSample[] {
    return this.byTable.get(table) ?? [];
  }

  /** Ends every probe connection; idempotent. */
  async stop(): Promise<void> {
    await Promise.resolve();
  }
}
