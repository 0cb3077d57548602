import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

let cached: string | undefined;

/**
 * The lab's own version, from the package.json of the extension or the checkout this code runs from
 * (dist/, out/ or src/ all sit below it); "unknown" when none is found.
 */
export function labVersion(): string {
  if (cached !== undefined) return cached;
  let dir = __dirname;
  for (let k = 0; k < 6; k++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'migration-lab' && pkg.version) return (cached = pkg.version);
    } catch {
      // no package.json here: look one folder up
    }
    dir = dirname(dir);
  }
  return (cached = 'unknown');
}
