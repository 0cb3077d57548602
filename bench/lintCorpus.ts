import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Statement forms of a realistic migration history, each a function of (the table it creates or
 * alters, an earlier table of the history, a counter): tables with keys, defaults and checks, every
 * index form, the ALTER TABLE subforms people write, constraints added the safe and the unsafe way,
 * functions with dollar-quoted bodies (`$$` and tagged), triggers, views, enums, backfills, renames,
 * drops, grants and comments. The mix is fixed, so every run lints the same text.
 */
type Form = (t: string, earlier: string, k: number) => string;

const CREATE_FORMS: Form[] = [
  (t, earlier) =>
    `CREATE TABLE ${t} (\n  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n  parent_id bigint REFERENCES ${earlier} (id) ON DELETE CASCADE,\n  email varchar(200) NOT NULL,\n  status text NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'active', 'closed')),\n  amount numeric(12, 2) NOT NULL DEFAULT 0,\n  payload jsonb,\n  created_at timestamptz NOT NULL DEFAULT now(),\n  updated_at timestamptz,\n  CONSTRAINT ${t}_email_key UNIQUE (email)\n)`,
];

const FOLLOW_FORMS: Form[] = [
  (t) => `CREATE INDEX ${t}_created_at_idx ON ${t} (created_at)`,
  (t) => `CREATE INDEX CONCURRENTLY IF NOT EXISTS ${t}_status_idx ON ${t} (status) WHERE status <> 'closed'`,
  (t) => `CREATE UNIQUE INDEX ${t}_lower_email_idx ON ${t} (lower(email))`,
  (t) => `CREATE INDEX ${t}_payload_idx ON ${t} USING gin (payload jsonb_path_ops)`,
  (t, e) => `ALTER TABLE ${e} ADD COLUMN note_${t} text`,
  (t, e) => `ALTER TABLE ${e} ADD COLUMN score_${t} integer NOT NULL DEFAULT 0`,
  (t, e) => `ALTER TABLE ${e} ADD COLUMN token_${t} uuid DEFAULT gen_random_uuid()`,
  (t) => `ALTER TABLE ${t} ALTER COLUMN email TYPE varchar(320)`,
  (t) => `ALTER TABLE ${t} ALTER COLUMN amount TYPE numeric(14, 2)`,
  (t) => `ALTER TABLE ${t} ALTER COLUMN status SET DEFAULT 'active'`,
  (t) => `ALTER TABLE ${t} ALTER COLUMN updated_at DROP DEFAULT`,
  (t) => `ALTER TABLE ${t} ALTER COLUMN updated_at SET NOT NULL`,
  (t) => `ALTER TABLE ${t} ALTER COLUMN payload DROP NOT NULL`,
  (t) => `ALTER TABLE ${t} ALTER COLUMN amount SET STATISTICS 500`,
  (t) => `ALTER TABLE ${t} ADD CONSTRAINT ${t}_amount_positive CHECK (amount >= 0) NOT VALID`,
  (t) => `ALTER TABLE ${t} VALIDATE CONSTRAINT ${t}_amount_positive`,
  (t, e) => `ALTER TABLE ${t} ADD CONSTRAINT ${t}_parent_fkey FOREIGN KEY (parent_id) REFERENCES ${e} (id)`,
  (t) => `ALTER TABLE ${t} ADD CONSTRAINT ${t}_payload_object CHECK (jsonb_typeof(payload) = 'object')`,
  (t) => `ALTER TABLE ${t} RENAME COLUMN updated_at TO modified_at`,
  (t) => `ALTER TABLE ${t} DROP COLUMN IF EXISTS payload`,
  (t) => `ALTER TABLE ${t} SET (fillfactor = 90, autovacuum_vacuum_scale_factor = 0.05)`,
  (t) => `ALTER TABLE ${t} ENABLE ROW LEVEL SECURITY`,
  (t) =>
    `CREATE OR REPLACE FUNCTION ${t}_touch() RETURNS trigger\nLANGUAGE plpgsql AS $$\nBEGIN\n  -- a semicolon inside the body; and a 'quoted' word\n  NEW.modified_at := now();\n  RETURN NEW;\nEND;\n$$`,
  (t) => `CREATE TRIGGER ${t}_touch BEFORE UPDATE ON ${t}\n  FOR EACH ROW EXECUTE FUNCTION ${t}_touch()`,
  (t) =>
    `CREATE FUNCTION ${t}_total(p_status text) RETURNS numeric\nLANGUAGE sql STABLE AS $body$\n  SELECT coalesce(sum(amount), 0) FROM ${t} WHERE status = p_status; -- $$ is not the end\n$body$`,
  (t) => `COMMENT ON TABLE ${t} IS 'Rows of ${t}; see the design notes'`,
  (t) => `COMMENT ON COLUMN ${t}.status IS 'new → active → closed'`,
  (t) => `CREATE VIEW ${t}_open AS SELECT id, email, amount FROM ${t} WHERE status <> 'closed'`,
  (t) =>
    `CREATE MATERIALIZED VIEW ${t}_daily AS\n  SELECT date_trunc('day', created_at) AS day, count(*) AS n FROM ${t} GROUP BY 1`,
  (t) => `REFRESH MATERIALIZED VIEW ${t}_daily`,
  (t) => `UPDATE ${t} SET status = 'active' WHERE status = 'new' AND created_at < now() - interval '30 days'`,
  (t) =>
    `INSERT INTO ${t} (email, status, amount) VALUES ('a@${t}.example', 'new', 1.50), ('b@${t}.example', 'active', 2)`,
  (t, _e, k) => `CREATE TYPE ${t}_kind_${k} AS ENUM ('small', 'medium', 'large')`,
  (t, _e, k) => `ALTER TYPE ${t}_kind_${k} ADD VALUE IF NOT EXISTS 'huge' AFTER 'large'`,
  (t) => `CREATE SEQUENCE ${t}_number_seq START 1000 INCREMENT 1`,
  (t) => `GRANT SELECT, INSERT, UPDATE ON ${t} TO PUBLIC`,
  () => `SET lock_timeout = '2s'`,
  (t) => `DROP INDEX CONCURRENTLY IF EXISTS ${t}_created_at_idx`,
  (t) => `CREATE UNIQUE INDEX CONCURRENTLY ${t}_id_email_idx ON ${t} (id, email)`,
  (t) => `ALTER TABLE ${t} ADD CONSTRAINT ${t}_id_email_key UNIQUE USING INDEX ${t}_id_email_idx`,
  (t) => `DROP VIEW IF EXISTS ${t}_open`,
  (t, e) => `CREATE TABLE ${t}_archive (LIKE ${e} INCLUDING ALL)`,
  (t) => `ALTER TABLE IF EXISTS ${t}_archive RENAME TO ${t}_history`,
  (t) => `TRUNCATE ${t}_history`,
  (t) => `DROP TABLE IF EXISTS ${t}_history`,
];

