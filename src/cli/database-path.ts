/**
 * The CLI's one check that a path names an existing Quiver database, made before any
 * command reads or opens it: a mistyped path must not be called healthy by `verify` nor be
 * created empty by `collections`, `compact` or `import` (Quiver.open creates what is missing).
 */
import { QuiverError } from '../common/quiver-error.js';
import { CLEAN_MARK_FILE, MANIFEST_FILE, SEGMENT_DIR, WAL_DIR } from '../storage/format.js';
import type { FileSystem } from '../storage/io/file-system.js';
import { NodeFileSystem } from '../storage/io/node-file-system.js';

/**
 * True when `dir` holds a file only Quiver writes there: the manifest, the clean-shutdown
 * mark, or the wal/ or segments/ directory (a fresh database has only wal/ and CLEAN, a
 * database whose log was lost may have only MANIFEST and segments/).
 */
async function isQuiverDatabase(fs: FileSystem, dir: string): Promise<boolean> {
  const st = await fs.stat(dir);
  if (st?.isDirectory !== true) return false;
  for (const name of [MANIFEST_FILE, CLEAN_MARK_FILE]) {
    if ((await fs.stat(`${dir}/${name}`))?.isDirectory === false) return true;
  }
  for (const name of [WAL_DIR, SEGMENT_DIR]) {
    if ((await fs.stat(`${dir}/${name}`))?.isDirectory === true) return true;
  }
  return false;
}

/** Edit distance of two names (insertions, deletions, substitutions). */
function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      next.push(Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + cost));
    }
    row = next;
  }
  return row[b.length]!;
}

function splitPath(path: string): { parent: string; base: string } {
  const trimmed = path.length > 1 ? path.replace(/\/+$/, '') : path;
  const i = trimmed.lastIndexOf('/');
  if (i < 0) return { parent: '.', base: trimmed };
  return { parent: i === 0 ? '/' : trimmed.slice(0, i), base: trimmed.slice(i + 1) };
}

function join(parent: string, name: string): string {
  if (parent === '.') return name;
  return parent.endsWith('/') ? `${parent}${name}` : `${parent}/${name}`;
}

/**
 * The database nearest to the mistyped `path`: the sibling with the closest name, or a
 * database directly inside `path` (a parent directory given by mistake).
 */
async function closestDatabase(fs: FileSystem, path: string): Promise<string | undefined> {
  const { parent, base } = splitPath(path);
  const candidates: { path: string; distance: number }[] = [];
  const parentIsDir = (await fs.stat(parent))?.isDirectory === true;
  for (const name of parentIsDir ? await fs.list(parent) : []) {
    const p = join(parent, name);
    if (name !== base && (await isQuiverDatabase(fs, p)))
      candidates.push({ path: p, distance: editDistance(name, base) });
  }
  if ((await fs.stat(path))?.isDirectory === true) {
    for (const name of await fs.list(path)) {
      const p = join(path, name);
      if (await isQuiverDatabase(fs, p)) candidates.push({ path: p, distance: 0 });
    }
  }
  candidates.sort((a, b) => a.distance - b.distance || a.path.localeCompare(b.path));
  return candidates[0]?.path;
}

/**
 * Throws INVALID_ARGUMENT (exit 2) unless `dir` is a Quiver database, naming the closest
 * database nearby. Every command calls it before touching `dir`, except the ones that
 * create a database on purpose (`create-collection`, `serve`).
 */
export async function requireDatabase(
  dir: string,
  fs: FileSystem = new NodeFileSystem(),
): Promise<void> {
  if (await isQuiverDatabase(fs, dir)) return;
  const near = await closestDatabase(fs, dir);
  const hint = near === undefined ? '' : ` (did you mean ${near}?)`;
  throw new QuiverError(
    'INVALID_ARGUMENT',
    `not a Quiver database: ${dir}${hint}. Check the path; "quiver create-collection" creates a new database.`,
    { file: dir },
  );
}
