import type { ConnectionTarget } from '../db';
import type { Logger } from '../log';
import { isDockerUnavailableError } from './docker';
import type { PostgresProvider, ProviderKind, ProviderSetting } from './provider';

export interface ResolveDeps {
  /** Usually `() => DockerComposePostgres.isAvailable()`. */
  dockerAvailable: () => Promise<boolean>;
  logger: Logger;
}

/** Turns the setting into a concrete provider; `auto` means Docker when it answers, else embedded. */
export async function resolveProviderKind(
  setting: ProviderSetting,
  deps: ResolveDeps,
): Promise<ProviderKind> {
  if (setting !== 'auto') return setting;
  if (await deps.dockerAvailable()) {
    deps.logger.info('Provider "auto": Docker is available, so PostgreSQL runs in a Docker container.');
    return 'docker';
  }
  deps.logger.info(
    'Provider "auto": Docker is not installed or its daemon is not running, so the embedded PostgreSQL is used.',
  );
  return 'embedded';
}

export interface StartedPostgres {
  provider: PostgresProvider;
  target: ConnectionTarget;
}

export interface StartDeps extends ResolveDeps {
  /** Builds (does not start) the provider of a kind. */
  create: (kind: ProviderKind) => PostgresProvider;
}

/**
 * Resolves the setting and starts that provider. Only under `auto`, when Docker turns out to be unusable at start
 * (e.g. the daemon stopped since the check), it starts the embedded server instead and logs why.
 * A container that fails on its own (unhealthy, port taken) is reported, not hidden by a fallback.
 */
export async function startWithFallback(
  setting: ProviderSetting,
  deps: StartDeps,
  signal?: AbortSignal,
): Promise<StartedPostgres> {
  const kind = await resolveProviderKind(setting, deps);
  const provider = deps.create(kind);
  try {
    return { provider, target: await startOrStop(provider, signal) };
  } catch (e) {
    if (setting !== 'auto' || kind !== 'docker' || !isDockerUnavailableError(e)) throw e;
    deps.logger.info(`Provider "auto": ${e.message} Falling back to the embedded PostgreSQL.`);
    const embedded = deps.create('embedded');
    return { provider: embedded, target: await startOrStop(embedded, signal) };
  }
}

/** A start that fails after the server was spawned must not leave it running: stop it, then rethrow. */
async function startOrStop(provider: PostgresProvider, signal?: AbortSignal): Promise<ConnectionTarget> {
  try {
    return await provider.start(signal);
  } catch (e) {
    await provider.stop().catch(() => undefined);
    throw e;
  }
}
