/**
 * Small file helpers of the server over the storage layer's FileSystem (the server never
 * imports node:fs): text reads and atomic whole-file replacement.
 */
import type { FileSystem } from '../storage/io/file-system.js';

/** Reads a whole file as UTF-8 text. */
export async function readText(fs: FileSystem, path: string): Promise<string> {
  return new TextDecoder().decode(await fs.readFile(path));
}

function dirOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? (i === 0 ? '/' : '.') : path.slice(0, i);
}

/** Replaces `path` with `data` atomically: temp file, fsync, rename, fsync the directory. */
export async function writeFileAtomic(
  fs: FileSystem,
  path: string,
  data: Uint8Array | string,
): Promise<void> {
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  const dir = dirOf(path);
  await fs.mkdirp(dir);
  const tmp = `${path}.tmp-${process.pid}-${Date.now()}`;
  const fh = await fs.open(tmp, 'create-new');
  try {
    await fh.write(bytes, 0);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fs.rename(tmp, path);
  await fs.syncDir(dir);
}

/** The directory part of a path (`.` when none). */
export function parentDir(path: string): string {
  return dirOf(path);
}
