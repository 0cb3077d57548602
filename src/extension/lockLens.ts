// The lock facts of every statement, shown without being asked: a CodeLens above each statement
// ("ShareLock on public.orders · blocks writes · ≈ table scan") and a hover with the explanation and
// the PostgreSQL documentation page of the command. Both read MigrationLint's latest lint of the
// document; neither parses anything itself.
import * as vscode from 'vscode';
import type { MigrationLint, StatementView } from './lintDiagnostics';

const SQL_FILES: vscode.DocumentSelector = { scheme: 'file', pattern: '**/*.sql' };

/** "ShareLock on public.orders · blocks writes · ≈ table scan". */
export function lensTitle(s: StatementView): string {
  const parts = s.locks.length
    ? s.locks.map((l) => `${l.mode} on ${l.relation} · ${l.blocksShort}`)
    : ['no lock on an existing table'];
  if (s.rewrites) parts.push('≈ table rewrite');
  else if (s.scans) parts.push('≈ table scan');
  if (!s.transactional) parts.push('not in a transaction');
  return parts.join(' · ');
}

export function hoverText(s: StatementView): vscode.MarkdownString {
  const md = new vscode.MarkdownString(undefined, true);
  md.appendMarkdown(`**${s.kind}** — what it locks (Migration Lab)\n\n`);
  if (s.locks.length === 0)
    md.appendMarkdown('- Locks no table or index that existed before this migration.\n');
  for (const l of s.locks)
    md.appendMarkdown(`- \`${l.mode}\` (${l.sqlMode}) on \`${l.relation}\`: ${l.blocks}.\n`);
  md.appendMarkdown(
    s.rewrites
      ? '- Rewrites the whole table and its indexes while the lock is held.\n'
      : s.scans
        ? '- Reads the whole table while the lock is held (no rewrite).\n'
        : '- Neither rewrites nor scans the table.\n',
  );
  md.appendMarkdown(
    s.transactional
      ? '- May run inside a transaction block.\n'
      : '- Cannot run inside a transaction block (PostgreSQL refuses it with 25001).\n',
  );
  if (s.docs) md.appendMarkdown(`\n[PostgreSQL documentation: ${s.kind.split(' … ')[0]}](${s.docs})`);
  return md;
}

/** Registers the CodeLens (when migrationLab.lint.codeLens is on) and the hover for .sql files. */
export function registerLockLens(lint: MigrationLint): vscode.Disposable[] {
  const lensesChanged = new vscode.EventEmitter<void>();
  return [
    lensesChanged,
    lint.onDidChange(() => lensesChanged.fire()),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration('migrationLab.lint.codeLens')) lensesChanged.fire();
    }),
    vscode.languages.registerCodeLensProvider(SQL_FILES, {
      onDidChangeCodeLenses: lensesChanged.event,
      provideCodeLenses(document) {
        if (!vscode.workspace.getConfiguration('migrationLab.lint').get<boolean>('codeLens', true)) return [];
        const linted = lint.lintOf(document);
        // Lenses only for migrations (a loose .sql file linted on request shows diagnostics and hovers).
        if (!linted?.source) return [];
        return linted.statements.map(
          (s) =>
            new vscode.CodeLens(s.range.with({ end: s.range.start }), { title: lensTitle(s), command: '' }),
        );
      },
    }),
    vscode.languages.registerHoverProvider(SQL_FILES, {
      provideHover(document, position) {
        const s = lint.lintOf(document)?.statements.find((x) => x.range.contains(position));
        return s ? new vscode.Hover(hoverText(s), s.range) : undefined;
      },
    }),
  ];
}
