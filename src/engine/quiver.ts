/**
 * Quiver: a database directory opened for reading and writing (SPEC section 3).
 * Owns the directory lock, the WAL and the catalog of collections; runs recovery on open
 * and leaves a clean-shutdown mark on close.
 */
import type { Logger } from '../common/logger.js';
import { SILENT_LOGGER } from '../common/logger.js';
import { invalidArgument, QuiverError } from '../common/quiver-error.js';
import type { MetricName } from '../common/types.js';
import type { FileSystem } from '../storage/io/file-system.js';
import { NodeFileSystem } from '../storage/io/node-file-system.js';
import { readCleanMark, removeCleanMark, writeCleanMark } from '../storage/clean-mark.js';
import { WAL_DIR } from '../storage/format.js';
import { DirectoryLock } from '../storage/lock-file.js';
import type { FsyncPolicy, Log, LogStats } from '../storage/wal/log.js';
import { FSYNC_POLICIES } from '../storage/wal/log.js';
import { encodeWalOp } from '../storage/wal/wal-body-codec.js';
import { WalWriter } from '../storage/wal/wal-writer.js';
import type { CollectionHost } from './collection.js';
import { Collection } from './collection.js';
import { GrowingSegment } from './growing-segment.js';
import type { RecoveryReport } from './recovery.js';
import { replayWal } from './recovery.js';
import type { CollectionConfig, CreateCollectionOptions } from './validation.js';
import { buildCollectionConfig, checkCollectionName } from './validation.js';

/** Options of {@link Quiver.open}. */
export interface QuiverOptions {
  /**
   * When a write is acknowledged: `always` (fsync before ack, shared by concurrent
   * writers), `batch` (default: group commit within `batchDelayMs`), `periodic` (fsync
   * every `fsyncIntervalMs`; a process crash loses nothing, a power loss at most that
   * long), `none` (tests only).
   */
  readonly fsync?: FsyncPolicy;
  /** `batch`: how long a write waits for others to share its fsync. Default 2 ms. */
  readonly batchDelayMs?: number;
  /** `periodic`: fsync interval. Default 100 ms. */
  readonly fsyncIntervalMs?: number;
  /** Largest payload accepted, in bytes of JSON. Default 1 MiB. */
  readonly maxPayloadBytes?: number;
  /** WAL files rotate past this size. Default 64 MiB. */
  readonly walFileBytes?: number;
  /** Where diagnostics go (pino fits). Default: silent. */
  readonly logger?: Logger;
  /** File system to use; tests inject failures through it. Default: the real one. */
  readonly fileSystem?: FileSystem;
}

/** A collection as listed by {@link Quiver.listCollections}. */
export interface CollectionInfo {
  readonly name: string;
  readonly dimension: number;
  readonly metric: MetricName;
  readonly points: number;
}

/** Plain numbers about the database (the server turns them into metrics). */
export interface DatabaseStats {
  readonly path: string;
  readonly collections: number;
  readonly points: number;
  readonly memoryBytes: number;
  readonly readOnly: boolean;
  readonly wal: LogStats;
  readonly recovery: RecoveryReport;
}

const DEFAULT_MAX_PAYLOAD = 1024 * 1024;
const OPTION_KEYS = new Set([
  'fsync',
  'batchDelayMs',
  'fsyncIntervalMs',
  'maxPayloadBytes',
  'walFileBytes',
  'logger',
  'fileSystem',
]);

function checkOptions(options: QuiverOptions): void {
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.has(key)) {
      throw invalidArgument(
        `Unknown option "${key}" for Quiver.open: allowed are ${[...OPTION_KEYS].join(', ')}.`,
        { field: key },
      );
    }
  }
  if (options.fsync !== undefined && !FSYNC_POLICIES.includes(options.fsync)) {
    throw invalidArgument(
      `fsync must be one of ${FSYNC_POLICIES.join(', ')}, got ${JSON.stringify(options.fsync)}.`,
      { field: 'fsync', received: options.fsync },
    );
  }
  for (const key of ['batchDelayMs', 'fsyncIntervalMs', 'maxPayloadBytes', 'walFileBytes']) {
    const v = (options as Record<string, unknown>)[key];
    if (v !== undefined && (typeof v !== 'number' || !Number.isInteger(v) || v < 0)) {
      throw invalidArgument(`${key} must be a non-negative integer, got ${JSON.stringify(v)}.`, {
        field: key,
      });
    }
  }
}

