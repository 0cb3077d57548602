import { access } from 'node:fs/promises';
import type { ConnectionTarget } from '../db';
import { CancelledError, LabError, describeError } from '../errors';
import { ExecTimeoutError, execCommand, type ExecResult } from '../exec';
import type { Logger } from '../log';
import type { PostgresProvider } from './provider';

/** Why a Docker step failed; `resolve.ts` falls back to the embedded server for the environment ones. */
export type DockerFailureReason =
  | 'not-installed'
  | 'daemon-not-running'
  | 'permission-denied'
  | 'compose-missing'
  | 'unhealthy'
  | 'timeout'
  | 'failed';

export class DockerError extends LabError {
  constructor(
    readonly reason: DockerFailureReason,
    message: string,
    options?: { cause?: unknown; detail?: string },
  ) {
    super(message, options);
    this.name = 'DockerError';
  }
}

/** True when Docker itself is unusable here (as opposed to our container failing), so `auto` may fall back. */
export function isDockerUnavailableError(e: unknown): e is DockerError {
  return (
    e instanceof DockerError &&
    (e.reason === 'not-installed' ||
      e.reason === 'daemon-not-running' ||
      e.reason === 'permission-denied' ||
      e.reason === 'compose-missing')
  );
}

export const DOCKER_NOT_INSTALLED =
  'Docker is not installed; set migrationLab.postgres.provider to "embedded" (or "auto").';
export const DOCKER_DAEMON_NOT_RUNNING =
  'Docker is installed but its daemon is not running; start Docker or use the embedded provider.';

/** Values fixed by docker-compose.yml; local lab only. */
const LAB_DATABASE = 'migration_lab';
const LAB_USER = 'postgres';
const LAB_PASSWORD = 'postgres';

export interface DockerComposeOptions {
  /** Absolute path of docker-compose.yml. */
  composeFile: string;
  /** Compose project name (-p); keeps the container and volume names stable across sessions. */
  projectName?: string;
  /** Host port published on 127.0.0.1 (migrationLab.postgres.port). */
  port: number;
  logger: Logger;
  /** Docker executable; a bare name is looked up on PATH. */
  dockerPath?: string;
  /** Limit for `up --wait`, which may include pulling the image on first use. */
  startTimeoutMs?: number;
  /** PostgreSQL major of the image (migrationLab.postgres.version); the compose file's default (16) when omitted. */
  major?: number;
}

const DEFAULT_START_TIMEOUT_MS = 10 * 60_000;
const STOP_TIMEOUT_MS = 60_000;
const INFO_TIMEOUT_MS = 5_000;

/** The variables docker-compose.yml substitutes: the published port and, when chosen, the image's major. */
export function composeEnv(port: number, major?: number): Record<string, string> {
  return { MIGRATION_LAB_PORT: String(port), ...(major ? { MIGRATION_LAB_PG_MAJOR: String(major) } : {}) };
}

/** PostgreSQL in a container managed with `docker compose`. */
export class DockerComposePostgres implements PostgresProvider {
  readonly kind = 'docker' as const;
  private readonly projectName: string;
  private readonly dockerPath: string;

  constructor(private readonly options: DockerComposeOptions) {
    // Another major gets its own project, so its own container and volume: a data folder is never
    // opened by another major's server.
    this.projectName =
      options.projectName ?? (options.major ? `migration-lab-pg${options.major}` : 'migration-lab');
    this.dockerPath = options.dockerPath ?? 'docker';
  }

  /** True iff `docker info` succeeds within a few seconds (the CLI exists and the daemon answers). */
  static async isAvailable(
    dockerPath = 'docker',
    signal?: AbortSignal,
    timeoutMs = INFO_TIMEOUT_MS,
  ): Promise<boolean> {
    try {
      const result = await execCommand(dockerPath, ['info', '--format', '{{.ServerVersion}}'], {
        signal,
        timeoutMs,
      });
      return result.code === 0;
    } catch (e) {
      if (e instanceof CancelledError) throw e;
      return false; // not installed, not executable, or too slow: all mean "do not use Docker"
    }
  }

  describe(): { host: string; port: number; database: string } {
    return { host: '127.0.0.1', port: this.options.port, database: LAB_DATABASE };
  }

  async start(signal?: AbortSignal): Promise<ConnectionTarget> {
    const { composeFile, port, logger } = this.options;
    try {
      await access(composeFile);
    } catch (e) {
      throw new DockerError(
        'failed',
        'The docker-compose.yml that Migration Lab ships is missing; reinstall the extension or use the embedded provider.',
        { cause: e, detail: `not found: ${composeFile}` },
      );
    }
    logger.info(`Starting PostgreSQL with Docker Compose (project ${this.projectName}, port ${port})…`);
    const result = await this.compose(
      ['up', '-d', '--wait'],
      this.options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS,
      signal,
    );
    if (result.code !== 0) throw this.startFailure(result);
    logger.info(`Docker PostgreSQL is healthy on 127.0.0.1:${port}.`);
    return { host: '127.0.0.1', port, database: LAB_DATABASE, user: LAB_USER, password: LAB_PASSWORD };
  }

