// Lints the SQL files of detected migration sources as they are opened and typed (and any .sql file
// when migrationLab.lint.allSqlFiles is on), and keeps each document's statement lock facts for the
// CodeLens and hover (lockLens.ts). The linter and its WebAssembly parser are imported on the first
// lint only: activation never pays for them. The lint reads files and parses; it connects nowhere and
// runs nothing.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as vscode from 'vscode';
import type { Lab } from '../core/lab';
import type { Finding, LintResult, StatementReport } from '../core/lint/lint';
import type { LockMode } from '../core/lint/lockModes';
import { shownSeverity, type RuleSetting } from '../core/lint/ruleSettings';
import type { Logger } from '../core/log';
import type { FoundSource } from '../core/migrations/detect';
import { folderErrorStopsLint, type MigrationSource } from '../core/migrations/model';
import { describeError } from '../core/errors';
import { SUPPORTED_MAJORS } from '../core/postgres/majors';

const SECTION = 'migrationLab.lint';
/** Typing pauses shorter than this do not start a lint. */
const DEBOUNCE_MS = 300;

/** One statement's facts as the CodeLens and hover show them (words computed when linted). */
export interface StatementView {
  range: vscode.Range;
  kind: string;
  locks: { relation: string; mode: LockMode; sqlMode: string; blocks: string; blocksShort: string }[];
  rewrites: boolean;
  scans: boolean;
  transactional: boolean;
  docs?: string;
}

export interface DocumentLint {
  version: number;
  statements: StatementView[];
  /** Set when the file belongs to a detected source: its tool and folder. */
  source?: FoundSource;
  /** The PostgreSQL major it was linted for. */
  pgMajor: number;
  diagnostics: readonly vscode.Diagnostic[];
  /** The source as linted (the document's text included), for quick fixes; absent for loose .sql files. */
  loaded?: MigrationSource;
  /** The findings shown, for quick fixes (matched to a diagnostic by rule and range). */
  findings: readonly Finding[];
  /** The document's text as linted. */
  text: string;
}

export interface LintHost {
  logger: Logger;
  lab: Pick<Lab, 'state'>;
  /** Where docs/rules.md ships (the diagnostics' code links point into it). */
  extensionPath: string;
}

function lintSetting<T>(key: string, fallback: T): T {
  return vscode.workspace.getConfiguration(SECTION).get<T>(key, fallback);
}

/** The 0-based editor range of a 1-based (line, column) report. */
function editorRange(r: { line: number; column: number; endLine: number; endColumn: number }): vscode.Range {
  return new vscode.Range(r.line - 1, r.column - 1, r.endLine - 1, r.endColumn - 1);
}

const SEVERITY: Record<Finding['severity'], vscode.DiagnosticSeverity> = {
  error: vscode.DiagnosticSeverity.Error,
  warning: vscode.DiagnosticSeverity.Warning,
  info: vscode.DiagnosticSeverity.Information,
};

/** Owns the lint's one DiagnosticCollection and every document's latest lint. */
export class MigrationLint implements vscode.Disposable {
  private readonly collection = vscode.languages.createDiagnosticCollection('migrationLab.lint');
  private readonly pending = new Map<string, { timer: NodeJS.Timeout; abort: AbortController }>();
  private readonly linted = new Map<string, DocumentLint>();
  /** Detection per folder (a file's folder and its parent), shared by every file in it. */
  private readonly folders = new Map<string, Promise<(FoundSource & { confidence: number }) | undefined>>();
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  private readonly disposables: vscode.Disposable[] = [];
  private ruleLines: Map<string, number> | undefined;
  /** Fires when a document's lint (and so its lenses) changed. */
  readonly onDidChange = this.changed.event;

