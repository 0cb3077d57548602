import * as vscode from 'vscode';
import { redactSecrets, type Logger } from '../core/log';

/**
 * The extension's one log: a LogOutputChannel, wrapped as the plain Logger core code takes.
 * Every line passes through redactSecrets; with CI set, lines are mirrored to the console too.
 */
export function createLogger(channel: vscode.LogOutputChannel): Logger {
  const mirror = process.env.CI ? (m: string) => console.log(`[Migration Lab] ${m}`) : undefined;
  const line = (m: string | Error) => redactSecrets(m instanceof Error ? (m.stack ?? m.message) : m);
  return {
    trace: (m) => channel.trace(line(m)),
    debug: (m) => channel.debug(line(m)),
    info: (m) => {
      channel.info(line(m));
      mirror?.(line(m));
    },
    warn: (m) => {
      channel.warn(line(m));
      mirror?.(line(m));
    },
    error: (m) => {
      channel.error(line(m));
      mirror?.(line(m));
    },
  };
}
