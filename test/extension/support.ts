// Helpers for the extension-host tests. They stub VS Code's message API (the tests and the extension share
// the one `vscode` API object of the extension under development), never PostgreSQL.
import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as vscode from 'vscode';

/** The repository root: this file runs as out/test/extension/support.js. */
export const ROOT = resolve(__dirname, '..', '..', '..');

interface Manifest {
  name: string;
  publisher: string;
  contributes: { commands: { command: string; title: string }[] };
}
export const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Manifest;
export const EXTENSION_ID = `${manifest.publisher}.${manifest.name}`;

/** The extension under test; fails the test when VS Code did not load it from the development path. */
export async function activeExtension(): Promise<vscode.Extension<unknown>> {
  const ext = vscode.extensions.getExtension(EXTENSION_ID);
  if (!ext) throw new Error(`${EXTENSION_ID} is not loaded in this extension host`);
  await ext.activate();
  return ext;
}

export interface Shown {
  kind: 'info' | 'warning' | 'error';
  message: string;
  items: string[];
}

type Answer = (shown: Shown) => string | undefined;

/**
 * Replaces showInformationMessage / showWarningMessage / showErrorMessage (and optionally showQuickPick)
 * until restore(): records what the extension shows and answers like a person would (`answer`, default:
 * dismiss). With the smoke-test driver code-server runs under, toasts are not rendered at all, so this is
 * also the only reliable way to read them.
 */
export function captureMessages(answer: Answer = () => undefined) {
  const win = vscode.window as unknown as Record<string, unknown>;
  const names = ['showInformationMessage', 'showWarningMessage', 'showErrorMessage', 'showQuickPick'];
  const originals = new Map(names.map((n) => [n, win[n]]));
  const shown: Shown[] = [];
  const quickPicks: vscode.QuickPickItem[][] = [];
  const stub =
    (kind: Shown['kind']) =>
    (message: string, ...rest: unknown[]): Thenable<string | undefined> => {
      const items = rest.filter((r): r is string => typeof r === 'string');
      const s = { kind, message, items };
      shown.push(s);
      return Promise.resolve(answer(s));
    };
  win.showInformationMessage = stub('info');
  win.showWarningMessage = stub('warning');
  win.showErrorMessage = stub('error');
  win.showQuickPick = async (items: unknown) => {
    quickPicks.push([...((await items) as vscode.QuickPickItem[])]);
    return undefined; // dismissed
  };
  return {
    shown,
    quickPicks,
    errors: () => shown.filter((s) => s.kind === 'error').map((s) => s.message),
    restore: () => originals.forEach((fn, n) => (win[n] = fn)),
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls until check() returns (or resolves to) a value other than undefined, or fails naming what it waited for. */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | PromiseLike<T | undefined>,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

/** Polls until check() holds (a truthy value, or a promise of one), or fails naming what it waited for. */
export async function waitUntil(what: string, check: () => unknown, timeoutMs = 30_000): Promise<void> {
  await waitFor(what, async () => ((await check()) ? true : undefined), timeoutMs);
}

/** Runs a command with the messages captured (dismissed); returns them. */
export async function runCommand(command: string, ...args: unknown[]) {
  const messages = captureMessages();
  try {
    await vscode.commands.executeCommand(command, ...args);
  } finally {
    messages.restore();
  }
  return messages;
}

/** Runs a command that must show no error; returns the messages it showed. */
export async function runCommandOk(command: string, ...args: unknown[]): Promise<string[]> {
  const messages = await runCommand(command, ...args);
  assert.deepEqual(messages.errors(), [], `${command} failed`);
  return messages.shown.map((s) => s.message);
}

/** A tree item's label as a person reads it. */
export function treeLabel(item: vscode.TreeItem): string {
  return typeof item.label === 'string' ? item.label : (item.label?.label ?? '');
}

/** The Migrations view's row of the migration folder `dir`. */
export async function sourceRow(view: vscode.TreeDataProvider<unknown>, dir: string): Promise<unknown> {
  for (const r of (await view.getChildren()) ?? []) {
    if ((await view.getTreeItem(r)).id === `source:${dir}`) return r;
  }
  throw new Error(`no row for ${dir} in the Migrations view`);
}

/** The migrations the Migrations view lists under the folder `dir`. */
export async function sourceMigrationRows(
  view: vscode.TreeDataProvider<unknown>,
  dir: string,
): Promise<unknown[]> {
  return [...((await view.getChildren(await sourceRow(view, dir))) ?? [])];
}

/** The lint rule a diagnostic names (its code). */
export function ruleOf(d: vscode.Diagnostic): string {
  return typeof d.code === 'object' ? String(d.code.value) : String(d.code);
}
