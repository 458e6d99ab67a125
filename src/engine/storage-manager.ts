/**
 * StorageManager: everything between the in-memory collections and their files — sealing
 * growing segments into segment files, tombstone generations, atomic manifest switches,
 * releasing WAL files, background compaction, and deleting files no manifest, reader or
 * backup holds. One operation runs at a time (a promise chain); reads and writes go on.
 */
import type { Logger } from '../common/logger.js';
import type { PointId } from '../common/types.js';
import { runInSlices } from '../common/steps.js';
import type { FileSystem } from '../storage/io/file-system.js';
import {
  MANIFEST_FILE,
  SEGMENT_DIR,
  segmentFileName,
  tombstoneFileName,
} from '../storage/format.js';
import type {
  Manifest,
  ManifestCollection,
  ManifestSegment,
} from '../storage/manifest/manifest.js';
import { manifestFiles, writeManifest } from '../storage/manifest/manifest.js';
import type { SegmentData } from '../storage/segment/segment-file.js';
import { encodingSegment, vectorsSectionOffset } from '../storage/segment/segment-file.js';
import type { OnDiskVectors } from './on-disk-vectors.js';
import { encodeTombstones } from '../storage/segment/tombstone-file.js';
import type { WalWriter } from '../storage/wal/wal-writer.js';
import type { CollectionState } from './collection-state.js';
import type { GrowingSegment } from './growing-segment.js';
import { compactSegments } from './compaction.js';
import { mergeGroup, packGroups } from './compaction-groups.js';
import { SealedSegment } from './sealed-segment.js';
import { configJson, walkedQuantization } from './validation.js';
import { HnswIndex } from '../ann/hnsw/hnsw-index.js';
import {
  quantizeIndex,
  quantizerMatches,
  requantize,
  requantizeCopy,
  storedCodes,
} from './segment-quantization.js';

export interface StorageOptions {
  /** A growing segment is sealed once it holds this many points. Default 20 000. */
  readonly sealPoints: number;
  /** ... or this many bytes of memory. Default 64 MiB. */
  readonly sealBytes: number;
  /** Compaction merges when a collection has more sealed segments than this. Default 8. */
  readonly maxSegments: number;
  /**
   * Compaction aims at segments of this many live points: it merges onto the largest
   * segment under it while the result stays within it, so a large collection is searched
   * as a few graphs of about this size. Default 500 000.
   */
  readonly segmentTargetPoints: number;
  /**
   * Compaction rewrites a segment whose deleted share (dead slots over its slots,
   * common/deleted-share.ts) passes this. Default 0.2.
   */
  readonly compactDeletedShare: number;
  /** Run compaction automatically after checkpoints. Default true. */
  readonly autoCompact: boolean;
}

export const DEFAULT_STORAGE_OPTIONS: StorageOptions = Object.freeze({
  sealPoints: 20_000,
  sealBytes: 64 * 1024 * 1024,
  maxSegments: 8,
  segmentTargetPoints: 500_000,
  compactDeletedShare: 0.2,
  autoCompact: true,
});

export interface StorageStats {
  readonly checkpoints: number;
  readonly seals: number;
  readonly compactions: number;
  readonly failedCheckpoints: number;
  readonly compactionQueueDepth: number;
  readonly segmentFiles: number;
  readonly segmentBytes: number;
  readonly manifestGeneration: number;
  readonly walStartLsn: number;
  readonly lastError: string | undefined;
}

export class StorageManager {
  manifest: Manifest;
  private readonly fs: FileSystem;
  private readonly dir: string;
  private readonly segDir: string;
  private readonly catalog: Map<string, CollectionState>;
  private readonly wal: WalWriter;
  private readonly logger: Logger;
  readonly options: StorageOptions;
  /** Sealed segments whose vectors stay in their files, and the block cache they read through. */
  readonly vectors: OnDiskVectors;
  private chain: Promise<void> = Promise.resolve();
  private queued = 0;
  private checkpointQueued = false;
  /** Files written but not yet in a committed manifest: never collected. */
  private readonly pending = new Set<string>();
  /** Files pinned by readers and backups, with counts. */
  private readonly pins = new Map<string, number>();
  private readonly counters = {
    checkpoints: 0,
    seals: 0,
    compactions: 0,
    failedCheckpoints: 0,
  };
  private lastError: string | undefined;
  private closed = false;
  /** Set by close(): queued operations are skipped and a compaction build stops early. */
  private stopping = false;

