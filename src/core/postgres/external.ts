import { parse as parseConnectionString } from 'pg-connection-string';
import { APP_NAMES, clientConfig, pgDriver, type ConnectionTarget } from '../db';
import { CancelledError, LabError, describeError, isPgError, throwIfAborted } from '../errors';
import { redactSecrets, type Logger } from '../log';
import type { PostgresProvider } from './provider';

export const INVALID_EXTERNAL_URL =
  'The external PostgreSQL URL is not valid; it should look like postgres://user:password@host:5432/database.';

/** The parts of an external URL that are safe to show and log (no password, no user). */
export interface ExternalUrlParts {
  host: string;
  port: number;
  database: string;
}

/**
 * Parses a postgres:// or postgresql:// URL. Throws LabError(INVALID_EXTERNAL_URL) whose detail says which part
 * is wrong but never repeats the URL; it has no `cause` because Node's URL error carries the whole input.
 */
export function parseExternalUrl(url: string): ExternalUrlParts & { user: string; password: string } {
  const invalid = (why: string) => new LabError(INVALID_EXTERNAL_URL, { detail: why });
  let parsed: URL;
  try {
    parsed = new URL(url.trim());
  } catch {
    throw invalid('not a URL (special characters in the password must be percent-encoded)');
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw invalid(`scheme is ${JSON.stringify(parsed.protocol)}, expected "postgres:" or "postgresql:"`);
  }
  // A Unix socket directory may be given as ?host=/path instead of a host name.
  if (!parsed.hostname && !parsed.searchParams.get('host')) throw invalid('no host');
  // Where the driver will really connect: ?host= and ?port= override the URL's authority, and pg fills
  // what is missing from PGHOST / PGPORT / PGDATABASE and its defaults. Logs, describe() and the
  // destructive-step confirmation (and its remembered answer) must all name that server.
  let effective: ReturnType<typeof parseConnectionString>;
  try {
    effective = parseConnectionString(url.trim());
  } catch (e) {
    const fsError = e as NodeJS.ErrnoException;
    if (typeof fsError.code === 'string' && typeof fsError.path === 'string') {
      // sslrootcert / sslcert / sslkey name a file the driver reads as it parses the URL.
      throw new LabError(
        `The external PostgreSQL URL names the file ${fsError.path}, which cannot be read (${fsError.code}); fix its sslrootcert, sslcert or sslkey parameter.`,
        { detail: `${fsError.code} reading ${fsError.path}` },
      );
    }
    throw invalid(e instanceof URIError ? 'bad percent-encoding' : 'the driver cannot parse it');
  }
  const rawHost = effective.host || process.env.PGHOST || 'localhost';
  // An IPv6 address is shown as in a URL, so that "host:port" reads unambiguously.
  const host = rawHost.includes(':') && !rawHost.startsWith('/') ? `[${rawHost}]` : rawHost;
  const port = Number(effective.port || process.env.PGPORT || 5432);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw invalid('bad port');
  const user = effective.user ?? '';
  const database = effective.database || process.env.PGDATABASE || '';
  if (!database || database.includes('/')) throw invalid('no database name after the host');
  return { host, port, database, user, password: effective.password ?? '' };
}

/** For an input box's validateInput: undefined when the URL is usable, else the one-sentence reason. */
export function validateExternalUrl(url: string): string | undefined {
  try {
    parseExternalUrl(url);
    return undefined;
  } catch (e) {
    return e instanceof Error ? e.message : INVALID_EXTERNAL_URL;
  }
}

/** 'database "shop" on db.example.com:5432', for "are you sure" prompts before destructive steps. */
export function describeTargetForConfirmation(target: ExternalUrlParts): string {
  return `database "${target.database}" on ${target.host}:${target.port}`;
}

export interface ExternalPostgresOptions {
  logger: Logger;
  /** Limit for the validating connection (default 10 s). */
  connectTimeoutMs?: number;
}

/** A PostgreSQL the user runs; the lab only connects to it and never starts or stops it. */
export class ExternalPostgres implements PostgresProvider {
  readonly kind = 'external' as const;
  private readonly url: string;
  private readonly parts: ReturnType<typeof parseExternalUrl>;

