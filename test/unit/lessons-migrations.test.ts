import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { LabError } from '../../src/core/errors';
import {
  LESSON_MIGRATIONS,
  expectedFailureLogger,
  findMigration,
  loadLessonMigrations,
  lockTimeoutStatement,
  withLockTimeout,
} from '../../src/core/lessons/migrations';
import { memoryLogger } from '../../src/core/log';
import type { Migration } from '../../src/core/migrations/runnerMigrations';
import { planMigrate } from '../../src/core/migrations/plan';

const LESSONS = join(__dirname, '../../../migrations-lessons');

void describe('lesson migrations', () => {
  void it('the folder holds the three lesson migrations, as dbmate files the runner can plan', async () => {
    const all = await loadLessonMigrations(LESSONS);
    assert.deepEqual(
      all.map((m) => m.id),
      ['0003_add_column_plain', '0003_add_column_with_lock_timeout', '0004_unique_email_concurrently'],
    );
    const plain = findMigration(all, LESSON_MIGRATIONS.addColumnPlain);
    assert.deepEqual(plain.up.statements, ['ALTER TABLE large_email ADD COLUMN note text']);
    assert.equal(plain.up.transaction, true);
    assert.deepEqual(plain.down?.statements, ['ALTER TABLE large_email DROP COLUMN note']);
    const unique = findMigration(all, LESSON_MIGRATIONS.uniqueEmailConcurrently);
    assert.equal(unique.up.transaction, false);
    assert.equal(unique.up.transactionConflict, undefined);
    assert.deepEqual(unique.up.statements, [
      'CREATE UNIQUE INDEX CONCURRENTLY large_email_email_key ON large_email (email)',
    ]);
    // Each applies on its own above 0001_initial (the lessons give the runner just the one it runs).
    for (const m of all) assert.deepEqual(planMigrate([m], [], m.id), [m]);
  });

  void it('withLockTimeout rewrites the SET LOCAL lock_timeout of the up section', async () => {
    const safe = findMigration(
      await loadLessonMigrations(LESSONS),
      LESSON_MIGRATIONS.addColumnWithLockTimeout,
    );
    assert.deepEqual(safe.up.statements, [
      "SET LOCAL lock_timeout = '1s'",
      'ALTER TABLE large_email ADD COLUMN note text',
    ]);
    const m = withLockTimeout(safe, 250);
    assert.deepEqual(m.up.statements, [
      "SET LOCAL lock_timeout = '250ms'",
      'ALTER TABLE large_email ADD COLUMN note text',
    ]);
    assert.deepEqual(m.down, safe.down, 'the down section is left as written');
    assert.deepEqual(safe.up.statements[0], "SET LOCAL lock_timeout = '1s'", 'the original is not changed');
  });

  void it('withLockTimeout puts a SET first when there is none; session-level without a transaction', () => {
    const runnerMigration = (id: string, transaction: boolean, statements: string[]): Migration => ({
      id,
      version: '0009',
      name: id.slice(5),
      fileName: `${id}.sql`,
      up: { transaction, statements },
      down: null,
    });
    const inTx = runnerMigration('0009_x', true, ['ALTER TABLE t ADD COLUMN c int']);
    assert.deepEqual(withLockTimeout(inTx, 1000).up.statements, [
      "SET LOCAL lock_timeout = '1000ms'",
      'ALTER TABLE t ADD COLUMN c int',
    ]);
    const noTx = runnerMigration('0009_y', false, [
      'set lock_timeout to 5000',
      'CREATE INDEX CONCURRENTLY i ON t (c)',
    ]);
    assert.deepEqual(withLockTimeout(noTx, 700).up.statements, [
      "SET lock_timeout = '700ms'",
      'CREATE INDEX CONCURRENTLY i ON t (c)',
    ]);
  });

  void it('refuses a lock timeout that is not a whole number of ms in range', () => {
    assert.throws(() => lockTimeoutStatement(0, true), LabError);
    assert.throws(() => lockTimeoutStatement(1.5, true), LabError);
    assert.throws(() => lockTimeoutStatement(10_000_000, true), LabError);
    assert.equal(lockTimeoutStatement(1000, true), "SET LOCAL lock_timeout = '1000ms'");
  });

  void it('a missing lesson file is named', async () => {
    await assert.rejects(
      loadLessonMigrations(join(__dirname, '../../../migrations')),
      /0003_add_column_plain\.sql is missing/,
    );
  });

  void it('expected failures are logged as warnings, not errors', () => {
    const log = memoryLogger();
    const l = expectedFailureLogger(log);
    l.error('0003 failed (55P03).');
    l.error(new Error('boom'));
    l.info('fine');
    assert.deepEqual(log.lines, ['warn 0003 failed (55P03).', 'warn boom', 'info fine']);
  });
});
