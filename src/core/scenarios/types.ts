/**
 * The scenario model: the demo and each lesson are data — which migrations they take (a source folder
 * bundled with the lab, in a tool's format), which tables they watch, which migrations they run or
 * compare, and what they are expected to observe. The extension, the CLI and the panel iterate these
 * values; nothing outside a scenario's definition names its tables or migrations.
 */
import { quoteIdent } from '../db';
import type { ToolId } from '../migrations/model';

/** A folder of migrations bundled with the lab (inside the extension and the npm package). */
export interface BundledSource {
  /** Folder relative to the package root, e.g. "migrations". */
  folder: string;
  /** The format its files are in (the tools' adapter that loads it). */
  tool: ToolId;
}

/** What every scenario names. */
export interface ScenarioBase {
  /** Stable id: the Runs view, the CLI and tests key by it. */
  id: string;
  /** As the views, the panel, reports and notifications name it. */
  title: string;
  source: BundledSource;
  /** The tables it watches, by name in the lab's schema (see {@link qualifiedTables}). */
  tables: readonly string[];
  /** Ids of the migrations it runs (in its source), in order. */
  migrations: readonly string[];
}

/** The table's schema-qualified name as pg_locks and the panel spell it: `migration_lab.large_email`. */
export function qualifiedTable(schema: string, table: string): string {
  return `${schema}.${table}`;
}

/** The scenario's watched tables, schema-qualified for the lab's schema. */
export function qualifiedTables(scenario: Pick<ScenarioBase, 'tables'>, schema: string): string[] {
  return scenario.tables.map((t) => qualifiedTable(schema, t));
}

/** The same, quoted for SQL: `"migration_lab".large_email` (the table names are ours, lower-case). */
export function quotedTable(schema: string, table: string): string {
  return `${quoteIdent(schema)}.${quoteIdent(table)}`;
}
