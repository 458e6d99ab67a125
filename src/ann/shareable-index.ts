/**
 * ShareableIndex: the capability the search planner asks of an index before it hands a
 * graph search to a worker thread — being frozen into shared memory, with one scratch
 * lane per worker, and describing itself to the workers. HNSW has it; an index without it
 * is always searched on the caller's thread.
 */
import type { SharedHnswHandle } from './hnsw/hnsw-lane.js';
import type { VectorIndex } from './vector-index.js';

export interface ShareableIndex extends VectorIndex {
  /** True once the index lives in shared memory with worker lanes (and is frozen). */
  readonly shared: boolean;
  /** This index frozen in shared memory with `lanes` lanes (itself, or a copy). */
  toShared(lanes: number): ShareableIndex;
  /** What workers need to search it; undefined until it is shared. */
  sharedHandle(): SharedHnswHandle | undefined;
  /** The lane search mode for this ef and allow mask; undefined when a lane cannot run it. */
  laneMode(ef: number, allow: Uint8Array | undefined): number | undefined;
}

/** True when `index` can be searched by worker threads (see {@link ShareableIndex}). */
export function canShare(index: VectorIndex): index is ShareableIndex {
  const i = index as Partial<ShareableIndex>;
  return typeof i.toShared === 'function' && typeof i.sharedHandle === 'function';
}
