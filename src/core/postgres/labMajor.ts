import { join } from 'node:path';
import type { Logger } from '../log';
import { bundledMajor, resolvePostgresBinaries } from './binaries';
import type { DockerComposeOptions } from './docker';
import type { EmbeddedPostgresOptions } from './embedded';
import { majorBaseDir, parseVersionSetting, type PostgresVersionSetting } from './majors';

/** The version settings of the lab (LabSettings' fields; declared here so lab.ts can import this file). */
export interface MajorSettings {
  postgresVersion?: PostgresVersionSetting;
  binDir?: string;
}

/** What of the lab's environment the binaries need (LabEnvironment's fields). */
export interface MajorEnvironment {
  storageDir: string;
  binariesDir?: string;
  logger: Logger;
  onInstallProgress?: (message: string) => void;
}

/**
 * What the version settings change in the embedded provider: the cluster folder (one per major) and
 * where its binaries come from (resolved at start, so `auto` that picks Docker fetches nothing).
 */
export function embeddedProviderOptions(
  settings: MajorSettings,
  env: MajorEnvironment,
): Pick<EmbeddedPostgresOptions, 'baseDir' | 'binaries'> {
  const setting = parseVersionSetting(settings.postgresVersion);
  let shipped: number | undefined;
  try {
    shipped = bundledMajor();
  } catch {
    shipped = undefined; // no bundled binaries: resolvePostgresBinaries says so at start
  }
  const baseDir =
    setting === 'bundled' || shipped === undefined
      ? env.storageDir
      : majorBaseDir(env.storageDir, Number(setting), shipped);
  const binDir = settings.binDir?.trim() || undefined;
  return {
    baseDir,
    binaries: (signal) =>
      resolvePostgresBinaries({
        setting,
        binDir,
        logger: env.logger,
        installDir: env.binariesDir ?? join(env.storageDir, 'binaries'),
        onProgress: env.onInstallProgress,
        signal,
      }),
  };
}

/** The Docker image's major: the setting's, or the compose file's default (16, the seed's) for `bundled`. */
export function dockerMajorOption(
  settings: Pick<MajorSettings, 'postgresVersion'>,
): Pick<DockerComposeOptions, 'major'> {
  const setting = parseVersionSetting(settings.postgresVersion);
  return setting === 'bundled' ? {} : { major: Number(setting) };
}
