// Transpiles src/core, src/cli, test/ and bench/ to out/ (one file per source, no bundling) so that
// `node --test` runs plain JavaScript. Type checking is `npm run typecheck`, not this.
import * as esbuild from 'esbuild';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function tsFiles(dir) {
  let found = [];
  let entries;
  try {
    entries = readdirSync(dir);
  } catch {
    return found; // a folder that does not exist yet has nothing to compile
  }
  for (const name of entries) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) found = found.concat(tsFiles(p));
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) found.push(p);
  }
  return found;
}

// No clean step: CI builds from a clean clone, and helpers may compile side by side.
await esbuild.build({
  // The panel's protocol and model modules (src/shared) are plain TypeScript with no DOM, so they are unit-tested too.
  entryPoints: [
    ...tsFiles('src/core'),
    ...tsFiles('src/cli'),
    'src/shared/protocol.ts',
    'src/shared/model.ts',
    // The host's core → DTO mapping imports no vscode, so it is unit-tested too.
    'src/extension/panelDto.ts',
    // The trace UI's pure helpers (live latency, progress lines, Runs-view rows, external choices): no vscode either.
    'src/extension/traceModel.ts',
    // Which panel action each lesson scenario has (no vscode): the manifest test reads it.
    'src/extension/lessonActions.ts',
    // The Migrations view's rows, ids and redraw decisions (no vscode).
    'src/extension/migrationsModel.ts',
    ...tsFiles('test'),
    ...tsFiles('bench'),
  ],
  outdir: 'out',
  outbase: '.',
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  sourcemap: 'inline',
  logLevel: 'warning',
});
