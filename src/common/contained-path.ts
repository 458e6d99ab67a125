/**
 * containedPath: the one place a name or relative path given from outside (a collection
 * name, a snapshot file name, an entry of backup.json) becomes a path under a root, and
 * the check that it stays there. Lexical only (node:path, no file system): every caller
 * builds paths from names it controls the shape of, so no symlink inside a root is ours
 * to follow or fear.
 */
import { isAbsolute, posix, resolve, sep, win32 } from 'node:path';
import { invalidArgument } from './quiver-error.js';

/**
 * Why `relative` may not be joined under a root, or undefined when it may: empty, a NUL,
 * absolute (POSIX or Windows style), a `..` segment, or resolving to the root itself or
 * outside it.
 */
export function pathEscape(root: string, relative: string): string | undefined {
  if (typeof relative !== 'string' || relative === '') return 'it is empty';
  if (relative.includes('\0')) return 'it contains a NUL byte';
  if (isAbsolute(relative) || posix.isAbsolute(relative) || win32.isAbsolute(relative)) {
    return 'it is an absolute path';
  }
  // A `..` anywhere is refused even when it would come back inside: such a name is
  // never one Quiver wrote, so it is damage or an attack, not something to normalize.
  if (relative.split(/[\\/]/).some((segment) => segment === '..')) return 'it contains ".."';
  const base = resolve(root);
  const full = resolve(base, relative);
  const prefix = base.endsWith(sep) ? base : `${base}${sep}`;
  if (!full.startsWith(prefix)) return `it resolves outside ${base}`;
  return undefined;
}

/**
 * `relative` resolved under `root` (absolute), or INVALID_ARGUMENT naming `what` when it
 * would leave the root. Callers that need another code (404, CORRUPT) use
 * {@link pathEscape} and raise their own.
 *
 * ### Examples
 * ```ts
 * containedPath('/srv/snapshots', 'docs/docs-1.snapshot'); // '/srv/snapshots/docs/docs-1.snapshot'
 * containedPath('/srv/snapshots', '../etc/passwd', 'snapshot'); // throws INVALID_ARGUMENT
 * ```
 */
export function containedPath(root: string, relative: string, what = 'path'): string {
  const why = pathEscape(root, relative);
  if (why !== undefined) {
    throw invalidArgument(
      `The ${what} ${JSON.stringify(relative)} is refused: ${why}. Give a name inside ${resolve(root)}.`,
      { field: what, received: relative },
    );
  }
  return resolve(root, relative);
}
