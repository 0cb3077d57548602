import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { LabError } from '../../src/core/errors';
import { assertLabSchemaName, labSchemaNameProblem } from '../../src/core/labSchema';
import { appliedComparedMigration as appliedIndexMigration } from '../../src/core/scenarios/demo';

const manifest = JSON.parse(readFileSync(join(__dirname, '../../../package.json'), 'utf8')) as {
  contributes: {
    configuration: { properties: Record<string, { pattern?: string; patternErrorMessage?: string }> };
  };
};
const setting = manifest.contributes.configuration.properties['migrationLab.schema']!;

const refused = [
  'public',
  'PUBLIC',
  'Public',
  'information_schema',
  'pg_catalog',
  'pg_toast',
  'PG_temp_1',
  'pg_',
  '1abc',
  'with space',
  'a-b',
  'x'.repeat(64),
  '',
];
const accepted = [
  'migration_lab',
  'lab_test',
  '_x',
  'Lab$1',
  'publicity',
  'public_lab',
  'my_pg_schema',
  'x'.repeat(63),
];

void describe('the lab schema name', () => {
  void it("refuses the database's own schemas and non-identifiers, in core", () => {
    for (const name of refused) {
      assert.ok(labSchemaNameProblem(name), `${JSON.stringify(name)} is refused`);
      assert.throws(() => assertLabSchemaName(name), LabError);
    }
    for (const name of accepted) assert.equal(labSchemaNameProblem(name), undefined, name);
    assert.equal(
      labSchemaNameProblem('public'),
      'The schema "public" belongs to the database, not to the lab; set migrationLab.schema to a schema of its own, such as migration_lab.',
    );
  });

  void it("is refused by the setting's own validation exactly as by core", () => {
    assert.ok(setting.pattern && setting.patternErrorMessage, 'the setting has a pattern and its message');
    const pattern = new RegExp(setting.pattern, 'u');
    for (const name of [...refused, ...accepted]) {
      assert.equal(pattern.test(name), labSchemaNameProblem(name) === undefined, JSON.stringify(name));
    }
  });
});

describe('the applied index migration', () => {
  it("is one of the demo scenario's two compared migrations, never another applied one", () => {
    assert.equal(
      appliedIndexMigration([
        { id: '0001_initial', applied: true },
        { id: '0002_add_email_index', applied: false },
        { id: '0002_add_email_index_concurrently', applied: true },
      ]),
      '0002_add_email_index_concurrently',
    );
    assert.equal(
      appliedIndexMigration([
        { id: '0001_initial', applied: true },
        { id: '0002_other', applied: true },
      ]),
      undefined,
    );
  });
});
