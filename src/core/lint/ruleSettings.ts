// `migrationLab.lint.rules`: a severity per rule, or `off`. The editor reads it through VS Code's
// settings (user, workspace, folder); the CLI reads the workspace's own `.vscode/settings.json`, the
// file a team commits, so CI and everyone's editor agree on what a finding is worth.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parse, printParseErrorCode, type ParseError } from 'jsonc-parser';
import { LabError } from '../errors';
import type { Finding } from './lint';
import { RULES, type Severity } from './rules';

export type RuleSetting = Severity | 'off';

export const RULES_SETTING = 'migrationLab.lint.rules';

const SETTINGS: readonly RuleSetting[] = ['off', 'error', 'warning', 'info'];

/** The severity a finding shows with under the settings; undefined when its rule is set `off`. */
export function shownSeverity(
  finding: { rule: string; severity: Severity },
  settings: Readonly<Record<string, RuleSetting>> | undefined,
): Severity | undefined {
  const setting = settings?.[finding.rule];
  if (setting === 'off') return undefined;
  return setting ?? finding.severity;
}

export interface WorkspaceRuleSettings {
  /** The settings file read. */
  file: string;
  rules: Record<string, RuleSetting>;
}

/**
 * `migrationLab.lint.rules` of the nearest `.vscode/settings.json` at or above `from`, read as VS Code
 * reads it (comments and trailing commas allowed); undefined when there is none or it sets no rules.
 * A file that is not valid, or a value that is not a rule's id and setting, is refused in one sentence.
 */
export function readWorkspaceRuleSettings(from: string): WorkspaceRuleSettings | undefined {
  for (let dir = from; ; dir = dirname(dir)) {
    const file = join(dir, '.vscode', 'settings.json');
    if (existsSync(file)) return rulesOf(file);
    if (dirname(dir) === dir) return undefined;
  }
}

function rulesOf(file: string): WorkspaceRuleSettings | undefined {
  const errors: ParseError[] = [];
  const settings = parse(readFileSync(file, 'utf8'), errors, { allowTrailingComma: true }) as unknown;
  if (errors.length > 0)
    throw new LabError(`${file} is not valid JSON with comments (${printParseErrorCode(errors[0].error)}).`);
  const rules = (settings as Record<string, unknown> | undefined)?.[RULES_SETTING];
  if (rules === undefined) return undefined;
  if (!rules || typeof rules !== 'object' || Array.isArray(rules))
    throw new LabError(`${RULES_SETTING} in ${file} must be an object of rule ids and severities.`);
  for (const [rule, setting] of Object.entries(rules)) {
    if (!RULES.has(rule as Finding['rule']))
      throw new LabError(
        `${RULES_SETTING} in ${file} names "${rule}", which is not a rule (see docs/rules.md).`,
      );
    if (!SETTINGS.includes(setting as RuleSetting))
      throw new LabError(
        `${RULES_SETTING} in ${file} sets "${rule}" to ${JSON.stringify(setting)}: use one of ${SETTINGS.join(', ')}.`,
      );
  }
  return { file, rules: rules as Record<string, RuleSetting> };
}