/** Comments between statements, as people leave them (line comments, block comments, none). */
const COMMENTS = [
  '',
  '-- Keep the old column until the release after next.\n',
  '/* Backfill runs in batches elsewhere; this only adds the structure. */\n',
  '',
  '-- squawk and the lab both read this file\n',
];

/**
 * One file of exactly `statements` statements: a new table per block of the forms above, then the
 * other forms on a table of the file before (so the rules see tables that existed before it).
 */
export function lintCorpusFile(fileIndex: number, statements: number): string {
  const out: string[] = [`-- Generated migration ${fileIndex}: ${statements} statements.\n`];
  let written = 0;
  for (let block = 0; written < statements; block++) {
    const created = `f${fileIndex}_t${block}`;
    // The first file works on its own new tables; every later one on the tables the file before made.
    const altered = fileIndex === 0 ? created : `f${fileIndex - 1}_t${block}`;
    const earlier = block > 0 ? `f${fileIndex}_t${block - 1}` : created;
    const forms: [Form, string][] = [
      ...CREATE_FORMS.map((f): [Form, string] => [f, created]),
      ...FOLLOW_FORMS.map((f): [Form, string] => [f, altered]),
    ];
    for (let k = 0; k < forms.length && written < statements; k++, written++) {
      const comment = COMMENTS[(written + fileIndex) % COMMENTS.length]!;
      const [form, table] = forms[k]!;
      out.push(`${comment}${form(table, earlier, block)};\n`);
    }
  }
  return out.join('\n');
}

/** Writes `files` files of `statements` statements each into `dir` (created): `0001_generated.sql`, … */
export function writeLintCorpus(dir: string, files: number, statements: number): string[] {
  mkdirSync(dir, { recursive: true });
  const paths: string[] = [];
  for (let i = 0; i < files; i++) {
    const path = join(dir, `${String(i + 1).padStart(4, '0')}_generated.sql`);
    writeFileSync(path, lintCorpusFile(i, statements));
    paths.push(path);
  }
  return paths;
}
