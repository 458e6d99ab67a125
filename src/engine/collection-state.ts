/**
 * CollectionState: one collection's segments — the growing one, frozen ones being sealed,
 * and sealed ones — and the rules that keep a point live in exactly one of them. Applies
 * logged operations (live and during replay) and fans searches out, merging results.
 */
import type { SlotCount } from '../common/deleted-share.js';
import { deletedShare } from '../common/deleted-share.js';
import type { Payload, PointId } from '../common/types.js';
import { compareIds } from '../common/types.js';
import type { CompiledFilter } from '../filter/filter-evaluator.js';
import type { VectorIndex } from '../ann/vector-index.js';
import { GrowingSegment } from './growing-segment.js';
import { EMPTY_PAYLOAD } from './point-table.js';
import type { SealedSegment } from './sealed-segment.js';
import type { SearchPool } from './search-pool.js';
import type {
  Segment,
  SegmentHit,
  SegmentSearchOptions,
  SegmentSearchStats,
  StoredPoint,
} from './segment.js';
import type { CollectionConfig } from './validation.js';
import type { SegmentMemory } from './collection-types.js';

/** Makes the vector index of a new growing segment. */
export type IndexFactory = (config: CollectionConfig) => VectorIndex;

/** One segment's share of a search. */
interface SegmentPart {
  readonly kind: string;
  readonly hits: SegmentHit[];
  readonly stats: SegmentSearchStats;
}

export interface CollectionSearchResult {
  readonly hits: SegmentHit[];
  readonly segments: readonly (SegmentSearchStats & { readonly kind: string })[];
  /** Milliseconds spent merging the segments' hits. */
  readonly mergeMs: number;
}

export class CollectionState {
  /**
   * Replaced whole by an update (Quiver.updateCollection: quantization, onDisk); name,
   * dimension and metric never change.
   */
  config: CollectionConfig;
  readonly createdLsn: number;
  /** When the collection was created (ISO 8601, UTC); null when unknown (format 1.0). */
  readonly createdAt: string | null;
  /** Every record of this collection up to this LSN is in sealed segments on disk. */
  sealedThroughLsn: number;
  growing: GrowingSegment;
  /** Frozen growing segments whose files are being written; still searched. */
  readonly sealing: GrowingSegment[] = [];
  sealed: SealedSegment[] = [];
  /** Makes the index of a new growing segment (and of a compaction's output). */
  readonly makeIndex: IndexFactory;
  /**
   * Counts changes that can change a search's answer (writes, seals, compaction swaps):
   * a cached answer is valid only at the generation it was computed at (query-cache.ts).
   */
  private gen = 0;

  constructor(
    config: CollectionConfig,
    createdLsn: number,
    sealedThroughLsn: number,
    makeIndex: IndexFactory,
    createdAt: string | null = null,
  ) {
    this.config = config;
    this.createdLsn = createdLsn;
    this.createdAt = createdAt;
    this.sealedThroughLsn = sealedThroughLsn;
    this.makeIndex = makeIndex;
    this.growing = new GrowingSegment(config, makeIndex(config));
  }

  /** Every segment, newest first (growing, then sealing, then sealed). */
  segments(): Segment[] {
    return [this.growing, ...[...this.sealing].reverse(), ...[...this.sealed].reverse()];
  }

  get generation(): number {
    return this.gen;
  }

  /** Marks that searches may answer differently from now on. */
  changed(): void {
    this.gen++;
  }

  get liveCount(): number {
    let n = 0;
    for (const s of this.segments()) n += s.liveCount;
    return n;
  }

  /** Applies an upsert logged at `lsn`: older copies of each id are deleted first. */
  upsert(
    lsn: number,
    points: readonly { id: PointId; vector: Float32Array; payload: Payload }[],
  ): number {
    if (lsn <= this.sealedThroughLsn) return 0;
    this.changed();
    this.growing.touch(lsn);
    for (const p of points) this.removeOlder(p.id);
    this.growing.append(points);
    return points.length;
  }

  private removeOlder(id: PointId): boolean {
    for (const s of this.sealing) if (s.remove(id)) return true;
    for (const s of this.sealed) if (s.remove(id)) return true;
    return false;
  }

