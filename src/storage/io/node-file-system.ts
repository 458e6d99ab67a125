/**
 * NodeFileSystem: the FileSystem over node:fs/promises, and the only node:fs user in
 * Quiver. Maps ENOSPC to NO_SPACE and other failures to UNAVAILABLE, naming the path.
 */
import { constants, readSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { QuiverError } from '../../common/quiver-error.js';
import { hitFailpoint } from './failpoints.js';
import type { FailpointName, FileHandle, FileStat, FileSystem, OpenMode } from './file-system.js';

interface NodeError {
  code?: string;
  message: string;
}

function errnoOf(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null ? (e as NodeError).code : undefined;
}

/** Wraps an fs failure into a QuiverError that names the path and the operation. */
export function ioError(op: string, path: string, e: unknown): QuiverError {
  if (e instanceof QuiverError) return e;
  const errno = errnoOf(e);
  const msg = e instanceof Error ? e.message : String(e);
  if (errno === 'ENOSPC' || errno === 'EDQUOT') {
    return new QuiverError(
      'NO_SPACE',
      `No space left on device while trying to ${op} ${path}. Free disk space; writes resume by themselves, and nothing acknowledged was lost.`,
      { file: path, errno },
      e,
    );
  }
  return new QuiverError(
    'UNAVAILABLE',
    `I/O error while trying to ${op} ${path}: ${msg}. Check the disk and permissions.`,
    { file: path, errno: errno ?? 'unknown' },
    e,
  );
}

class NodeFileHandle implements FileHandle {
  readonly path: string;
  private readonly fh: fsp.FileHandle;

  constructor(path: string, fh: fsp.FileHandle) {
    this.path = path;
    this.fh = fh;
  }

  async read(position: number, length: number): Promise<Uint8Array> {
    const buf = new Uint8Array(length);
    let done = 0;
    try {
      while (done < length) {
        const { bytesRead } = await this.fh.read(buf, done, length - done, position + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
    } catch (e) {
      throw ioError('read', this.path, e);
    }
    return done === length ? buf : buf.subarray(0, done);
  }

  readSync(position: number, target: Uint8Array): number {
    let done = 0;
    try {
      while (done < target.length) {
        const n = readSync(this.fh.fd, target, done, target.length - done, position + done);
        if (n === 0) break;
        done += n;
      }
    } catch (e) {
      throw ioError('read', this.path, e);
    }
    return done;
  }

  async write(data: Uint8Array, position: number): Promise<void> {
    let done = 0;
    try {
      while (done < data.length) {
        const { bytesWritten } = await this.fh.write(
          data,
          done,
          data.length - done,
          position + done,
        );
        done += bytesWritten;
      }
    } catch (e) {
      throw ioError('write', this.path, e);
    }
  }

  async sync(): Promise<void> {
    try {
      await this.fh.datasync();
    } catch (e) {
      throw ioError('fsync', this.path, e);
    }
  }

  async truncate(size: number): Promise<void> {
    try {
      await this.fh.truncate(size);
    } catch (e) {
      throw ioError('truncate', this.path, e);
    }
  }

  async size(): Promise<number> {
    try {
      return (await this.fh.stat()).size;
    } catch (e) {
      throw ioError('stat', this.path, e);
    }
  }

  async close(): Promise<void> {
    try {
      await this.fh.close();
    } catch (e) {
      throw ioError('close', this.path, e);
    }
  }
}

const FLAGS: Record<OpenMode, number> = {
  read: constants.O_RDONLY,
  readwrite: constants.O_RDWR | constants.O_CREAT,
  'create-new': constants.O_RDWR | constants.O_CREAT | constants.O_EXCL,
};

/** The production FileSystem. */
export class NodeFileSystem implements FileSystem {
  async open(path: string, mode: OpenMode): Promise<FileHandle> {
    try {
      return new NodeFileHandle(path, await fsp.open(path, FLAGS[mode], 0o644));
    } catch (e) {
      throw ioError('open', path, e);
    }
  }

  async readFile(path: string): Promise<Uint8Array> {
    try {
      const buf = await fsp.readFile(path);
      return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
    } catch (e) {
      throw ioError('read', path, e);
    }
  }

  async createExclusive(path: string, data: Uint8Array): Promise<boolean> {
    let fh: fsp.FileHandle;
    try {
      fh = await fsp.open(path, FLAGS['create-new'], 0o644);
    } catch (e) {
      if (errnoOf(e) === 'EEXIST') return false;
      throw ioError('create', path, e);
    }
    try {
      await fh.write(data, 0, data.length, 0);
      await fh.datasync();
    } catch (e) {
      throw ioError('write', path, e);
    } finally {
      await fh.close();
    }
    return true;
  }

  async exists(path: string): Promise<boolean> {
    try {
      await fsp.access(path);
      return true;
    } catch (e) {
      if (errnoOf(e) === 'ENOENT') return false;
      throw ioError('access', path, e);
    }
  }

  async list(dir: string): Promise<string[]> {
    try {
      return (await fsp.readdir(dir)).sort();
    } catch (e) {
      if (errnoOf(e) === 'ENOENT') return [];
      throw ioError('list', dir, e);
    }
  }

  async mkdirp(dir: string): Promise<void> {
    let first: string | undefined;
    try {
      first = await fsp.mkdir(dir, { recursive: true });
    } catch (e) {
      throw ioError('create directory', dir, e);
    }
    if (first === undefined) return;
    // A new directory entry is durable only once its parent is fsynced: sync the parent of
    // each directory made, from `dir` up to the first one that already existed.
    for (let d = resolve(dir); ; d = dirname(d)) {
      await this.syncDir(dirname(d));
      if (d === resolve(first)) break;
    }
  }

  async rename(from: string, to: string): Promise<void> {
    try {
      await fsp.rename(from, to);
    } catch (e) {
      throw ioError(`rename to ${to}`, from, e);
    }
  }

  async unlink(path: string): Promise<void> {
    try {
      await fsp.unlink(path);
    } catch (e) {
      if (errnoOf(e) === 'ENOENT') return;
      throw ioError('delete', path, e);
    }
  }

  async syncDir(dir: string): Promise<void> {
    let fh: fsp.FileHandle | undefined;
    try {
      fh = await fsp.open(dir, constants.O_RDONLY);
      await fh.sync();
    } catch (e) {
      throw ioError('fsync directory', dir, e);
    } finally {
      await fh?.close();
    }
  }

  async fileSize(path: string): Promise<number> {
    try {
      return (await fsp.stat(path)).size;
    } catch (e) {
      throw ioError('stat', path, e);
    }
  }

  async realpath(path: string): Promise<string> {
    try {
      return await fsp.realpath(path);
    } catch (e) {
      throw ioError('realpath', path, e);
    }
  }

  async stat(path: string): Promise<FileStat | undefined> {
    try {
      const st = await fsp.stat(path);
      return {
        size: st.size,
        mtimeMs: st.mtimeMs,
        isDirectory: st.isDirectory(),
        isFile: st.isFile(),
      };
    } catch (e) {
      if (errnoOf(e) === 'ENOENT') return undefined;
      throw ioError('stat', path, e);
    }
  }

  async link(existing: string, newPath: string): Promise<void> {
    try {
      await fsp.link(existing, newPath);
    } catch (e) {
      throw ioError(`link to ${newPath}`, existing, e);
    }
  }

  async copyFile(from: string, to: string): Promise<void> {
    try {
      await fsp.copyFile(from, to);
    } catch (e) {
      throw ioError(`copy to ${to}`, from, e);
    }
    let fh: fsp.FileHandle | undefined;
    try {
      fh = await fsp.open(to, constants.O_RDWR);
      await fh.datasync();
    } catch (e) {
      throw ioError('fsync', to, e);
    } finally {
      await fh?.close();
    }
  }

  async removeDir(dir: string): Promise<void> {
    try {
      await fsp.rm(dir, { recursive: true, force: true });
    } catch (e) {
      throw ioError('remove directory', dir, e);
    }
  }

  failpoint(name: FailpointName): Promise<void> {
    return hitFailpoint(name);
  }
}
