/**
 * FaultyFileSystem: wraps the real FileSystem to inject faults — fail the Nth write with
 * ENOSPC or EIO, tear a write (only a prefix reaches the file), lose fsyncs — and to
 * simulate a power loss the way a POSIX file system may lose data:
 * - a file's bytes are durable only up to its last fsync (the inode's synced length);
 * - a directory entry (a create, rename, unlink or hard link) is durable only after an
 *   fsync of its directory: a power loss puts every entry back as of that directory's last
 *   syncDir, so a file that was renamed into place without it reappears under its old name
 *   and an unlinked one comes back;
 * - mkdirp is durable by contract (it fsyncs the parent of each directory it makes), so
 *   directories themselves are never lost.
 * Hard links share an inode (and so its synced length); copyFile fsyncs its copy (the
 * FileSystem contract) but the new name still needs its directory synced. Removing a whole
 * directory (removeDir) is taken as durable at once: only scratch and staging trees use it.
 */
import { NodeFileSystem, ioError } from '../../src/storage/io/node-file-system.js';
import type {
  FailpointName,
  FileHandle,
  FileStat,
  FileSystem,
  OpenMode,
} from '../../src/storage/io/file-system.js';
import {
  existsSync,
  mkdirSync,
  openSync,
  readSync,
  closeSync,
  readdirSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';

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

/** A file's identity: what every name (hard link) of it shares. */
interface Inode {
  /** Bytes of its data made durable by an fsync. */
  synced: number;
}

/** The first `length` bytes of a file, read synchronously (power loss runs synchronously). */
function readPrefix(path: string, length: number): Uint8Array {
  const out = new Uint8Array(length);
  const fd = openSync(path, 'r');
  try {
    let done = 0;
    while (done < length) {
      const n = readSync(fd, out, done, length - done, done);
      if (n === 0) break;
      done += n;
    }
    return out.subarray(0, done);
  } finally {
    closeSync(fd);
  }
}

export class FaultyFileSystem implements FileSystem {
  private readonly real = new NodeFileSystem();
  writes = 0;
  syncs = 0;
  private failing = false;
  plan: FaultPlan;
  /** Every file name this file system has seen, and the file it names now. */
  private readonly names = new Map<string, Inode>();
  /** Per directory: its file entries as of its last syncDir (or as first seen). */
  private readonly durable = new Map<string, Map<string, Inode>>();
  /** Durable bytes of files whose last name went while a durable entry still names them. */
  private readonly graveyard = new Map<Inode, Uint8Array>();

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

  /**
   * Power loss: every directory goes back to its durable entries and every file to its
   * synced bytes. The file system then describes the disk as it is left (all durable).
   */
  simulatePowerLoss(): void {
    const restore = new Map<string, Uint8Array>();
    for (const [dir, entries] of this.durable) {
      for (const [name, inode] of entries) restore.set(join(dir, name), this.durableBytes(inode));
    }
    for (const path of this.names.keys()) {
      if (!restore.has(path) && existsSync(path)) unlinkSync(path);
    }
    for (const [path, bytes] of restore) {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, bytes);
    }
    this.names.clear();
    this.durable.clear();
    this.graveyard.clear();
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

  /** @internal called by handles: the file's written bytes are durable now. */
  markSynced(inode: Inode, size: number): void {
    if (this.plan.loseFsyncs !== true) inode.synced = size;
  }

  async open(path: string, mode: OpenMode): Promise<FileHandle> {
    const inode = this.inodeOf(path);
    const h = await this.real.open(path, mode);
    return new FaultyHandle(this, h, inode ?? this.create(path, 0));
  }
  readFile(path: string): Promise<Uint8Array> {
    return this.real.readFile(path);
  }
  async createExclusive(path: string, data: Uint8Array): Promise<boolean> {
    this.seeDir(dirname(path));
    const ok = await this.real.createExclusive(path, data);
    if (ok) this.create(path, this.plan.loseFsyncs === true ? 0 : data.length);
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
    const inode = this.inodeOf(from);
    this.bury(to);
    await this.real.rename(from, to);
    this.names.delete(from);
    if (inode !== undefined) this.names.set(to, inode);
  }
  async unlink(path: string): Promise<void> {
    this.bury(path);
    await this.real.unlink(path);
    this.names.delete(path);
  }
  async syncDir(dir: string): Promise<void> {
    await this.real.syncDir(dir);
    this.seeDir(dir);
    const entries = new Map<string, Inode>();
    for (const [path, inode] of this.names) {
      if (dirname(path) === dir) entries.set(path.slice(dir.length + 1), inode);
    }
    this.durable.set(dir, entries);
    this.forgetBuried();
  }
  fileSize(path: string): Promise<number> {
    return this.real.fileSize(path);
  }
  realpath(path: string): Promise<string> {
    return this.real.realpath(path);
  }

  stat(path: string): Promise<FileStat | undefined> {
    return this.real.stat(path);
  }
  async link(existing: string, newPath: string): Promise<void> {
    this.beforeWrite(newPath, new Uint8Array(0));
    const inode = this.inodeOf(existing);
    this.seeDir(dirname(newPath));
    await this.real.link(existing, newPath);
    this.names.set(newPath, inode ?? { synced: 0 });
  }
  async copyFile(from: string, to: string): Promise<void> {
    this.beforeWrite(to, new Uint8Array(0));
    this.bury(to);
    await this.real.copyFile(from, to);
    this.names.delete(to);
    this.create(to, this.plan.loseFsyncs === true ? 0 : await this.real.fileSize(to));
  }
  async removeDir(dir: string): Promise<void> {
    await this.real.removeDir(dir);
    const inside = (p: string): boolean => p === dir || p.startsWith(`${dir}/`);
    for (const p of [...this.names.keys()]) if (inside(p)) this.names.delete(p);
    for (const p of [...this.durable.keys()]) if (inside(p)) this.durable.delete(p);
  }
  failpoint(name: FailpointName): Promise<void> {
    return this.real.failpoint(name);
  }

  /** The file `path` names, registering its directory (and so the file) on first sight. */
  private inodeOf(path: string): Inode | undefined {
    this.seeDir(dirname(path));
    return this.names.get(path);
  }

  /** A new file's entry: not durable until its directory is synced. */
  private create(path: string, synced: number): Inode {
    const inode: Inode = { synced };
    this.names.set(path, inode);
    return inode;
  }

  /**
   * First sight of a directory: what is in it already is durable (it was there before this
   * file system was), files with their whole length.
   */
  private seeDir(dir: string): void {
    if (this.durable.has(dir)) return;
    const entries = new Map<string, Inode>();
    let listed: string[] = [];
    try {
      listed = readdirSync(dir);
    } catch {
      listed = [];
    }
    for (const name of listed) {
      const path = join(dir, name);
      const st = statSync(path, { throwIfNoEntry: false });
      if (st === undefined || !st.isFile()) continue;
      const inode = this.names.get(path) ?? { synced: st.size };
      this.names.set(path, inode);
      entries.set(name, inode);
    }
    this.durable.set(dir, entries);
  }

  /** Keeps the durable bytes of the file `path` names if it loses its last name now. */
  private bury(path: string): void {
    const inode = this.inodeOf(path);
    if (inode === undefined || this.graveyard.has(inode)) return;
    const otherName = [...this.names].some(([p, i]) => i === inode && p !== path);
    if (otherName || !this.isDurablyNamed(inode) || !existsSync(path)) return;
    this.graveyard.set(inode, readPrefix(path, inode.synced));
  }

  private isDurablyNamed(inode: Inode): boolean {
    for (const entries of this.durable.values()) {
      for (const i of entries.values()) if (i === inode) return true;
    }
    return false;
  }

  /** Drops kept bytes no durable entry names any more. */
  private forgetBuried(): void {
    for (const inode of [...this.graveyard.keys()]) {
      if (!this.isDurablyNamed(inode)) this.graveyard.delete(inode);
    }
  }

  /** What a power loss leaves of a file: its synced bytes, wherever they are now. */
  private durableBytes(inode: Inode): Uint8Array {
    const kept = this.graveyard.get(inode);
    if (kept !== undefined) return kept;
    for (const [path, i] of this.names) {
      if (i === inode && existsSync(path)) {
        return readPrefix(path, Math.min(inode.synced, statSync(path).size));
      }
    }
    return new Uint8Array(0);
  }
}

class FaultyHandle implements FileHandle {
  constructor(
    private readonly fs: FaultyFileSystem,
    private readonly inner: FileHandle,
    private readonly inode: Inode,
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
    this.fs.markSynced(this.inode, await this.inner.size());
  }
  async truncate(size: number): Promise<void> {
    await this.inner.truncate(size);
    if (this.inode.synced > size) this.inode.synced = size;
  }
  size(): Promise<number> {
    return this.inner.size();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}
