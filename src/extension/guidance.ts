import { LabError } from '../core/errors';
import type { CommandContext } from './context';
import { LockMonitorPanel } from './lockMonitorPanel';

/** A command the user can run to get past an error: shown as a button on the error message. */
export interface ErrorAction {
  title: string;
  command: string;
  args?: unknown[];
}

/** A LabError whose way out is a command the lab cannot (or should not) run by itself. */
export class ActionableError extends LabError {
  constructor(
    message: string,
    readonly actions: ErrorAction[],
  ) {
    super(message);
    this.name = 'ActionableError';
  }
}

/** Shows the Lock Monitor for the extension's lab (opening it if needed); `place` as LockMonitorPanel.show's. */
export function showLockMonitor(
  ctx: CommandContext,
  place?: { beside?: boolean; preserveFocus?: boolean },
): LockMonitorPanel {
  return LockMonitorPanel.show(
    ctx.extension.extensionUri,
    ctx.lab,
    ctx.observation,
    ctx.slowReport,
    ctx.logger,
    place,
  );
}

/**
 * Brings the Lock Monitor in front before a migration or a lesson starts, so the few seconds it is about
 * are seen: opened (or moved) beside the active editor, the walkthrough say, keeping the focus there.
 */
export function revealLockMonitor(ctx: CommandContext): LockMonitorPanel {
  return showLockMonitor(ctx, { beside: true, preserveFocus: true });
}
