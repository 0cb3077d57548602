// Bundles the extension host code (Node, CommonJS), the Lock Monitor webview (browser, IIFE) and the
// headless demo CLI (`npm run demo`, Node, CommonJS) and the command line (`dist/cli.js`) with esbuild.
// --production minifies and drops source maps; --watch rebuilds on change.
import * as esbuild from 'esbuild';
import { chmodSync } from 'node:fs';

const production = process.argv.includes('--production');
const watch = process.argv.includes('--watch');

/** @type {esbuild.BuildOptions} */
const extension = {
  entryPoints: ['src/extension/extension.ts'],
  bundle: true,
  outfile: 'dist/extension.js',
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  external: ['vscode'],
  // Let activate() log how long the bundle took to load (npm run bench reads it). Module-scoped in CJS.
  // The footer marks the end of loading: VS Code calls activate() only after it also prepared the
  // extension context (storage, secrets), which is VS Code's time, not ours.
  banner: { js: '"use strict";\nvar __migrationLabLoadStart = performance.now();' },
  footer: { js: 'var __migrationLabLoadEnd = performance.now();' },
  minify: production,
  sourcemap: !production,
  logLevel: 'info',
};

/** @type {esbuild.BuildOptions} */
const webview = {
  entryPoints: { panel: 'src/webview/main.ts' },
  bundle: true,
  outdir: 'dist/webview',
  format: 'iife',
  platform: 'browser',
  target: 'es2022',
  minify: production,
  sourcemap: !production,
  logLevel: 'info',
};

/** @type {esbuild.BuildOptions} */
const demo = {
  entryPoints: ['src/cli/demo.ts'],
  bundle: true,
  outfile: 'dist/demo.js',
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  minify: production,
  sourcemap: !production,
  logLevel: 'info',
};

/** @type {esbuild.BuildOptions} */
const cli = {
  ...demo,
  // `migration-lab` (package.json bin): detect, replay, and demo/lessons through dist/demo.js.
  entryPoints: ['src/cli/main.ts'],
  outfile: 'dist/cli.js',
  banner: { js: '#!/usr/bin/env node' },
};

if (watch) {
  for (const options of [extension, webview, demo, cli]) await (await esbuild.context(options)).watch();
} else {
  await Promise.all([
    esbuild.build(extension),
    esbuild.build(webview),
    esbuild.build(demo),
    esbuild.build(cli),
  ]);
  chmodSync('dist/cli.js', 0o755);
}
