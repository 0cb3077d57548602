import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TOOL_IDS } from '../../src/core/migrations/model';
import { HISTORY_TABLES } from '../../src/core/migrations/historyTables';
import {
  replayDoneSentence,
  SCRATCH_PREFIX,
  scratchDatabaseName,
  type ReplayReport,
} from '../../src/core/migrations/replay';

void describe('scratch database names', () => {
  it('say the tool and the folder, and differ for two folders of the same name', () => {
    const a = scratchDatabaseName({ tool: 'dbmate', path: '/work/app/db/migrations' });
    const b = scratchDatabaseName({ tool: 'dbmate', path: '/work/other/db/migrations' });
    assert.match(a, /^mlab_dbmate_migrations_[0-9a-f]{8}$/);
    assert.notEqual(a, b);
    assert.equal(a, scratchDatabaseName({ tool: 'dbmate', path: '/work/app/db/migrations' }), 'stable');
  });

  it('are plain lower-case identifiers within PostgreSQL 63-byte limit, whatever the folder is called', () => {
    const names = [
      scratchDatabaseName({ tool: 'golang-migrate', path: `/x/${'Très Long Dossier — '.repeat(10)}` }),
      scratchDatabaseName({ tool: 'node-pg-migrate', path: '/x/"; DROP DATABASE x; --' }),
      scratchDatabaseName({ tool: 'plain', path: '/' }),
    ];
    for (const name of names) {
      assert.ok(name.startsWith(SCRATCH_PREFIX), name);
      assert.match(name, /^[a-z0-9_]+$/);
      assert.ok(Buffer.byteLength(name) <= 63, `${name} fits`);
    }
    assert.match(names[1], /^mlab_node_pg_migrate_drop_database_x_[0-9a-f]{8}$/);
  });

  it('every tool but plain SQL has its own history table', () => {
    for (const tool of TOOL_IDS) {
      assert.equal(HISTORY_TABLES[tool].ddl.length > 0, tool !== 'plain', tool);
      if (tool !== 'plain')
        assert.ok(HISTORY_TABLES[tool].ddl.join(' ').includes(HISTORY_TABLES[tool].name), tool);
    }
  });
});

void describe('the sentence a finished replay ends with', () => {
  const report: ReplayReport = {
    tool: 'dbmate',
    database: 'mlab_dbmate_db_00000000',
    migrations: [
      { id: '1_a', version: '1', mode: 'transaction', statements: 1, durationMs: 2, status: 'applied' },
      { id: '2_b', version: '2', mode: 'transaction', statements: 1, durationMs: 0, status: 'pending' },
    ],
  };

  void it('names the exact PostgreSQL it ran on', () => {
    assert.equal(
      replayDoneSentence('Replay db', { ...report, serverVersion: '14.23', resetBecause: 'a file changed' }),
      'Replay db: 1 of 2 applied on mlab_dbmate_db_00000000 (PostgreSQL 14.23) (reset first: a file changed).',
    );
    assert.equal(
      replayDoneSentence('Replay db', report),
      'Replay db: 1 of 2 applied on mlab_dbmate_db_00000000.',
    );
  });
});
