/**
 * GrowingSegment: the in-memory points of a collection, rebuilt from the WAL on open.
 * Maps external ids to dense internal ids, keeps payloads, and owns a VectorIndex over
 * the vectors. An upsert of an existing id retires the old internal id.
 */
import type { Payload, PointId } from '../common/types.js';
import type { FilterNode } from '../filter/filter-ast.js';
import { compileFilter } from '../filter/filter-evaluator.js';
import { ExactIndex } from '../index/exact-index.js';
import type { VectorIndex } from '../index/vector-index.js';
import type { CollectionConfig } from './validation.js';
import type {
  Segment,
  SegmentHit,
  SegmentSearchOptions,
  SegmentSearchStats,
  StoredPoint,
} from './segment.js';

const EMPTY_PAYLOAD: Payload = Object.freeze({});

export class GrowingSegment implements Segment {
  readonly kind = 'growing';
  readonly config: CollectionConfig;
  private readonly idToInternal = new Map<PointId, number>();
  private readonly externalIds: (PointId | undefined)[] = [];
  private readonly payloads: (Payload | undefined)[] = [];
  private readonly index: VectorIndex;
  private payloadBytes = 0;

  constructor(config: CollectionConfig, index?: VectorIndex) {
    this.config = config;
    this.index = index ?? new ExactIndex(config.dimension, config.metric);
  }

  get liveCount(): number {
    return this.idToInternal.size;
  }

  /** Applies points already validated and preprocessed. */
  upsert(points: readonly { id: PointId; vector: Float32Array; payload: Payload }[]): void {
    for (const p of points) {
      const old = this.idToInternal.get(p.id);
      if (old !== undefined) this.retire(old);
      const internal = this.externalIds.length;
      this.externalIds.push(p.id);
      this.payloads.push(p.payload);
      this.index.add(internal, p.vector);
      this.idToInternal.set(p.id, internal);
      this.payloadBytes += estimatePayloadBytes(p.payload);
    }
  }

  /** Removes ids; returns how many existed. */
  delete(ids: readonly PointId[]): number {
    let n = 0;
    for (const id of ids) {
      const internal = this.idToInternal.get(id);
      if (internal === undefined) continue;
      this.retire(internal);
      this.idToInternal.delete(id);
      n++;
    }
    return n;
  }

  private retire(internal: number): void {
    this.index.remove(internal);
    const payload = this.payloads[internal];
    if (payload !== undefined) this.payloadBytes -= estimatePayloadBytes(payload);
    this.payloads[internal] = undefined;
    this.externalIds[internal] = undefined;
  }

  has(id: PointId): boolean {
    return this.idToInternal.has(id);
  }

  get(id: PointId): StoredPoint | undefined {
    const internal = this.idToInternal.get(id);
    if (internal === undefined) return undefined;
    return this.pointAt(internal);
  }

  private pointAt(internal: number): StoredPoint {
    return {
      id: this.externalIds[internal]!,
      vector: this.index.vector(internal),
      payload: this.payloads[internal] ?? EMPTY_PAYLOAD,
    };
  }

  *points(filter: FilterNode | undefined): Iterable<StoredPoint> {
    const match = filter === undefined ? undefined : compileFilter(filter);
    const end = this.externalIds.length;
    for (let i = 0; i < end; i++) {
      const id = this.externalIds[i];
      if (id === undefined) continue;
      const payload = this.payloads[i] ?? EMPTY_PAYLOAD;
      if (match !== undefined && !match(payload, id)) continue;
      yield this.pointAt(i);
    }
  }

  count(filter: FilterNode | undefined): number {
    if (filter === undefined) return this.liveCount;
    const match = compileFilter(filter);
    let n = 0;
    for (let i = 0; i < this.externalIds.length; i++) {
      const id = this.externalIds[i];
      if (id !== undefined && match(this.payloads[i] ?? EMPTY_PAYLOAD, id)) n++;
    }
    return n;
  }

  search(
    query: Float32Array,
    options: SegmentSearchOptions,
  ): { hits: SegmentHit[]; stats: SegmentSearchStats } {
    const t0 = performance.now();
    let allow: Uint8Array | undefined;
    let matches: number | undefined;
    if (options.filter !== undefined) {
      const match = compileFilter(options.filter);
      const slots = this.externalIds.length;
      allow = new Uint8Array(slots);
      matches = 0;
      for (let i = 0; i < slots; i++) {
        const id = this.externalIds[i];
        if (id !== undefined && match(this.payloads[i] ?? EMPTY_PAYLOAD, id)) {
          allow[i] = 1;
          matches++;
        }
      }
    }
    const t1 = performance.now();
    const admitted = allow;
    const result = this.index.search(query, {
      k: options.k,
      ef: Math.max(options.ef, options.k),
      ...(admitted === undefined ? {} : { filter: (i: number) => admitted[i] === 1 }),
    });
    const t2 = performance.now();
    const hits: SegmentHit[] = result.ids.map((internal, j) => ({
      id: this.externalIds[internal]!,
      score: result.scores[j]!,
      payload: this.payloads[internal] ?? EMPTY_PAYLOAD,
      vector: options.withVector ? this.index.vector(internal) : undefined,
    }));
    const exact = this.index.kind === 'exact';
    return {
      hits,
      stats: {
        plan: exact
          ? admitted === undefined
            ? 'exact-scan'
            : 'exact-filtered'
          : admitted === undefined
            ? 'hnsw'
            : 'hnsw-filtered',
        candidates: this.liveCount,
        filterMatches: matches,
        nodesVisited: result.visited,
        distanceComputations: result.distanceComputations,
        filterMs: t1 - t0,
        searchMs: t2 - t1,
      },
    };
  }

  memoryBytes(): number {
    return this.index.memoryBytes() + this.payloadBytes + this.externalIds.length * 16;
  }
}

/** A cheap size estimate of a payload for memory accounting (not exact). */
function estimatePayloadBytes(payload: Payload): number {
  let n = 0;
  for (const k in payload) n += k.length * 2 + 32;
  return n + 16;
}
