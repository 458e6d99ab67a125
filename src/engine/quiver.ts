/**
 * Quiver: a database directory opened for reading and writing (SPEC section 3).
 * Owns the directory lock, the WAL and the catalog of collections; runs recovery on open
 * and leaves a clean-shutdown mark on close.
 */
import type { Logger } from '../common/logger.js';
import { SILENT_LOGGER } from '../common/logger.js';
import { deletedShare } from '../common/deleted-share.js';
import { settle } from '../common/settle.js';
import { WorkerSearchPool } from './worker-search-pool.js';
import { invalidArgument, QuiverError } from '../common/quiver-error.js';
import type { MetricName } from '../common/types.js';
import type { FileSystem } from '../storage/io/file-system.js';
import { NodeFileSystem } from '../storage/io/node-file-system.js';
import { readCleanMark, removeCleanMark, writeCleanMark } from '../storage/clean-mark.js';
import { WAL_DIR } from '../storage/format.js';
import { DirectoryLock } from '../storage/lock-file.js';
import type { Log, LogStats } from '../storage/wal/log.js';
import { encodeWalOp } from '../storage/wal/wal-body-codec.js';
import { WalWriter } from '../storage/wal/wal-writer.js';
import type { BreakerSnapshot } from './circuit-breaker.js';
import { CircuitBreaker } from './circuit-breaker.js';
import type { CollectionHost, CollectionStats } from './collection.js';
import type { CacheStats } from './query-cache.js';
import { QueryCache } from './query-cache.js';
import { DEFAULT_VECTOR_CACHE_BYTES, OnDiskVectors } from './on-disk-vectors.js';
import type { BlockCacheStats } from '../storage/io/block-cache.js';
import type { SemanticCacheStats } from './semantic-cache.js';
import { SemanticCache } from './semantic-cache.js';
import { Collection } from './collection.js';
import { CollectionState } from './collection-state.js';
import type { IndexFactory } from './collection-state.js';
import { createIndex } from './index-factory.js';
import { sharedHnswAvailable } from '../ann/hnsw/hnsw-index.js';
import { sharedWasmLoadFailure } from '../kernels/wasm-module.js';
import type { QuiverOptions } from './options.js';
import {
  checkCacheBytes,
  DEFAULT_QUERY_CACHE_BYTES,
  breakerOptions,
  checkOptions,
  DEFAULT_MAX_PAYLOAD,
  DEFAULT_MEMORY_BUDGET,
  storageOptions,
  walWriterOptions,
} from './options.js';
import type { RecoveryReport } from './recovery.js';
import { recover } from './recovery.js';
import type { RecoveredState } from './recovery.js';
import type { StorageStats } from './storage-manager.js';
import { StorageManager } from './storage-manager.js';
import type { CollectionChanges, CollectionConfig, CreateCollectionOptions } from './validation.js';
import {
  buildCollectionConfig,
  changedConfig,
  sameShape,
  checkCollectionName,
  configJson,
  CREATED_AT_KEY,
} from './validation.js';
import { applySwap, hasInheritedUnsealedData, removeLeftoverStaging } from './collection-swap.js';
import { isStagingName, stagingName, stagingTarget } from './staging-name.js';

// The options live in options.ts; these stay importable from here, where they always were.
export type { QuiverOptions } from './options.js';
export { OPTION_KEYS } from './options.js';

/** A collection as listed by {@link Quiver.listCollections}. */
export interface CollectionInfo {
  readonly name: string;
  readonly dimension: number;
  readonly metric: MetricName;
  readonly points: number;
  /** When it was created (ISO 8601, UTC); null for one created before format 1.1. */
  readonly createdAt: string | null;
}

