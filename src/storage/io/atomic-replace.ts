/**
 * Atomic replace: the one copy of "temp file → fsync → rename → fsync directory". The new
 * content goes into a temp file beside the target, is made durable there, and only then
 * renamed over the target, so a crash or a power loss leaves the old content or the new,
 * never a mix. Its failpoints let tests crash between the steps.
 */
import type { FailpointName, FileHandle, FileSystem } from './file-system.js';

/**
 * Where the new content comes from: bytes, a file to copy (`copyFile` fsyncs the copy), or
 * a writer that streams into the temp file (the helper fsyncs it afterwards).
 */
export type ReplacementContent =
  Uint8Array | { readonly copyOf: string } | ((file: FileHandle) => Promise<void>);

export interface AtomicReplaceOptions {
  /**
   * The temp file; `<path>.tmp` by default. Open and recovery know `MANIFEST.tmp` and
   * `CLEAN.tmp` by that name; writers that may run concurrently pass a name of their own.
   */
  readonly temp?: string;
  /** Hit once the temp file is durable, just before the rename. */
  readonly beforeRename?: FailpointName;
  /** Hit once the rename is durable (after the directory fsync). */
  readonly afterRename?: FailpointName;
  /**
   * false leaves the directory fsync to the caller, who renames more files into the same
   * directory and makes them durable with one fsync. Default true.
   */
  readonly syncDir?: boolean;
}

/** Replaces `path` with `content` atomically (temp, fsync, rename, fsync directory). */
export async function replaceAtomically(
  fs: FileSystem,
  path: string,
  content: ReplacementContent,
  options: AtomicReplaceOptions = {},
): Promise<void> {
  const temp = options.temp ?? `${path}.tmp`;
  await writeDurableTemp(fs, temp, content);
  if (options.beforeRename !== undefined) await fs.failpoint(options.beforeRename);
  await fs.rename(temp, path);
  if (options.syncDir === false) return;
  await fs.syncDir(parentOf(path));
  if (options.afterRename !== undefined) await fs.failpoint(options.afterRename);
}

/**
 * Writes `content` into `temp` and fsyncs it. A temp file left by a crash is removed
 * first, so the write never goes through another name of an old file; a failed write
 * removes its temp file again.
 */
async function writeDurableTemp(
  fs: FileSystem,
  temp: string,
  content: ReplacementContent,
): Promise<void> {
  await fs.unlink(temp);
  if (!(content instanceof Uint8Array) && typeof content !== 'function') {
    await removeTempOnError(fs, temp, () => fs.copyFile(content.copyOf, temp));
    return;
  }
  const file = await fs.open(temp, 'create-new');
  await removeTempOnError(fs, temp, async () => {
    try {
      if (content instanceof Uint8Array) await file.write(content, 0);
      else await content(file);
      await file.sync();
    } catch (e) {
      // The write's error is the one to report, not a failed close after it.
      await file.close().catch(() => undefined);
      throw e;
    }
    await file.close();
  });
}

async function removeTempOnError(
  fs: FileSystem,
  temp: string,
  write: () => Promise<void>,
): Promise<void> {
  try {
    await write();
  } catch (e) {
    await fs.unlink(temp).catch(() => undefined);
    throw e;
  }
}

/** The directory of a path written with `/`. */
function parentOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? (i === 0 ? '/' : '.') : path.slice(0, i);
}
