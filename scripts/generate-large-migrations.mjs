// Writes a realistic dbmate migration folder: extensions, then for each domain entity a table, an
// enum and its later ADD VALUE, a trigger function, a concurrent index (transaction:false), a foreign
// key to the previous entity, a view, a data backfill with non-ASCII rows, a NOT VALID check validated
// in the next migration, a rename, a comment — each with its down.
// Usage: node scripts/generate-large-migrations.mjs OUT_DIR [ENTITY_COUNT=12]  (12 entities = 123 migrations)
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const out = process.argv[2];
const entityCount = Number(process.argv[3] ?? 12);
if (!out || !Number.isInteger(entityCount) || entityCount < 1) {
  console.error('Usage: node scripts/generate-large-migrations.mjs OUT_DIR [ENTITY_COUNT]');
  process.exit(2);
}

const BASE = ['customer', 'product', 'order', 'invoice', 'payment', 'shipment', 'supplier', 'warehouse'];
const MORE = ['review', 'coupon', 'refund', 'ticket', 'campaign', 'subscription', 'device', 'session'];
const names = [];
for (let k = 0; names.length < entityCount; k++) {
  const word = [...BASE, ...MORE][k % (BASE.length + MORE.length)];
  names.push(k < BASE.length + MORE.length ? word : `${word}_${Math.floor(k / (BASE.length + MORE.length))}`);
}

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
let version = 0;
const write = (name, up, down, upOptions = '', downOptions = upOptions) => {
  version++;
  const file = `${String(version).padStart(4, '0')}_${name}.sql`;
  writeFileSync(
    join(out, file),
    `-- migrate:up${upOptions}\n${up.trim()}\n\n-- migrate:down${downOptions}\n${down.trim()}\n`,
  );
};

write(
  'extensions',
  `CREATE EXTENSION IF NOT EXISTS pgcrypto;\nCREATE EXTENSION IF NOT EXISTS pg_trgm;\nCREATE EXTENSION IF NOT EXISTS "uuid-ossp";`,
  `DROP EXTENSION IF EXISTS "uuid-ossp";\nDROP EXTENSION IF EXISTS pg_trgm;\nDROP EXTENSION IF EXISTS pgcrypto;`,
);
write('ltree', 'CREATE EXTENSION IF NOT EXISTS ltree;', 'DROP EXTENSION IF EXISTS ltree;');
write(
  'audit_log',
  `
CREATE TABLE audit_log (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  table_name text NOT NULL,
  row_id bigint NOT NULL,
  changed_at timestamptz NOT NULL DEFAULT now(),
  path ltree
);

CREATE FUNCTION audit_change() RETURNS trigger LANGUAGE plpgsql AS $audit$
BEGIN
  -- A semicolon inside the body; the scanner must not split here.
  INSERT INTO audit_log (table_name, row_id, path) VALUES (TG_TABLE_NAME, NEW.id, text2ltree(TG_TABLE_NAME));
  RETURN NEW;
END;
$audit$;`,
  `DROP FUNCTION audit_change();\nDROP TABLE audit_log;`,
);

names.forEach((e, k) => {
  const previous = k > 0 ? names[k - 1] : undefined;
  const table = `${e}s`;
  write(
    `create_${table}`,
    `
CREATE TABLE ${table} (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  public_id uuid NOT NULL DEFAULT gen_random_uuid(),
  name text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);`,
    `DROP TABLE ${table};`,
  );
  write(
    `${e}_status_enum`,
    `CREATE TYPE ${e}_status AS ENUM ('new', 'active');\nALTER TABLE ${table} ADD COLUMN status ${e}_status NOT NULL DEFAULT 'new';`,
    `ALTER TABLE ${table} DROP COLUMN status;\nDROP TYPE ${e}_status;`,
  );
  // A new enum value cannot be used in the transaction that adds it, so it gets its own migration.
  write(
    `${e}_status_archived`,
    `ALTER TYPE ${e}_status ADD VALUE IF NOT EXISTS 'archived';`,
    `-- PostgreSQL cannot drop an enum value; the down leaves it.\nSELECT 1;`,
  );
  write(
    `${e}_touch_trigger`,
    `
CREATE FUNCTION ${e}_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.updated_at := now();
  RETURN NEW;
END;
$$;

CREATE TRIGGER ${table}_touch BEFORE UPDATE ON ${table}
  FOR EACH ROW EXECUTE FUNCTION ${e}_touch();

CREATE TRIGGER ${table}_audit AFTER INSERT ON ${table}
  FOR EACH ROW EXECUTE FUNCTION audit_change();`,
    `DROP TRIGGER ${table}_audit ON ${table};\nDROP TRIGGER ${table}_touch ON ${table};\nDROP FUNCTION ${e}_touch();`,
  );
  write(
    `${table}_created_at_index`,
    `CREATE INDEX CONCURRENTLY ${table}_created_at_idx ON ${table} (created_at);`,
    `DROP INDEX CONCURRENTLY ${table}_created_at_idx;`,
    ' transaction:false',
  );
  write(
    `${table}_name_trigram_index`,
    `CREATE INDEX CONCURRENTLY ${table}_name_trgm_idx ON ${table} USING gin (name gin_trgm_ops);`,
    `DROP INDEX CONCURRENTLY ${table}_name_trgm_idx;`,
    ' transaction:false',
  );
  if (previous) {
    write(
      `${table}_${previous}_fk`,
      `ALTER TABLE ${table} ADD COLUMN ${previous}_id bigint REFERENCES ${previous}s (id) ON DELETE SET NULL;`,
      `ALTER TABLE ${table} DROP COLUMN ${previous}_id;`,
    );
  } else {
    write(
      `${table}_tags`,
      `ALTER TABLE ${table} ADD COLUMN tags text[] NOT NULL DEFAULT '{}';`,
      `ALTER TABLE ${table} DROP COLUMN tags;`,
    );
  }
  write(
    `${table}_seed`,
    `
INSERT INTO ${table} (name) VALUES ('Zoë''s ${e}'), ('東京 ${e}'), ('naïve; ${e} with a semicolon');
UPDATE ${table} SET status = 'active' WHERE name LIKE 'Zoë%';`,
    `DELETE FROM ${table};`,
  );
  write(
    `${table}_name_check`,
    `ALTER TABLE ${table} ADD CONSTRAINT ${table}_name_not_blank CHECK (btrim(name) <> '') NOT VALID;`,
    `ALTER TABLE ${table} DROP CONSTRAINT ${table}_name_not_blank;`,
  );
  write(
    `${table}_validate_name_check`,
    `ALTER TABLE ${table} VALIDATE CONSTRAINT ${table}_name_not_blank;`,
    `SELECT 1; -- validation has no down`,
  );
  write(
    `${table}_recent_view`,
    `
CREATE VIEW recent_${table} AS
  SELECT id, public_id, name, status FROM ${table}
  WHERE created_at > now() - interval '7 days';
COMMENT ON VIEW recent_${table} IS 'Rows of ${table} created in the last week; "quoted" and ''single'' quotes inside.';`,
    `DROP VIEW recent_${table};`,
  );
});

console.log(`${version} migrations written to ${out}`);
