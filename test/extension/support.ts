// Helpers for the extension-host tests. They stub VS Code's message API (the tests and the extension share
// the one `vscode` API object of the extension under development), never PostgreSQL.
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

/** Polls until check() returns a value other than undefined, or fails naming what it waited for. */
export async function waitFor<T>(what: string, check: () => T | undefined, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}
