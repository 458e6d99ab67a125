/**
 * WalWriter: appends records to the WAL with group commit under an fsync policy
 * (SPEC section 4). LSNs are assigned when a batch is written, so a failed write leaves
 * no gap; each record's `apply` runs in LSN order once the record is durable (or, for a
 * batch of records `durableElsewhere`, once written), before its promise resolves.
 * Implements the `Log` interface the engine writes through.
 */
import type { Logger } from '../../common/logger.js';
import { QuiverError } from '../../common/quiver-error.js';
import type { FileHandle, FileSystem } from '../io/file-system.js';
import { WAL_FILE_TARGET_BYTES, WAL_HEADER_SIZE, walFileName } from '../format.js';
import type { AppendOptions, Log, FsyncPolicy, LogStats } from './log.js';
import type { WalScanReport } from './wal-reader.js';
import { encodeWalHeader, encodeWalRecord } from './wal-record.js';
import { addTimeSample, archiveWalFile, readWalTimes, writeWalTimes } from './wal-archive.js';

export interface WalWriterOptions {
  readonly fs: FileSystem;
  readonly dir: string;
  readonly policy: FsyncPolicy;
  /** `batch`: how long the first waiting record waits for company before the fsync. Default 2 ms. */
  readonly batchDelayMs?: number;
  /** `periodic`: fsync interval. Default 100 ms. */
  readonly periodicMs?: number;
  /** Rotate to a new file past this size. Default 64 MiB. */
  readonly fileTargetBytes?: number;
  readonly logger: Logger;
  /** Called with the seconds each fsync took (for the fsync histogram). */
  readonly onFsync?: (seconds: number) => void;
  /**
   * WAL archive for point-in-time recovery: when set, `release()` copies each WAL file
   * here (fsynced, with a time index) before deleting it. Default: none (files are deleted).
   */
  readonly archiveDir?: string;
}

/** Where the writer continues: the file and offset after the last intact record. */
export interface WalPosition {
  readonly seq: number;
  readonly offset: number;
  readonly lastLsn: number;
}

interface Pending {
  readonly type: number;
  readonly body: Uint8Array;
  readonly apply: ((lsn: number) => void) | undefined;
  readonly durableElsewhere: boolean;
  readonly resolve: (lsn: number) => void;
  readonly reject: (e: unknown) => void;
}

export class WalWriter implements Log {
  private readonly o: Required<Omit<WalWriterOptions, 'onFsync' | 'archiveDir'>> &
    Pick<WalWriterOptions, 'onFsync' | 'archiveDir'>;
  private handle: FileHandle;
  private seq: number;
  private offset: number;
  private lastLsn: number;
  private pending: Pending[] = [];
  private running = false;
  private timer: NodeJS.Timeout | undefined;
  private periodic: NodeJS.Timeout | undefined;
  private dirty = false;
  /** End of the last record whose batch completed (written, and fsynced by policy). */
  private durableOffset = 0;
  /**
   * LSN of the last record at or before durableOffset. Below lastLsn only while records
   * applied before their fsync (durableElsewhere) wait for it, or after that fsync failed.
   */
  private durableLsn = 0;
  private closed = false;
  private broken: QuiverError | undefined;
  private idle: Promise<void> = Promise.resolve();
  private idleResolve: (() => void) | undefined;
  private readonly counters = { records: 0, fsyncs: 0, bytesWritten: 0, failures: 0 };
  private baseBytes: number;
  /** First LSN of each WAL file (undefined while a file has no record yet). */
  private readonly fileFirstLsn = new Map<number, number | undefined>();
  private readonly fileBytes = new Map<number, number>();
  /**
   * With an archive: when records were acknowledged, per WAL file ([lsn, ms] pairs): once
   * durable, or once written for records durable elsewhere.
   */
  private readonly times = new Map<number, [number, number][]>();

  private constructor(
    options: WalWriterOptions,
    handle: FileHandle,
    pos: WalPosition,
    baseBytes: number,
  ) {
    this.o = {
      batchDelayMs: 2,
      periodicMs: 100,
      fileTargetBytes: WAL_FILE_TARGET_BYTES,
      ...options,
    };
    this.handle = handle;
    this.seq = pos.seq;
    this.offset = pos.offset;
    this.durableOffset = pos.offset;
    this.lastLsn = pos.lastLsn;
    this.durableLsn = pos.lastLsn;
    this.baseBytes = baseBytes;
    if (this.o.policy === 'periodic') {
      this.periodic = setInterval(() => void this.periodicSync(), this.o.periodicMs);
      this.periodic.unref();
    }
  }

