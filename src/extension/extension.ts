import { join } from 'node:path';
import * as vscode from 'vscode';
import { Lab, type LabState } from '../core/lab';
import { EXTERNAL_URL_SECRET, registerCommands, reportError, type CommandContext } from './commands';
import { config } from './config';
import { createLogger } from './logging';
import { DatabaseView, LabStatusBar, MigrationsView } from './views';

let lab: Lab | undefined;

/** Context keys the walkthrough and menus use; set only from observed state. */
function setContextKeys(s: LabState): void {
  void vscode.commands.executeCommand('setContext', 'migrationLab.databaseRunning', s.database === 'running');
  void vscode.commands.executeCommand(
    'setContext',
    'migrationLab.seeded',
    s.database === 'running' && s.seeded,
  );
  void vscode.commands.executeCommand(
    'setContext',
    'migrationLab.migrationRunning',
    s.runningMigration !== undefined,
  );
}

export function activate(context: vscode.ExtensionContext): void {
  const channel = vscode.window.createOutputChannel('Migration Lab', { log: true });
  const logger = createLogger(channel);
  try {
    lab = new Lab({
      storageDir: context.globalStorageUri.fsPath,
      composeFile: join(context.extensionPath, 'docker-compose.yml'),
      migrationsDir: join(context.extensionPath, 'migrations'),
      logger,
      getExternalUrl: async () => context.secrets.get(EXTERNAL_URL_SECRET),
    });
    const ctx: CommandContext = { lab, logger, channel, extension: context };
    lab.on('state', setContextKeys);
    setContextKeys(lab.state);
    context.subscriptions.push(
      channel,
      ...registerCommands(ctx),
      vscode.window.registerTreeDataProvider('migrationLab.database', new DatabaseView(lab)),
      vscode.window.registerTreeDataProvider('migrationLab.migrations', new MigrationsView(lab)),
      new LabStatusBar(lab),
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (
          lab?.state.database === 'running' &&
          config.restartSettings.some((s) => e.affectsConfiguration(s))
        ) {
          void vscode.window.showInformationMessage(
            'Migration Lab: the new PostgreSQL setting takes effect after Stop and Start PostgreSQL.',
          );
        }
      }),
    );
    logger.info(
      `Migration Lab activated (VS Code ${vscode.version}, ${vscode.env.uiKind === vscode.UIKind.Web ? 'web' : 'desktop'}).`,
    );
  } catch (e) {
    reportError({ lab: lab!, logger, channel, extension: context }, 'Activating Migration Lab', e);
    throw e;
  }
}

/** Stops what the lab started (the embedded server), so no process outlives the editor. */
export async function deactivate(): Promise<void> {
  await lab?.stop();
  lab = undefined;
}
