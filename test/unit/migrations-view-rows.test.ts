import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Migration, MigrationSource } from '../../src/core/migrations/model';
import type { MigrationOutcome, ReplayReport } from '../../src/core/migrations/replay';
import type { MigrationStatus } from '../../src/core/migrations/runner';
import { DEMO_SCENARIO } from '../../src/core/scenarios/demo';
import {
  MigrationsRows,
  currentRow,
  migrationRowId,
  migrationsTree,
  rowsToRedraw,
  type MigrationsItem,
  type MigrationsViewInput,
} from '../../src/extension/migrationsModel';
import type { SourceEntry } from '../../src/extension/sources';

const FOLDER = '/ws/shop/db/migrations';
const DEMO_PATH = '/ext/migrations';

function migration(id: string): Migration {
  return {
    id,
    version: id.slice(0, 4),
    name: id.slice(5),
    files: [`${FOLDER}/${id}.sql`],
    up: { mode: 'transaction', why: 'dbmate runs each section in a transaction', statements: [] },
    down: { mode: 'transaction', why: 'dbmate runs each section in a transaction', statements: [] },
  };
}

function source(ids: readonly string[]): MigrationSource {
  return {
    path: FOLDER,
    tool: 'dbmate',
    evidence: ['db/migrations with -- migrate:up'],
    migrations: ids.map(migration),
  };
}

function report(applied: readonly string[], ids: readonly string[]): ReplayReport {
  return {
    tool: 'dbmate',
    database: 'lab_scratch_shop',
    migrations: ids.map((id): MigrationOutcome => ({
      id,
      version: id.slice(0, 4),
      mode: 'transaction',
      statements: 1,
      durationMs: applied.includes(id) ? 12 : 0,
      status: applied.includes(id) ? 'applied' : 'pending',
    })),
  };
}

const IDS = ['0001_users', '0002_orders', '0003_orders_index'];

function entry(ids: readonly string[] = IDS, applied: readonly string[] = ['0001_users']): SourceEntry {
  return {
    found: { path: FOLDER, tool: 'dbmate', evidence: ['db/migrations with -- migrate:up'] },
    source: source(ids),
    status: report(applied, ids),
  };
}

const demoMigrations: MigrationStatus[] = [
  {
    id: '0001_initial',
    version: '0001',
    applied: true,
    appliedAt: new Date(1_700_000_000_000),
    durationMs: 40,
  },
  { id: '0002_add_email_index', version: '0002', applied: false },
];

function input(patch: Partial<MigrationsViewInput> = {}): MigrationsViewInput {
  return {
    running: true,
    demoMigrationRunning: false,
    demoMigrations,
    entries: [entry()],
    scenario: DEMO_SCENARIO,
    demoPath: DEMO_PATH,
    shownPath: (p) => p.replace('/ws/', ''),
    ...patch,
  };
}

describe('Migrations view rows', () => {
  it('gives each row an id from its source path and migration id', () => {
    const tree = migrationsTree(input());
    assert.deepEqual(tree.children.get(''), [`source:${FOLDER}`, 'scenario:demo']);
    assert.deepEqual(
      tree.children.get(`source:${FOLDER}`),
      IDS.map((id) => `${FOLDER}#${id}`),
    );
    assert.deepEqual(tree.children.get('scenario:demo'), [
      migrationRowId(DEMO_PATH, '0001_initial'),
      migrationRowId(DEMO_PATH, '0002_add_email_index'),
    ]);
    assert.equal(tree.rows.get(`${FOLDER}#0001_users`)?.look.label, '[X] 0001_users');
    assert.equal(tree.rows.get(`${FOLDER}#0002_orders`)?.look.contextValue, 'sourceMigration.pending');
  });

  it('redraws nothing for a lab state tick that changes nothing shown (fresh but equal state)', () => {
    const rows = new MigrationsRows();
    rows.update(input());
    // What a lab state tick hands over: fresh arrays and entries with the same content.
    const tick = input({
      demoMigrations: demoMigrations.map((m) => ({ ...m })),
      entries: [entry()],
    });
    assert.deepEqual(rows.update(tick), []);
    assert.deepEqual(rowsToRedraw(migrationsTree(input()), migrationsTree(tick)), []);
  });

  it('redraws only the rows whose look changed, with the elements VS Code was given', () => {
    const rows = new MigrationsRows();
    rows.update(input());
    const [sourceRow] = rows.children();
    const before = rows.children(sourceRow);
    // 0002_orders applied: its row and the source's "1 of 3 applied" change, nothing else.
    const redraw = rows.update(input({ entries: [entry(IDS, ['0001_users', '0002_orders'])] }));
    assert.notEqual(redraw, 'root');
    assert.deepEqual(
      (redraw as MigrationsItem[]).map((e) => rows.row(e)?.id),
      [`source:${FOLDER}`],
      'the source row redraws (its description), which covers its migrations',
    );
    assert.equal(rows.row(before[1]!)?.look.label, '[X] 0002_orders');
    // The same element objects: VS Code keeps each row's handle and selection.
    assert.deepEqual(rows.children(sourceRow), before);
    assert.equal(
      (before[1] as { status?: string }).status,
      'applied',
      'the element VS Code holds reads the new state',
    );
  });

  it('redraws the demo migrations alone when a demo migration starts running', () => {
    const rows = new MigrationsRows();
    rows.update(input());
    const redraw = rows.update(input({ demoMigrationRunning: true }));
    assert.notEqual(redraw, 'root');
    assert.deepEqual(
      (redraw as MigrationsItem[]).map((e) => rows.row(e)?.id),
      [migrationRowId(DEMO_PATH, '0001_initial'), migrationRowId(DEMO_PATH, '0002_add_email_index')],
    );
  });

  it('redraws a parent whose children changed, and the root when a source comes or goes', () => {
    const rows = new MigrationsRows();
    rows.update(input());
    const redraw = rows.update(input({ entries: [entry([...IDS, '0004_audit'])] }));
    assert.deepEqual(
      (redraw as MigrationsItem[]).map((e) => rows.row(e)?.id),
      [`source:${FOLDER}`],
    );
    assert.equal(rows.update(input({ entries: [] })), 'root');
  });
});

describe('A row a command receives, resolved against the sources now', () => {
  it('finds the migration by its id, not its old position, in the folder as read now', () => {
    const old = entry();
    const clicked = { kind: 'migration', entry: old, index: 1, id: '0002_orders' };
    // The folder was read again: a migration inserted before it moved it to position 2.
    const now = entry(['0001_users', '0001_users_email', '0002_orders', '0003_orders_index']);
    const row = currentRow(clicked, [now]);
    assert.equal(row?.entry, now);
    assert.equal(row?.index, 2);
    assert.equal(row?.missing, undefined);
  });

  it('says which migration is gone instead of acting on its neighbour', () => {
    const clicked = { kind: 'migration', entry: entry(), index: 1, id: '0002_orders' };
    assert.deepEqual(
      currentRow(clicked, [entry(['0001_users', '0003_orders_index'])])?.missing,
      '0002_orders',
    );
  });

  it("takes a row without an id (the walkthrough's) by its position in the entry it names", () => {
    const e = entry();
    assert.deepEqual(currentRow({ kind: 'migration', entry: e, index: 2 }, []), { entry: e, index: 2 });
  });

  it('is undefined for what is no row (the palette, a string)', () => {
    assert.equal(currentRow(undefined, [entry()]), undefined);
    assert.equal(currentRow('0002_orders', [entry()]), undefined);
  });
});