export class Quiver {
  /** The database directory. */
  readonly path: string;
  /** What recovery found when this database was opened. */
  readonly recovery: RecoveryReport;
  private readonly fs: FileSystem;
  private readonly logger: Logger;
  private readonly lock: DirectoryLock;
  private readonly wal: WalWriter;
  private readonly catalog: Map<string, GrowingSegment>;
  private readonly handles = new Map<GrowingSegment, Collection>();
  private readonly reserved = new Set<string>();
  private readonly host: CollectionHost;
  private closed = false;
  private closing: Promise<void> | undefined;
  private readOnly = false;

  private constructor(
    path: string,
    fs: FileSystem,
    logger: Logger,
    lock: DirectoryLock,
    wal: WalWriter,
    catalog: Map<string, GrowingSegment>,
    recovery: RecoveryReport,
    maxPayloadBytes: number,
  ) {
    this.path = path;
    this.fs = fs;
    this.logger = logger;
    this.lock = lock;
    this.wal = wal;
    this.catalog = catalog;
    this.recovery = recovery;
    this.host = {
      log: wal,
      maxPayloadBytes,
      checkOpen: () => this.checkOpen(),
      checkWritable: () => this.checkWritable(),
      isLive: (segment) => !this.closed && this.catalog.get(segment.config.name) === segment,
    };
  }

  /**
   * Opens (creating if missing) the database in `path`, replaying its write-ahead log.
   * Throws LOCKED when another live process has it open, CORRUPT on damage that is not a
   * torn tail. A failed open releases the lock.
   */
  static async open(path: string, options: QuiverOptions = {}): Promise<Quiver> {
    if (typeof path !== 'string' || path === '') {
      throw invalidArgument('Quiver.open needs a directory path.', { field: 'path' });
    }
    checkOptions(options);
    const fs = options.fileSystem ?? new NodeFileSystem();
    const logger = options.logger ?? SILENT_LOGGER;
    await fs.mkdirp(path);
    // Step 1: take the directory lock.
    const lock = await DirectoryLock.acquire(fs, path, logger);
    try {
      // Step 2: read the clean-shutdown mark.
      const mark = await readCleanMark(fs, path);
      // Steps 3-5: replay the WAL, check it against the mark, classify damage.
      const walDir = `${path}/${WAL_DIR}`;
      const state = await replayWal(fs, walDir, mark, logger);
      // Step 6: open the writer at the end of the intact log (cutting a torn tail).
      const wal = await WalWriter.open(
        {
          fs,
          dir: walDir,
          policy: options.fsync ?? 'batch',
          ...(options.batchDelayMs === undefined ? {} : { batchDelayMs: options.batchDelayMs }),
          ...(options.fsyncIntervalMs === undefined ? {} : { periodicMs: options.fsyncIntervalMs }),
          ...(options.walFileBytes === undefined ? {} : { fileTargetBytes: options.walFileBytes }),
          logger,
        },
        state.position,
        state.otherWalBytes,
      );
      // Step 7: remove the clean mark before the first write can happen.
      try {
        if (mark !== undefined || (await fs.exists(`${path}/CLEAN.tmp`))) {
          await removeCleanMark(fs, path);
        }
      } catch (e) {
        await wal.close().catch(() => undefined);
        throw e;
      }
      logger.info({ path, ...state.report }, 'database opened');
      return new Quiver(
        path,
        fs,
        logger,
        lock,
        wal,
        state.catalog,
        state.report,
        options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD,
      );
    } catch (e) {
      await lock.release().catch(() => undefined);
      throw e;
    }
  }

  private checkOpen(): void {
    if (this.closed) {
      throw new QuiverError('CLOSED', `Database ${this.path} is closed; open it again.`, {
        file: this.path,
      });
    }
  }

  private checkWritable(): void {
    this.checkOpen();
    if (this.readOnly) {
      throw new QuiverError(
        'READ_ONLY',
        `Database ${this.path} is in read-only mode; writes are refused until setReadOnly(false).`,
        { file: this.path },
      );
    }
  }

  /** The Log writes go through (the local WAL). @internal */
  get log(): Log {
    return this.wal;
  }