  constructor(
    fs: FileSystem,
    dir: string,
    catalog: Map<string, CollectionState>,
    wal: WalWriter,
    manifest: Manifest,
    logger: Logger,
    options: StorageOptions,
    vectors: OnDiskVectors,
  ) {
    this.vectors = vectors;
    this.fs = fs;
    this.dir = dir;
    this.segDir = `${dir}/${SEGMENT_DIR}`;
    this.catalog = catalog;
    this.wal = wal;
    this.manifest = manifest;
    this.logger = logger;
    this.options = options;
  }

  /** Runs `op` after every earlier storage operation; failures are logged, not thrown. */
  private enqueue(name: string, op: () => Promise<void>): Promise<void> {
    this.queued++;
    const run = this.chain.then(async () => {
      this.queued--;
      if (this.closed || this.stopping) return;
      try {
        await op();
      } catch (e) {
        this.lastError = `${name}: ${e instanceof Error ? e.message : String(e)}`;
        this.logger.error({ err: e, op: name }, `${name} failed; it will be retried`);
        throw e;
      }
    });
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** True when some growing segment is past its seal threshold. */
  needsSeal(): boolean {
    for (const s of this.catalog.values()) {
      const g = s.growing;
      if (g.liveCount >= this.options.sealPoints || g.memoryBytes() >= this.options.sealBytes) {
        return true;
      }
      if (s.sealing.length > 0) return true;
    }
    return false;
  }

  private flushQueued = false;

  /** Schedules one checkpoint that seals everything (memory pressure), unless one is queued. */
  requestFlush(): void {
    if (this.closed || this.stopping || this.flushQueued) return;
    this.flushQueued = true;
    void this.checkpoint(true)
      .catch(() => undefined)
      .finally(() => (this.flushQueued = false));
  }

  /** Schedules a checkpoint (once) if a growing segment is due for sealing. */
  maybeCheckpoint(): void {
    if (this.closed || this.stopping || this.checkpointQueued || !this.needsSeal()) return;
    this.checkpointQueued = true;
    void this.checkpoint().catch(() => undefined);
  }

  /**
   * Seals due growing segments (all non-empty ones with `sealAll`), writes tombstone
   * generations, switches the manifest, releases the WAL before its new start, collects
   * unreferenced files, then compacts if due.
   */
  checkpoint(sealAll = false, force = false): Promise<void> {
    return this.enqueue('checkpoint', async () => {
      this.checkpointQueued = false;
      try {
        await this.checkpointNow(sealAll, force);
      } catch (e) {
        this.counters.failedCheckpoints++;
        throw e;
      }
      if (this.options.autoCompact && !sealAll) this.maybeCompact();
    });
  }

  /**
   * One checkpoint. A collection is included when its growing data is due for sealing
   * (or `sealAll`), when it has deletes not yet in tombstone files, when an earlier seal of
   * it failed, or when it is in `include` (just compacted). An included collection is
   * sealed whole at T — its growing segment frozen, its tombstones written as of T — so
   * its `sealedThroughLsn` becomes T and replay never re-applies its records on top of
   * newer on-disk state (a payload update reads the point it updates, so replaying it
   * against tombstones written later would lose it). Other collections are untouched.
   */
  private async checkpointNow(
    sealAll: boolean,
    force: boolean,
    include: ReadonlySet<CollectionState> = new Set(),
  ): Promise<void> {
    // 1. Snapshot at T, synchronously: freeze included collections, copy tombstone sets.
    const snap = this.snapshotAt(sealAll, include);
    const datas = await this.frozenData(snap.toSeal);
    if (
      datas.length === 0 &&
      snap.tombSnap.size === 0 &&
      !force &&
      this.manifest.checkpointLsn === snap.T
    ) {
      return;
    }

    // 2. Write segment files (each fsynced), then the directory.
    await this.fs.mkdirp(this.segDir);
    const wrote: string[] = [];
    let written: WrittenSegment[];
    try {
      written = await this.writeSegmentFiles(datas, wrote);
      // 3. Tombstone generations of sealed segments with new deletes.
      const tombFiles = await this.writeTombstoneFiles(snap.tombSnap, wrote);
      await this.fs.syncDir(this.segDir);

      // 4. The new manifest.
      await this.commitManifest(this.nextManifest(snap, written, tombFiles));

      // 5. In memory: frozen → sealed, tombstone files recorded, sealedThrough advanced.
      this.applyCommitted(snap, written, tombFiles);
    } finally {
      // Committed (now in the manifest) or failed (the next checkpoint writes them anew).
      for (const name of wrote) this.pending.delete(name);
    }
    // 5b. Sealed segments of onDisk collections drop their vectors from memory (one that
    // cannot keeps them, and is searched as before: the checkpoint is committed).
    for (const w of written) {
      const sealed = w.state.sealed.find((s) => s.file === w.file);
      if (sealed === undefined) continue;
      const path = `${this.segDir}/${w.file}`;
      await this.vectors
        .attach(sealed.table, w.state.config, path, w.vectorsOffset)
        .catch((e: unknown) =>
          this.logger.warn({ err: e, file: w.file }, 'vectors stay in memory'),
        );
    }

    // 6. Release WAL files wholly before the new start, and unreferenced files.
    await this.wal.release(this.manifest.walStartLsn);
    await this.collectGarbage();
    this.logger.info(
      {
        generation: this.manifest.generation,
        walStartLsn: this.manifest.walStartLsn,
        sealed: written.length,
      },
      'checkpoint committed',
    );
  }

  /** Step 1 of a checkpoint: what it writes, taken synchronously at T (see checkpointNow). */
  private snapshotAt(sealAll: boolean, include: ReadonlySet<CollectionState>): CheckpointSnapshot {
    const T = this.wal.lsn;
    const states = [...this.catalog.values()];
    const toSeal: SealJob[] = [];
    let nextSegmentId = this.manifest.nextSegmentId;
    const fullySealed = new Set<CollectionState>();
    const tombSnap = new Map<SealedSegment, number[]>();
    // Live counts at T, like the tombstones: the manifest must count what its files hold,
    // not the deletes that land while the files are written (verify warns on a mismatch).
    const liveAtT = new Map<SealedSegment, number>();
    for (const state of states) {
      for (const seg of state.sealed) liveAtT.set(seg, seg.liveCount);
      if (!this.isIncluded(state, sealAll, include)) continue;
      state.freezeGrowing();
      // Every frozen segment (including ones whose earlier seal failed) is written now.
      for (const frozen of state.sealing) toSeal.push({ state, frozen, id: nextSegmentId++ });
      fullySealed.add(state);
      for (const seg of state.sealed) {
        if (seg.dirty)
          tombSnap.set(
            seg,
            [...seg.deleted].sort((a, b) => a - b),
          );
      }
    }
    return { T, states, toSeal, nextSegmentId, fullySealed, tombSnap, liveAtT };
  }

  /** Whether a checkpoint seals `state` whole (the rule checkpointNow's comment states). */
  private isIncluded(
    state: CollectionState,
    sealAll: boolean,
    include: ReadonlySet<CollectionState>,
  ): boolean {
    const g = state.growing;
    return (
      sealAll ||
      include.has(state) ||
      state.sealing.length > 0 ||
      state.sealed.some((seg) => seg.dirty) ||
      (g.firstLsn !== undefined &&
        (g.liveCount >= this.options.sealPoints || g.memoryBytes() >= this.options.sealBytes))
    );
  }

  /** Frozen segments take no more points; finish their graphs, then snapshot their data. */
  private async frozenData(toSeal: readonly SealJob[]): Promise<SealData[]> {
    for (const t of toSeal) await t.frozen.indexAll();
    const datas: SealData[] = [];
    for (const t of toSeal) {
      // Trained on the segment's final vectors, stored in its file, searched from now on.
      const index = t.frozen.table.index;
      const quantizer = await quantizeIndex(index, t.state.config);
      const data = t.frozen.toSegmentData(t.id);
      const productCodes = storedCodes(index);
      datas.push({ ...t, data: { ...data, quantizer, productCodes }, live: t.frozen.liveCount });
    }
    return datas;
  }

  /** Step 2: one fsynced segment file per frozen segment; each name goes in `wrote` first. */
  private async writeSegmentFiles(
    datas: readonly SealData[],
    wrote: string[],
  ): Promise<WrittenSegment[]> {
    const written: WrittenSegment[] = [];
    for (const d of datas) {
      const file = segmentFileName(d.id);
      // In slices: the graph and vectors are checksummed while searches and writes go on.
      const bytes = await runInSlices(encodingSegment(d.data));
      wrote.push(file);
      await this.writeFile(file, bytes, true);
      written.push({
        state: d.state,
        frozen: d.frozen,
        id: d.id,
        file,
        bytes: bytes.length,
        vectorsOffset: vectorsSectionOffset(bytes),
        live: d.live,
        ids: d.data.ids,
      });
    }
    return written;
  }

  /** Step 3: the next tombstone generation of each segment in `tombSnap`. */
  private async writeTombstoneFiles(
    tombSnap: ReadonlyMap<SealedSegment, number[]>,
    wrote: string[],
  ): Promise<Map<SealedSegment, TombstoneWrite>> {
    const tombFiles = new Map<SealedSegment, TombstoneWrite>();
    for (const [seg, slots] of tombSnap) {
      const generation = seg.tombstoneGeneration + 1;
      const file = tombstoneFileName(seg.id, generation);
      wrote.push(file);
      await this.writeFile(
        file,
        encodeTombstones({ segmentId: seg.id, generation, slots: Uint32Array.from(slots) }),
        false,
      );
      tombFiles.set(seg, { file, generation });
    }
    return tombFiles;
  }

  /**
   * Step 4: the manifest after this checkpoint. The WAL must keep every record from the
   * first one a collection not sealed whole still holds in memory.
   */
  private nextManifest(
    snap: CheckpointSnapshot,
    written: readonly WrittenSegment[],
    tombFiles: ReadonlyMap<SealedSegment, TombstoneWrite>,
  ): Manifest {
    let walStartLsn = snap.T + 1;
    const collections: ManifestCollection[] = [];
    for (const state of snap.states) {
      const fullySealed = snap.fullySealed.has(state);
      const sealedThrough = fullySealed
        ? Math.max(snap.T, state.sealedThroughLsn)
        : state.sealedThroughLsn;
      if (!fullySealed) {
        const first = state.growing.firstLsn;
        if (first !== undefined && first < walStartLsn) walStartLsn = first;
      }
      collections.push({
        config: configJson(state.config),
        createdLsn: state.createdLsn,
        createdAt: state.createdAt,
        sealedThroughLsn: sealedThrough,
        segments: manifestSegments(state, snap.liveAtT, written, tombFiles),
      });
    }
    return {
      generation: this.manifest.generation + 1,
      walStartLsn,
      checkpointLsn: snap.T,
      nextSegmentId: snap.nextSegmentId,
      collections,
    };
  }

  /** Step 4: makes the log durable through T, then switches the manifest. */
  private async commitManifest(next: Manifest): Promise<void> {
    // Under `periodic` and `none` the snapshot at T holds writes whose records are not
    // yet fsynced, and its tombstones may delete the old copies of points whose new
    // copies are only in those records: the log must be durable through T before the
    // manifest is, or a power loss could keep the deletes and lose the new copies.
    await this.wal.flush();
    await writeManifest(this.fs, this.dir, next);
    this.manifest = next;
    this.counters.checkpoints++;
  }

  /** Step 5: the committed files take over in memory. */
  private applyCommitted(
    snap: CheckpointSnapshot,
    written: readonly WrittenSegment[],
    tombFiles: ReadonlyMap<SealedSegment, TombstoneWrite>,
  ): void {
    for (const w of written) {
      // Sealed, the table takes no more appends: the room its index kept for growth goes.
      w.frozen.table.trimIndex();
      const sealed = SealedSegment.fromTable(w.id, w.file, w.bytes, w.frozen.table);
      // Deletes that reached the frozen segment after T go to the next tombstone file.
      for (let slot = 0; slot < w.ids.length; slot++) {
        if (w.ids[slot] !== undefined && w.frozen.table.ids[slot] === undefined) {
          sealed.markDeletedAfterSeal(slot);
        }
      }
      w.state.completeSeal(w.frozen, sealed);
      this.counters.seals++;
    }
    for (const [seg, t] of tombFiles) {
      seg.tombstoneGeneration = t.generation;
      seg.tombstoneFile = t.file;
      seg.dirty = seg.deleted.size > (snap.tombSnap.get(seg)?.length ?? 0);
    }
    for (const state of snap.fullySealed) {
      if (state.sealedThroughLsn < snap.T) state.sealedThroughLsn = snap.T;
    }
  }

  /**
   * Writes a new immutable file in segments/ and fsyncs it; it stays in `pending` (safe
   * from collection) until its manifest is committed. A segment is written in two halves
   * around the `midSegmentWrite` failpoint.
   */
  private async writeFile(name: string, bytes: Uint8Array, segment: boolean): Promise<void> {
    const path = `${this.segDir}/${name}`;
    this.pending.add(name);
    await this.fs.unlink(path);
    const h = await this.fs.open(path, 'create-new');
    try {
      if (segment && bytes.length > 1) {
        const half = Math.floor(bytes.length / 2);
        await h.write(bytes.subarray(0, half), 0);
        await this.fs.failpoint('midSegmentWrite');
        await h.write(bytes.subarray(half), half);
      } else {
        await h.write(bytes, 0);
      }
      await h.sync();
    } catch (e) {
      await h.close().catch(() => undefined);
      await this.fs.unlink(path).catch(() => undefined);
      throw e;
    }
    await h.close();
  }

  /**
   * Brings every sealed segment of `state` in line with its config after an update (or its
   * replay at open): codes trained again or dropped, vectors moved to or from their files.
   * Runs after the storage work queued before it; a segment whose graph search workers
   * share is replaced by a private copy with the new codes (requantizeCopy).
   */
  reconcile(state: CollectionState): Promise<void> {
    return this.enqueue('reconcile', async () => {
      for (const seg of [...state.sealed]) {
        // A collection dropped or replaced since is left alone (its files may be gone):
        // checked before each segment, as one can take seconds.
        if (this.catalog.get(state.config.name) !== state) return;
        await this.reconcileSegment(state, seg);
      }
    });
  }

  private async reconcileSegment(state: CollectionState, seg: SealedSegment): Promise<void> {
    const config = state.config;
    const path = `${this.segDir}/${seg.file}`;
    const index = seg.table.index;
    if (index instanceof HnswIndex && index.vectorsOnDisk) {
      const want = walkedQuantization(config);
      const have = index.quantizer;
      if (config.onDisk && have !== undefined && want !== 'none' && quantizerMatches(have, want)) {
        return;
      }
      // Its codes change, or its vectors come back: into memory first.
      seg.table.swapIndex(index.clone());
      await this.vectors.release(path);
    }
    await seg.table.withoutSharing(async () => {
      // Frozen for search workers, its codes cannot change in place: a private copy can.
      if (!(await requantize(seg.table.index, config))) await requantizeCopy(seg.table, config);
    });
    await this.vectors.attachFile(seg.table, config, path);
    state.changed();
  }

  /** Files the committed manifest references. */
  private referenced(): Set<string> {
    return new Set(manifestFiles(this.manifest));
  }

  /** Deletes files in segments/ that no manifest, pending write, reader or backup holds. */
  async collectGarbage(): Promise<string[]> {
    await this.vectors.closeRetired();
    const keep = this.referenced();
    const removed: string[] = [];
    for (const name of await this.fs.list(this.segDir)) {
      if (keep.has(name) || this.pending.has(name)) continue;
      if ((this.pins.get(name) ?? 0) > 0) continue;
      await this.fs.unlink(`${this.segDir}/${name}`);
      this.vectors.retire(`${this.segDir}/${name}`);
      removed.push(name);
    }
    if (removed.length > 0) {
      await this.fs.syncDir(this.segDir);
      this.logger.debug({ removed }, 'unreferenced files removed');
    }
    return removed;
  }

  /**
   * Pins the files of the committed manifest (plus the manifest) so no compaction deletes
   * them until `unpin` — used by online backups. Returns the manifest and the file names.
   */
  pinCurrent(): { manifest: Manifest; files: string[]; unpin: () => void } {
    const files = [...this.referenced()];
    for (const f of files) this.pins.set(f, (this.pins.get(f) ?? 0) + 1);
    let released = false;
    return {
      manifest: this.manifest,
      files,
      unpin: () => {
        if (released) return;
        released = true;
        for (const f of files) {
          const n = (this.pins.get(f) ?? 1) - 1;
          if (n <= 0) this.pins.delete(f);
          else this.pins.set(f, n);
        }
      },
    };
  }

  /** Collections due for compaction, and the segments to merge in each. */
  private compactionPlan(): { state: CollectionState; segments: SealedSegment[] }[] {
    const plan: { state: CollectionState; segments: SealedSegment[] }[] = [];
    for (const state of this.catalog.values()) {
      const dirty = state.sealed.filter((s) => s.deletedShare > this.options.compactDeletedShare);
      if (state.sealed.length > this.options.maxSegments) {
        // Merge onto the largest segment under the target (plus any with many deletes).
        const take = new Set(mergeGroup(state.sealed, this.options.segmentTargetPoints));
        for (const d of dirty) take.add(d);
        plan.push({ state, segments: state.sealed.filter((s) => take.has(s)) });
      } else if (dirty.length > 0) {
        plan.push({ state, segments: dirty });
      }
    }
    return plan;
  }

  get compactionQueueDepth(): number {
    return this.compactionPlan().length;
  }

  /** Schedules compaction of every collection that is due. */
  maybeCompact(): void {
    if (this.closed || this.stopping || this.compactionPlan().length === 0) return;
    void this.compact().catch(() => undefined);
  }

  /**
   * Compacts now: for each due collection (or only `name`), merges the chosen segments into
   * one new segment without their deleted points, then switches the manifest. With
   * `force` (asked for explicitly), the growing data is sealed first and every collection
   * with dead slots or more than one segment is merged down to one segment, so a compaction
   * on a quiet collection leaves one segment and a deleted share of 0.
   */
  compact(name?: string, force = false): Promise<void> {
    return this.enqueue('compaction', async () => {
      let plan = this.compactionPlan();
      if (force) {
        const targets = [...this.catalog.values()].filter(
          (s) => name === undefined || s.config.name === name,
        );
        // Sealing first: otherwise the checkpoint after the merge seals the growing data
        // into a second segment, and its dead slots stay.
        await this.checkpointNow(false, false, new Set(targets));
        plan = targets.flatMap((state) =>
          packGroups(state.sealed, this.options.segmentTargetPoints)
            .filter((g) => g.length > 1 || g[0]!.deletedShare > 0)
            .map((segments) => ({ state, segments })),
        );
      }
      if (name !== undefined) plan = plan.filter((p) => p.state.config.name === name);
      for (const { state, segments } of plan) {
        if (this.closed || this.stopping) return;
        if (this.catalog.get(state.config.name) !== state) continue;
        const id = this.manifest.nextSegmentId;
        this.manifest = { ...this.manifest, nextSegmentId: id + 1 };
        const file = segmentFileName(id);
        let vectorsOffset = 0;
        this.pending.add(file);
        try {
          const result = await compactSegments(
            state,
            segments,
            id,
            async (bytes) => {
              vectorsOffset = vectorsSectionOffset(bytes);
              await this.fs.mkdirp(this.segDir);
              await this.writeFile(file, bytes, true);
              await this.fs.syncDir(this.segDir);
            },
            file,
            () => this.stopping,
          );
          if (result === undefined) continue;
          const path = `${this.segDir}/${file}`;
          await this.vectors.attach(result.table, state.config, path, vectorsOffset);
          // The swap is synchronous: no write interleaves between it and the snapshot of
          // the next checkpoint, which records the new segment in the manifest.
          await this.checkpointNow(false, true, new Set([state]));
          this.counters.compactions++;
          this.logger.info(
            { collection: state.config.name, merged: segments.length, into: id },
            'compaction done',
          );
        } finally {
          this.pending.delete(file);
        }
      }
      await this.collectGarbage();
    });
  }

  /** Waits for every queued storage operation. */
  async idle(): Promise<void> {
    await this.chain;
  }

  stats(): StorageStats {
    let segmentFiles = 0;
    let segmentBytes = 0;
    for (const c of this.manifest.collections) {
      for (const s of c.segments) {
        segmentFiles++;
        segmentBytes += s.bytes;
      }
    }
    return {
      ...this.counters,
      compactionQueueDepth: this.compactionPlan().length + this.queued,
      segmentFiles,
      segmentBytes,
      manifestGeneration: this.manifest.generation,
      walStartLsn: this.manifest.walStartLsn,
      lastError: this.lastError,
    };
  }

  /**
   * Stops scheduling and waits for the running operation. Queued operations are skipped
   * and a compaction still building stops before it writes anything (the WAL and the
   * old segments hold everything), so closing never waits for a long merge.
   */
  async close(): Promise<void> {
    this.stopping = true;
    await this.chain;
    this.closed = true;
  }

  get manifestPath(): string {
    return `${this.dir}/${MANIFEST_FILE}`;
  }
}

/** A frozen growing segment of `state` to be sealed as segment `id`. */
interface SealJob {
  readonly state: CollectionState;
  readonly frozen: GrowingSegment;
  readonly id: number;
}

/** ... with its data and live count as of T. */
interface SealData extends SealJob {
  readonly data: SegmentData;
  readonly live: number;
}

/** ... written: its file, size, and the ids of its slots as of T. */
interface WrittenSegment extends SealJob {
  readonly file: string;
  readonly bytes: number;
  /** Where the file's VECTORS section starts (for on-disk vectors). */
  readonly vectorsOffset: number;
  readonly live: number;
  readonly ids: readonly (PointId | undefined)[];
}

/** A tombstone file written for a sealed segment. */
interface TombstoneWrite {
  readonly file: string;
  readonly generation: number;
}

/** What a checkpoint works from, taken synchronously at T (step 1). */
interface CheckpointSnapshot {
  readonly T: number;
  readonly states: readonly CollectionState[];
  readonly toSeal: readonly SealJob[];
  /** The manifest's next segment id once `toSeal` has its ids. */
  readonly nextSegmentId: number;
  /** Collections sealed whole at T. */
  readonly fullySealed: ReadonlySet<CollectionState>;
  /** The deleted slots, sorted, of each sealed segment with deletes not yet in a file. */
  readonly tombSnap: ReadonlyMap<SealedSegment, number[]>;
  readonly liveAtT: ReadonlyMap<SealedSegment, number>;
}

/** The manifest rows of `state`'s segments: the sealed ones as of T, then the new ones. */
function manifestSegments(
  state: CollectionState,
  liveAtT: ReadonlyMap<SealedSegment, number>,
  written: readonly WrittenSegment[],
  tombFiles: ReadonlyMap<SealedSegment, TombstoneWrite>,
): ManifestSegment[] {
  const segs: ManifestSegment[] = [];
  for (const seg of state.sealed) {
    const t = tombFiles.get(seg);
    segs.push({
      id: seg.id,
      file: seg.file,
      tombstones: t?.file ?? seg.tombstoneFile,
      tombstoneGeneration: t?.generation ?? seg.tombstoneGeneration,
      points: liveAtT.get(seg) ?? seg.liveCount,
      bytes: seg.fileBytes,
      ...(seg.fileCollection === undefined ? {} : { collection: seg.fileCollection }),
    });
  }
  for (const w of written.filter((x) => x.state === state)) {
    segs.push({
      id: w.id,
      file: w.file,
      tombstones: null,
      tombstoneGeneration: 0,
      points: w.live,
      bytes: w.bytes,
    });
  }
  return segs;
}
