import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { redactSecrets, type Logger } from '../core/log';

/** Progress lines for a person, on stderr (stdout is kept for the report). */
export class Progress {
  constructor(private readonly write: (line: string) => void = (l) => process.stderr.write(`${l}\n`)) {}

  /** "[3/8] Seeding 5,000,000 rows" */
  step(index: number, total: number, title: string): void {
    this.write(`[${index}/${total}] ${title}`);
  }

  /** An indented line under the current step. */
  detail(text: string): void {
    this.write(`      ${text}`);
  }

  line(text: string): void {
    this.write(text);
  }
}

type Level = 'trace' | 'debug' | 'info' | 'warn' | 'error';

export interface FileLogger extends Logger {
  readonly path: string;
  close(): void;
}

/**
 * A logger that writes every line (timestamped, secrets redacted) to a file, synchronously so that
 * nothing is lost when the process exits, and hands some levels to `mirror` (e.g. stderr).
 */
export function fileLogger(
  path: string,
  mirror: (level: Level, message: string) => void = () => undefined,
): FileLogger {
  mkdirSync(dirname(path), { recursive: true });
  let fd: number | undefined = openSync(path, 'w');
  const add = (level: Level) => (m: string | Error) => {
    const text = redactSecrets(m instanceof Error ? (m.stack ?? m.message) : m);
    if (fd !== undefined) {
      try {
        writeSync(fd, `${new Date().toISOString()} [${level}] ${text}\n`);
      } catch {
        // A full disk must not end the demo.
      }
    }
    mirror(level, text);
  };
  return {
    path,
    trace: add('trace'),
    debug: add('debug'),
    info: add('info'),
    warn: add('warn'),
    error: add('error'),
    close() {
      if (fd !== undefined) closeSync(fd);
      fd = undefined;
    },
  };
}