  /** Creates a collection; COLLECTION_EXISTS when the name is taken. */
  async createCollection(name: string, options: CreateCollectionOptions): Promise<Collection> {
    this.checkWritable();
    const config = buildCollectionConfig(name, options);
    if (this.catalog.has(config.name) || this.reserved.has(config.name)) {
      throw new QuiverError(
        'COLLECTION_EXISTS',
        `Collection "${config.name}" already exists. Use db.collection("${config.name}") or drop it first.`,
        { collection: config.name },
      );
    }
    this.reserved.add(config.name);
    try {
      const { type, body } = encodeWalOp({
        kind: 'create-collection',
        config: { ...config, hnsw: { ...config.hnsw } },
      });
      let segment: GrowingSegment | undefined;
      await this.wal.append(type, body, () => {
        segment = new GrowingSegment(config);
        this.catalog.set(config.name, segment);
      });
      return this.handleFor(segment!);
    } finally {
      this.reserved.delete(config.name);
    }
  }

  private handleFor(segment: GrowingSegment): Collection {
    let handle = this.handles.get(segment);
    if (handle === undefined) {
      handle = new Collection(this.host, segment);
      this.handles.set(segment, handle);
    }
    return handle;
  }

  /** The collection named `name`; throws COLLECTION_NOT_FOUND. */
  collection(name: string): Collection {
    this.checkOpen();
    checkCollectionName(name);
    const segment = this.catalog.get(name);
    if (segment === undefined) {
      throw new QuiverError(
        'COLLECTION_NOT_FOUND',
        `Collection "${name}" does not exist. Create it with db.createCollection("${name}", { dimension }).`,
        { collection: name },
      );
    }
    return this.handleFor(segment);
  }

  /** True when a collection of that name exists. */
  hasCollection(name: string): boolean {
    this.checkOpen();
    return this.catalog.has(name);
  }

  /** Every collection with its size, sorted by name. */
  listCollections(): Promise<CollectionInfo[]> {
    try {
      this.checkOpen();
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
    const out = [...this.catalog.values()].map((s) => ({
      name: s.config.name,
      dimension: s.config.dimension,
      metric: s.config.metric,
      points: s.liveCount,
    }));
    out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return Promise.resolve(out);
  }

  /** The configuration of a collection. */
  collectionConfig(name: string): CollectionConfig {
    return this.collection(name).config;
  }

  /** Drops a collection and its points; COLLECTION_NOT_FOUND when missing. */
  async dropCollection(name: string): Promise<void> {
    this.checkWritable();
    const segment = this.collection(name) && this.catalog.get(name);
    if (segment === undefined || this.reserved.has(name)) {
      throw new QuiverError('COLLECTION_NOT_FOUND', `Collection "${name}" does not exist.`, {
        collection: name,
      });
    }
    this.reserved.add(name);
    try {
      const { type, body } = encodeWalOp({ kind: 'drop-collection', name });
      await this.wal.append(type, body, () => {
        if (this.catalog.get(name) === segment) this.catalog.delete(name);
        this.handles.delete(segment);
      });
    } finally {
      this.reserved.delete(name);
    }
  }

  /** Turns read-only mode on or off: while on, every write fails with READ_ONLY. */
  setReadOnly(readOnly: boolean): void {
    this.checkOpen();
    this.readOnly = readOnly;
    this.logger.warn({ readOnly }, readOnly ? 'read-only mode on' : 'read-only mode off');
  }

  get isReadOnly(): boolean {
    return this.readOnly;
  }

  /** Makes every acknowledged write durable now, whatever the fsync policy. */
  async flush(): Promise<void> {
    this.checkOpen();
    await this.wal.flush();
  }

  stats(): DatabaseStats {
    this.checkOpen();
    let points = 0;
    let memoryBytes = 0;
    for (const s of this.catalog.values()) {
      points += s.liveCount;
      memoryBytes += s.memoryBytes();
    }
    return {
      path: this.path,
      collections: this.catalog.size,
      points,
      memoryBytes,
      readOnly: this.readOnly,
      wal: this.wal.stats(),
      recovery: this.recovery,
    };
  }

  /**
   * Flushes the log, leaves the clean-shutdown mark and releases the directory. Every
   * later call on this database or its collections fails with CLOSED. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= this.closeNow();
    return this.closing;
  }

  private async closeNow(): Promise<void> {
    try {
      let clean = true;
      try {
        await this.wal.close();
      } catch (e) {
        clean = false;
        this.logger.error({ err: e }, 'WAL did not close cleanly; the next open will recover');
      }
      this.closed = true;
      if (clean && !this.wal.stats().broken) {
        const pos = this.wal.position();
        await writeCleanMark(this.fs, this.path, {
          lastLsn: pos.lastLsn,
          walSeq: pos.seq,
          walOffset: pos.offset,
        });
      }
    } finally {
      this.closed = true;
      await this.lock.release();
      this.logger.info({ path: this.path }, 'database closed');
    }
  }
}