  /**
   * Opens the writer where a scan of the log (wal-reader.ts) ended: in its last file after
   * the last intact record, cutting a torn tail, or at a new file 1 when there is no log.
   * `lastLsn` is the last LSN the database holds, which a manifest's checkpoint can put
   * past the scan's last record. Every scanned file is registered with its first LSN, so
   * `release()` deletes them in order once they are sealed.
   */
  static resume(
    options: WalWriterOptions,
    scan: WalScanReport,
    lastLsn: number,
  ): Promise<WalWriter> {
    const last = scan.files[scan.files.length - 1];
    // The last file's bytes are counted by the writer's offset, not as an older file's.
    const files = scan.files.map((f) => ({
      seq: f.seq,
      firstLsn: scan.firstLsnBySeq.get(f.seq),
      bytes: f === last ? 0 : f.size,
    }));
    let olderBytes = 0;
    for (const f of files) olderBytes += f.bytes;
    const pos = scan.end === undefined ? { seq: 1, offset: 0, lastLsn } : { ...scan.end, lastLsn };
    return WalWriter.open(options, pos, olderBytes, files);
  }

  /**
   * Opens the writer at `pos` (from the reader's scan). Truncates anything after
   * `pos.offset` (a torn tail) and makes the cut durable before the first append.
   * With no position, starts file 1. `otherFilesBytes` is the size of older WAL files.
   */
  static async open(
    options: WalWriterOptions,
    pos: WalPosition | undefined,
    otherFilesBytes = 0,
    olderFiles: readonly { seq: number; firstLsn: number | undefined; bytes: number }[] = [],
  ): Promise<WalWriter> {
    const { fs, dir } = options;
    await fs.mkdirp(dir);
    const start = pos ?? { seq: 1, offset: 0, lastLsn: 0 };
    const path = `${dir}/${walFileName(start.seq)}`;
    const handle = await fs.open(path, 'readwrite');
    try {
      let offset = start.offset;
      const size = await handle.size();
      if (offset < WAL_HEADER_SIZE) {
        await handle.truncate(0);
        await handle.write(encodeWalHeader(start.seq), 0);
        offset = WAL_HEADER_SIZE;
        await handle.sync();
        await fs.syncDir(dir);
      } else if (size > offset) {
        await handle.truncate(offset);
        await handle.sync();
        await fs.failpoint('afterTornTailTruncate');
      }
      const w = new WalWriter(options, handle, { ...start, offset }, otherFilesBytes);
      for (const f of olderFiles) {
        w.fileFirstLsn.set(f.seq, f.firstLsn);
        w.fileBytes.set(f.seq, f.bytes);
      }
      if (!w.fileFirstLsn.has(start.seq)) {
        w.fileFirstLsn.set(start.seq, undefined);
      }
      if (options.archiveDir !== undefined) {
        // Seed the time index of live files from what the last clean close saved.
        for (const seq of w.fileFirstLsn.keys()) {
          const saved = await readWalTimes(fs, options.archiveDir, walFileName(seq));
          if (saved.length > 0) w.times.set(seq, saved);
        }
      }
      return w;
    } catch (e) {
      await handle.close().catch(() => undefined);
      throw e;
    }
  }

  get lsn(): number {
    return this.lastLsn;
  }

  /** The file and offset after the last written record. */
  position(): WalPosition {
    return { seq: this.seq, offset: this.offset, lastLsn: this.lastLsn };
  }

  stats(): LogStats {
    return {
      ...this.counters,
      lastLsn: this.lastLsn,
      bytes: this.baseBytes + this.offset,
      currentFile: `${this.o.dir}/${walFileName(this.seq)}`,
      broken: this.broken !== undefined,
    };
  }

