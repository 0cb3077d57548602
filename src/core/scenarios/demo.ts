/**
 * The demo, as data: its bundled migrations (dbmate's format), its tables, the migration that creates
 * them, the two index migrations it compares, and what its probe does. The only place that names them.
 */
import type { ScenarioBase } from './types';

export interface DemoScenario extends ScenarioBase {
  kind: 'demo';
  /** The migration that creates the tables. */
  initial: string;
  /** The two alternative migrations the demo compares: they build the same index, one of them at a time. */
  compared: { locking: string; concurrent: string };
  /** The index both compared migrations build. */
  index: string;
  /** The table the seeder fills with many rows (the others get a few), and its column of addresses. */
  seed: { large: string; small: string };
  /** The table the HTTP probe reads and writes, and what each request is. */
  probe: { table: string; read: string; write: string };
}

export const DEMO_SCENARIO: DemoScenario = {
  kind: 'demo',
  id: 'demo',
  title: 'Demo: large_email',
  source: { folder: 'migrations', tool: 'dbmate' },
  tables: ['large_email', 'small_email'],
  migrations: ['0001_initial', '0002_add_email_index', '0002_add_email_index_concurrently'],
  initial: '0001_initial',
  compared: { locking: '0002_add_email_index', concurrent: '0002_add_email_index_concurrently' },
  index: 'large_email_email_idx',
  seed: { large: 'large_email', small: 'small_email' },
  probe: {
    table: 'large_email',
    read: 'GET /list_large/ (a SELECT of the newest rows)',
    write: 'POST /insert_large/ (an INSERT of one row)',
  },
};

/** Which of the demo's two compared migrations is applied (they build the same index), if one is. */
export function appliedComparedMigration(
  migrations: readonly { id: string; applied: boolean }[],
  demo: DemoScenario = DEMO_SCENARIO,
): string | undefined {
  const { locking, concurrent } = demo.compared;
  return migrations.find((m) => m.applied && (m.id === locking || m.id === concurrent))?.id;
}

/** The demo's compared migrations as the runner's alternatives: at most one of them is applied at a time. */
export function comparedAlternatives(demo: DemoScenario = DEMO_SCENARIO): string[][] {
  return [[demo.compared.locking, demo.compared.concurrent]];
}

/** The kind of run a demo migration is: the locking or the concurrent alternative, or another. */
export function comparedKind(
  migrationId: string,
  demo: DemoScenario = DEMO_SCENARIO,
): 'locking' | 'concurrent' | 'other' {
  return migrationId === demo.compared.locking
    ? 'locking'
    : migrationId === demo.compared.concurrent
      ? 'concurrent'
      : 'other';
}
