import {
  chmodSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
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

/** Earlier logs kept beside the current one: `<path>.1` (the previous run) to `<path>.3`. */
export const KEPT_LOGS = 3;

/**
 * Moves `path` to `path.1`, `path.1` to `path.2`, … dropping the oldest beyond KEPT_LOGS, so a new run
 * never overwrites the log of the run before it (which may be the failure the user wants to read).
 */
export function rotateLog(path: string, keep = KEPT_LOGS): void {
  rmSync(`${path}.${keep}`, { force: true });
  for (let i = keep - 1; i >= 0; i--) {
    const from = i === 0 ? path : `${path}.${i}`;
    if (!existsSync(from)) continue;
    renameSync(from, `${path}.${i + 1}`);
    chmodSync(`${path}.${i + 1}`, 0o600); // logs written before they were made private
  }
}

/**
 * A logger that writes every line (timestamped, secrets redacted) to a file, synchronously so that
 * nothing is lost when the process exits, and hands some levels to `mirror` (e.g. stderr). The file is
 * the owner's only (0600: it names folders, pids and the lab's state) and the previous ones are rotated.
 */
export function fileLogger(
  path: string,
  mirror: (level: Level, message: string) => void = () => undefined,
): FileLogger {
  mkdirSync(dirname(path), { recursive: true });
  rotateLog(path);
  let fd: number | undefined = openSync(path, 'w', 0o600);
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
