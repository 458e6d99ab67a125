/**
 * The VectorIndex interface every index implements (exact scan, HNSW, quantized):
 * pure in-memory structures over typed arrays, addressed by dense internal ids, no I/O.
 * Scores are internal similarities: greater = closer.
 */
import type { MetricName } from '../common/types.js';
import type { Quantizer } from './quantizer.js';

/**
 * Full-precision vectors kept outside an index's memory (a segment file read on demand,
 * through a block cache): a quantized graph walks its codes in memory and reads these only
 * to rescore its best candidates, to answer an exact scan, or to hand a vector out.
 */
export interface VectorSource {
  /** Writes the `dimension` values of `slot` into `into`. */
  readInto(slot: number, into: Float32Array): void;
}

/**
 * A segment's vectors handed over in order, a run of slots at a time (a file's section
 * streamed through a small buffer): how an index without its vectors is given them to
 * encode its codes, without the whole array ever being held.
 */
export interface VectorRows {
  /** Values per vector. */
  readonly dimension: number;
  /** Vectors it holds (slots 0..slots-1). */
  readonly slots: number;
  /**
   * Slots from..to-1, slot-major (`dimension` values each); valid until the next call.
   * Each call starts where the last one stopped.
   */
  rows(from: number, to: number): Float32Array;
}

/** Admits an internal id during search; absent = every live point. */
export type PointFilter = (internalId: number) => boolean;

/** How a search uses a quantized index (Qdrant's `params.quantization`). */
export interface QuantizedSearch {
  /** Walk the graph with the full vectors, as if the index were not quantized. Default false. */
  readonly ignore?: boolean;
  /** Score the candidates again with the full vectors and keep the best k. Default true. */
  readonly rescore?: boolean;
  /** Candidates taken from the quantized walk per result wanted (1..16). Default 2. */
  readonly oversampling?: number;
}

export interface IndexSearchOptions {
  /** Number of results wanted. */
  readonly k: number;
  /** Beam width for graph indexes (raised to k when smaller); ignored by exact scan. */
  readonly ef?: number;
  /** Only ids it admits are returned. */
  readonly filter?: PointFilter;
  /**
   * Admitted internal ids as bytes (1 = admitted), indexed by internal id; ids past its end
   * are not admitted. Graph indexes read it inside their search loop without calling back
   * into JS, so prefer it to `filter` on hot paths. With both, a point must pass both.
   */
  readonly allow?: Uint8Array;
  /** For a quantized index: see {@link QuantizedSearch}. Other indexes ignore it. */
  readonly quantization?: QuantizedSearch;
}

export interface IndexSearchResult {
  /** Internal ids, best first. */
  readonly ids: number[];
  /** Internal similarities, aligned with ids. */
  readonly scores: number[];
  /** Nodes visited (graph) or points scanned (exact). */
  readonly visited: number;
  /** Distance evaluations performed. */
  readonly distanceComputations: number;
}

export interface VectorIndex {
  readonly kind: string;
  readonly dimension: number;
  readonly metric: MetricName;
  /** Number of live (not removed) points. */
  readonly liveCount: number;
  /**
   * Adds (or replaces) the vector under `internalId`. For cosine the caller passes a
   * normalised vector. Ids are dense: the index grows to hold `internalId`.
   */
  add(internalId: number, vector: Float32Array): void;
  /** Marks `internalId` removed: never returned again. */
  remove(internalId: number): void;
  /** True when `internalId` holds a live vector. */
  has(internalId: number): boolean;
  /** A view (or copy) of the stored vector of a live id. */
  vector(internalId: number): Float32Array;
  search(query: Float32Array, options: IndexSearchOptions): IndexSearchResult;
  /**
   * Exact scan: every live id (that `allow` admits, when given) scored against `query`; the
   * k best, best first. Reads the stored vectors in place, without copying them.
   */
  scan(
    query: Float32Array,
    options: { readonly k: number; readonly allow?: Uint8Array },
  ): IndexSearchResult;
  /** Bytes that {@link deserialize}-style loaders of the same kind read back. */
  serialize(): Uint8Array;
  /** Approximate bytes of memory held. */
  memoryBytes(): number;
  /**
   * The part of {@link memoryBytes} holding full-precision vectors (room reserved for
   * growth included); the rest is the graph, flags and search scratch.
   */
  vectorBytes(): number;
  /**
   * True when {@link vector} reads the file (the vectors are not in memory): callers fetch a
   * vector only when they need it. Optional: false when absent.
   */
  readonly vectorsOnDisk?: boolean;
  /** The quantizer graph searches walk with; absent or undefined when not quantized. */
  readonly quantizer?: Quantizer | undefined;
  /** The part of {@link memoryBytes} holding quantized codes. Optional: 0 when absent. */
  codeBytes?(): number;
  /**
   * A copy without the room it reserved for growth (an index that grew by steps holds up
   * to half again its slots), or undefined when there is little to gain or it must stay
   * where it is. Optional: indexes without it are kept as they are.
   */
  trimmed?(): VectorIndex | undefined;
  /**
   * The vectors of slots 0..slots-1, slot-major, in one copy (a removed slot's values are
   * whatever it held). Optional: a seal copies slot by slot from indexes without it.
   */
  vectorsCopy?(): Float32Array;
}

/**
 * An index that can hold vectors before they are linked (graph building deferred off the
 * write path): a staged vector is stored in the index's memory, searched only by
 * {@link scanStaged}, and linked in place by {@link commit}.
 */
export interface StagingIndex extends VectorIndex {
  /** Stores `vector` under `internalId` (not live yet) without linking it. */
  stage(internalId: number, vector: Float32Array): void;
  /** Links the vector staged under `internalId`. */
  commit(internalId: number): void;
  /** True when `internalId` holds a staged vector. */
  isStaged(internalId: number): boolean;
  /** Vectors staged and not yet committed. */
  readonly stagedCount: number;
  /** Exact scan of the staged vectors in slots from `from` (those `allow` admits). */
  scanStaged(
    query: Float32Array,
    options: { readonly k: number; readonly from: number; readonly allow?: Uint8Array | undefined },
  ): IndexSearchResult;
}

/** True when `index` can stage vectors (see {@link StagingIndex}). */
export function canStage(index: VectorIndex): index is StagingIndex {
  return typeof (index as Partial<StagingIndex>).stage === 'function';
}
