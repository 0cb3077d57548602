/**
 * The folder globs of the setting `migrationLab.migrations.paths` (and any caller that pins folders):
 * `**` any folders (zero or more), `*` one name or part of it, `?` one character; `/` separates folders.
 */

/** A glob as a regular expression over a folder's relative path (forward slashes). */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  const g = glob.replace(/\\/g, '/').replace(/\/+$/, '');
  for (let i = 0; i < g.length; i++) {
    const c = g[i]!;
    if (c === '*' && g[i + 1] === '*') {
      // `**/` matches zero or more folders; a trailing `**` anything below.
      if (g[i + 2] === '/') {
        re += '(?:.*/)?';
        i += 2;
      } else {
        re += '.*';
        i += 1;
      }
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** Whether a path entry is a glob (otherwise it names one folder). */
export function hasGlob(entry: string): boolean {
  return /[*?]/.test(entry);
}
