/** Every tool adapter, in the order detection tries them (ties go to the earlier one). */
import type { ToolAdapter, ToolId } from '../model';
import * as atlas from './atlas';
import * as dbmate from './dbmate';
import * as diesel from './diesel';
import * as drizzle from './drizzle';
import * as flyway from './flyway';
import * as golangMigrate from './golangMigrate';
import * as goose from './goose';
import * as liquibase from './liquibase';
import * as nodePgMigrate from './nodePgMigrate';
import * as plain from './plain';
import * as prisma from './prisma';
import * as sqitch from './sqitch';
import * as sqlx from './sqlx';

export const ADAPTERS: readonly ToolAdapter[] = [
  sqitch,
  drizzle,
  atlas,
  prisma,
  diesel,
  liquibase,
  goose,
  dbmate,
  nodePgMigrate,
  flyway,
  sqlx,
  golangMigrate,
  plain,
];

export function adapterFor(tool: ToolId): ToolAdapter {
  const adapter = ADAPTERS.find((a) => a.tool === tool);
  if (!adapter) throw new Error(`No adapter for ${tool}.`);
  return adapter;
}
