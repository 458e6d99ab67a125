/**
 * HandleCountingFileSystem: wraps a FileSystem (the real one by default, or a faulty one) and
 * keeps every file handle it opened until that handle is closed, so a test can assert that
 * an operation that failed half way left no file descriptor open (Node would otherwise
 * close it on garbage collection, with a warning, long after the error).
 */
import { NodeFileSystem } from '../../src/storage/io/node-file-system.js';
import type {
  FailpointName,
  FileHandle,
  FileStat,
  FileSystem,
  OpenMode,
} from '../../src/storage/io/file-system.js';

export class HandleCountingFileSystem implements FileSystem {
  /** Handles opened and not closed yet. */
  readonly openHandles = new Set<FileHandle>();
  opened = 0;
  /** Every path a handle was opened on, in order. */
  readonly openedPaths: string[] = [];

  constructor(private readonly inner: FileSystem = new NodeFileSystem()) {}

  /** Paths of the handles still open (for assertion messages). */
  openPaths(): string[] {
    return [...this.openHandles].map((h) => h.path);
  }

  async open(path: string, mode: OpenMode): Promise<FileHandle> {
    const h = new CountedHandle(this, await this.inner.open(path, mode));
    this.openHandles.add(h);
    this.opened++;
    this.openedPaths.push(path);
    return h;
  }
  readFile(path: string): Promise<Uint8Array> {
    return this.inner.readFile(path);
  }
  createExclusive(path: string, data: Uint8Array): Promise<boolean> {
    return this.inner.createExclusive(path, data);
  }
  exists(path: string): Promise<boolean> {
    return this.inner.exists(path);
  }
  list(dir: string): Promise<string[]> {
    return this.inner.list(dir);
  }
  mkdirp(dir: string): Promise<void> {
    return this.inner.mkdirp(dir);
  }
  rename(from: string, to: string): Promise<void> {
    return this.inner.rename(from, to);
  }
  unlink(path: string): Promise<void> {
    return this.inner.unlink(path);
  }
  syncDir(dir: string): Promise<void> {
    return this.inner.syncDir(dir);
  }
  fileSize(path: string): Promise<number> {
    return this.inner.fileSize(path);
  }
  realpath(path: string): Promise<string> {
    return this.inner.realpath(path);
  }

  stat(path: string): Promise<FileStat | undefined> {
    return this.inner.stat(path);
  }
  link(existing: string, newPath: string): Promise<void> {
    return this.inner.link(existing, newPath);
  }
  copyFile(from: string, to: string): Promise<void> {
    return this.inner.copyFile(from, to);
  }
  removeDir(dir: string): Promise<void> {
    return this.inner.removeDir(dir);
  }
  failpoint(name: FailpointName): Promise<void> {
    return this.inner.failpoint(name);
  }
}

class CountedHandle implements FileHandle {
  constructor(
    private readonly fs: HandleCountingFileSystem,
    private readonly inner: FileHandle,
  ) {}
  get path(): string {
    return this.inner.path;
  }
  read(position: number, length: number): Promise<Uint8Array> {
    return this.inner.read(position, length);
  }
  readSync(position: number, target: Uint8Array): number {
    return this.inner.readSync(position, target);
  }
  write(data: Uint8Array, position: number): Promise<void> {
    return this.inner.write(data, position);
  }
  sync(): Promise<void> {
    return this.inner.sync();
  }
  truncate(size: number): Promise<void> {
    return this.inner.truncate(size);
  }
  size(): Promise<number> {
    return this.inner.size();
  }
  async close(): Promise<void> {
    // A close that fails still gave the descriptor back (close(2) frees it either way).
    this.fs.openHandles.delete(this);
    await this.inner.close();
  }
}