  /** Applies a delete logged at `lsn`; returns how many ids were live. */
  delete(lsn: number, ids: readonly PointId[]): number {
    if (lsn <= this.sealedThroughLsn) return 0;
    this.changed();
    this.growing.touch(lsn);
    let n = 0;
    for (const id of ids) {
      if (this.growing.remove(id) || this.removeOlder(id)) n++;
    }
    return n;
  }

  /**
   * Applies a payload update logged at `lsn` to the ids that are live: the point is
   * re-written into the growing segment with its vector and the new payload.
   */
  updatePayload(lsn: number, ids: readonly PointId[], update: (old: Payload) => Payload): number {
    if (lsn <= this.sealedThroughLsn) return 0;
    const changed: { id: PointId; vector: Float32Array; payload: Payload }[] = [];
    const seen = new Set<PointId>();
    for (const id of ids) {
      if (seen.has(id)) continue;
      seen.add(id);
      const p = this.get(id);
      if (p === undefined) continue;
      changed.push({ id, vector: p.vector, payload: update(p.payload) });
    }
    if (changed.length === 0) return 0;
    return this.upsert(lsn, changed);
  }

  /**
   * Freezes the growing segment for sealing and starts a new one. Returns the frozen one,
   * or undefined when there is nothing to seal.
   */
  freezeGrowing(): GrowingSegment | undefined {
    if (this.growing.firstLsn === undefined) return undefined;
    const frozen = this.growing;
    this.sealing.push(frozen);
    this.growing = new GrowingSegment(this.config, this.makeIndex(this.config));
    return frozen;
  }

  /** Replaces a frozen segment by its sealed form once its file is durable. */
  completeSeal(frozen: GrowingSegment, sealed: SealedSegment): void {
    const i = this.sealing.indexOf(frozen);
    if (i >= 0) this.sealing.splice(i, 1);
    this.sealed.push(sealed);
    this.changed(); // the points are now searched through the sealed segment's graph
  }

  get(id: PointId): StoredPoint | undefined {
    for (const s of this.segments()) {
      const p = s.get(id);
      if (p !== undefined) return p;
    }
    return undefined;
  }

  *points(filter: CompiledFilter | undefined): Iterable<StoredPoint> {
    // Oldest first, so a scan reads in insertion order.
    for (const s of [...this.sealed, ...this.sealing, this.growing]) yield* s.points(filter);
  }

  /**
   * Up to `limit` ids of live points matching `filter`, in id order, from the first id at
   * or after `from`; `next` is the id after the page (undefined at the end). Merges the
   * segments' id orders, so a page costs its own length (plus what the filter skips),
   * not a sort of the collection.
   */
  idsPage(
    filter: CompiledFilter | undefined,
    from: PointId | undefined,
    limit: number,
  ): { ids: PointId[]; next: PointId | undefined } {
    const cursors = [this.growing, ...this.sealing, ...this.sealed].map((s) => {
      const { order, ids } = s.table.idOrder();
      let at = 0;
      if (from !== undefined) {
        let hi = ids.length;
        while (at < hi) {
          const mid = (at + hi) >>> 1;
          if (compareIds(ids[mid]!, from) < 0) at = mid + 1;
          else hi = mid;
        }
      }
      return { table: s.table, order, ids, at };
    });
    const out: PointId[] = [];
    for (;;) {
      let best: (typeof cursors)[number] | undefined;
      for (const c of cursors) {
        if (c.at >= c.ids.length) continue;
        if (best === undefined || compareIds(c.ids[c.at]!, best.ids[best.at]!) < 0) best = c;
      }
      if (best === undefined) return { ids: out, next: undefined };
      const id = best.ids[best.at]!;
      const slot = best.order[best.at]!;
      best.at++;
      const t = best.table;
      if (t.ids[slot] !== id) continue; // deleted (or replaced) since the order was taken
      if (filter !== undefined && !filter(t.payloads[slot] ?? EMPTY_PAYLOAD, id)) continue;
      if (out.length === limit) return { ids: out, next: id };
      out.push(id);
    }
  }

