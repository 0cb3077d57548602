/**
 * Finds migration sources under a workspace folder and picks each one's tool from its evidence.
 * The search is bounded (depth and folder count) and skips dependency, VCS and build folders, so it
 * stays fast on large workspaces; an override per folder replaces detection.
 */
import { readdir } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { LabError, throwIfAborted } from '../errors';
import { MigrationFolderError, TOOL_NAMES, type Detection, type MigrationSource, type ToolId } from './model';
import { listEntries, shown } from './tools/common';
import { ADAPTERS, adapterFor } from './tools';

/** Folders never searched: dependencies, VCS data, build output, caches. */
export const IGNORED_FOLDERS: ReadonlySet<string> = new Set([
  'node_modules',
  '.git',
  '.hg',
  '.svn',
  'dist',
  'out',
  'build',
  'target',
  '.next',
  '.nuxt',
  '.turbo',
  '.cache',
  'coverage',
  '__pycache__',
  '.venv',
  'venv',
  '.tox',
  '.gradle',
  '.idea',
  '.vscode-test',
]);

/** Files whose presence alone is a tool's evidence. */
const MARKER_FILES = new Set(['sqitch.plan', 'atlas.sum', 'migration_lock.toml']);

/** Loose, unnumbered .sql files count as migrations only in a folder whose name says so. */
const PLAIN_FOLDER_NAME = /migrat|changes|changelog|schema|sql|^db$|database/i;

export interface FoundSource {
  path: string;
  tool: ToolId;
  evidence: string[];
}

export interface DetectOptions {
  /** Folder path (absolute, or relative to the root) → tool, replacing detection for that folder. */
  overrides?: Readonly<Record<string, ToolId>>;
  /** How deep below the root to look (default 8). */
  maxDepth?: number;
  /** How many folders to look at in all (default 5000). */
  maxFolders?: number;
  signal?: AbortSignal;
}

export interface DetectResult {
  sources: FoundSource[];
  /** True when the folder limit stopped the search before it was complete. */
  truncated: boolean;
}

/** The tool of one folder, with its evidence; undefined when nothing says it holds migrations. */
export async function detectFolder(dir: string, override?: ToolId): Promise<Detection | undefined> {
  if (override) {
    const detected = await bestDetection(dir);
    const evidence = [`the tool is set to ${TOOL_NAMES[override]} for this folder (override).`];
    if (detected && detected.tool !== override)
      evidence.push(`detection alone would say ${TOOL_NAMES[detected.tool]}: ${detected.evidence[0]}`);
    return { tool: override, confidence: 1000, evidence };
  }
  return bestDetection(dir);
}

async function bestDetection(dir: string): Promise<Detection | undefined> {
  let best: Detection | undefined;
  for (const adapter of ADAPTERS) {
    const found = await adapter.detect(dir);
    if (found && (!best || found.confidence > best.confidence)) best = found;
  }
  return best;
}

/** Whether a detection makes the folder a source: loose .sql files only in a folder named like one. */
function countsAsSource(dir: string, found: Detection, overridden: boolean): boolean {
  return (
    found.tool !== 'plain' || found.confidence >= 10 || overridden || PLAIN_FOLDER_NAME.test(basename(dir))
  );
}

/** The source `dir` is, by the same rule findSources applies (with its confidence); undefined when none. */
export async function sourceOfFolder(
  dir: string,
): Promise<(FoundSource & { confidence: number }) | undefined> {
  const found = await detectFolder(dir);
  return found && countsAsSource(dir, found, false)
    ? { path: resolve(dir), tool: found.tool, evidence: found.evidence, confidence: found.confidence }
    : undefined;
}

/** Searches `root` breadth-first for migration folders. */
export async function findSources(root: string, options: DetectOptions = {}): Promise<DetectResult> {
  const maxDepth = options.maxDepth ?? 8;
  const maxFolders = options.maxFolders ?? 5000;
  const overrides = new Map<string, ToolId>();
  for (const [path, tool] of Object.entries(options.overrides ?? {}))
    overrides.set(resolve(root, path), tool);

  const sources: FoundSource[] = [];
  const queue: { dir: string; depth: number }[] = [{ dir: resolve(root), depth: 0 }];
  let visited = 0;
  let truncated = false;
  while (queue.length > 0) {
    throwIfAborted(options.signal);
    if (visited >= maxFolders) {
      truncated = true;
      break;
    }
    const { dir, depth } = queue.shift()!;
    visited++;
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      continue; // an unreadable folder below the root is skipped, not fatal
    }
    const subfolders = entries.filter((e) => e.isDirectory() && !IGNORED_FOLDERS.has(e.name));
    const worthALook =
      overrides.has(dir) ||
      entries.some((e) => e.isFile() && (e.name.endsWith('.sql') || MARKER_FILES.has(e.name))) ||
      subfolders.some((e) => /^\d/.test(e.name) || e.name === 'meta');
    const found = worthALook ? await detectFolder(dir, overrides.get(dir)) : undefined;
    const counts = found && countsAsSource(dir, found, overrides.has(dir));
    if (found && counts) {
      sources.push({ path: dir, tool: found.tool, evidence: found.evidence });
      if (found.tool !== 'plain') continue; // a tool's folder is one source; its subfolders are its own
    }
    if (depth < maxDepth) {
      for (const sub of subfolders.sort((a, b) => (a.name < b.name ? -1 : 1)))
        queue.push({ dir: join(dir, sub.name), depth: depth + 1 });
    }
  }
  return { sources, truncated };
}

/** Detects (unless `tool` is given) and loads one folder. */
export async function loadSource(dir: string, tool?: ToolId): Promise<MigrationSource> {
  const path = resolve(dir);
  await listEntries(path); // an unreadable folder is one sentence, not "no migrations found"
  const found = await detectFolder(path, tool);
  if (!found) {
    throw new MigrationFolderError(
      `${shown(path)}: no migrations found (no .sql files and no migration tool's files); pick the tool explicitly if this is a migration folder.`,
      path,
    );
  }
  return loadFound({ path, tool: found.tool, evidence: found.evidence });
}

/** Loads a source that findSources found, keeping its evidence. */
export async function loadFound(found: FoundSource): Promise<MigrationSource> {
  try {
    const source = await adapterFor(found.tool).load(found.path);
    return { ...source, evidence: found.evidence };
  } catch (e) {
    if (e instanceof LabError) throw e;
    // An adapter bug must still reach the user as one sentence, with the details in the log.
    throw new MigrationFolderError(
      `${shown(found.path)}: the ${TOOL_NAMES[found.tool]} folder could not be read (${String(e)}).`,
      found.path,
      undefined,
      undefined,
      { cause: e, detail: e instanceof Error ? e.stack : undefined },
    );
  }
}
