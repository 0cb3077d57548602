/**
 * An error whose message is one clear sentence for the user (no stack, no SQL dump).
 * Details for the log go in `detail`; the original error in `cause`.
 */
export class LabError extends Error {
  readonly detail?: string;
  constructor(message: string, options?: { cause?: unknown; detail?: string }) {
    super(message, options?.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = 'LabError';
    this.detail = options?.detail;
  }
}

/** Thrown when an AbortSignal stopped the work; callers treat it as a cancellation, not a failure. */
export class CancelledError extends Error {
  constructor(message = 'Cancelled.') {
    super(message);
    this.name = 'CancelledError';
  }
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new CancelledError();
}

export function isPgError(e: unknown): e is Error & { code: string; detail?: string; hint?: string } {
  return e instanceof Error && typeof (e as { code?: unknown }).code === 'string';
}

/** Best-effort text of any thrown value, for logs. */
export function describeError(e: unknown): string {
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    return `${e.name}${typeof code === 'string' ? ` [${code}]` : ''}: ${e.message}`;
  }
  return String(e);
}
