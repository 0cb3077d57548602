/**
 * Each command's one usage line: what `migration-lab help` lists and each command prints on bad
 * arguments. Kept apart from the commands so the entry point can list them all without loading the
 * commands themselves (a lint run never loads the PostgreSQL driver).
 */
export const DETECT_USAGE = 'Usage: migration-lab detect [DIR] [--tool T] [--pg MAJOR] [--json]';
export const REPLAY_USAGE =
  'Usage: migration-lab replay DIR [--tool T] [--to VERSION] [--port N] [--pg MAJOR] [--role NAME]... [--reset] [--json]';
export const LINT_USAGE =
  'Usage: migration-lab lint PATH... [--tool T] [--pg MAJOR] [--format text|json|sarif|github] [--fail-on error|warning|never]';
export const TRACE_USAGE =
  'Usage: migration-lab trace DIR [--migration ID] [--rows N] [--rows-per-table t=N,...] [--with-long-transaction SECONDS] [--rate N] [--stats-url-env NAME] [--json] [--markdown FILE] [--port N] [--pg MAJOR] [--fail-on-stall MS]';
