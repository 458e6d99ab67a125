/**
 * The documents of a source folder: walked through the storage FileSystem, kept when a
 * relative path matches an include glob and no exclude glob, in a stable (sorted) order.
 * Globs: `**` any run of folders, `*` any characters but `/`, `?` one, `{a,b}` either.
 */
import { invalidArgument } from '../common/quiver-error.js';
import type { FileSystem } from '../storage/io/file-system.js';

export const DEFAULT_INCLUDE = ['**/*.{md,markdown,mdx,txt,text,html,htm}'];
export const DEFAULT_EXCLUDE = ['**/node_modules/**', '**/.git/**'];
/** Files larger than this are skipped (and reported). */
export const DEFAULT_MAX_FILE_BYTES = 4 * 1024 * 1024;
/** Folder depth the walk stops at (a symlink loop ends here). */
const MAX_DEPTH = 32;

export interface SourceFile {
  /** Relative to the source folder, `/`-separated: the `source` payload field. */
  readonly path: string;
  readonly size: number;
}

export interface SourceSelection {
  readonly include?: readonly string[];
  readonly exclude?: readonly string[];
}

/** The matching files under `root`, sorted by path. */
export async function listSourceFiles(
  fs: FileSystem,
  root: string,
  selection: SourceSelection = {},
): Promise<SourceFile[]> {
  const top = await fs.stat(root);
  if (top === undefined || !top.isDirectory) {
    throw invalidArgument(`the source ${root} is not a folder.`, { field: 'source' });
  }
  const include = (selection.include ?? DEFAULT_INCLUDE).map(globToRegExp);
  const exclude = (selection.exclude ?? DEFAULT_EXCLUDE).map(globToRegExp);
  const out: SourceFile[] = [];
  const realRoot = await fs.realpath(root);
  // Symbolic links are followed only while they stay inside the folder, and each folder
  // is walked once: a link out (to ~ or /etc) is never read, a link loop never spins.
  const seen = new Set<string>([realRoot]);
  const walk = async (dir: string, rel: string, depth: number): Promise<void> => {
    if (depth > MAX_DEPTH) return;
    for (const name of await fs.list(dir)) {
      const path = rel === '' ? name : `${rel}/${name}`;
      const full = `${dir}/${name}`;
      const st = await fs.stat(full);
      if (st === undefined || exclude.some((g) => g.test(path) || g.test(`${path}/`))) continue;
      const real = await fs.realpath(full);
      if (!isInside(real, realRoot)) continue;
      if (st.isDirectory) {
        if (seen.has(real)) continue;
        seen.add(real);
        await walk(full, path, depth + 1);
      } else if (include.some((g) => g.test(path))) out.push({ path, size: st.size });
    }
  };
  await walk(root.replace(/\/+$/, ''), '', 0);
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** True when the canonical path `real` is the folder `dir` or lies under it. */
export function isInside(real: string, dir: string): boolean {
  return real === dir || real.startsWith(`${dir}/`);
}

/** A glob as an anchored regular expression over `/`-separated relative paths. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*' && glob[i + 1] === '*') {
      const slash = glob[i + 2] === '/';
      re += slash ? '(?:.*/)?' : '.*';
      i += slash ? 2 : 1;
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '{') {
      const end = glob.indexOf('}', i);
      if (end < 0)
        throw invalidArgument(`the glob ${glob} has an unclosed "{".`, { field: 'glob' });
      re += `(?:${glob
        .slice(i + 1, end)
        .split(',')
        .map(escape)
        .join('|')})`;
      i = end;
    } else re += escape(c);
  }
  return new RegExp(`^${re}$`);
}

function escape(s: string): string {
  return s.replace(/[.+^${}()|[\]\\]/g, '\\$&');
}