  /** Throws LabError(INVALID_EXTERNAL_URL) for a malformed URL. */
  constructor(
    url: string,
    private readonly options: ExternalPostgresOptions,
  ) {
    this.url = url.trim();
    this.parts = parseExternalUrl(this.url);
  }

  describe(): ExternalUrlParts {
    return { host: this.parts.host, port: this.parts.port, database: this.parts.database };
  }

  /** Connects once (SELECT 1) so a wrong URL fails here, with one clear sentence, not in the middle of a run. */
  async start(signal?: AbortSignal): Promise<ConnectionTarget> {
    throwIfAborted(signal);
    const { logger } = this.options;
    const where = `${this.parts.host}:${this.parts.port}`;
    const target: ConnectionTarget = {
      host: this.parts.host,
      port: this.parts.port,
      database: this.parts.database,
      user: this.parts.user,
      connectionString: this.url,
    };
    logger.info(`Checking the external PostgreSQL at ${where} (database "${this.parts.database}")…`);
    const client = new (pgDriver().Client)({
      ...clientConfig(target, APP_NAMES.admin),
      connectionTimeoutMillis: this.options.connectTimeoutMs ?? 10_000,
    });
    client.on('error', (e) => logger.warn(`external check: connection error: ${this.scrub(e.message)}`));
    const onAbort = () => void client.end().catch(() => undefined);
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await client.connect();
      await client.query('SELECT 1');
    } catch (e) {
      if (signal?.aborted) throw new CancelledError();
      const error = this.connectFailure(e);
      logger.error(`${error.message} (${error.detail ?? ''})`);
      throw error;
    } finally {
      signal?.removeEventListener('abort', onAbort);
      await client.end().catch(() => undefined);
    }
    logger.info(`External PostgreSQL at ${where} is reachable.`);
    return target;
  }

  /** Nothing to stop: the user owns this server. */
  async stop(): Promise<void> {}

  private connectFailure(e: unknown): LabError {
    const { host, port, database } = this.parts;
    const where = `${host}:${port}`;
    const detail = this.scrub(describeError(e));
    // No `cause`: the raw error is only ever needed for the log, and `detail` has it scrubbed.
    const fail = (message: string) => new LabError(message, { detail });
    const code = (e as { code?: unknown } | undefined)?.code;
    const message = e instanceof Error ? e.message : String(e);

    if (isPgError(e) && code === '28P01') {
      return fail(`PostgreSQL at ${where} rejected the user name or password in the external URL.`);
    }
    if (isPgError(e) && code === '28000') {
      if (/pg_hba\.conf/i.test(message)) {
        return fail(
          `PostgreSQL at ${where} does not accept connections from this machine (no pg_hba.conf entry).`,
        );
      }
      return fail(`The user in the external PostgreSQL URL does not exist on ${where}.`);
    }
    if (isPgError(e) && code === '3D000') {
      return fail(`Database "${database}" does not exist on ${where}; create it or fix the external URL.`);
    }
    if (code === 'ECONNREFUSED') {
      return fail(`Nothing is accepting PostgreSQL connections at ${where} (connection refused).`);
    }
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
      return fail(`The host "${host}" in the external PostgreSQL URL could not be found.`);
    }
    if (
      code === 'ETIMEDOUT' ||
      code === 'EHOSTUNREACH' ||
      code === 'ENETUNREACH' ||
      /timeout/i.test(message)
    ) {
      return fail(`Connecting to PostgreSQL at ${where} timed out.`);
    }
    if (/does not support SSL/i.test(message)) {
      return fail(`PostgreSQL at ${where} does not accept SSL, but the external URL asks for it (sslmode).`);
    }
    if (typeof code === 'string' && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY/.test(code)) {
      return fail(`The TLS certificate of PostgreSQL at ${where} could not be verified.`);
    }
    return fail(
      `Could not connect to the external PostgreSQL at ${where}; see the Migration Lab log for details.`,
    );
  }

  /** Removes the password from text bound for the log, whatever shape it appears in. */
  private scrub(text: string): string {
    let out = redactSecrets(text);
    const { password } = this.parts;
    for (const secret of new Set([password, encodeURIComponent(password)])) {
      if (secret) out = out.split(secret).join('***');
    }
    return out;
  }
}
