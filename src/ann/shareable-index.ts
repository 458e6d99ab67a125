/**
 * ShareableIndex: the capability the search planner asks of an index before it hands a
 * graph search to a worker thread — being frozen into shared memory, with one scratch
 * lane per worker, and describing itself to the workers. HNSW has it; an index without it
 * is always searched on the caller's thread.
 */
import type { SharedHnswHandle } from './hnsw/hnsw-lane.js';
import type { IndexSearchResult, QuantizedSearch, VectorIndex } from './vector-index.js';

/** How a worker lane runs one search: the core's mode, the beam, and the rescore count. */
export interface LanePlan {
  readonly mode: number;
  readonly ef: number;
  /** Undefined: a float search; else a search over int8 codes rescoring this many. */
  readonly rescore: number | undefined;
  /**
   * Candidates the lane returns, when not the search's k: with the vectors on disk the
   * lane walks the codes only and returns the k × oversampling that finishLane rescores.
   */
  readonly k?: number;
}

export interface ShareableIndex extends VectorIndex {
  /** True once the index lives in shared memory with worker lanes (and is frozen). */
  readonly shared: boolean;
  /** This index frozen in shared memory with `lanes` lanes (itself, or a copy). */
  toShared(lanes: number): ShareableIndex;
  /** What workers need to search it; undefined until it is shared. */
  sharedHandle(): SharedHnswHandle | undefined;
  /** How a lane runs this search; undefined when a lane cannot run it. */
  lanePlan(
    k: number,
    ef: number,
    allow: Uint8Array | undefined,
    quantization: QuantizedSearch | undefined,
  ): LanePlan | undefined;
  /**
   * A lane's answer as a search on this thread would give it: the best `k`, rescored here
   * from the file when the vectors are on disk (the lane had no vectors to rescore with).
   */
  finishLane(
    query: Float32Array,
    result: IndexSearchResult,
    k: number,
    quantization: QuantizedSearch | undefined,
  ): IndexSearchResult;
}

/** True when `index` can be searched by worker threads (see {@link ShareableIndex}). */
export function canShare(index: VectorIndex): index is ShareableIndex {
  const i = index as Partial<ShareableIndex>;
  return typeof i.toShared === 'function' && typeof i.sharedHandle === 'function';
}
