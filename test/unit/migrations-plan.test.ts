import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LabError } from '../../src/core/errors';
import type { Migration, MigrationSection } from '../../src/core/migrations/runnerMigrations';
import { planMigrate, planRollback, versionOf } from '../../src/core/migrations/plan';
import { shortStatement } from '../../src/core/migrations/runner';

/** A runner migration; `conflict` is a section's refusal as the loader words it (runnerMigrations' own tests). */
function migration(
  id: string,
  up = 'SELECT 1',
  options: { transaction?: boolean; down?: string | null; upConflict?: string; downConflict?: string } = {},
): Migration {
  const transaction = options.transaction ?? true;
  const section = (sql: string, conflict?: string): MigrationSection => ({
    transaction,
    statements: [sql],
    ...(conflict ? { transactionConflict: conflict } : {}),
  });
  const down = options.down === undefined ? 'SELECT 0' : options.down;
  return {
    id,
    version: /^\d+/.exec(id)![0],
    name: id.replace(/^\d+_/, ''),
    fileName: `${id}.sql`,
    up: section(up, options.upConflict),
    down: down === null ? null : section(down, options.downConflict),
  };
}

const demo = [
  migration('0001_initial'),
  migration('0002_add_email_index'),
  migration('0002_add_email_index_concurrently', 'CREATE INDEX CONCURRENTLY i ON t (x)', {
    transaction: false,
  }),
];
const ids = (plan: Migration[]) => plan.map((m) => m.id);
/** The demo scenario's compared pair: its two index migrations are alternatives. */
const pair = [['0002_add_email_index', '0002_add_email_index_concurrently']];

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof LabError, `expected a LabError, got ${String(e)}`);
    return e.message;
  }
  assert.fail('expected a refusal');
}

void describe('planMigrate', () => {
  void it('applies the lower versions, then the target', () => {
    assert.deepEqual(ids(planMigrate(demo, [], '0002_add_email_index', pair)), [
      '0001_initial',
      '0002_add_email_index',
    ]);
    assert.deepEqual(ids(planMigrate(demo, [], '0002_add_email_index_concurrently', pair)), [
      '0001_initial',
      '0002_add_email_index_concurrently',
    ]);
    assert.deepEqual(ids(planMigrate(demo, [], '0001_initial', pair)), ['0001_initial']);
  });

  void it('skips what is applied already', () => {
    assert.deepEqual(ids(planMigrate(demo, ['0001_initial'], '0002_add_email_index', pair)), [
      '0002_add_email_index',
    ]);
    assert.deepEqual(
      ids(planMigrate(demo, ['0001_initial', '0002_add_email_index'], '0002_add_email_index', pair)),
      [],
    );
    assert.deepEqual(
      ids(planMigrate(demo, ['0001_initial', '0002_add_email_index'], '0001_initial', pair)),
      [],
    );
  });

  void it('refuses to apply one alternative while the other is applied', () => {
    assert.equal(
      refusal(() =>
        planMigrate(
          demo,
          ['0001_initial', '0002_add_email_index_concurrently'],
          '0002_add_email_index',
          pair,
        ),
      ),
      '0002_add_email_index_concurrently is applied; roll back to 0001_initial before applying 0002_add_email_index.',
    );
    assert.equal(
      refusal(() =>
        planMigrate(
          demo,
          ['0001_initial', '0002_add_email_index'],
          '0002_add_email_index_concurrently',
          pair,
        ),
      ),
      '0002_add_email_index is applied; roll back to 0001_initial before applying 0002_add_email_index_concurrently.',
    );
  });

  void it('names the alternative itself when there is nothing lower to roll back to', () => {
    const list = [migration('0001_a'), migration('0001_b')];
    assert.equal(
      refusal(() => planMigrate(list, ['0001_a'], '0001_b', [['0001_a', '0001_b']])),
      '0001_a is applied; roll back 0001_a before applying 0001_b.',
    );
  });

  void it('picks the applied alternative of a lower version, and refuses when none is applied', () => {
    const list = [...demo, migration('0003_more')];
    assert.deepEqual(
      ids(planMigrate(list, ['0001_initial', '0002_add_email_index_concurrently'], '0003_more', pair)),
      ['0003_more'],
    );
    assert.equal(
      refusal(() => planMigrate(list, ['0001_initial'], '0003_more', pair)),
      '0002_add_email_index and 0002_add_email_index_concurrently are alternatives; apply one of them before 0003_more.',
    );
  });

  void it('applies migrations that share a version in order when nobody named them alternatives', () => {
    assert.deepEqual(ids(planMigrate(demo, [], '0002_add_email_index_concurrently')), [
      '0001_initial',
      '0002_add_email_index',
      '0002_add_email_index_concurrently',
    ]);
    assert.deepEqual(
      ids(planMigrate(demo, ['0001_initial', '0002_add_email_index'], '0002_add_email_index_concurrently')),
      ['0002_add_email_index_concurrently'],
    );
  });

  void it('orders versions numerically and fills gaps', () => {
    const list = [migration('9_a'), migration('10_b'), migration('0011_c')];
    assert.deepEqual(ids(planMigrate(list, ['10_b'], '0011_c', pair)), ['9_a', '0011_c']);
  });

  void it('refuses an unknown target', () => {
    assert.equal(
      refusal(() => planMigrate(demo, [], '0009_nope', pair)),
      'There is no migration named 0009_nope.',
    );
  });

  void it('refuses CONCURRENTLY in a transactional section before anything runs', () => {
    const conflict = '0002_bad.sql: line 2 has CREATE INDEX CONCURRENTLY, which cannot run inside …';
    const list = [
      demo[0],
      migration('0002_bad', 'CREATE INDEX CONCURRENTLY i ON t (x)', { upConflict: conflict }),
    ];
    assert.equal(
      refusal(() => planMigrate(list, [], '0002_bad', pair)),
      conflict,
    );
    // Not in the plan: no refusal.
    assert.deepEqual(ids(planMigrate(list, [], '0001_initial', pair)), ['0001_initial']);
  });
});