/** Plain numbers about the database (the server turns them into metrics). */
export interface DatabaseStats {
  readonly path: string;
  readonly collections: number;
  readonly points: number;
  readonly segments: number;
  /**
   * Share of the slots in all collections' segment files that hold a deleted or replaced
   * point, waiting for compaction (common/deleted-share.ts).
   */
  readonly deletedShare: number;
  /** Segment files + WAL + manifest. */
  readonly diskBytes: number;
  readonly walBytes: number;
  readonly memoryBytes: number;
  /** Memory of growing data (what the budget limits) and the budget. */
  readonly unsealedBytes: number;
  readonly memoryBudgetBytes: number;
  /** The cache of search answers: hits, misses, evictions, bytes and capacity. */
  readonly queryCache: CacheStats;
  /** Semantic cache lookups (collections that opted in) and the collections' thresholds. */
  readonly semanticCache: SemanticCacheStats;
  /** The block cache of on-disk vectors (collections created `onDisk`). */
  readonly vectorCache: BlockCacheStats;
  readonly compactionQueueDepth: number;
  readonly backpressureEvents: number;
  readonly noSpaceEvents: number;
  readonly readOnly: boolean;
  readonly circuitBreaker: BreakerSnapshot;
  readonly wal: LogStats;
  readonly storage: StorageStats;
  readonly recovery: RecoveryReport;
  readonly perCollection: readonly CollectionStats[];
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
  private readonly catalog: Map<string, CollectionState>;
  private readonly storage: StorageManager;
  private readonly breaker: CircuitBreaker;
  private readonly makeIndex: IndexFactory;
  private readonly handles = new Map<CollectionState, Collection>();
  private readonly reserved = new Set<string>();
  /** Staging collections created by this session (numbers their names). */
  private stagings = 0;
  private readonly host: CollectionHost;
  private readonly memoryBudget: number;
  private closed = false;
  private closing: Promise<void> | undefined;
  /** Search workers this database started (`searchThreads`) and closes with it. */
  private ownPool: WorkerSearchPool | undefined;
  private readOnly = false;
  private backpressureEvents = 0;
  private noSpaceEvents = 0;
  private readonly fsyncListeners: Set<(seconds: number) => void>;

  private constructor(parts: {
    path: string;
    fs: FileSystem;
    logger: Logger;
    lock: DirectoryLock;
    wal: WalWriter;
    catalog: Map<string, CollectionState>;
    storage: StorageManager;
    recovery: RecoveryReport;
    options: QuiverOptions;
    makeIndex: IndexFactory;
    fsyncListeners: Set<(seconds: number) => void>;
  }) {
    this.fsyncListeners = parts.fsyncListeners;
    this.path = parts.path;
    this.fs = parts.fs;
    this.logger = parts.logger;
    this.lock = parts.lock;
    this.wal = parts.wal;
    this.catalog = parts.catalog;
    this.storage = parts.storage;
    this.recovery = parts.recovery;
    this.makeIndex = parts.makeIndex;
    const o = parts.options;
    this.memoryBudget = o.memoryBudgetBytes ?? DEFAULT_MEMORY_BUDGET;
    this.breaker = new CircuitBreaker(breakerOptions(o));
    this.host = {
      log: this.wal,
      maxPayloadBytes: o.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD,
      checkOpen: () => this.checkOpen(),
      admitWrite: () => this.admitWrite(),
      writeDone: (e) => this.writeDone(e),
      isLive: (state) => !this.closed && this.catalog.get(state.config.name) === state,
      afterWrite: () => this.storage.maybeCheckpoint(),
      searchPool: sharedHnswAvailable() ? o.searchPool : undefined,
      queryCache: new QueryCache(o.queryCacheBytes ?? DEFAULT_QUERY_CACHE_BYTES),
      semanticCache: new SemanticCache(),
    };
  }

