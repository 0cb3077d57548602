/**
 * Sqitch: `sqitch.plan` lists changes in order; each has `deploy/<change>.sql`,
 * `revert/<change>.sql` and `verify/<change>.sql` (a reworked change's older scripts are
 * `<change>@<tag>.sql`).
 * Documented rule (sqitch docs: "Changes are implemented as scripts native to your selected database
 * engine … SQL scripts for psql"; the pg engine runs `psql --set ON_ERROR_STOP=1 --file …`): no
 * transaction is added by Sqitch — psql sends statements one by one in autocommit, and the script's
 * own `BEGIN; … COMMIT;` makes it one transaction. psql meta-commands are understood where the lab
 * can honour them (`\set`, `\echo`, `\i`, `\ir`, …) and refused clearly otherwise.
 */
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { Detection, Migration, MigrationSection, MigrationSource, MigrationStatement } from '../model';
import { errorAt, errorIn, exists, lines, outerTransaction, readSqlFile, scanFile } from './common';

export const tool = 'sqitch' as const;

export async function detect(dir: string): Promise<Detection | undefined> {
  if (!(await exists(join(dir, 'sqitch.plan')))) return undefined;
  const evidence = ['sqitch.plan is in this folder.'];
  if (await exists(join(dir, 'deploy'))) evidence.push('it has a deploy/ folder.');
  return { tool, confidence: 100, evidence };
}

/** Meta-commands with no effect on what runs (output and display settings). */
const HARMLESS = new Set([
  'echo',
  'qecho',
  'warn',
  'timing',
  'pset',
  'a',
  't',
  'x',
  'o',
  'encoding',
  'unset',
]);
const INCLUDE = new Set(['i', 'include', 'ir', 'include_relative']);

