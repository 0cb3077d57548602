// Bundles the extension host code (Node, CommonJS), the Lock Monitor webview (browser, IIFE) and the
// headless demo CLI (`npm run demo`, Node, CommonJS) and the command line (`dist/cli.js`) with esbuild.
// --production minifies (the Node bundles keep their names) and writes linked source maps; --watch
// rebuilds on change.
import * as esbuild from 'esbuild';
import { chmodSync, copyFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';

const production = process.argv.includes('--production');
const watch = process.argv.includes('--watch');

/**
 * The Node bundles' stack frames end up in the log (Show Log), and the extension host cannot apply source
 * maps (no --enable-source-maps there): so production drops whitespace and simplifies syntax but keeps
 * every identifier and name, and a frame reads `EmbeddedPostgres.portTakenError`, not `jt.portTakenError`.
 * The linked .map ships too, for line numbers in a debugger.
 */
const nodeMinify = production
  ? { minifyWhitespace: true, minifySyntax: true, keepNames: true, sourcemap: 'linked' }
  : { sourcemap: true };

/**
 * jsonc-parser's `main` is a UMD build whose factory requires its own files by computed paths, which a
 * bundler cannot follow; its ES module build is the same code with plain imports.
 */
const alias = { 'jsonc-parser': 'jsonc-parser/lib/esm/main.js' };

/** @type {esbuild.BuildOptions} */
const extension = {
  entryPoints: ['src/extension/extension.ts'],
  bundle: true,
  outfile: 'dist/extension.js',
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  external: ['vscode'],
  alias,
  // Let activate() log how long the bundle took to load (npm run bench reads it). Module-scoped in CJS.
  // The footer marks the end of loading: VS Code calls activate() only after it also prepared the
  // extension context (storage, secrets), which is VS Code's time, not ours.
  banner: { js: '"use strict";\nvar __migrationLabLoadStart = performance.now();' },
  footer: { js: 'var __migrationLabLoadEnd = performance.now();' },
  ...nodeMinify,
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
  alias,
  bundle: true,
  outfile: 'dist/demo.js',
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  ...nodeMinify,
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
// The SQL linter's parser (libpg-query) is bundled as JavaScript, but its WebAssembly cannot be
// inlined: the bundled loader reads `libpg-query.wasm` from the bundle's own folder (__dirname), so
// the file is copied beside dist/*.js. It is read only on the first lint, never on activation.
function copyParserWasm() {
  const wasm = createRequire(import.meta.url).resolve('libpg-query/wasm/libpg-query.wasm');
  mkdirSync('dist', { recursive: true });
  copyFileSync(wasm, 'dist/libpg-query.wasm');
}
copyParserWasm();

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
