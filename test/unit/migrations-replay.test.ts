import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TOOL_IDS } from '../../src/core/migrations/model';
import { HISTORY_TABLES } from '../../src/core/migrations/historyTables';
import { SCRATCH_PREFIX, scratchDatabaseName } from '../../src/core/migrations/replay';

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