export async function load(dir: string): Promise<MigrationSource> {
  const topDir = await configuredTopDir(dir);
  const planPath = join(dir, 'sqitch.plan');
  let plan: string;
  try {
    plan = await readFile(planPath, 'utf8');
  } catch (e) {
    throw errorIn(planPath, 'cannot read the Sqitch plan.', undefined, e);
  }

  interface Entry {
    name: string;
    line: number;
    tagsAfter: string[];
  }
  const entries: Entry[] = [];
  for (const line of lines(plan)) {
    const text = line.text.trim();
    if (!text || text.startsWith('#') || text.startsWith('%')) continue;
    if (text.startsWith('@')) {
      const tag = /^@(\S+)/.exec(text)![1];
      for (const e of entries) if (e.tagsAfter.length === 0) e.tagsAfter.push(tag);
      continue;
    }
    const m = /^[+-]?([^\s[@#:]+)/.exec(text);
    if (!m) throw errorIn(planPath, `cannot read this plan line: \`${text.slice(0, 60)}\`.`, line.number);
    entries.push({ name: m[1], line: line.number, tagsAfter: [] });
  }

  const migrations: Migration[] = [];
  for (const [index, entry] of entries.entries()) {
    const reworkedLater = entries.slice(index + 1).some((e) => e.name === entry.name);
    let scriptName = entry.name;
    if (reworkedLater) {
      const tag = entry.tagsAfter[0];
      if (!tag)
        throw errorIn(
          planPath,
          `change ${entry.name} is reworked without a tag between its versions.`,
          entry.line,
        );
      scriptName = `${entry.name}@${tag}`;
    }
    const script = (kind: string) => join(topDir, kind, `${scriptName}.sql`);
    const deploy = script('deploy');
    if (!(await exists(deploy)))
      throw errorIn(
        planPath,
        `change ${entry.name} has no deploy script (${inProject(deploy, dir)}).`,
        entry.line,
      );
    const revert = script('revert');
    const verify = script('verify');
    const files = [deploy];
    const down = (await exists(revert)) ? await section(revert, dir, 'revert') : undefined;
    if (down) files.push(revert);
    const check = (await exists(verify)) ? await section(verify, dir, 'verify') : undefined;
    if (check) files.push(verify);
    migrations.push({
      id: reworkedLater ? scriptName : entry.name,
      version: String(index + 1),
      name: entry.name,
      files,
      up: await section(deploy, dir, 'deploy'),
      ...(down ? { down } : {}),
      ...(check ? { verify: check } : {}),
    });
  }
  return { path: dir, tool, evidence: [], migrations };
}

/** A path relative to the project, for messages. */
function inProject(path: string, dir: string): string {
  return path.startsWith(dir) ? path.slice(dir.length + 1) : path;
}

/** `top_dir` from sqitch.conf's [core] or [engine "pg"] section, relative to the project. */
async function configuredTopDir(dir: string): Promise<string> {
  let conf: string;
  try {
    conf = await readFile(join(dir, 'sqitch.conf'), 'utf8');
  } catch {
    return dir;
  }
  const m = /^\s*top_dir\s*=\s*(.+?)\s*$/m.exec(conf);
  return m ? resolve(dir, m[1].replace(/^"|"$/g, '')) : dir;
}

/**
 * Names psql would substitute in a script: Sqitch's own `registry`, the `variables` sections of
 * sqitch.conf (passed with --set), and what the script itself sets with \set.
 */
async function knownVariables(projectDir: string): Promise<Set<string>> {
  const names = new Set(['registry']);
  let conf: string;
  try {
    conf = await readFile(join(projectDir, 'sqitch.conf'), 'utf8');
  } catch {
    return names;
  }
  let inVariables = false;
  for (const line of lines(conf)) {
    const header = /^\s*\[([^\]]*)\]/.exec(line.text);
    if (header) inVariables = /variables/.test(header[1]);
    else if (inVariables) {
      const m = /^\s*([A-Za-z_][\w]*)\s*=/.exec(line.text);
      if (m) names.add(m[1]);
    }
  }
  return names;
}

async function statementsOf(path: string, projectDir: string, depth: number): Promise<MigrationStatement[]> {
  const file = await readSqlFile(path);
  const { statements, metaCommands, variables } = scanFile(file, { psql: true });
  const known = await knownVariables(projectDir);
  for (const meta of metaCommands) if (meta.command === 'set') known.add(meta.args.split(/\s+/)[0]);
  const used = variables.find((v) => known.has(v.name));
  if (used) {
    throw errorAt(
      file,
      used.from,
      `uses the psql variable :${used.name}, which psql would substitute; the lab does not substitute psql variables, so write its value in the script.`,
    );
  }
  const result: MigrationStatement[] = [];
  let next = 0;
  for (const meta of metaCommands) {
    while (next < statements.length && statements[next].start.offset < meta.from)
      result.push(statements[next++]);
    const name = meta.command;
    if (meta.insideStatement) {
      throw errorAt(
        file,
        meta.from,
        `the psql meta-command \`\\${name}\` inside a statement; the lab runs psql scripts only with meta-commands on their own lines between statements.`,
      );
    }
    if (name === 'set' || HARMLESS.has(name)) continue; // ON_ERROR_STOP: the lab always stops at the first error, as Sqitch's psql does
    if (INCLUDE.has(name)) {
      if (depth > 10) throw errorAt(file, meta.from, 'psql includes nested more than 10 deep.');
      const target = meta.args.replace(/^'|'$/g, '');
      const base = name === 'ir' || name === 'include_relative' ? dirname(path) : projectDir;
      const included = resolve(base, target);
      if (!(await exists(included)))
        throw errorAt(
          file,
          meta.from,
          `\`\\${name} ${target}\` names a file that does not exist (${included}).`,
        );
      result.push(...(await statementsOf(included, projectDir, depth + 1)));
      continue;
    }
    throw errorAt(
      file,
      meta.from,
      `the psql meta-command \`\\${name}\` is not supported by the lab (it understands \\set, \\echo, \\i and \\ir); rewrite it as SQL.`,
    );
  }
  while (next < statements.length) result.push(statements[next++]);
  return result;
}

async function section(path: string, projectDir: string, what: string): Promise<MigrationSection> {
  const statements = await statementsOf(path, projectDir, 0);
  const inner = outerTransaction(statements);
  if (inner) {
    return {
      mode: 'transaction',
      why: `Sqitch runs the ${what} script with psql, and the script's own BEGIN … COMMIT makes it one transaction.`,
      statements: inner,
      wayOut: `remove the BEGIN … COMMIT from the ${what} script (psql then runs each statement on its own)`,
    };
  }
  return {
    mode: 'autocommit',
    why: `Sqitch runs the ${what} script with psql, which sends each statement on its own; the script has no BEGIN … COMMIT around it.`,
    statements,
  };
}