  append(
    type: number,
    body: Uint8Array,
    apply?: (lsn: number) => void,
    options?: AppendOptions,
  ): Promise<number> {
    if (this.closed) {
      return Promise.reject(new QuiverError('CLOSED', 'The write-ahead log is closed.'));
    }
    if (this.broken !== undefined) return Promise.reject(this.broken);
    return new Promise<number>((resolve, reject) => {
      const durableElsewhere = options?.durableElsewhere === true;
      this.pending.push({ type, body, apply, durableElsewhere, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.running || this.timer !== undefined) return;
    if (this.idleResolve === undefined) {
      this.idle = new Promise<void>((r) => (this.idleResolve = r));
    }
    // Records durable elsewhere do not wait for the fsync, so not for company either.
    const local = this.pending.some((p) => !p.durableElsewhere);
    if (this.o.policy === 'batch' && this.o.batchDelayMs > 0 && local) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.run();
      }, this.o.batchDelayMs);
    } else {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.run();
      }, 0);
    }
  }

  private async run(): Promise<void> {
    this.running = true;
    try {
      while (this.pending.length > 0 && this.broken === undefined) {
        const batch = this.pending;
        this.pending = [];
        await this.writeBatch(batch);
      }
      if (this.broken !== undefined) {
        const failed = this.pending;
        this.pending = [];
        for (const p of failed) p.reject(this.broken);
      }
    } finally {
      this.endRun();
    }
  }

  private endRun(): void {
    this.running = false;
    if (this.pending.length > 0) this.schedule();
    else {
      const r = this.idleResolve;
      this.idleResolve = undefined;
      r?.();
    }
  }

  private async writeBatch(batch: Pending[]): Promise<void> {
    if (this.offset >= this.o.fileTargetBytes) {
      try {
        await this.rotate();
      } catch (e) {
        this.fail(e);
        for (const p of batch) p.reject(this.broken ?? e);
        return;
      }
    }
    const start = this.offset;
    let total: number;
    try {
      total = await this.writeFrames(batch, start);
    } catch (e) {
      this.counters.failures++;
      // Cut the partial write so the next record starts on a clean boundary.
      try {
        await this.handle.truncate(start);
      } catch (cutError) {
        this.fail(cutError);
      }
      for (const p of batch) p.reject(e);
      return;
    }
    this.offset = start + total;
    this.dirty = true;
    // Records durable elsewhere are visible once written; a batch mixing them with local
    // writes waits for the fsync, as the local writes must.
    const early = batch.every((p) => p.durableElsewhere);
    if (early) this.applyBatch(batch);
    try {
      await this.o.fs.failpoint('afterWalAppendBeforeFsync');
      if (this.o.policy === 'always' || this.o.policy === 'batch') await this.sync();
      await this.o.fs.failpoint('afterWalFsync');
    } catch (e) {
      // After a failed fsync the page cache state is unknown: stop writing (fsync-gate).
      this.fail(e);
      if (!early) for (const p of batch) p.reject(this.broken ?? e);
      return;
    }
    this.durableOffset = this.offset;
    this.counters.bytesWritten += total;
    if (!early) this.applyBatch(batch);
    this.durableLsn = this.lastLsn;
  }

  /** Numbers the batch's records after the last, applies them in order and resolves each. */
  private applyBatch(batch: readonly Pending[]): void {
    if (this.fileFirstLsn.get(this.seq) === undefined)
      this.fileFirstLsn.set(this.seq, this.lastLsn + 1);
    if (this.o.archiveDir !== undefined) {
      let samples = this.times.get(this.seq);
      if (samples === undefined) this.times.set(this.seq, (samples = []));
      addTimeSample(samples, this.lastLsn + batch.length, Date.now());
    }
    this.counters.records += batch.length;
    let applied = this.lastLsn;
    for (const p of batch) {
      applied++;
      this.lastLsn = applied;
      try {
        p.apply?.(applied);
      } catch (e) {
        this.o.logger.error({ err: e, lsn: applied }, 'applying a WAL record failed');
      }
      p.resolve(applied);
    }
  }

  /**
   * Writes the batch's frames back to back from `start` in one write; returns their bytes.
   * Bodies are framed in place (wal-record.ts), so a lone record is written as it is and a
   * batch copies each body once, into the batch buffer. One write, not one per frame: each
   * await between frames would hand the event loop to background indexing mid-batch.
   */
  private async writeFrames(batch: readonly Pending[], start: number): Promise<number> {
    let lsn = this.lastLsn;
    const frames = batch.map((p) => encodeWalRecord(++lsn, p.type, p.body));
    const buf = frames.length === 1 ? frames[0]! : concat(frames);
    await this.handle.write(buf, start);
    return buf.length;
  }

  private async sync(): Promise<void> {
    const t0 = process.hrtime.bigint();
    await this.handle.sync();
    this.counters.fsyncs++;
    this.dirty = false;
    this.o.onFsync?.(Number(process.hrtime.bigint() - t0) / 1e9);
  }

  private async periodicSync(): Promise<void> {
    if (!this.dirty || this.running || this.timer !== undefined) return;
    if (this.closed || this.broken !== undefined) return;
    this.running = true;
    if (this.idleResolve === undefined) {
      this.idle = new Promise<void>((r) => (this.idleResolve = r));
    }
    try {
      await this.sync();
    } catch (e) {
      this.fail(e);
    } finally {
      this.endRun();
    }
  }

  private async rotate(): Promise<void> {
    await this.sync();
    await this.handle.close();
    this.baseBytes += this.offset;
    this.fileBytes.set(this.seq, this.offset);
    this.seq++;
    this.fileFirstLsn.set(this.seq, undefined);
    const path = `${this.o.dir}/${walFileName(this.seq)}`;
    this.handle = await this.o.fs.open(path, 'create-new');
    await this.handle.write(encodeWalHeader(this.seq), 0);
    await this.handle.sync();
    await this.o.fs.syncDir(this.o.dir);
    this.offset = WAL_HEADER_SIZE;
    this.durableOffset = WAL_HEADER_SIZE;
    this.o.logger.info({ file: path }, 'WAL rotated to a new file');
  }

  private fail(e: unknown): void {
    this.counters.failures++;
    const msg = e instanceof Error ? e.message : String(e);
    this.broken = new QuiverError(
      'UNAVAILABLE',
      `The write-ahead log stopped accepting writes after an I/O failure (${msg}). Fix the disk, then reopen the database.`,
      { file: `${this.o.dir}/${walFileName(this.seq)}` },
      e,
    );
    this.o.logger.error({ err: e }, 'WAL failed; writes are refused until reopen');
  }

  /**
   * Deletes WAL files whose records all precede `beforeLsn` (they are in sealed segments).
   * Never the current file. Returns the names deleted.
   */
  async release(beforeLsn: number): Promise<string[]> {
    const seqs = [...this.fileFirstLsn.keys()].sort((a, b) => a - b);
    const gone: string[] = [];
    for (let i = 0; i < seqs.length - 1; i++) {
      const seq = seqs[i]!;
      if (seq === this.seq) break;
      const nextFirst = this.fileFirstLsn.get(seqs[i + 1]!);
      // All of file `seq` is before the next file's first record.
      const nextStart = nextFirst ?? this.lastLsn + 1;
      if (nextStart > beforeLsn) break;
      await this.o.fs.failpoint('beforeWalRelease');
      const path = `${this.o.dir}/${walFileName(seq)}`;
      if (this.o.archiveDir !== undefined) {
        await archiveWalFile(
          this.o.fs,
          this.o.archiveDir,
          path,
          walFileName(seq),
          this.times.get(seq) ?? [],
        );
        this.times.delete(seq);
        await this.o.fs.failpoint('afterWalArchive');
      }
      await this.o.fs.unlink(path);
      this.fileFirstLsn.delete(seq);
      this.baseBytes -= this.fileBytes.get(seq) ?? 0;
      this.fileBytes.delete(seq);
      gone.push(path);
    }
    if (gone.length > 0) await this.o.fs.syncDir(this.o.dir);
    return gone;
  }

  /**
   * After a failure stopped the writer, tries to make the log sound again: cut the file
   * back to the end of the last durable record and fsync. True when writes may resume.
   */
  async recover(): Promise<boolean> {
    if (this.broken === undefined) return true;
    if (this.running || this.closed) return false;
    if (this.lastLsn > this.durableLsn) {
      // Records durable elsewhere were applied and acknowledged before the fsync that
      // failed: cutting them would leave a gap in the LSNs under records already counted
      // as applied. The writer stays stopped; a reopen replays what the disk kept, and a
      // cluster node reads the rest again from its streams (its saved positions come
      // only from flushes that succeeded).
      this.o.logger.error(
        { file: this.stats().currentFile, lastLsn: this.lastLsn, durableLsn: this.durableLsn },
        'WAL cannot recover in place: records applied before a failed fsync; reopen the database',
      );
      return false;
    }
    try {
      await this.handle.truncate(this.durableOffset);
      await this.handle.sync();
      this.offset = this.durableOffset;
      this.dirty = false;
      this.broken = undefined;
      this.o.logger.warn({ file: this.stats().currentFile }, 'WAL recovered after an I/O failure');
      return true;
    } catch (e) {
      this.o.logger.error({ err: e }, 'WAL still failing');
      return false;
    }
  }

  /** Waits until every appended record is written, then fsyncs. */
  async flush(): Promise<void> {
    while (this.running || this.timer !== undefined || this.pending.length > 0) {
      await this.idle;
    }
    if (this.broken !== undefined) throw this.broken;
    if (this.dirty) await this.sync();
  }

  /** With an archive: saves the time index of the live files (read back at the next open). */
  private async saveTimes(): Promise<void> {
    const dir = this.o.archiveDir;
    if (dir === undefined) return;
    for (const [seq, samples] of this.times) {
      if (samples.length === 0) continue;
      try {
        await writeWalTimes(this.o.fs, dir, walFileName(seq), samples);
      } catch (e) {
        this.o.logger.warn({ err: e }, 'could not save the WAL time index to the archive');
      }
    }
  }

  /** Flushes, fsyncs and closes the file. Further appends fail with CLOSED. */
  async close(): Promise<void> {
    if (this.closed) return;
    try {
      if (this.broken === undefined) await this.flush();
      await this.saveTimes();
    } finally {
      this.closed = true;
      if (this.periodic !== undefined) clearInterval(this.periodic);
      await this.handle.close();
    }
  }
}

/** The frames back to back in one buffer. */
function concat(frames: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const f of frames) total += f.length;
  const out = new Uint8Array(total);
  let at = 0;
  for (const f of frames) {
    out.set(f, at);
    at += f.length;
  }
  return out;
}
