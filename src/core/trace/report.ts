/** The trace report for a pull request (issue 12 §2), as Markdown; the JSON export is the TraceReport itself. */
import type { TraceReport } from './types';

export function traceMarkdown(report: TraceReport): string {
  return `# Migration trace: ${report.source}\n`;
}
