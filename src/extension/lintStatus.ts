// The lint's summary for the file in the active editor: its tool, the target major and the problem
// count, in the status bar; a click opens the Problems panel. Hidden for files the lint does not cover.
import * as vscode from 'vscode';
import type { MigrationLint } from './lintDiagnostics';

export class LintStatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem(
    'migrationLab.lint',
    vscode.StatusBarAlignment.Left,
    9,
  );
  private readonly disposables: vscode.Disposable[];
  private visible = false;

  constructor(private readonly lint: MigrationLint) {
    this.item.name = 'Migration Lab Lint';
    this.item.command = 'workbench.actions.view.problems';
    this.disposables = [
      this.item,
      lint.onDidChange(() => this.render()),
      vscode.window.onDidChangeActiveTextEditor(() => this.render()),
    ];
    this.render();
  }

  private render(): void {
    const document = vscode.window.activeTextEditor?.document;
    const linted = document && this.lint.lintOf(document);
    if (!linted) {
      this.item.hide();
      this.visible = false;
      return;
    }
    const count = (severity: vscode.DiagnosticSeverity) =>
      linted.diagnostics.filter((d) => d.severity === severity).length;
    const errors = count(vscode.DiagnosticSeverity.Error);
    const warnings = count(vscode.DiagnosticSeverity.Warning);
    const infos = count(vscode.DiagnosticSeverity.Information);
    const icon = errors ? '$(error)' : warnings ? '$(warning)' : '$(check)';
    const problems = errors + warnings + infos;
    this.item.text = `${icon} Lint: ${problems === 0 ? 'no problems' : `${problems} problem${problems === 1 ? '' : 's'}`}`;
    const what = linted.source ? `a ${linted.source.tool} migration` : 'a .sql file on its own';
    this.item.tooltip = `Migration Lab lint of this file (${what}, PostgreSQL ${linted.pgMajor}): ${errors} errors, ${warnings} warnings, ${infos} infos. Click to open Problems.`;
    this.item.show();
    this.visible = true;
  }

  /** What the item shows now, or undefined when hidden (VS Code's API cannot read a status bar back; tests read this). */
  get shown(): { text: string; tooltip: string } | undefined {
    return this.visible ? { text: this.item.text, tooltip: String(this.item.tooltip ?? '') } : undefined;
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }
}
