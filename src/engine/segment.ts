/**
 * The Segment interface: a set of points a collection searches. The growing segment (in
 * memory, rebuilt from the WAL) and sealed segments (immutable files) implement it; a
 * collection fans searches out over all of them and merges.
 */
import type { Payload, PointId } from '../common/types.js';
import type { QuantizedSearch } from '../ann/vector-index.js';
import type { CompiledFilter } from '../filter/filter-evaluator.js';
import type { SegmentMemory } from './collection-types.js';

/** A point as stored: the vector is preprocessed (normalised for cosine). */
export interface StoredPoint {
  readonly id: PointId;
  readonly vector: Float32Array;
  readonly payload: Payload;
}

/** One candidate from a segment: internal similarity (greater = closer). */
export interface SegmentHit {
  readonly id: PointId;
  readonly score: number;
  readonly payload: Payload;
  readonly vector: Float32Array | undefined;
}

export interface SegmentSearchOptions {
  readonly k: number;
  readonly ef: number;
  readonly exact: boolean;
  /** Compiled once per call by the collection; undefined = every point. */
  readonly filter: CompiledFilter | undefined;
  readonly withVector: boolean;
  /** How quantized indexes are searched; undefined = their defaults. */
  readonly quantization?: QuantizedSearch | undefined;
}

export type SearchPlan = 'exact-scan' | 'exact-filtered' | 'hnsw' | 'hnsw-filtered' | 'empty';

/** What a segment did for one search (feeds `explain`). */
export interface SegmentSearchStats {
  readonly plan: SearchPlan;
  readonly candidates: number;
  readonly filterMatches: number | undefined;
  readonly nodesVisited: number;
  readonly distanceComputations: number;
  readonly filterMs: number;
  /** Graph traversal and exact scans together (graphMs + exactMs). */
  readonly searchMs: number;
  /** Walking the graph (0 for an exact plan). */
  readonly graphMs: number;
  /** Exact scans: the plan's scan, and the scan of vectors waiting for the graph. */
  readonly exactMs: number;
  /** True when a search worker thread ran the graph search. */
  readonly worker: boolean;
  /**
   * Vectors acknowledged but not yet in the graph, scanned exactly by this search (0 once
   * the graph has caught up; `await db.idle()` waits for that).
   */
  readonly waiting: number;
  /** True when the graph walk used the segment's int8 codes (then rescored, by default). */
  readonly quantized: boolean;
}

export interface Segment {
  readonly kind: 'growing' | 'sealed';
  readonly liveCount: number;
  get(id: PointId): StoredPoint | undefined;
  has(id: PointId): boolean;
  /** Deletes `id` if this segment holds it live; true when it did. */
  remove(id: PointId): boolean;
  search(
    query: Float32Array,
    options: SegmentSearchOptions,
  ): { hits: SegmentHit[]; stats: SegmentSearchStats };
  /** Live points matching `filter` (all when undefined), in slot order. */
  points(filter: CompiledFilter | undefined): Iterable<StoredPoint>;
  count(filter: CompiledFilter | undefined): number;
  memoryBytes(): number;
  /** {@link memoryBytes} by what holds it. */
  memoryParts(): SegmentMemory;
}
