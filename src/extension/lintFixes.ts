// Quick fixes on the lint's diagnostics: core computes each fix as neutral edits in the source's own
// tool format (src/core/lint/fixes.ts); this maps them to a WorkspaceEdit (new files with createFile
// + insert) on a QuickFix code action linked to its diagnostic. Nothing is computed until the user
// asks for the actions of a diagnostic, and only from the lint of the document's current version.
import * as vscode from 'vscode';
import type { Fix } from '../core/lint/fixes';
import type { Finding } from '../core/lint/lint';
import type { Logger } from '../core/log';
import { describeError } from '../core/errors';
import type { MigrationLint } from './lintDiagnostics';

const SQL_FILES: vscode.DocumentSelector = { scheme: 'file', pattern: '**/*.sql' };

/** The neutral edits of a fix as a WorkspaceEdit. */
export function workspaceEditOf(fix: Fix): vscode.WorkspaceEdit {
  const edit = new vscode.WorkspaceEdit();
  for (const e of fix.edits) {
    const uri = vscode.Uri.file(e.file);
    if (e.kind === 'replace') {
      const r = e.range;
      edit.replace(
        uri,
        new vscode.Range(r.start.line, r.start.character, r.end.line, r.end.character),
        e.text,
      );
    } else {
      // Never overwrite: a file of that name appearing since the lint makes the edit fail visibly.
      edit.createFile(uri, { overwrite: false, ignoreIfExists: false });
      edit.insert(uri, new vscode.Position(0, 0), e.text);
    }
  }
  return edit;
}

function sameRange(d: vscode.Diagnostic, f: Finding): boolean {
  return (
    d.range.start.line === f.line - 1 &&
    d.range.start.character === f.column - 1 &&
    d.range.end.line === f.endLine - 1 &&
    d.range.end.character === f.endColumn - 1
  );
}

export class LintQuickFixes implements vscode.CodeActionProvider {
  static readonly metadata: vscode.CodeActionProviderMetadata = {
    providedCodeActionKinds: [vscode.CodeActionKind.QuickFix],
  };

  constructor(
    private readonly lint: MigrationLint,
    private readonly logger: Logger,
  ) {}

  async provideCodeActions(
    document: vscode.TextDocument,
    _range: vscode.Range | vscode.Selection,
    context: vscode.CodeActionContext,
    token: vscode.CancellationToken,
  ): Promise<vscode.CodeAction[]> {
    const linted = this.lint.lintOf(document);
    if (!linted?.loaded) return [];
    const pairs: { diagnostic: vscode.Diagnostic; finding: Finding }[] = [];
    for (const diagnostic of context.diagnostics) {
      const rule = typeof diagnostic.code === 'object' ? String(diagnostic.code.value) : undefined;
      const finding = linted.findings.find((f) => f.rule === rule && sameRange(diagnostic, f));
      if (finding) pairs.push({ diagnostic, finding });
    }
    if (pairs.length === 0) return [];
    // Other migrations open with unsaved changes are fixed as the user sees them.
    const texts = new Map<string, string>([[document.uri.fsPath, linted.text]]);
    for (const d of vscode.workspace.textDocuments)
      if (d.isDirty && d !== document && d.uri.scheme === 'file') texts.set(d.uri.fsPath, d.getText());
    try {
      const { fixesForFindings } = await import('../core/lint/fixes.js');
      const lockTimeout = vscode.workspace
        .getConfiguration('migrationLab.lint')
        .get<string>('fixLockTimeout');
      const fixes = await fixesForFindings(
        linted.loaded,
        pairs.map((p) => p.finding),
        { pgMajor: linted.pgMajor, texts, ...(lockTimeout ? { lockTimeout } : {}) },
      );
      if (token.isCancellationRequested || document.version !== linted.version) return [];
      return pairs.flatMap(({ diagnostic }, k) =>
        fixes[k].map((fix) => {
          const action = new vscode.CodeAction(fix.title, vscode.CodeActionKind.QuickFix);
          action.diagnostics = [diagnostic];
          action.isPreferred = fix.preferred === true;
          action.edit = workspaceEditOf(fix);
          return action;
        }),
      );
    } catch (e) {
      // A fix that cannot be computed leaves the diagnostic as it is; the log says why.
      this.logger.warn(`Computing quick fixes for ${document.uri.fsPath} failed: ${describeError(e)}`);
      return [];
    }
  }
}

export function registerLintQuickFixes(lint: MigrationLint, logger: Logger): vscode.Disposable {
  return vscode.languages.registerCodeActionsProvider(
    SQL_FILES,
    new LintQuickFixes(lint, logger),
    LintQuickFixes.metadata,
  );
}
