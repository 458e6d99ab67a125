/**
 * FaultyFileSystem: wraps the real FileSystem to inject faults — fail the Nth write with
 * ENOSPC or EIO, tear a write (only a prefix reaches the file), lose fsyncs — and to
 * simulate power loss by cutting every file back to its last really-synced length.
 */
import { NodeFileSystem, ioError } from '../../src/storage/io/node-file-system.js';
import type {
  FailpointName,
  FileHandle,
  FileStat,
  FileSystem,
  OpenMode,
} from '../../src/storage/io/file-system.js';
import { truncateSync, existsSync, statSync } from 'node:fs';

export interface FaultPlan {
  /** Writes are counted from 1; the write with this number fails. */
  failWriteAt?: number;
  /** errno of the failure: ENOSPC (default) or EIO. */
  failWith?: 'ENOSPC' | 'EIO';
  /** Keep failing every write after the first failure until `heal()`. */
  sticky?: boolean;
  /** The write with this number writes only half of its bytes, then throws (a crash mid-append). */
  tearWriteAt?: number;
  /** fsync returns success without making anything durable. */
  loseFsyncs?: boolean;
  /** Every fsync fails with EIO. */
  failSyncs?: boolean;
}

class FaultError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

export class FaultyFileSystem implements FileSystem {
  private readonly real = new NodeFileSystem();
  writes = 0;
  syncs = 0;
  private failing = false;
  /** Length of each file as of its last real fsync. */
  readonly synced = new Map<string, number>();
  plan: FaultPlan;

  constructor(plan: FaultPlan = {}) {
    this.plan = plan;
  }

  /** Stops failing writes (space came back). */
  heal(): void {
    this.failing = false;
    const rest = { ...this.plan };
    delete rest.failWriteAt;
    this.plan = rest;
  }

  /** Cuts every tracked file back to the length it had at its last real fsync. */
  simulatePowerLoss(): void {
    for (const [path, len] of this.synced) {
      if (existsSync(path) && statSync(path).size > len) truncateSync(path, len);
    }
  }

  /** @internal called by handles */
  beforeWrite(path: string, data: Uint8Array): { tear: boolean } {
    this.writes++;
    const n = this.writes;
    if (this.failing || this.plan.failWriteAt === n) {
      if (this.plan.sticky === true) this.failing = true;
      const code = this.plan.failWith ?? 'ENOSPC';
      throw ioError('write', path, new FaultError(code, `${code}: injected fault on write ${n}`));
    }
    return { tear: this.plan.tearWriteAt === n && data.length > 1 };
  }

  async open(path: string, mode: OpenMode): Promise<FileHandle> {
    const h = await this.real.open(path, mode);
    if (!this.synced.has(path)) this.synced.set(path, await h.size());
    return new FaultyHandle(this, h);
  }
  readFile(path: string): Promise<Uint8Array> {
    return this.real.readFile(path);
  }
  async createExclusive(path: string, data: Uint8Array): Promise<boolean> {
    const ok = await this.real.createExclusive(path, data);
    if (ok) this.synced.set(path, data.length);
    return ok;
  }
  exists(path: string): Promise<boolean> {
    return this.real.exists(path);
  }
  list(dir: string): Promise<string[]> {
    return this.real.list(dir);
  }
  mkdirp(dir: string): Promise<void> {
    return this.real.mkdirp(dir);
  }
  async rename(from: string, to: string): Promise<void> {
    await this.real.rename(from, to);
    const len = this.synced.get(from);
    this.synced.delete(from);
    if (len !== undefined) this.synced.set(to, len);
  }
  async unlink(path: string): Promise<void> {
    await this.real.unlink(path);
    this.synced.delete(path);
  }
  syncDir(dir: string): Promise<void> {
    return this.real.syncDir(dir);
  }
  fileSize(path: string): Promise<number> {
    return this.real.fileSize(path);
  }
  stat(path: string): Promise<FileStat | undefined> {
    return this.real.stat(path);
  }
  async link(existing: string, newPath: string): Promise<void> {
    this.beforeWrite(newPath, new Uint8Array(0));
    await this.real.link(existing, newPath);
    this.synced.set(newPath, await this.real.fileSize(newPath));
  }
  async copyFile(from: string, to: string): Promise<void> {
    this.beforeWrite(to, new Uint8Array(0));
    await this.real.copyFile(from, to);
    if (this.plan.loseFsyncs !== true) this.synced.set(to, await this.real.fileSize(to));
    else this.synced.set(to, 0);
  }
  async removeDir(dir: string): Promise<void> {
    await this.real.removeDir(dir);
    for (const p of [...this.synced.keys()]) if (p.startsWith(`${dir}/`)) this.synced.delete(p);
  }
  failpoint(name: FailpointName): Promise<void> {
    return this.real.failpoint(name);
  }
}

class FaultyHandle implements FileHandle {
  constructor(
    private readonly fs: FaultyFileSystem,
    private readonly inner: FileHandle,
  ) {}
  get path(): string {
    return this.inner.path;
  }
  read(position: number, length: number): Promise<Uint8Array> {
    return this.inner.read(position, length);
  }
  async write(data: Uint8Array, position: number): Promise<void> {
    const { tear } = this.fs.beforeWrite(this.inner.path, data);
    if (tear) {
      await this.inner.write(data.subarray(0, Math.floor(data.length / 2)), position);
      throw ioError('write', this.inner.path, new FaultError('EIO', 'EIO: injected torn write'));
    }
    await this.inner.write(data, position);
  }
  async sync(): Promise<void> {
    this.fs.syncs++;
    if (this.fs.plan.failSyncs === true) {
      throw ioError('fsync', this.inner.path, new FaultError('EIO', 'EIO: injected fsync failure'));
    }
    if (this.fs.plan.loseFsyncs === true) return;
    await this.inner.sync();
    this.fs.synced.set(this.inner.path, await this.inner.size());
  }
  async truncate(size: number): Promise<void> {
    await this.inner.truncate(size);
    const s = this.fs.synced.get(this.inner.path);
    if (s !== undefined && s > size) this.fs.synced.set(this.inner.path, size);
  }
  size(): Promise<number> {
    return this.inner.size();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}
