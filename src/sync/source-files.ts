/**
 * The documents of a source folder: walked through the storage FileSystem, kept when a
 * relative path matches an include glob and no exclude glob, in a stable (sorted) order.
 * Globs: `**` any run of folders, `*` any characters but `/`, `?` one, `{a,b}` either.
 * What the walk passes over is reported, never opened: symbolic links that lead out of the
 * folder or nowhere, and entries that are not regular files (a FIFO, socket or device:
 * reading a FIFO would wait for a writer forever).
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

/**
 * Why the walk passed over an entry: a symbolic link out of the folder or to nothing, or
 * not a regular file (a FIFO, socket or device: a read could wait forever, and none holds
 * text, so it is never opened).
 */
export type WalkSkipReason = 'link-outside-source' | 'dangling-link' | 'not-a-file';

export interface WalkSkip {
  readonly path: string;
  readonly reason: WalkSkipReason;
}

export interface SourceSelection {
  readonly include?: readonly string[];
  readonly exclude?: readonly string[];
}

/**
 * The matching files under `root`, sorted by path, and the entries passed over (excluded
 * ones are not reported; links and special files only when they could be a document: a
 * link out to a folder, or a path the include globs take).
 */
export async function listSourceFiles(
  fs: FileSystem,
  root: string,
  selection: SourceSelection = {},
): Promise<{ files: SourceFile[]; skipped: WalkSkip[] }> {
  const top = await fs.stat(root);
  if (top === undefined || !top.isDirectory) {
    throw invalidArgument(`the source ${root} is not a folder.`, { field: 'source' });
  }
  const include = (selection.include ?? DEFAULT_INCLUDE).map(globToRegExp);
  const exclude = (selection.exclude ?? DEFAULT_EXCLUDE).map(globToRegExp);
  const out: SourceFile[] = [];
  const skipped: WalkSkip[] = [];
  const realRoot = await fs.realpath(root);
  const included = (path: string): boolean => include.some((g) => g.test(path));
  // Symbolic links are followed only while they stay inside the folder, and each folder
  // is walked once: a link out (to ~ or /etc) is never read, a link loop never spins.
  const seen = new Set<string>([realRoot]);
  const walk = async (dir: string, rel: string, depth: number): Promise<void> => {
    if (depth > MAX_DEPTH) return;
    for (const name of await fs.list(dir)) {
      const path = rel === '' ? name : `${rel}/${name}`;
      const full = `${dir}/${name}`;
      if (exclude.some((g) => g.test(path) || g.test(`${path}/`))) continue;
      const st = await fs.stat(full);
      if (st === undefined) {
        // Listed but not there when followed: a link to nothing (or a file deleted meanwhile).
        skipped.push({ path, reason: 'dangling-link' });
        continue;
      }
      const real = await fs.realpath(full);
      if (!isInside(real, realRoot)) {
        if (st.isDirectory || included(path)) skipped.push({ path, reason: 'link-outside-source' });
        continue;
      }
      if (st.isDirectory) {
        if (seen.has(real)) continue;
        seen.add(real);
        await walk(full, path, depth + 1);
      } else if (!included(path)) continue;
      else if (!st.isFile) skipped.push({ path, reason: 'not-a-file' });
      else out.push({ path, size: st.size });
    }
  };
  await walk(root.replace(/\/+$/, ''), '', 0);
  const byPath = <T extends { path: string }>(a: T, b: T): number =>
    a.path < b.path ? -1 : a.path > b.path ? 1 : 0;
  return { files: out.sort(byPath), skipped: skipped.sort(byPath) };
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
