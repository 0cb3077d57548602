import type * as vscode from 'vscode';
import type { Lab } from '../core/lab';
import type { Logger } from '../core/log';
import type { Observation } from './observation';
import type { OwnMigrationWalkthrough } from './ownMigration';
import type { SlowReport } from './slowReport';
import type { ReplayDiagnostics, WorkspaceSources } from './sources';

/** What every command runs with (its own module, so that no command helper imports commands.ts). */
export interface CommandContext {
  lab: Lab;
  logger: Logger;
  channel: vscode.LogOutputChannel;
  extension: vscode.ExtensionContext;
  observation: Observation;
  slowReport: SlowReport;
  sources: WorkspaceSources;
  diagnostics: ReplayDiagnostics;
  /** The "Check your own migration" walkthrough: its subject and its steps' keys. */
  ownMigration: OwnMigrationWalkthrough;
}