  count(filter: CompiledFilter | undefined): number {
    let n = 0;
    for (const s of this.segments()) n += s.count(filter);
    return n;
  }

  search(query: Float32Array, options: SegmentSearchOptions): CollectionSearchResult {
    const parts: SegmentPart[] = [];
    for (const s of this.segments()) {
      if (s.liveCount === 0) continue;
      parts.push({ kind: s.kind, ...s.search(query, options) });
    }
    return mergeParts(parts, options.k);
  }

  /**
   * The same search with sealed segments' graphs searched by `pool`'s workers (their
   * indexes move to shared memory on first use) while this thread searches the rest. When
   * a sealed segment a worker searched lost a point meanwhile (deleted, or moved to the
   * growing segment by an update this search may have missed there), the whole search runs
   * again here.
   */
  async searchVia(
    query: Float32Array,
    options: SegmentSearchOptions,
    pool: SearchPool,
  ): Promise<CollectionSearchResult> {
    // Dispatch the sealed segments first, so the workers search while this thread does
    // the rest. All of them, even to idle workers: keeping the largest here (when the pool
    // was idle) cost a third of the HTTP throughput under load, where this thread is the
    // bottleneck. An idle server keeps searches here instead (SearchPool.offload).
    const pending: Promise<SegmentPart | undefined>[] = [];
    for (const s of this.sealed) {
      if (s.liveCount === 0) continue;
      s.table.shareIndex(pool.threads);
      const r = s.table.searchVia(query, options, pool);
      pending.push(
        r instanceof Promise
          ? r.then((v) => (v === undefined ? undefined : { kind: s.kind, ...v }))
          : Promise.resolve({ kind: s.kind, ...r }),
      );
    }
    for (const s of [this.growing, ...this.sealing]) {
      if (s.liveCount === 0) continue;
      pending.push(Promise.resolve({ kind: s.kind, ...s.search(query, options) }));
    }
    const parts = await Promise.all(pending);
    const complete = parts.filter((p) => p !== undefined);
    if (complete.length < parts.length) return this.search(query, options);
    return mergeParts(complete, options.k);
  }

  /** Bytes of memory held by the growing and sealing segments (the budgeted part). */
  unsealedBytes(): number {
    let n = this.growing.liveCount === 0 ? 0 : this.growing.memoryBytes();
    for (const s of this.sealing) n += s.memoryBytes();
    return n;
  }

  memoryBytes(): number {
    let n = this.unsealedBytes();
    for (const s of this.sealed) n += s.memoryBytes();
    return n;
  }

  /** {@link memoryBytes} by what holds it, summed over the same segments. */
  memoryParts(): SegmentMemory {
    const held = [
      ...(this.growing.liveCount === 0 ? [] : [this.growing]),
      ...this.sealing,
      ...this.sealed,
    ];
    const sum = { vectors: 0, codes: 0, graph: 0, payloads: 0, payloadIndex: 0, ids: 0 };
    for (const seg of held) {
      const p = seg.memoryParts();
      sum.vectors += p.vectors;
      sum.codes += p.codes;
      sum.graph += p.graph;
      sum.payloads += p.payloads;
      sum.payloadIndex += p.payloadIndex;
      sum.ids += p.ids;
    }
    return sum;
  }

  /** Slots and live points of each sealed segment file (what the deleted share is over). */
  slotCounts(): SlotCount[] {
    return this.sealed.map((s) => s.slotCount);
  }

  /** Share of the sealed segments' slots that are dead (common/deleted-share.ts). */
  deletedShare(): number {
    return deletedShare(this.slotCounts());
  }
}

/** Merges segments' hits, best first (ties by id), keeping k. */
function mergeParts(parts: readonly SegmentPart[], k: number): CollectionSearchResult {
  const t0 = performance.now();
  const all: SegmentHit[] = [];
  const stats: (SegmentSearchStats & { kind: string })[] = [];
  for (const p of parts) {
    all.push(...p.hits);
    stats.push({ kind: p.kind, ...p.stats });
  }
  all.sort((a, b) => b.score - a.score || compareIds(a.id, b.id));
  return { hits: all.slice(0, k), segments: stats, mergeMs: performance.now() - t0 };
}
