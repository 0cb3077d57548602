import { join } from 'node:path';
import { loadSource } from '../migrations/detect';
import type { MigrationSource } from '../migrations/model';
import type { ScenarioBase } from './types';

/** The scenario's bundled folder under the package root (the extension's or the CLI's). */
export function scenarioFolder(packageRoot: string, scenario: Pick<ScenarioBase, 'source'>): string {
  return join(packageRoot, scenario.source.folder);
}

/**
 * The scenario's migrations, read by its tool's adapter (the tools' model, as a workspace folder is),
 * with its tool named rather than detected. Throws MigrationFolderError when the folder cannot be read.
 */
export function loadScenarioSource(
  packageRoot: string,
  scenario: Pick<ScenarioBase, 'source'>,
): Promise<MigrationSource> {
  return loadSource(scenarioFolder(packageRoot, scenario), scenario.source.tool);
}
