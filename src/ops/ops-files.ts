/**
 * Small file helpers shared by the ops functions, all through the storage FileSystem:
 * write a whole file durably, write atomically (temp + rename), hash, and check that a
 * target directory is empty.
 */
import { createHash } from 'node:crypto';
import { utf8Decode, utf8Encode } from '../common/bytes.js';
import { QuiverError } from '../common/quiver-error.js';
import { LOCK_FILE } from '../storage/format.js';
import { replaceAtomically } from '../storage/io/atomic-replace.js';
import type { FileSystem } from '../storage/io/file-system.js';
import { liveLockOwner } from '../storage/lock-file.js';

/** SHA-256 of `bytes` (a string: its UTF-8 bytes), lowercase hex. */
export function sha256(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Writes `bytes` as the whole content of `path` (replacing it) and fsyncs it. */
export async function writeWholeFile(
  fs: FileSystem,
  path: string,
  bytes: Uint8Array,
): Promise<void> {
  const h = await fs.open(path, 'readwrite');
  try {
    await h.truncate(0);
    await h.write(bytes, 0);
    await h.sync();
  } finally {
    await h.close();
  }
}

/**
 * Replaces `path` with `data` atomically: a temp file of its own (so concurrent writers of
 * one path never share it), fsync, rename, fsync the directory (created if missing).
 */
export async function writeFileAtomic(
  fs: FileSystem,
  path: string,
  data: Uint8Array | string,
): Promise<void> {
  const bytes = typeof data === 'string' ? utf8Encode(data) : data;
  const dir = parentDir(path);
  await fs.mkdirp(dir);
  await replaceAtomically(fs, path, bytes, {
    temp: `${path}.tmp-${process.pid}-${Date.now()}-${++tempCounter}`,
  });
}

let tempCounter = 0;

/** Reads a whole file as UTF-8 text. */
export async function readText(fs: FileSystem, path: string): Promise<string> {
  return utf8Decode(await fs.readFile(path));
}

/** Parent directory of a path written with `/`. */
export function parentDir(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? (i === 0 ? '/' : '.') : path.slice(0, i);
}

/**
 * Checks that `dir` may be filled: it is empty or missing, or `force` is given and no live
 * process holds its LOCK. Throws INVALID_ARGUMENT (or LOCKED) naming the directory.
 * Returns its current entries.
 */
export async function checkReplaceable(
  fs: FileSystem,
  dir: string,
  force: boolean,
  what: string,
): Promise<string[]> {
  const entries = (await fs.exists(dir)) ? await fs.list(dir) : [];
  if (entries.length === 0) return entries;
  if (!force) {
    throw new QuiverError(
      'INVALID_ARGUMENT',
      `${what} ${dir} is not empty (${entries.length} entries). Choose an empty directory, or pass --force to replace its contents.`,
      { file: dir },
    );
  }
  const owner = await liveLockOwner(fs, dir);
  if (owner !== undefined && owner !== process.pid) {
    throw new QuiverError(
      'LOCKED',
      `${what} ${dir} is a database open in process ${owner}; stop it before restoring over it.`,
      { file: `${dir}/${LOCK_FILE}`, pid: owner },
    );
  }
  return entries;
}

/** Removes the entries `names` of `dir` (files and whole directories). */
export async function removeEntries(
  fs: FileSystem,
  dir: string,
  names: readonly string[],
): Promise<void> {
  for (const name of names) {
    const p = `${dir}/${name}`;
    const st = await fs.stat(p);
    if (st?.isDirectory === true) await fs.removeDir(p);
    else if (st !== undefined) await fs.unlink(p);
  }
}

/**
 * Makes sure `dir` exists and is empty. With `force`, empties it first (refusing while a
 * live process holds its LOCK). Throws INVALID_ARGUMENT naming the directory otherwise.
 */
export async function prepareEmptyDir(
  fs: FileSystem,
  dir: string,
  force: boolean,
  what: string,
): Promise<void> {
  await removeEntries(fs, dir, await checkReplaceable(fs, dir, force, what));
  await fs.mkdirp(dir);
}

/** A JSON value as a string field: itself when a string, else `fallback`. */
export function jsonString(value: unknown, fallback = ''): string {
  return typeof value === 'string' ? value : fallback;
}