  /**
   * Opens (creating if missing) the database in `path`: loads the sealed segments the
   * manifest lists and replays the write-ahead log after them. Throws LOCKED when another
   * live process has it open, CORRUPT on damage that is not a torn tail. A failed open
   * releases the lock.
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
    let pool: WorkerSearchPool | undefined;
    try {
      // Workers first: sealed segments then load straight into shared memory with a lane each.
      pool = await startOwnPool(options, logger);
      const opened = pool === undefined ? options : { ...options, searchPool: pool };
      const db = await Quiver.openLocked({ path, options: opened, fs, logger, lock });
      db.ownPool = pool;
      return db;
    } catch (e) {
      await pool?.close();
      await lock.release().catch(() => undefined);
      throw e;
    }
  }

  /** Steps 2-9 of {@link open}, under the directory lock; then background work starts. */
  private static async openLocked(ctx: OpenContext): Promise<Quiver> {
    const { path, options, fs, logger } = ctx;
    // Step 2: read the clean-shutdown mark.
    const mark = await readCleanMark(fs, path);
    // Steps 3-7: manifest, sealed segments, orphans, WAL replay, damage, mark check.
    const walDir = `${path}/${WAL_DIR}`;
    const { makeIndex, lanes } = indexFactoryFor(options, logger);
    const vectors = new OnDiskVectors(fs, options.vectorCacheBytes ?? DEFAULT_VECTOR_CACHE_BYTES);
    const state = await recover(fs, path, walDir, mark, makeIndex, logger, vectors, lanes).catch(
      async (e: unknown) => {
        await vectors.closeAll();
        throw e;
      },
    );
    // Step 8: open the writer at the end of the intact log (cutting a torn tail). Its
    // fsync timings go to the listeners `onWalFsync` adds (the server's histogram).
    const fsyncListeners = new Set<(seconds: number) => void>();
    const onFsync = (seconds: number): void => fsyncListeners.forEach((l) => l(seconds));
    const wal = await WalWriter.resume(
      { ...walWriterOptions(options, fs, walDir, logger), onFsync },
      state.scan,
      state.report.lastLsn,
    );
    const leftovers = await closingWalOnFailure(wal, async () => {
      // Step 9: remove the clean mark before the first write can happen.
      if (mark !== undefined || (await fs.exists(`${path}/CLEAN.tmp`))) {
        await removeCleanMark(fs, path);
      }
      // A restore that never reached its swap left its staging collection: drop it.
      return removeLeftoverStaging(state.catalog, wal, logger);
    });
    const storage = new StorageManager(
      fs,
      path,
      state.catalog,
      wal,
      state.manifest,
      logger,
      storageOptions(options),
      vectors,
    );
    logOpened(logger, path, state);
    const db = new Quiver({
      path,
      fs,
      logger,
      lock: ctx.lock,
      wal,
      catalog: state.catalog,
      storage,
      recovery: state.report,
      options,
      makeIndex,
      fsyncListeners,
    });
    await sealAfterReplay(db, storage, state.catalog, leftovers.length > 0);
    // Segments loaded under a config that a replayed update changed follow it now (a
    // failure is logged by the storage queue; the segments then follow at their rewrite).
    for (const s of state.catalog.values()) await storage.reconcile(s);
    storage.maybeCheckpoint();
    if (storage.options.autoCompact) storage.maybeCompact();
    return db;
  }

  private checkOpen(): void {
    if (this.closed) {
      throw new QuiverError('CLOSED', `Database ${this.path} is closed; open it again.`, {
        file: this.path,
      });
    }
  }

  /** Every check a write passes before it is logged. */
  private admitWrite(): void {
    this.checkOpen();
    if (this.readOnly) {
      throw new QuiverError(
        'READ_ONLY',
        `Database ${this.path} is in read-only mode; writes are refused until setReadOnly(false).`,
        { file: this.path },
      );
    }
    const trial = this.breaker.admit();
    if (trial && this.wal.stats().broken) {
      void this.wal.recover().then((ok) => {
        if (!ok) this.breaker.failure(new Error('the WAL is still failing'));
      });
      this.breaker.failure(new Error('the WAL was stopped; trying to recover it'));
      throw new QuiverError(
        'UNAVAILABLE',
        `The write-ahead log of ${this.path} is recovering from an I/O failure; retry shortly.`,
        { file: this.path },
      );
    }
    let unsealed = 0;
    for (const s of this.catalog.values()) unsealed += s.unsealedBytes();
    if (unsealed > this.memoryBudget) {
      this.backpressureEvents++;
      this.storage.requestFlush();
      throw new QuiverError(
        'BACKPRESSURE',
        `Growing data uses ${unsealed} bytes, over the memory budget of ${this.memoryBudget} bytes; sealing to disk is catching up. Retry shortly, or raise memoryBudgetBytes.`,
        { expected: this.memoryBudget, received: unsealed },
      );
    }
  }

  private writeDone(e: unknown): void {
    if (e === undefined) {
      this.breaker.success();
      return;
    }
    if (e instanceof QuiverError) {
      if (e.code === 'NO_SPACE') this.noSpaceEvents++;
      else if (e.code === 'UNAVAILABLE') this.breaker.failure(e);
    }
  }

  /** The Log writes go through (the local WAL). @internal */
  get log(): Log {
    return this.wal;
  }

