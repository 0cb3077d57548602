import * as assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite, suiteSetup, suiteTeardown, test } from 'mocha';
import pg from 'pg';
import * as vscode from 'vscode';
import { silentLogger } from '../../../src/core/log';
import { EmbeddedPostgres } from '../../../src/core/postgres/embedded';
import type { ConnectionTarget } from '../../../src/core/db';
import { freePort } from '../../ports';
import { ROOT, activeExtension, captureMessages, runCommand, waitFor } from '../support';

interface Api {
  sources: { entries: readonly { found: { path: string } }[]; ready: Promise<void> };
  observation: {
    traces: readonly {
      migration: string;
      report: { migrations: { id: string; statements: { locks: { relation: string; mode: string }[] }[] }[] };
    }[];
  };
}

const NEWEST = '20250102000000_index_orders_customer';
const FIXTURE = join(ROOT, 'test/fixtures/trace-workspace/shop');

/** A migration file's up section (dbmate), as the "staging clone" already has it applied. */
function upSection(file: string): string {
  const text = readFileSync(file, 'utf8');
  return text.slice(text.indexOf('-- migrate:up'), text.indexOf('-- migrate:down'));
}

let api: Api;
let workspace: string;
let shopDir: string;
let staging: EmbeddedPostgres;
let target: ConnectionTarget;
const baseDir = mkdtempSync(join(tmpdir(), 'mlab-staging-'));

async function query<T extends pg.QueryResultRow>(sql: string): Promise<T[]> {
  const client = new pg.Client({ ...target, application_name: 'e2e-check' });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

suite('Trace against an external database (a staging clone): asked once, rolled back, never filled', () => {
  suiteSetup(async function () {
    this.timeout(120_000);
    api = (await activeExtension()).exports as Api;
    workspace = vscode.workspace.workspaceFolders![0]!.uri.fsPath;
    shopDir = join(workspace, 'shop-external', 'db', 'migrations');
    // "Staging": a PostgreSQL of its own with the first migration applied (and no rows).
    staging = new EmbeddedPostgres({
      baseDir,
      port: await freePort(),
      logger: silentLogger,
      database: 'staging',
    });
    target = await staging.start();
    await query(upSection(join(FIXTURE, 'db/migrations/20250101000000_create_shop.sql')));
    cpSync(FIXTURE, join(workspace, 'shop-external'), { recursive: true });
    const url = `postgres://${target.user}:${encodeURIComponent(target.password ?? '')}@${target.host}:${target.port}/${target.database}`;
    const win = vscode.window as unknown as Record<string, unknown>;
    const inputBox = win.showInputBox;
    win.showInputBox = async () => url;
    try {
      await vscode.commands.executeCommand('migrationLab.setExternalUrl');
    } finally {
      win.showInputBox = inputBox;
    }
    await vscode.workspace
      .getConfiguration('migrationLab')
      .update('postgres.provider', 'external', vscode.ConfigurationTarget.Global);
    const messages = await runCommand('migrationLab.startPostgres');
    assert.deepEqual(messages.errors(), []);
    await api.sources.ready;
    await waitFor('the copied folder in the Migrations view', () =>
      api.sources.entries.some((e) => e.found.path === shopDir) ? true : undefined,
    );
  });

  suiteTeardown(async function () {
    this.timeout(60_000);
    await runCommand('migrationLab.stopPostgres');
    await vscode.workspace
      .getConfiguration('migrationLab')
      .update('postgres.provider', undefined, vscode.ConfigurationTarget.Global);
    await staging?.stop();
    rmSync(join(workspace, 'shop-external'), { recursive: true, force: true });
    rmSync(baseDir, { recursive: true, force: true });
  });

  test('dismissing the question traces nothing', async function () {
    this.timeout(30_000);
    const before = api.observation.traces.length;
    // Every message dismissed, the modal question included.
    const messages = await runCommand('migrationLab.traceMigration', { source: shopDir, migration: NEWEST });
    const question = messages.shown.find((s) => s.kind === 'warning');
    assert.ok(question, JSON.stringify(messages.shown));
    assert.deepEqual(messages.errors(), []);
    assert.equal(api.observation.traces.length, before);
  });

  test('"Trace and Roll Back": the question names host and database; the locks are measured, nothing is kept, no rows are generated', async function () {
    this.timeout(120_000);
    const messages = captureMessages((shown) =>
      shown.items.includes('Trace and Roll Back') ? 'Trace and Roll Back' : undefined,
    );
    try {
      await vscode.commands.executeCommand('migrationLab.traceMigration', {
        source: shopDir,
        migration: NEWEST,
      });
    } finally {
      messages.restore();
    }
    assert.deepEqual(messages.errors(), []);
    const question = messages.shown.find((s) => s.items.includes('Trace and Roll Back'))!;
    assert.match(question.message, new RegExp(`database "staging" on 127\\.0\\.0\\.1:${target.port}`));
    assert.ok(question.items.includes('Choose What It May Do…'));
    assert.ok(!/postgres:\/\//.test(question.message), 'never the URL');
    const trace = api.observation.traces.at(-1)!;
    assert.equal(trace.migration, NEWEST);
    const locks = trace.report.migrations[0]!.statements.flatMap((st) => st.locks);
    assert.ok(
      locks.some((l) => l.mode === 'ShareLock' && l.relation === 'public.orders'),
      JSON.stringify(locks),
    );
    // Rolled back: the index is not there; never filled: the tables are as empty as before.
    const indexes = await query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_indexes WHERE indexname = 'orders_customer_idx'",
    );
    assert.equal(indexes[0]!.n, 0);
    const rows = await query<{ n: number }>(
      'SELECT (SELECT count(*) FROM orders) + (SELECT count(*) FROM customers) AS n',
    );
    assert.equal(Number(rows[0]!.n), 0);
  });
});