  /** Stops the container but keeps its volume, so the seeded data survives. */
  async stop(): Promise<void> {
    const { logger } = this.options;
    let result: ExecResult;
    try {
      result = await this.compose(['stop'], STOP_TIMEOUT_MS);
    } catch (e) {
      if (isDockerUnavailableError(e)) {
        logger.info(`Nothing to stop: ${e.message}`); // no Docker means no running container of ours
        return;
      }
      throw e;
    }
    if (result.code === 0) {
      logger.info('Docker PostgreSQL stopped (the data volume is kept).');
      return;
    }
    throw new DockerError(
      'failed',
      'Docker could not stop the PostgreSQL container; see the Migration Lab log for Docker’s output.',
      {
        detail: result.stderr,
      },
    );
  }

  /** Runs `docker compose -f <file> -p <project> <args>`; turns spawn errors and timeouts into DockerErrors. */
  private async compose(args: string[], timeoutMs: number, signal?: AbortSignal): Promise<ExecResult> {
    const { composeFile, port, logger } = this.options;
    const argv = ['compose', '-f', composeFile, '-p', this.projectName, ...args];
    const env = composeEnv(port, this.options.major);
    logger.debug(
      `Running: ${this.dockerPath} ${argv.join(' ')} (${Object.entries(env)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ')})`,
    );
    let result: ExecResult;
    try {
      result = await execCommand(this.dockerPath, argv, {
        env: { ...process.env, ...env },
        timeoutMs,
        signal,
      });
    } catch (e) {
      if (e instanceof CancelledError) throw e;
      if ((e as { code?: unknown }).code === 'ENOENT') {
        throw new DockerError('not-installed', DOCKER_NOT_INSTALLED, { cause: e, detail: describeError(e) });
      }
      if (e instanceof ExecTimeoutError) {
        throw new DockerError(
          'timeout',
          `Docker did not finish "docker compose ${args.join(' ')}" within ${Math.round(timeoutMs / 1000)} s; see the Migration Lab log for its output.`,
          { cause: e, detail: e.stderr },
        );
      }
      throw new DockerError('failed', 'Docker could not be run; see the Migration Lab log for details.', {
        cause: e,
        detail: describeError(e),
      });
    }
    // Compose reports progress on stderr even on success; keep it for the log.
    if (result.stderr.trim()) logger.debug(`docker compose ${args.join(' ')}: ${result.stderr.trim()}`);
    if (result.code !== 0) {
      const environment = classifyEnvironmentFailure(result.stderr);
      if (environment) throw environment;
    }
    return result;
  }

  private startFailure(result: ExecResult): DockerError {
    const { port, logger } = this.options;
    const stderr = result.stderr;
    const error = (() => {
      if (mentionsPort(stderr, port)) {
        return new DockerError(
          'unhealthy',
          `The PostgreSQL container did not become healthy because port ${port} is already in use; stop whatever uses it or change migrationLab.postgres.port.`,
          { detail: stderr },
        );
      }
      if (/unhealthy|exited|dependency failed|is not running/i.test(stderr)) {
        return new DockerError(
          'unhealthy',
          'The PostgreSQL container did not become healthy; see the Migration Lab log for Docker’s output.',
          { detail: stderr },
        );
      }
      return new DockerError(
        'failed',
        `Docker could not start the PostgreSQL container (docker compose exited with code ${String(result.code)}); see the Migration Lab log for Docker’s output.`,
        { detail: stderr },
      );
    })();
    logger.error(`${error.message}\n${stderr.trim()}`);
    return error;
  }
}

/** Failures that are about the Docker installation rather than our container. */
function classifyEnvironmentFailure(stderr: string): DockerError | undefined {
  if (/permission denied while trying to connect to the docker (daemon|api)/i.test(stderr)) {
    return new DockerError(
      'permission-denied',
      'Docker is installed but this user may not use it (permission denied on the Docker socket); fix the Docker permissions or use the embedded provider.',
      { detail: stderr },
    );
  }
  if (
    /cannot connect to the docker daemon|is the docker daemon running|error during connect|docker_engine|dockerDesktopLinuxEngine/i.test(
      stderr,
    )
  ) {
    return new DockerError('daemon-not-running', DOCKER_DAEMON_NOT_RUNNING, { detail: stderr });
  }
  if (
    /'compose' is not a docker command|unknown (shorthand )?flag.*(-f|--wait)|unknown command "compose"/i.test(
      stderr,
    )
  ) {
    return new DockerError(
      'compose-missing',
      'Docker is installed but the Compose plugin ("docker compose") is missing or too old; install Docker Compose v2 or use the embedded provider.',
      { detail: stderr },
    );
  }
  return undefined;
}

/** Does Docker's error talk about our host port (taken by another process or container)? */
function mentionsPort(stderr: string, port: number): boolean {
  if (/port is already allocated|address already in use|ports are not available/i.test(stderr)) return true;
  return new RegExp(`[:\\s]${port}\\b`).test(stderr);
}