  /** Creates a collection; COLLECTION_EXISTS when the name is taken. */
  async createCollection(name: string, options: CreateCollectionOptions): Promise<Collection> {
    this.admitWrite();
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
      return await this.logCreate(config);
    } finally {
      this.reserved.delete(config.name);
    }
  }

  /** Logs the creation of a collection whose name is free and reserved, and applies it. */
  private async logCreate(config: CollectionConfig): Promise<Collection> {
    // The creation time is logged with the config, so replay restores it (format 1.1).
    const createdAt = new Date().toISOString();
    const { type, body } = encodeWalOp({
      kind: 'create-collection',
      config: { ...configJson(config), [CREATED_AT_KEY]: createdAt },
    });
    let state: CollectionState | undefined;
    await this.logged(type, body, (lsn) => {
      state = new CollectionState(config, lsn, 0, this.makeIndex, createdAt);
      this.catalog.set(config.name, state);
    });
    return this.handleFor(state!);
  }

  /** Appends one record, applies it, and tells the breaker how the append went. */
  private async logged(
    type: number,
    body: Uint8Array,
    apply: (lsn: number) => void,
  ): Promise<void> {
    try {
      await this.wal.append(type, body, apply);
    } catch (e) {
      this.writeDone(e);
      throw e;
    }
    this.writeDone(undefined);
  }

  /**
   * Creates a hidden staging collection that will replace `target` (a snapshot restore):
   * named `.staging-<target>-<n>` (engine/staging-name.ts), which no listing shows and no
   * API addresses. Load it through the returned handle, then {@link swapCollection} or
   * {@link dropStagingCollection}. @internal
   */
  async createStagingCollection(
    target: string,
    options: CreateCollectionOptions,
  ): Promise<Collection> {
    this.admitWrite();
    const base = buildCollectionConfig(target, options);
    let name = stagingName(target, ++this.stagings);
    while (this.catalog.has(name) || this.reserved.has(name)) {
      name = stagingName(target, ++this.stagings);
    }
    this.reserved.add(name);
    try {
      return await this.logCreate({ ...base, name });
    } finally {
      this.reserved.delete(name);
    }
  }

  /**
   * Puts a loaded staging collection in its target's place in one step: seals it whole
   * (its points all in segment files, durable), then logs one SWAP_COLLECTION record that
   * drops the target and renames the staging collection. A crash before that record leaves
   * the target as it was (the next open removes the staging collection); after it, the
   * new content. @internal
   */
  async swapCollection(staging: Collection): Promise<void> {
    this.admitWrite();
    const name = staging.name;
    const target = stagingTarget(name);
    const state = this.catalog.get(name);
    if (target === undefined || state === undefined) {
      throw invalidArgument(`swapCollection needs a live staging collection, got "${name}".`);
    }
    await this.storage.checkpoint(true);
    await this.fs.failpoint('beforeCollectionSwap');
    if (state.growing.firstLsn !== undefined || state.sealing.length > 0) {
      throw new QuiverError(
        'UNAVAILABLE',
        `Staging collection for "${target}" could not be sealed to disk; "${target}" was left as it was. Retry.`,
        { collection: target },
      );
    }
    this.admitWrite();
    this.reserved.add(target);
    try {
      const { type, body } = encodeWalOp({ kind: 'swap-collection', staging: name, target });
      await this.logged(type, body, (lsn) => {
        const { dropped } = applySwap(this.catalog, name, target, lsn, this.logger);
        if (dropped !== undefined) this.forget(dropped);
        this.forget(state);
      });
    } finally {
      this.reserved.delete(target);
    }
    await this.fs.failpoint('afterCollectionSwap');
    this.logger.info({ collection: target, staging: name }, 'collection replaced (swap)');
    // The manifest loses the staging name and the replaced collection's files now.
    await this.storage.checkpoint(false, true).catch(() => undefined);
  }

  /** Drops a staging collection whose load failed; its target was never touched. @internal */
  async dropStagingCollection(staging: Collection): Promise<void> {
    const state = this.catalog.get(staging.name);
    if (state === undefined || !isStagingName(staging.name)) return;
    await this.logDrop(staging.name, state);
  }

  private handleFor(state: CollectionState): Collection {
    let handle = this.handles.get(state);
    if (handle === undefined) {
      handle = new Collection(this.host, state);
      this.handles.set(state, handle);
    }
    return handle;
  }

  /** The collection named `name`; throws COLLECTION_NOT_FOUND. */
  collection(name: string): Collection {
    this.checkOpen();
    checkCollectionName(name);
    const state = this.catalog.get(name);
    if (state === undefined) {
      throw new QuiverError(
        'COLLECTION_NOT_FOUND',
        `Collection "${name}" does not exist. Create it with db.createCollection("${name}", { dimension }).`,
        { collection: name },
      );
    }
    return this.handleFor(state);
  }

  /** True when a collection of that name exists. */
  hasCollection(name: string): boolean {
    this.checkOpen();
    return !isStagingName(name) && this.catalog.has(name);
  }

  /** The collections users see: every one but the hidden staging collections. */
  private visible(): CollectionState[] {
    return [...this.catalog.values()].filter((s) => !isStagingName(s.config.name));
  }

  /** Every collection with its size, sorted by name. */
  listCollections(): Promise<CollectionInfo[]> {
    return settle(() => {
      this.checkOpen();
      const out = this.visible().map((s) => ({
        name: s.config.name,
        dimension: s.config.dimension,
        metric: s.config.metric,
        points: s.liveCount,
        createdAt: s.createdAt,
      }));
      return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    });
  }

  /** The configuration of a collection. */
  collectionConfig(name: string): CollectionConfig {
    return this.collection(name).config;
  }

  /**
   * Changes a collection's `quantization` or `onDisk` (Qdrant's PATCH /collections/{c}),
   * logged so a restart keeps it. Resolves once its sealed segments follow: codes trained
   * again (or dropped: searches walk the floats), vectors moved to or from their files. A
   * segment whose graph the search workers share keeps its codes until compaction rewrites
   * it; growing data follows when it is sealed. Returns the new config.
   */
  async updateCollection(name: string, changes: CollectionChanges): Promise<CollectionConfig> {
    this.admitWrite();
    this.collection(name);
    const state = this.catalog.get(name);
    if (state === undefined || this.reserved.has(name)) {
      throw new QuiverError('COLLECTION_NOT_FOUND', `Collection "${name}" does not exist.`, {
        collection: name,
      });
    }
    const config = changedConfig(state.config, changes);
    const json = configJson(config);
    if (JSON.stringify(json) === JSON.stringify(configJson(state.config))) return state.config;
    const { type, body } = encodeWalOp({ kind: 'update-collection', config: json });
    let target = state;
    await this.logged(type, body, () => {
      // As replay applies it: to the collection of that name now (a restore may have
      // swapped another in meanwhile), when its shape is the same.
      const current = this.catalog.get(name);
      if (current === undefined || !sameShape(current.config, config)) return;
      target = current;
      current.config = config;
      // Answers computed with the old codes are not this config's answers.
      current.changed();
      this.host.queryCache.invalidate(current);
    });
    await this.storage.reconcile(target);
    return target.config;
  }

  /** Drops a collection and its points; COLLECTION_NOT_FOUND when missing. */
  async dropCollection(name: string): Promise<void> {
    this.admitWrite();
    this.collection(name);
    const state = this.catalog.get(name);
    if (state === undefined || this.reserved.has(name)) {
      throw new QuiverError('COLLECTION_NOT_FOUND', `Collection "${name}" does not exist.`, {
        collection: name,
      });
    }
    await this.logDrop(name, state);
  }

  /**
   * A collection state left the catalog: its handle goes, and its cached answers with it
   * (the generation moves too, so a search still running on it cannot store one again).
   */
  private forget(state: CollectionState): void {
    this.handles.delete(state);
    state.changed();
    this.host.queryCache.invalidate(state);
  }

  /** Logs and applies the drop of `state` (named `name`), then frees its files. */
  private async logDrop(name: string, state: CollectionState): Promise<void> {
    this.reserved.add(name);
    try {
      const { type, body } = encodeWalOp({ kind: 'drop-collection', name });
      await this.logged(type, body, () => {
        if (this.catalog.get(name) === state) this.catalog.delete(name);
        this.forget(state);
      });
    } finally {
      this.reserved.delete(name);
    }
    // Free the dropped collection's files at the next manifest switch.
    if (state.sealed.length > 0) void this.storage.checkpoint(false, true).catch(() => undefined);
  }

  /**
   * Calls `listener` with the duration in seconds of every WAL fsync (for the
   * `quiver_wal_fsync_seconds` histogram). Returns a function that unsubscribes.
   */
  onWalFsync(listener: (seconds: number) => void): () => void {
    this.fsyncListeners.add(listener);
    return () => this.fsyncListeners.delete(listener);
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

  /** The WAL circuit breaker's state (0 closed, 1 open, 2 half-open in metrics). */
  get circuitBreaker(): BreakerSnapshot {
    return this.breaker.snapshot();
  }

  /** Closes the circuit breaker now and, if the WAL had stopped, tries to recover it. */
  async resetCircuitBreaker(): Promise<void> {
    this.checkOpen();
    await this.wal.recover();
    this.breaker.reset();
  }

  /** Makes every acknowledged write durable now, whatever the fsync policy. */
  async flush(): Promise<void> {
    this.checkOpen();
    await this.wal.flush();
  }

  /**
   * Seals growing data into segment files and switches the manifest now (with `all`,
   * every collection's growing data, however small). Resolves when done.
   */
  async checkpoint(all = true): Promise<void> {
    this.checkOpen();
    await this.storage.checkpoint(all);
  }

  /**
   * Compacts now: merges segments and drops deleted points, for one collection or all.
   * Resolves when done; reads and writes go on meanwhile.
   */
  async compact(collection?: string): Promise<void> {
    this.checkOpen();
    if (collection !== undefined) this.collection(collection);
    await this.storage.compact(collection, true);
  }

  /**
   * Resolves once background work is done: sealing and compaction idle, and every vector
   * acknowledged before the call linked into a graph (searches then walk graphs only,
   * with no exact scan of vectors waiting for one). Writes may go on meanwhile.
   */
  async idle(): Promise<void> {
    this.checkOpen();
    await this.storage.idle();
    for (const state of this.catalog.values()) await state.growing.indexAll();
  }

  /**
   * Pins the files of the last committed manifest so compaction keeps them until the
   * returned `release` is called (online backups). @internal
   */
  pinFiles(): { manifestGeneration: number; files: string[]; release: () => void } {
    this.checkOpen();
    const p = this.storage.pinCurrent();
    return { manifestGeneration: p.manifest.generation, files: p.files, release: p.unpin };
  }

  /**
   * Sets the query cache's capacity in bytes at run time (0 turns it off and empties it;
   * shrinking evicts the least recently used answers at once).
   */
  setQueryCacheBytes(bytes: number): void {
    this.checkOpen();
    checkCacheBytes(bytes);
    this.host.queryCache.resize(bytes);
  }

  /**
   * Sets the block cache of on-disk vectors to `bytes` at run time (0 turns it off;
   * shrinking evicts the least recently used blocks at once).
   */
  setVectorCacheBytes(bytes: number): void {
    this.checkOpen();
    checkCacheBytes(bytes, 'vectorCacheBytes');
    this.storage.vectors.resize(bytes);
  }

  /**
   * Opts `collection` into the semantic cache: a search that misses the query cache takes
   * the answer of a recent cached search with the same options and filter whose query has
   * at least `minSimilarity` cosine similarity (0 < s ≤ 1, e.g. 0.97) to its own, with
   * the points rescored against the new query (`explain.source` says `semantic`). The
   * points are the similar query's, not necessarily this one's nearest: opt in where that
   * is acceptable. Undefined opts out. Needs the query cache on. Kept by name, for this
   * session only (the server applies its `semanticCache` setting at every start).
   */
  setSemanticCache(collection: string, minSimilarity: number | undefined): void {
    this.checkOpen();
    this.host.semanticCache.set(collection, minSimilarity);
  }

  /** Empties the query cache; returns how many answers it held. */
  clearQueryCache(): number {
    this.checkOpen();
    return this.host.queryCache.clear();
  }

  stats(): DatabaseStats {
    this.checkOpen();
    const perCollection = this.visible().map((s) => this.handleFor(s).stats());
    let points = 0;
    let memoryBytes = 0;
    let unsealedBytes = 0;
    let segments = 0;
    for (const c of perCollection) {
      points += c.points;
      memoryBytes += c.memoryBytes;
      unsealedBytes += c.unsealedBytes;
      segments += c.segments;
    }
    const slotCounts = this.visible().flatMap((s) => s.slotCounts());
    const wal = this.wal.stats();
    const storage = this.storage.stats();
    return {
      path: this.path,
      collections: perCollection.length,
      points,
      segments,
      deletedShare: deletedShare(slotCounts),
      diskBytes: storage.segmentBytes + wal.bytes,
      walBytes: wal.bytes,
      memoryBytes,
      unsealedBytes,
      memoryBudgetBytes: this.memoryBudget,
      queryCache: this.host.queryCache.stats(),
      semanticCache: this.host.semanticCache.stats(),
      vectorCache: this.storage.vectors.stats(),
      compactionQueueDepth: storage.compactionQueueDepth,
      backpressureEvents: this.backpressureEvents,
      noSpaceEvents: this.noSpaceEvents,
      readOnly: this.readOnly,
      circuitBreaker: this.breaker.snapshot(),
      wal,
      storage,
      recovery: this.recovery,
      perCollection,
    };
  }

  /**
   * Waits for background work, flushes the log, leaves the clean-shutdown mark and
   * releases the directory. Every later call on this database or its collections fails
   * with CLOSED. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= this.closeNow();
    return this.closing;
  }

  private async closeNow(): Promise<void> {
    try {
      await this.storage.close();
      for (const state of this.catalog.values()) state.growing.stop();
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
      await this.storage.vectors.closeAll();
      await this.ownPool?.close();
      await this.lock.release();
      this.logger.info({ path: this.path }, 'database closed');
    }
  }
}

/**
 * After replay: a swap that gave a collection points not yet in its segment files (a
 * replay from an older base) is sealed whole before the database is used, so no later
 * checkpoint can move the WAL's start past their records (engine/collection-swap.ts); a
 * removed leftover staging collection's files are freed.
 */
async function sealAfterReplay(
  db: Quiver,
  storage: StorageManager,
  catalog: ReadonlyMap<string, CollectionState>,
  removedStaging: boolean,
): Promise<void> {
  if (hasInheritedUnsealedData(catalog)) {
    try {
      await storage.checkpoint(true);
    } catch (e) {
      await db.close().catch(() => undefined);
      throw e;
    }
  } else if (removedStaging) {
    void storage.checkpoint(false, true).catch(() => undefined);
  }
}

/** What the steps of {@link Quiver.open} share. */
interface OpenContext {
  readonly path: string;
  readonly options: QuiverOptions;
  readonly fs: FileSystem;
  readonly logger: Logger;
  readonly lock: DirectoryLock;
}

/**
 * The search workers of `searchThreads`, when asked and when shared-memory WebAssembly is
 * there (else searches stay on the caller's thread, with a warning).
 */
async function startOwnPool(
  options: QuiverOptions,
  logger: Logger,
): Promise<WorkerSearchPool | undefined> {
  const threads = options.searchThreads ?? 0;
  if (threads === 0) return undefined;
  if (!sharedHnswAvailable()) {
    logger.warn(
      { reason: sharedWasmLoadFailure() },
      'search workers unavailable (no shared-memory WebAssembly): searching on the main thread',
    );
    return undefined;
  }
  return WorkerSearchPool.start(threads, logger);
}

/** The index factory of new segments, and how many search lanes read sealed graphs. */
function indexFactoryFor(
  options: QuiverOptions,
  logger: Logger,
): { makeIndex: IndexFactory; lanes: number } {
  const lanes =
    options.searchPool !== undefined && sharedHnswAvailable() ? options.searchPool.threads : 0;
  // With search workers, graphs grow in shared memory, so a sealed one is handed to
  // them in place (no copy).
  const makeIndex: IndexFactory = (config) => createIndex(config, logger, lanes > 0);
  if (options.searchPool !== undefined && lanes === 0) {
    logger.warn(
      { reason: sharedWasmLoadFailure() },
      'search workers unavailable (no shared-memory WebAssembly): searching on the main thread',
    );
  }
  return { makeIndex, lanes };
}

/** Runs `step`; when it fails, closes the just-opened WAL before the error goes on. */
async function closingWalOnFailure<T>(wal: WalWriter, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (e) {
    await wal.close().catch(() => undefined);
    throw e;
  }
}

/** Logs that `path` was created, or opened with what recovery found. */
function logOpened(logger: Logger, path: string, state: RecoveredState): void {
  // No manifest and no log: a new directory, not a session that failed to close.
  const created = state.manifest.generation === 0 && state.scan.files.length === 0;
  if (created) {
    const durationMs = state.report.durationMs;
    logger.info({ path, newDatabase: true, durationMs }, 'database created');
  } else {
    logger.info({ path, newDatabase: false, ...state.report }, 'database opened');
  }
}
