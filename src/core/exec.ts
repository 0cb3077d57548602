import { spawn } from 'node:child_process';
import { CancelledError } from './errors';

export interface ExecOptions {
  cwd?: string;
  /** The child's whole environment (default: this process's). PATH in it is also used to find `file`. */
  env?: NodeJS.ProcessEnv;
  /** Kill the child and reject with ExecTimeoutError after this long (default: no limit). */
  timeoutMs?: number;
  /** Aborting kills the child and rejects with CancelledError. */
  signal?: AbortSignal;
  /** Keep at most this many characters of each stream, the last ones (errors come last). Default 1 MiB. */
  maxOutputChars?: number;
}

export interface ExecResult {
  /** Exit code, or null when the child was ended by a signal. */
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The command ran longer than `timeoutMs`; carries what it printed so far. */
export class ExecTimeoutError extends Error {
  constructor(
    readonly command: string,
    readonly timeoutMs: number,
    readonly stdout: string,
    readonly stderr: string,
  ) {
    super(`${command} did not finish within ${Math.round(timeoutMs / 1000)} s`);
    this.name = 'ExecTimeoutError';
  }
}

/** Grace period between SIGTERM and SIGKILL when a child must be stopped. */
const KILL_GRACE_MS = 3_000;

/**
 * Runs `file args` without a shell. A non-zero exit is a result, not an error.
 * Rejects with the spawn error (e.g. code ENOENT when `file` is not found), CancelledError, or ExecTimeoutError.
 */
export function execCommand(
  file: string,
  args: readonly string[],
  options: ExecOptions = {},
): Promise<ExecResult> {
  const { signal, timeoutMs } = options;
  const maxChars = options.maxOutputChars ?? 1024 * 1024;
  if (signal?.aborted) return Promise.reject(new CancelledError());

  return new Promise<ExecResult>((resolve, reject) => {
    const child = spawn(file, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      windowsHide: true,
    });
    let stdout = '';
    let stderr = '';
    const keepTail = (text: string) => (text.length > maxChars ? text.slice(text.length - maxChars) : text);
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout = keepTail(stdout + chunk)));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr = keepTail(stderr + chunk)));

    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      outcome();
    };
    // Reject right away (the caller should not wait for a stubborn child) and make sure it dies.
    const kill = () => {
      child.kill('SIGTERM');
      const escalate = setTimeout(() => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      }, KILL_GRACE_MS);
      escalate.unref();
    };
    const onAbort = () => {
      kill();
      finish(() => reject(new CancelledError()));
    };

    signal?.addEventListener('abort', onAbort, { once: true });
    if (timeoutMs !== undefined) {
      timer = setTimeout(() => {
        kill();
        finish(() => reject(new ExecTimeoutError([file, ...args].join(' '), timeoutMs, stdout, stderr)));
      }, timeoutMs);
    }
    child.on('error', (e) => finish(() => reject(e)));
    // 'close' (not 'exit') so that all output has been read.
    child.on('close', (code) => finish(() => resolve({ code, stdout, stderr })));
  });
}