void describe('planRollback', () => {
  void it('rolls back what is newer than the target, newest first', () => {
    const list = [...demo, migration('0003_more')];
    const applied = ['0001_initial', '0002_add_email_index', '0003_more'];
    assert.deepEqual(ids(planRollback(list, applied, '0001_initial')), ['0003_more', '0002_add_email_index']);
    assert.deepEqual(ids(planRollback(list, applied, '0003_more')), []);
  });

  void it('rolls back everything with a null target', () => {
    assert.deepEqual(ids(planRollback(demo, ['0001_initial', '0002_add_email_index_concurrently'], null)), [
      '0002_add_email_index_concurrently',
      '0001_initial',
    ]);
    assert.deepEqual(ids(planRollback(demo, [], null)), []);
  });

  void it('refuses an unknown or unapplied target', () => {
    assert.equal(
      refusal(() => planRollback(demo, ['0001_initial'], 'nope')),
      'There is no migration named nope.',
    );
    assert.equal(
      refusal(() =>
        planRollback(demo, ['0001_initial', '0002_add_email_index'], '0002_add_email_index_concurrently'),
      ),
      '0002_add_email_index_concurrently is not applied, so there is nothing to roll back to.',
    );
  });

  void it('refuses applied migrations without a file or without a down section', () => {
    assert.equal(
      refusal(() => planRollback(demo, ['0001_initial', '0005_gone'], '0001_initial')),
      '0005_gone is applied but its file is missing, so it cannot be rolled back.',
    );
    const list = [demo[0], migration('0002_forever', 'SELECT 1', { down: null })];
    assert.equal(
      refusal(() => planRollback(list, ['0001_initial', '0002_forever'], '0001_initial')),
      '0002_forever.sql has no `-- migrate:down` section, so it cannot be rolled back.',
    );
  });

  void it('refuses a transactional down section with CONCURRENTLY', () => {
    const conflict = '0002_x.sql: line 4 has DROP INDEX CONCURRENTLY, which cannot run inside …';
    const list = [
      demo[0],
      migration('0002_x', 'SELECT 1', { down: 'DROP INDEX CONCURRENTLY i', downConflict: conflict }),
    ];
    assert.equal(
      refusal(() => planRollback(list, ['0001_initial', '0002_x'], '0001_initial')),
      conflict,
    );
  });
});

void describe('versionOf', () => {
  void it('returns the leading digits of an id', () => {
    assert.equal(versionOf('0002_add_email_index'), '0002');
    assert.equal(versionOf('initial'), '');
  });
});

void describe('shortStatement', () => {
  void it('flattens whitespace and cuts long statements at a word with " …"', () => {
    assert.equal(shortStatement('CREATE INDEX i\n    ON t (x)'), 'CREATE INDEX i ON t (x)');
    const long = `CREATE INDEX large_email_email_idx ON large_email USING btree (email) WHERE email LIKE '%@example.com'`;
    assert.equal(
      shortStatement(long),
      'CREATE INDEX large_email_email_idx ON large_email USING btree (email) WHERE …',
    );
    // No space in the second half: cut mid-word rather than lose most of the text.
    assert.equal(shortStatement(long, 30), 'CREATE INDEX large_email_email …');
  });
});
