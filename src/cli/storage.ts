import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';

/**
 * Where the command line keeps its cluster and logs: $XDG_CACHE_HOME/migration-lab/demo (~/.cache by
 * default). `demo`, `lessons` and `replay` share it, so `replay` reuses the demo's server and data.
 */
export function demoStorageDir(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_CACHE_HOME;
  // The XDG spec says a relative value is invalid and must be ignored.
  const cache = xdg && isAbsolute(xdg) ? xdg : join(homedir(), '.cache');
  return join(cache, 'migration-lab', 'demo');
}