  constructor(private readonly host: LintHost) {
    this.disposables.push(
      this.collection,
      this.changed,
      vscode.workspace.onDidOpenTextDocument((d) => this.schedule(d, 0)),
      vscode.workspace.onDidChangeTextDocument((e) => {
        if (e.contentChanges.length > 0) this.schedule(e.document, DEBOUNCE_MS);
      }),
      // Another migration saved changes the schema this one is checked against.
      vscode.workspace.onDidSaveTextDocument((d) => {
        if (isSqlDocument(d)) this.lintOpenDocuments(d);
      }),
      vscode.workspace.onDidCloseTextDocument((d) => this.forget(d.uri)),
      // With pgMajor "server", a server started or stopped since changes the target major: the file
      // shown next is linted again if so. (Not on every Lab state change: the Lab's listeners are full.)
      vscode.window.onDidChangeActiveTextEditor((editor) => {
        if (editor)
          this.relintIfMajorChanged(editor.document).catch((e: unknown) =>
            host.logger.warn(`Checking the lint's target major failed: ${describeError(e)}`),
          );
      }),
      vscode.workspace.onDidCreateFiles(() => this.folders.clear()),
      vscode.workspace.onDidDeleteFiles(() => this.folders.clear()),
      vscode.workspace.onDidRenameFiles(() => this.folders.clear()),
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration(SECTION)) this.lintOpenDocuments();
      }),
    );
    this.lintOpenDocuments();
  }

  /** The latest lint of a document, if it is of the document's current text. */
  lintOf(document: vscode.TextDocument): DocumentLint | undefined {
    const l = this.linted.get(document.uri.toString());
    return l && l.version === document.version ? l : undefined;
  }

  dispose(): void {
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.abort.abort();
    }
    this.pending.clear();
    for (const d of this.disposables) d.dispose();
  }

  private async relintIfMajorChanged(document: vscode.TextDocument): Promise<void> {
    const linted = this.lintOf(document);
    if (linted && linted.pgMajor !== (await this.targetMajor())) this.schedule(document, 0);
  }

  private lintOpenDocuments(except?: vscode.TextDocument): void {
    for (const d of vscode.workspace.textDocuments) if (d !== except) this.schedule(d, 0);
    if (except) this.schedule(except, 0);
  }

  private forget(uri: vscode.Uri): void {
    const key = uri.toString();
    const p = this.pending.get(key);
    if (p) {
      clearTimeout(p.timer);
      p.abort.abort();
      this.pending.delete(key);
    }
    this.collection.delete(uri);
    if (this.linted.delete(key)) this.changed.fire(uri);
  }

  /** Starts a lint after `delayMs`, superseding (and cancelling) the one pending or running. */
  private schedule(document: vscode.TextDocument, delayMs: number): void {
    if (!isSqlDocument(document)) return;
    const key = document.uri.toString();
    const previous = this.pending.get(key);
    if (previous) {
      clearTimeout(previous.timer);
      previous.abort.abort();
    }
    const abort = new AbortController();
    const timer = setTimeout(() => {
      this.lint(document, abort.signal)
        .catch((e: unknown) => {
          if (!abort.signal.aborted)
            this.host.logger.warn(`Linting ${document.uri.fsPath} failed: ${describeError(e)}`);
        })
        .finally(() => {
          if (this.pending.get(key)?.abort === abort) this.pending.delete(key);
        });
    }, delayMs);
    this.pending.set(key, { timer, abort });
  }

  private async lint(document: vscode.TextDocument, signal: AbortSignal): Promise<void> {
    if (!lintSetting('enabled', true) || document.isClosed) return this.forget(document.uri);
    const version = document.version;
    const file = document.uri.fsPath;
    const text = document.getText();
    // A tool's migration is a file in the source folder or in a folder per migration (Prisma, Diesel):
    // the surer detection of the two wins, as on the command line.
    const candidates = await this.sourcesOf(file);
    if (signal.aborted) return;
    const all = lintSetting('allSqlFiles', false);
    if (candidates.length === 0 && !all) return this.forget(document.uri);

    const [lint, modes, detect, common] = await Promise.all([
      import('../core/lint/lint.js'),
      import('../core/lint/lockModes.js'),
      import('../core/migrations/detect.js'),
      import('../core/migrations/tools/common.js'),
    ]);
    const pgMajor = await this.targetMajor();
    let result: LintResult | undefined;
    let folderError: vscode.Diagnostic | undefined;
    let inSource: FoundSource | undefined;
    let loadedSource: MigrationSource | undefined;
    // The documents as typed replace the files on disk: this one, and any other unsaved one (a file a
    // quick fix just created is empty on disk until it is saved).
    const texts = new Map<string, string>([[file, text]]);
    for (const d of vscode.workspace.textDocuments)
      if (d.isDirty && d.uri.scheme === 'file' && !texts.has(d.uri.fsPath))
        texts.set(d.uri.fsPath, d.getText());
    let aloneAsPlainSql = false;
    for (const source of candidates) {
      try {
        const loaded = await common.withUnsavedTexts(texts, () => detect.loadFound(source));
        if (!loaded.migrations.some((m: { files: string[] }) => m.files.includes(file))) continue;
        inSource = source;
        loadedSource = loaded;
        const all = await lint.lintSource(loaded, { pgMajor, texts, signal });
        result = {
          findings: all.findings.filter((f: Finding) => f.file === file),
          statements: all.statements.filter((s: StatementReport) => s.file === file),
        };
        break;
      } catch (e) {
        if (signal.aborted) throw e; // superseded: the newer lint reports
        // The tool would refuse this folder: say so where the file is, not in a popup on every keystroke.
        // Another file of the folder: this one cannot be linted as the tool runs it either, and plain
        // SQL would lint its downs as ups; say so at its top, naming the file to mend.
        const where = e as { file?: string; line?: number; column?: number };
        const elsewhere = where.file !== undefined && where.file !== file;
        if (elsewhere && !folderErrorStopsLint(source.tool)) {
          aloneAsPlainSql = true; // as the CLI does
          continue;
        }
        const line = where.line && !elsewhere ? where.line - 1 : 0;
        const column = where.column && !elsewhere ? where.column - 1 : 0;
        folderError = new vscode.Diagnostic(
          new vscode.Range(line, column, line, column + 1),
          elsewhere
            ? `This ${source.tool} folder cannot be read, so its migrations are not linted: ${describeError(e)}`
            : describeError(e),
          elsewhere ? vscode.DiagnosticSeverity.Warning : vscode.DiagnosticSeverity.Error,
        );
        folderError.source = 'Migration Lab';
        inSource = source;
        break;
      }
    }
    if (!result && !folderError) {
      if (!all && !aloneAsPlainSql) return this.forget(document.uri);
      result = await lint.lintSql(text, { pgMajor, file });
    }
    // A newer lint of a newer text is on its way, or the document changed meanwhile: drop this one.
    if (signal.aborted || document.version !== version || document.isClosed) return;

    const shown = result ? this.shownFindings(result.findings) : [];
    const diagnostics = shown.map((f) => f.diagnostic);
    if (folderError) diagnostics.push(folderError);
    this.collection.set(document.uri, diagnostics);
    const statements = (result?.statements ?? []).map((s: StatementReport): StatementView => ({
      range: editorRange(s),
      kind: s.kind,
      locks: s.locks.map((l) => ({
        ...l,
        sqlMode: modes.sqlModeName(l.mode),
        blocks: modes.blocksInWords(l.mode),
        blocksShort: modes.blocksShort(l.mode),
      })),
      rewrites: s.rewrites,
      scans: s.scans,
      transactional: s.transactional,
      docs: s.docs,
    }));
    this.linted.set(document.uri.toString(), {
      version,
      statements,
      source: inSource,
      pgMajor,
      diagnostics,
      loaded: loadedSource,
      findings: shown.map((f) => f.finding),
      text,
    });
    this.changed.fire(document.uri);
  }

  private shownFindings(findings: readonly Finding[]): { finding: Finding; diagnostic: vscode.Diagnostic }[] {
    const overrides = lintSetting<Record<string, RuleSetting>>('rules', {});
    const out: { finding: Finding; diagnostic: vscode.Diagnostic }[] = [];
    for (const f of findings) {
      const shown = shownSeverity(f, overrides);
      if (shown === undefined) continue;
      const severity = SEVERITY[shown] ?? SEVERITY[f.severity];
      // The message already names the lock and what it blocks; the CodeLens and hover show it too.
      const d = new vscode.Diagnostic(editorRange(f), f.message, severity);
      d.source = 'Migration Lab';
      d.code = { value: f.rule, target: this.ruleDoc(f.rule) };
      out.push({ finding: f, diagnostic: d });
    }
    return out;
  }

  /** docs/rules.md (shipped in the .vsix) opened at the rule's heading. */
  private ruleDoc(rule: string): vscode.Uri {
    const path = join(this.host.extensionPath, 'docs', 'rules.md');
    if (!this.ruleLines) {
      this.ruleLines = new Map();
      try {
        readFileSync(path, 'utf8')
          .split('\n')
          .forEach((line, i) => {
            const m = /^###\s+`([\w-]+)`/.exec(line);
            if (m) this.ruleLines!.set(m[1], i + 1);
          });
      } catch (e) {
        this.host.logger.warn(`The lint rules' page ${path} could not be read: ${describeError(e)}`);
      }
    }
    const line = this.ruleLines.get(rule);
    return vscode.Uri.file(path).with({ fragment: line ? `L${line}` : '' });
  }

  /** The sources a file may belong to, surest first: its folder's and its parent's (Prisma, Diesel, Sqitch). */
  private async sourcesOf(file: string): Promise<FoundSource[]> {
    const dir = dirname(file);
    const found = [await this.sourceOfFolder(dir), await this.sourceOfFolder(dirname(dir))];
    return found
      .filter((f): f is FoundSource & { confidence: number } => f !== undefined)
      .sort((a, b) => b.confidence - a.confidence);
  }

  private sourceOfFolder(dir: string): Promise<(FoundSource & { confidence: number }) | undefined> {
    let found = this.folders.get(dir);
    if (!found) {
      found = import('../core/migrations/detect.js').then((d) => d.sourceOfFolder(dir));
      found.catch(() => this.folders.delete(dir)); // an unreadable folder is looked at again next time
      this.folders.set(dir, found);
    }
    return found;
  }

  /** migrationLab.lint.pgMajor: a major, "bundled" (the shipped server) or "server" (the running one). */
  private async targetMajor(): Promise<number> {
    const setting = String(lintSetting<string | number>('pgMajor', 'server'));
    if ((SUPPORTED_MAJORS as readonly number[]).map(String).includes(setting)) return Number(setting);
    const { majorOf } = await import('../core/postgres/majors.js');
    const running = this.host.lab.state.serverVersion;
    if (setting === 'server' && running && majorOf(running)) return majorOf(running)!;
    // No server running: the major the next start would run.
    const next = vscode.workspace.getConfiguration('migrationLab').get<string>('postgres.version', 'bundled');
    if (setting === 'server' && (SUPPORTED_MAJORS as readonly number[]).map(String).includes(next))
      return Number(next);
    try {
      const { bundledMajor } = await import('../core/postgres/binaries.js');
      return bundledMajor();
    } catch (e) {
      const newest = SUPPORTED_MAJORS[SUPPORTED_MAJORS.length - 1];
      this.host.logger.warn(
        `The bundled PostgreSQL major is unknown (${describeError(e)}); linting for ${newest}.`,
      );
      return newest;
    }
  }
}

function isSqlDocument(d: vscode.TextDocument): boolean {
  return d.uri.scheme === 'file' && (d.languageId === 'sql' || d.uri.fsPath.toLowerCase().endsWith('.sql'));
}
